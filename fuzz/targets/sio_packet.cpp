// Fuzz target: the Socket.IO v5 packet codec (socketio/packet.hpp), binary placeholders included.
// Input: the text of one Engine.IO message without its `4`, e.g. `2["chat",1]` or
// `51-/ns,7["up",{"_placeholder":...}]`. Invariants: a decoded packet re-encodes (encode_event / encode_ack /
// encode_connect_error / encode_disconnect) to a message that decodes to the same packet; the compact payload means the
// same JSON as the sent one (Boost.JSON DOM); placeholders are renumbered 0..k-1 and each points at a declared
// attachment; reserved event names never pass.
#include "fuzz_support.hpp"
#include "socketio/packet.hpp"

#include <boost/json/serialize.hpp>

namespace sio = pusher::socketio;
using pusher::fuzz::parse_json;

namespace {
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Where the JSON payload starts, by the grammar of socket.io-protocol v5 (a second reading of the header).
std::string_view payload_of(std::string_view s, bool binary) {
    std::size_t i = 1;
    if (binary) {
        while (i < s.size() && is_digit(s[i])) {
            ++i;
        }
        ++i;  // '-'
    }
    if (i < s.size() && s[i] == '/') {
        auto const comma = s.find(',', i);
        i = comma == std::string_view::npos ? s.size() : comma + 1;
    }
    while (i < s.size() && is_digit(s[i])) {
        ++i;
    }
    return s.substr(std::min(i, s.size()));
}

std::vector<pusher::frame> attachments(std::size_t n) {
    std::vector<pusher::frame> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(pusher::make_frame("attachment " + std::to_string(i)));
    }
    return out;
}

sio::packet decode_ok(pusher::frame const& f) {
    FUZZ_CHECK(f->size() >= 2 && (*f)[0] == '4');
    auto r = sio::decode(std::string_view(*f).substr(1));
    FUZZ_CHECK_MSG(r.has_value(), *f);
    return std::move(*r);
}

void check_event_or_ack(sio::packet p) {
    std::vector<pusher::frame> const received = attachments(p.attachments);
    std::vector<std::uint32_t> const sources = p.sources;
    sio::packet const original = p;
    sio::arguments const args = sio::take_arguments(p, received);
    FUZZ_CHECK(args.binary.size() == sources.size());
    for (std::size_t k = 0; k < sources.size(); ++k) {
        FUZZ_CHECK(sources[k] < received.size() && args.binary[k] == received[sources[k]]);
    }
    bool const is_event = original.type == sio::packet_type::event || original.type == sio::packet_type::binary_event;
    if (!is_event && !original.id) {
        return;  // an ACK without an id cannot be re-encoded
    }
    pusher::frame const f = is_event ? sio::encode_event(original.nsp, original.event, args, original.id)
                                     : sio::encode_ack(original.nsp, *original.id, args);
    sio::packet again = decode_ok(f);
    FUZZ_CHECK(sio::is_binary(again.type) == !args.binary.empty());
    FUZZ_CHECK(again.nsp == original.nsp && again.id == original.id && again.event == original.event);
    FUZZ_CHECK(again.attachments == args.binary.size());
    for (std::size_t k = 0; k < again.sources.size(); ++k) {
        FUZZ_CHECK(again.sources[k] == k);  // already renumbered: stays as is
    }
    sio::arguments const args_again = sio::take_arguments(again, args.binary);
    FUZZ_CHECK_MSG(args_again.json == args.json, args.json + " vs " + args_again.json);
    FUZZ_CHECK(args_again.binary == args.binary);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const in = pusher::fuzz::as_text(data, size);
    auto r = sio::decode(in);
    if (!r) {
        return 0;
    }
    sio::packet const& p = *r;
    FUZZ_CHECK(static_cast<int>(p.type) == in[0] - '0');
    FUZZ_CHECK(!p.nsp.empty() && p.nsp.front() == '/' && p.nsp.find(',') == std::string::npos);
    FUZZ_CHECK(sio::is_binary(p.type) || (p.attachments == 0 && p.sources.empty()));
    FUZZ_CHECK(p.attachments <= sio::decode_limits{}.max_attachments);
    FUZZ_CHECK(p.sources.size() <= sio::decode_limits{}.max_attachments);
    for (auto const s : p.sources) {
        FUZZ_CHECK(s < p.attachments);
    }

    std::string_view const payload = payload_of(in, sio::is_binary(p.type));
    if (!p.data.empty()) {
        auto const compact = parse_json(p.data);
        FUZZ_CHECK_MSG(compact.has_value(), p.data);
        FUZZ_CHECK(pusher::fuzz::reference_utf8(p.data));
        auto const sent = parse_json(payload);
        if (!sio::is_binary(p.type) && sent) {
            // The compact copy means what was sent (EVENT: the arguments after the name).
            if (p.type == sio::packet_type::event) {
                boost::json::value const rest(boost::json::array(sent->as_array().begin() + 1, sent->as_array().end()));
                FUZZ_CHECK_MSG(pusher::fuzz::same_json(*compact, rest),
                               boost::json::serialize(*compact) + " vs " + boost::json::serialize(rest));
            } else {
                FUZZ_CHECK_MSG(pusher::fuzz::same_json(*compact, *sent),
                               boost::json::serialize(*compact) + " vs " + boost::json::serialize(*sent));
            }
        }
    }

    switch (p.type) {
        case sio::packet_type::event:
        case sio::packet_type::binary_event: {
            static constexpr std::string_view reserved[] = {"connect",       "connect_error", "disconnect",
                                                            "disconnecting", "newListener",   "removeListener"};
            for (auto const name : reserved) {
                FUZZ_CHECK(p.event != name);  // a number name cannot spell one
            }
            check_event_or_ack(p);
            break;
        }
        case sio::packet_type::ack:
        case sio::packet_type::binary_ack:
            check_event_or_ack(p);
            break;
        case sio::packet_type::connect: {
            FUZZ_CHECK(p.data.empty() || p.data.front() == '{');
            sio::packet const c = decode_ok(sio::encode_connect(p.nsp, p.data));
            FUZZ_CHECK(c.type == sio::packet_type::connect && c.nsp == p.nsp);
            FUZZ_CHECK(parse_json(c.data)->as_object().at("sid").as_string() == p.data);
            break;
        }
        case sio::packet_type::connect_error: {
            sio::packet const e = decode_ok(sio::encode_connect_error(p.nsp, p.data));
            FUZZ_CHECK(e.type == sio::packet_type::connect_error && e.nsp == p.nsp);
            FUZZ_CHECK(parse_json(e.data)->as_object().at("message").as_string() == p.data);
            break;
        }
        case sio::packet_type::disconnect: {
            FUZZ_CHECK(p.data.empty());
            sio::packet const d = decode_ok(sio::encode_disconnect(p.nsp));
            FUZZ_CHECK(d.type == sio::packet_type::disconnect && d.nsp == p.nsp && !d.id);
            break;
        }
    }
    return 0;
}
