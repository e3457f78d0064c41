#include "payload.hpp"

#include <charconv>

namespace pusher::load {
namespace {
void append_uint(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    out.append(buf, end);
}

std::optional<std::uint64_t> uint_after(std::string_view text, std::string_view key) {
    auto const at = text.find(key);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    char const* p = text.data() + at + key.size();
    char const* const end = text.data() + text.size();
    std::uint64_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc{} || next == p) {
        return std::nullopt;
    }
    return v;
}
}  // namespace

void append_payload(std::string& out, std::uint64_t t_ns, std::string_view user, std::uint64_t seq, std::size_t size) {
    std::size_t const start = out.size();
    out += R"({"t":)";
    append_uint(out, t_ns);
    out += R"(,"u":")";
    out += user;  // user ids of the benchmark are [A-Za-z0-9._-]: nothing to escape
    out += R"(","seq":)";
    append_uint(out, seq);
    out += R"(,"p":")";
    std::size_t const used = out.size() - start + 2;  // + closing `"}`
    if (size > used) {
        out.append(size - used, 'x');
    }
    out += R"("})";
}

std::string make_payload(std::uint64_t t_ns, std::string_view user, std::uint64_t seq, std::size_t size) {
    std::string out;
    out.reserve(size + 64);
    append_payload(out, t_ns, user, seq, size);
    return out;
}

std::optional<payload_fields> parse_payload(std::string_view text) {
    payload_fields f;
    auto t = uint_after(text, R"("t":)");
    auto seq = uint_after(text, R"("seq":)");
    if (!t || !seq) {
        return std::nullopt;
    }
    std::string_view const ukey = R"("u":")";
    auto const at = text.find(ukey);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    auto const from = at + ukey.size();
    auto const to = text.find('"', from);
    if (to == std::string_view::npos) {
        return std::nullopt;
    }
    f.t_ns = *t;
    f.seq = *seq;
    f.user = text.substr(from, to - from);
    return f;
}

packet_kind classify(std::string_view p) {
    if (p.empty()) {
        return packet_kind::other;
    }
    switch (p[0]) {
        case '0':
            return packet_kind::open;
        case '1':
            return packet_kind::close;
        case '2':
            return packet_kind::ping;
        case '6':
            return packet_kind::noop;
        case '4':
            if (p.size() < 2) {
                return packet_kind::other;
            }
            switch (p[1]) {
                case '0':
                    return packet_kind::sio_connect;
                case '1':
                    return packet_kind::sio_disconnect;
                case '2':
                    return packet_kind::sio_event;
                case '3':
                    return packet_kind::sio_ack;
                case '4':
                    return packet_kind::sio_error;
                default:
                    return packet_kind::other;
            }
        default:
            return packet_kind::other;
    }
}

std::optional<event_view> parse_event(std::string_view p) {
    if (p.size() < 6 || p.substr(0, 4) != R"(42[")" || p.back() != ']') {
        return std::nullopt;
    }
    // Event names of the benchmark contain no escaped quotes; a name that does would be cut short and not match.
    auto const name_end = p.find('"', 4);
    if (name_end == std::string_view::npos) {
        return std::nullopt;
    }
    event_view ev;
    ev.name = p.substr(4, name_end - 4);
    auto const comma = name_end + 1;
    if (comma >= p.size() - 1 || p[comma] != ',') {
        ev.data = {};
        return ev;
    }
    ev.data = p.substr(comma + 1, p.size() - 1 - (comma + 1));
    return ev;
}

std::string connect_packet_token(std::string_view token) {
    // A JWT is base64url + dots: nothing to escape.
    std::string out = R"(40{"token":")";
    out += token;
    out += R"("})";
    return out;
}

std::string connect_packet_user(std::string_view user) {
    std::string out = R"(40{"user":")";
    out += user;
    out += R"("})";
    return out;
}
}  // namespace pusher::load
