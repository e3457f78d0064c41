#include "engineio/payload_v3.hpp"

#include "common/utf8.hpp"

#include <charconv>
#include <cstdint>

namespace pusher::engineio {
namespace {
boost::system::error_code bad_payload() {
    return make_error_code(codec_error::bad_payload);
}

// The prefix of `text` that holds exactly `units` UTF-16 code units; an error when the text is shorter, not
// well-formed UTF-8 (common/utf8), or the count ends inside a surrogate pair (a 4-byte sequence is two units).
boost::system::result<std::size_t> bytes_for_units(std::string_view text, std::size_t units) {
    std::size_t pos = 0;
    std::size_t counted = 0;
    while (counted < units) {
        std::size_t bad = 0;
        std::size_t const n = pos < text.size() ? utf8::sequence_length(text, pos, bad) : 0;
        std::size_t const u = n == 4 ? 2 : 1;
        if (n == 0 || counted + u > units) {
            return bad_payload();
        }
        pos += n;
        counted += u;
    }
    return pos;
}

// One packet of a text payload: `b<type><base64>` or a text packet.
boost::system::result<packet> decode_text_record(std::string_view record) {
    if (!record.empty() && record.front() == 'b') {
        if (record.size() < 2 || record[1] != static_cast<char>(packet_type::message)) {
            return make_error_code(codec_error::unknown_type);
        }
        auto bytes = base64_decode(record.substr(2));
        if (!bytes) {
            return bytes.error();
        }
        return packet{packet_type::message, true, std::move(*bytes)};
    }
    auto p = parse_packet(record);
    if (!p) {
        return p.error();
    }
    return packet{p->type, false, std::string(p->data)};
}

boost::system::result<std::vector<packet>> decode_text(std::string_view body) {
    std::vector<packet> out;
    while (!body.empty()) {
        auto const colon = body.find(':');
        if (colon == std::string_view::npos || colon == 0 || colon > 10) {
            return bad_payload();
        }
        std::size_t units = 0;
        auto const [end, ec] = std::from_chars(body.data(), body.data() + colon, units);
        if (ec != std::errc() || end != body.data() + colon) {
            return bad_payload();
        }
        body.remove_prefix(colon + 1);
        auto const n = bytes_for_units(body, units);
        if (!n) {
            return n.error();
        }
        auto p = decode_text_record(body.substr(0, *n));
        if (!p) {
            return p.error();
        }
        out.push_back(std::move(*p));
        body.remove_prefix(*n);
    }
    if (out.empty()) {
        return make_error_code(codec_error::empty_packet);
    }
    return out;
}

boost::system::result<std::vector<packet>> decode_binary(std::string_view body) {
    std::vector<packet> out;
    while (!body.empty()) {
        auto const kind = static_cast<unsigned char>(body.front());
        if (kind > 1) {
            return bad_payload();
        }
        body.remove_prefix(1);
        std::size_t length = 0;
        std::size_t digits = 0;
        while (!body.empty() && static_cast<unsigned char>(body.front()) != 0xFF) {
            auto const d = static_cast<unsigned char>(body.front());
            if (d > 9 || ++digits > 10) {
                return bad_payload();
            }
            length = length * 10 + d;
            body.remove_prefix(1);
        }
        if (body.empty() || digits == 0 || length == 0 || body.size() - 1 < length) {
            return bad_payload();
        }
        body.remove_prefix(1);  // 0xFF
        auto const data = body.substr(0, length);
        body.remove_prefix(length);
        if (kind == 0) {
            if (!utf8::is_valid(data)) {
                return bad_payload();
            }
            auto p = parse_packet(data);
            if (!p) {
                return p.error();
            }
            out.push_back(packet{p->type, false, std::string(p->data)});
        } else {
            if (data.front() != 4) {  // a binary packet is a message: type byte 4, then the bytes
                return make_error_code(codec_error::unknown_type);
            }
            out.push_back(packet{packet_type::message, true, std::string(data.substr(1))});
        }
    }
    if (out.empty()) {
        return make_error_code(codec_error::empty_packet);
    }
    return out;
}
}  // namespace

std::size_t utf16_length(std::string_view utf8) {
    std::size_t n = 0;
    for (unsigned char c : utf8) {
        if ((c & 0xC0) != 0x80) {
            n += c >= 0xF0 ? 2 : 1;
        }
    }
    return n;
}

void append_record_v3(std::string& out, std::string_view packet_or_bytes, bool binary) {
    if (binary) {
        std::size_t const b64 = (packet_or_bytes.size() + 2) / 3 * 4;
        out += std::to_string(b64 + 2);
        out += ":b4";
        base64_append(out, packet_or_bytes);
        return;
    }
    out += std::to_string(utf16_length(packet_or_bytes));
    out.push_back(':');
    out.append(packet_or_bytes);
}

boost::system::result<std::vector<packet>> decode_payload_v3(std::string_view body) {
    if (!body.empty() && static_cast<unsigned char>(body.front()) <= 1) {
        return decode_binary(body);
    }
    return decode_text(body);
}
}  // namespace pusher::engineio
