#include "engineio/packet.hpp"

#include <array>
#include <cstdint>

namespace pusher::engineio {
namespace {
class codec_category_impl final : public boost::system::error_category {
  public:
    char const* name() const noexcept override { return "engineio.codec"; }
    std::string message(int ev) const override {
        switch (static_cast<codec_error>(ev)) {
            case codec_error::empty_packet:
                return "empty packet";
            case codec_error::unknown_type:
                return "unknown packet type";
            case codec_error::bad_base64:
                return "invalid base64 in binary packet";
            case codec_error::bad_payload:
                return "malformed v3 payload (length prefix)";
        }
        return "unknown engine.io codec error";
    }
};

constexpr char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_b64_table() {
    std::array<std::int8_t, 256> t{};
    for (auto& v : t) {
        v = -1;
    }
    for (int i = 0; i < 64; ++i) {
        t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return t;
}
constexpr auto b64_table = make_b64_table();

bool valid_type(char c) {
    return c >= '0' && c <= '6';
}
}  // namespace

boost::system::error_category const& codec_category() {
    static codec_category_impl const instance;
    return instance;
}

boost::system::error_code make_error_code(codec_error e) {
    return {static_cast<int>(e), codec_category()};
}

boost::system::result<packet_view> parse_packet(std::string_view text) {
    if (text.empty()) {
        return make_error_code(codec_error::empty_packet);
    }
    if (!valid_type(text.front())) {
        return make_error_code(codec_error::unknown_type);
    }
    return packet_view{static_cast<packet_type>(text.front()), text.substr(1)};
}

boost::system::result<std::vector<packet>> decode_payload(std::string_view body) {
    std::vector<packet> out;
    // engine.io-protocol v4: "the packets are separated by the record separator"; an empty record is malformed.
    while (true) {
        auto const sep = body.find(record_separator);
        std::string_view const record = body.substr(0, sep);
        if (record.empty()) {
            return make_error_code(codec_error::empty_packet);
        }
        if (record.front() == 'b') {
            auto bytes = base64_decode(record.substr(1));
            if (!bytes) {
                return bytes.error();
            }
            out.push_back(packet{packet_type::message, true, std::move(*bytes)});
        } else {
            auto p = parse_packet(record);
            if (!p) {
                return p.error();
            }
            out.push_back(packet{p->type, false, std::string(p->data)});
        }
        if (sep == std::string_view::npos) {
            break;
        }
        body.remove_prefix(sep + 1);
    }
    return out;
}

std::string encode_packet(packet_type type, std::string_view data) {
    std::string out;
    out.reserve(data.size() + 1);
    out.push_back(static_cast<char>(type));
    out.append(data);
    return out;
}

void append_record(std::string& out, std::string_view packet_or_bytes, bool binary) {
    if (!out.empty()) {
        out.push_back(record_separator);
    }
    if (binary) {
        out.push_back('b');
        base64_append(out, packet_or_bytes);
    } else {
        out.append(packet_or_bytes);
    }
}

std::string encode_payload(std::vector<packet> const& packets) {
    std::string out;
    for (auto const& p : packets) {
        if (p.binary) {
            append_record(out, p.data, true);
        } else {
            if (!out.empty()) {
                out.push_back(record_separator);
            }
            out.push_back(static_cast<char>(p.type));
            out.append(p.data);
        }
    }
    return out;
}

void base64_append(std::string& out, std::string_view bytes) {
    auto const* p = reinterpret_cast<unsigned char const*>(bytes.data());
    std::size_t const n = bytes.size();
    std::size_t const start = out.size();
    out.resize(start + (n + 2) / 3 * 4);
    char* o = out.data() + start;
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        std::uint32_t const v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
        *o++ = b64_alphabet[(v >> 18) & 63];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        std::uint32_t const v = std::uint32_t{p[i]} << 16;
        *o++ = b64_alphabet[(v >> 18) & 63];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        std::uint32_t const v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
        *o++ = b64_alphabet[(v >> 18) & 63];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = b64_alphabet[(v >> 6) & 63];
        *o++ = '=';
    }
}

std::string base64_encode(std::string_view bytes) {
    std::string out;
    base64_append(out, bytes);
    return out;
}

boost::system::result<std::string> base64_decode(std::string_view text) {
    auto const bad = make_error_code(codec_error::bad_base64);
    // Strip at most two '=' at the end; none may appear elsewhere.
    std::size_t pad = 0;
    while (!text.empty() && text.back() == '=' && pad < 2) {
        text.remove_suffix(1);
        ++pad;
    }
    if (pad > 0 && (text.size() + pad) % 4 != 0) {
        return bad;  // padding present but the length is not a multiple of 4
    }
    if (text.size() % 4 == 1) {
        return bad;  // one character carries 6 bits: not a whole byte
    }
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        auto const v = b64_table[static_cast<unsigned char>(c)];
        if (v < 0) {
            return bad;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    // Leftover bits must be zero (canonical encoding): `AB==` is valid, `AF==` is not.
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
        return bad;
    }
    return out;
}
}  // namespace pusher::engineio
