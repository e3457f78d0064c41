// Fuzz target: an AMQP delivery on its way to the sockets: rabbitmq-c's decoding of the basic properties (the wire
// bytes the broker sends), broker::to_message, app::fanout::on_message / fanout::encode, and common/json_text.
// Input: [flags][routing key: u8 length + bytes][properties: u16 length + AMQP basic property list][body...].
// flags bits 0-1: exchange (0 direct, 1 broadcast, 2 another one); bit 2: the one session is `alice`'s or `bob`'s.
// Invariants: the frame is `42[<event>,<payload>]` and valid UTF-8 JSON (what a websocket text frame needs); the
// payload is the body's exact JSON when it is JSON (content type permitting), else the body as a JSON string with
// U+FFFD for what is not UTF-8; the Socket.IO decoder reads the frame back; counters and recipients are right.
#include "app/fanout.hpp"
#include "broker/amqp_message.hpp"
#include "common/json_text.hpp"
#include "engineio/session.hpp"
#include "fuzz_support.hpp"
#include "hub/hub.hpp"
#include "metrics/registry.hpp"
#include "socketio/packet.hpp"

#include <amqp_framing.h>
#include <spdlog/spdlog.h>

#include <array>
#include <vector>

using pusher::fuzz::cursor;
using pusher::fuzz::parse_json;
using pusher::fuzz::reference_utf8;

namespace {
constexpr std::string_view direct_exchange = "pusher.direct";
constexpr std::string_view broadcast_exchange = "pusher.broadcast";

class recording_session final : public pusher::engineio::session {
  public:
    std::vector<pusher::frame> frames;
    void send(pusher::frame packet) override { frames.push_back(std::move(packet)); }
    void send_binary(pusher::frame bytes) override { frames.push_back(std::move(bytes)); }
    void close(pusher::engineio::disconnect_reason) override {}
    void dispatch(std::function<void()> fn) override { fn(); }
    std::string_view id() const override { return "sid"; }
    pusher::engineio::transport_kind transport() const override { return pusher::engineio::transport_kind::websocket; }
    std::string_view remote_address() const override { return "127.0.0.1:1"; }
};

bool reserved(std::string_view e) {
    return e == "connect" || e == "connect_error" || e == "disconnect" || e == "disconnecting" || e == "newListener" ||
           e == "removeListener";
}

std::string_view trim_ws(std::string_view s) {
    auto const first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// U+FFFD for every maximal ill-formed subpart (Unicode §3.9, "U+FFFD substitution of maximal subparts"): the
// longest prefix of a well-formed sequence (Unicode table 3-7) that is there, or one byte when there is none.
std::string replace_ill_formed(std::string_view s) {
    auto at = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(s[k])); };
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t n = 1;
        while (n < 4 && i + n < s.size() && !reference_utf8(s.substr(i, n))) {
            ++n;
        }
        if (reference_utf8(s.substr(i, n))) {
            out.append(s.substr(i, n));
            i += n;
            continue;
        }
        unsigned const b0 = at(i);
        std::size_t len = 0;            // length of the sequence b0 starts
        unsigned lo = 0x80, hi = 0xbf;  // range of its second byte
        if (b0 >= 0xc2 && b0 <= 0xdf) {
            len = 2;
        } else if (b0 >= 0xe0 && b0 <= 0xef) {
            len = 3;
            lo = b0 == 0xe0 ? 0xa0 : 0x80;
            hi = b0 == 0xed ? 0x9f : 0xbf;
        } else if (b0 >= 0xf0 && b0 <= 0xf4) {
            len = 4;
            lo = b0 == 0xf0 ? 0x90 : 0x80;
            hi = b0 == 0xf4 ? 0x8f : 0xbf;
        }
        std::size_t bad = 1;
        if (len > 0 && i + 1 < s.size() && at(i + 1) >= lo && at(i + 1) <= hi) {
            bad = 2;
            while (bad < len && i + bad < s.size() && at(i + bad) >= 0x80 && at(i + bad) <= 0xbf) {
                ++bad;
            }
        }
        out += "\xEF\xBF\xBD";
        i += bad;
    }
    return out;
}

void check_json_text(std::string_view body) {
    bool const valid = pusher::json_text::is_valid(body);
    FUZZ_CHECK(valid == parse_json(body).has_value());
    FUZZ_CHECK(!valid || reference_utf8(body));
    if (reference_utf8(body)) {
        auto const v = parse_json(pusher::json_text::quote(body));
        FUZZ_CHECK(v && v->is_string() && v->as_string() == body);
    }
}

// fanout::encode, against the rules in app/fanout.hpp.
void check_encode(std::string_view event, std::string_view payload, bool content_is_json) {
    bool as_string = false;
    pusher::frame const f = pusher::app::fanout::encode(event, payload, content_is_json, &as_string);
    std::string_view const json = trim_ws(payload);
    bool const spliced = content_is_json && !json.empty() && pusher::json_text::is_valid(json);
    FUZZ_CHECK(as_string == !spliced);
    FUZZ_CHECK(f->starts_with("42[") && f->ends_with("]"));
    if (!reference_utf8(event)) {
        return;  // on_message drops those before encoding
    }
    FUZZ_CHECK_MSG(reference_utf8(*f), *f);
    auto const v = parse_json(std::string_view(*f).substr(2));
    FUZZ_CHECK_MSG(v && v->is_array() && v->as_array().size() == 2, *f);
    auto const& a = v->as_array();
    FUZZ_CHECK(a[0].is_string() && a[0].as_string() == event);
    if (spliced) {
        FUZZ_CHECK(pusher::fuzz::same_json(a[1], *parse_json(json)));
        FUZZ_CHECK(std::string_view(*f).find(json) != std::string_view::npos);  // the bytes as they are
    } else {
        FUZZ_CHECK(a[1].is_string());
        FUZZ_CHECK_MSG(a[1].as_string() == replace_ill_formed(payload), *f);
    }
    auto const decoded = pusher::socketio::decode(std::string_view(*f).substr(1), {.max_depth = 1024});
    FUZZ_CHECK(decoded.has_value() != reserved(event));
    if (decoded) {
        FUZZ_CHECK(decoded->type == pusher::socketio::packet_type::event && decoded->event == event);
        auto const args = parse_json(decoded->data);
        FUZZ_CHECK(args && args->as_array().size() == 1 && pusher::fuzz::same_json(args->as_array()[0], a[1]));
    }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);  // fanout logs drops; not wanted at a million inputs a minute
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    std::uint8_t const flags = in.byte();
    std::string_view const routing_key = in.take(in.byte());
    std::string properties(in.take(in.u16()));
    std::string_view const body = in.rest();

    check_json_text(body);

    static constexpr std::array<std::string_view, 3> exchanges = {direct_exchange, broadcast_exchange, "amq.topic"};
    std::string_view const exchange = exchanges[(flags & 3) % 3];

    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_envelope_t env{};
    env.exchange = pusher::broker::bytes(exchange);
    env.routing_key = pusher::broker::bytes(routing_key);
    void* decoded = nullptr;
    if (!properties.empty() &&
        amqp_decode_properties(AMQP_BASIC_CLASS, &pool, pusher::broker::bytes(properties), &decoded) == 0) {
        env.message.properties = *static_cast<amqp_basic_properties_t*>(decoded);
    }
    env.message.body = pusher::broker::bytes(body);

    auto const m = pusher::broker::to_message(env, direct_exchange, broadcast_exchange);
    FUZZ_CHECK(m.has_value() ==
               (exchange == broadcast_exchange || (exchange == direct_exchange && !routing_key.empty())));
    if (m) {
        auto const& p = env.message.properties;
        FUZZ_CHECK(m->broadcast == (exchange == broadcast_exchange));
        FUZZ_CHECK(m->broadcast ? m->user.empty() : m->user == routing_key);
        FUZZ_CHECK(m->payload == body);
        FUZZ_CHECK(!m->event.empty());
        bool const has_type = (p._flags & AMQP_BASIC_TYPE_FLAG) != 0 && p.type.len > 0;
        FUZZ_CHECK(m->event == (has_type ? pusher::broker::view(p.type) : "notification"));

        check_encode(m->event, m->payload, m->content_is_json);

        pusher::hub::hub hub(4);
        pusher::metrics::registry registry;
        pusher::app::fanout fanout(hub, registry, [] { return std::int64_t{1'700'000'000'000}; });
        auto session = std::make_shared<recording_session>();
        std::string_view const owner = (flags & 4) != 0 ? "bob" : "alice";
        hub.attach(owner, session);
        fanout.on_message(*m);
        auto const s = fanout.stats();
        FUZZ_CHECK(s.received == 1 && s.received_broadcast == (m->broadcast ? 1 : 0));
        bool const invalid = !reference_utf8(m->event);
        bool const refused = !invalid && reserved(m->event);
        bool const reaches = !invalid && !refused && (m->broadcast || m->user == owner);
        FUZZ_CHECK(s.dropped_invalid_event == (invalid ? 1 : 0));
        FUZZ_CHECK(s.dropped_reserved_event == (refused ? 1 : 0));
        FUZZ_CHECK(s.delivered == (reaches ? 1 : 0) && session->frames.size() == s.delivered);
        FUZZ_CHECK(s.dropped_no_session == (!invalid && !refused && !reaches && !m->broadcast ? 1 : 0));
        if (reaches) {
            auto const want = pusher::app::fanout::encode(m->event, m->payload, m->content_is_json, nullptr);
            FUZZ_CHECK(*session->frames.front() == *want);
        }
    }
    check_encode(routing_key, body, (flags & 8) == 0);
    empty_amqp_pool(&pool);
    return 0;
}
