#include "app/fanout.hpp"

#include "api/publish.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "common/utf8.hpp"
#include "hub/hub.hpp"
#include "metrics/registry.hpp"
#include "socketio/event_frame.hpp"
#include "socketio/reserved_events.hpp"

#include <chrono>
#include <string>

namespace pusher::app {
namespace {
constexpr std::int64_t log_interval_ms = 10'000;

std::string_view trim_json_ws(std::string_view s) {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && ws(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && ws(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

// `s` as a JSON string literal, with every ill-formed UTF-8 subpart replaced by U+FFFD.
std::string quote_as_utf8(std::string_view s) {
    return utf8::is_valid(s) ? json_text::quote(s) : json_text::quote(utf8::repaired(s));
}

// Untrusted text for a log line: quoted (no raw control characters or newlines) and cut short.
std::string for_log(std::string_view s) {
    constexpr std::size_t max = 64;
    return s.size() <= max ? quote_as_utf8(s) : quote_as_utf8(s.substr(0, max)) + "...";
}

// The tail of a throttled log line: how many like it were held back since the last one.
std::string more_like_it(std::uint64_t suppressed) {
    return suppressed > 0 ? " (+" + std::to_string(suppressed) + " more like it since the last line)" : std::string();
}

std::vector<double> latency_bounds() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
}  // namespace

std::int64_t fanout::system_clock_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

fanout::fanout(hub::hub& h, metrics::registry& reg, clock_fn now_ms, undeliver_fn undeliver)
    : hub_(h),
      now_ms_(std::move(now_ms)),
      undeliver_(std::move(undeliver)),
      received_user_(
          reg.add_counter("pusher_messages_received_total", "Messages received from the broker.", {{"kind", "user"}})),
      received_broadcast_(reg.add_counter("pusher_messages_received_total", "Messages received from the broker.",
                                          {{"kind", "broadcast"}})),
      received_channel_(reg.add_counter("pusher_messages_received_total", "Messages received from the broker.",
                                        {{"kind", "channel"}})),
      dropped_no_subscriber_(reg.add_counter("pusher_messages_dropped_total", "Messages dropped, by reason.",
                                             {{"reason", "no_subscriber"}})),
      delivered_(reg.add_counter("pusher_messages_delivered_total",
                                 "Message frames handed to sessions (one per recipient session).")),
      as_string_(reg.add_counter("pusher_messages_non_json_total",
                                 "Messages whose payload was not JSON and was delivered as a JSON string.")),
      dropped_no_session_(
          reg.add_counter("pusher_messages_dropped_total", "Messages dropped, by reason.", {{"reason", "no_session"}})),
      dropped_reserved_event_(reg.add_counter("pusher_messages_dropped_total", "Messages dropped, by reason.",
                                              {{"reason", "reserved_event"}})),
      dropped_invalid_event_(reg.add_counter("pusher_messages_dropped_total", "Messages dropped, by reason.",
                                             {{"reason", "invalid_event"}})),
      dropped_handed_over_(reg.add_counter("pusher_messages_dropped_total", "Messages dropped, by reason.",
                                           {{"reason", "handed_over"}})),
      latency_(reg.add_histogram("pusher_delivery_latency_seconds",
                                 "From the publisher's timestamp to the frame handed to the sessions (messages "
                                 "with a timestamp that reached at least one session).",
                                 latency_bounds())) {}

frame fanout::encode(std::string_view event, std::string_view payload, bool content_is_json, bool* as_string,
                     std::string_view offset, std::string_view meta_json) {
    std::string_view const json = trim_json_ws(payload);
    if (content_is_json && !json.empty() && json_text::is_valid(json)) {
        if (as_string != nullptr) {
            *as_string = false;
        }
        return socketio::encode_event_frame(event, json, "/", offset, meta_json);
    }
    if (as_string != nullptr) {
        *as_string = true;
    }
    return socketio::encode_event_frame(event, quote_as_utf8(payload), "/", offset, meta_json);
}

std::optional<std::size_t> fanout::hand_to_hub(broker::message const& m, frame const& f, std::uint64_t seq) {
    if (!hub_.recovery_enabled()) {
        std::size_t const n = m.broadcast          ? hub_.deliver_all(f)
                              : !m.channel.empty() ? hub_.deliver_channel(m.channel, f)
                                                   : hub_.deliver(m.user, f);
        return n > 0 || m.broadcast || !m.channel.empty() ? std::optional<std::size_t>(n) : std::nullopt;
    }
    std::uint64_t const key = hub::dedup_key(m.message_id, m.event, m.payload, m.timestamp_ms);
    if (m.broadcast) {
        return hub_.deliver_all_recorded(f, seq, key);
    }
    if (!m.channel.empty()) {
        hub::delivery const d = hub_.deliver_channel_recorded(m.channel, f, seq, key);
        if (d.sessions == 0 && d.held > 0) {
            return std::nullopt;  // kept for a held member only (see on_message)
        }
        return d.sessions;
    }
    hub::delivery d = hub_.deliver_recorded(
        m.user, f, seq,
        [&] {
            return std::make_shared<broker::undelivered const>(
                broker::undelivered::of(m, broker::undelivered_reason::recovery_expired));
        },
        key);
    for (auto& lost : d.lost) {
        broker::undelivered u = *lost;
        u.reason = broker::undelivered_reason::recovery_overflow;
        if (undeliver_) {
            undeliver_(std::move(u));
        }
    }
    if (d.sessions == 0 && d.held == 0) {
        return std::nullopt;
    }
    return d.sessions;
}

std::string fanout::channel_meta(std::string_view channel) {
    std::string meta = "{\"channel\":";
    json_text::append_string(meta, channel);
    meta.push_back('}');
    return meta;
}

void fanout::on_message(broker::message const& m) {
    (m.broadcast ? received_broadcast_ : !m.channel.empty() ? received_channel_ : received_user_).inc();

    if (m.event.empty() || !utf8::is_valid(m.event)) {
        drop(dropped_invalid_event_, invalid_log_, "invalid event name", m);
        return;
    }
    if (socketio::is_reserved_event(m.event)) {
        drop(dropped_reserved_event_, reserved_log_, "reserved event name", m);
        return;
    }

    bool as_string = false;
    bool const recorded = hub_.recovery_enabled();
    std::uint64_t const seq = recorded ? hub_.next_seq() : 0;
    std::string const meta = m.channel.empty() ? std::string() : channel_meta(m.channel);
    frame const f =
        encode(m.event, m.payload, m.content_is_json, &as_string, recorded ? hub::offset_text(seq).view() : "", meta);
    if (as_string) {
        as_string_.inc();
    }
    std::optional<std::size_t> const reached = hand_to_hub(m, f, seq);
    if (!reached && !m.channel.empty()) {
        return;  // a channel event kept for a held member only
    }
    if (!reached) {
        // A user message that finds nobody here is a miss (e.g. the user left inside the unbind grace): handed to
        // the undelivered exchange, or dropped when that is off. (A broadcast that finds nobody is normal: it goes
        // to every node.)
        if (handed_over_ && handed_over_(m.user)) {
            drop(dropped_handed_over_, handed_over_log_, "its session was just handed to another node, bound too", m);
        } else if (undeliver_) {
            undelivered_no_session_.fetch_add(1, std::memory_order_relaxed);
            undeliver_(broker::undelivered::of(m, broker::undelivered_reason::no_session));
            log_no_session(m);
        } else {
            drop(dropped_no_session_, no_session_log_, "no session", m);
        }
        return;
    }
    std::size_t const n = *reached;
    if (n == 0) {
        if (!m.channel.empty()) {
            // Bound here for a member that left (the unbind grace), or kept for a held one only: the channel's
            // events are for whoever is subscribed, so nothing is republished; counted.
            dropped_no_subscriber_.inc();
        }
        return;  // a broadcast here for nobody, or a message kept for a held session only
    }
    delivered_.inc(n);
    if (m.timestamp_ms && *m.timestamp_ms > 0) {
        std::int64_t const ms = now_ms_() - *m.timestamp_ms;
        latency_.observe(ms > 0 ? static_cast<double>(ms) / 1000.0 : 0.0);  // clocks of two hosts may disagree
    }
}

void fanout::on_control(std::string_view type, std::string_view body) {
    if (control_) {
        control_(type, body);
    }
}

void fanout::drop(metrics::counter& reason_counter, log_throttle& throttle, char const* what,
                  broker::message const& m) {
    reason_counter.inc();
    std::uint64_t suppressed = 0;
    if (!throttle.allow(now_ms_(), suppressed)) {
        return;
    }
    // A miss is routine (debug); a refused event name means a publisher to fix (warn).
    bool const routine = &reason_counter == &dropped_no_session_ || &reason_counter == &dropped_handed_over_;
    auto const level = routine ? spdlog::level::debug : spdlog::level::warn;
    spdlog::log(level, "fanout: dropped a message ({}): user {} event {} id {}{}", what,
                m.broadcast ? std::string("(broadcast)") : for_log(m.user), for_log(m.event), for_log(m.message_id),
                more_like_it(suppressed));
}

void fanout::log_no_session(broker::message const& m) {
    std::uint64_t suppressed = 0;
    if (no_session_log_.allow(now_ms_(), suppressed)) {
        log::debug("fanout: no session for user {}: event {} id {} handed to the broker as undelivered (no_session){}",
                   for_log(m.user), for_log(m.event), for_log(m.message_id), more_like_it(suppressed));
    }
}

bool fanout::log_throttle::allow(std::int64_t now_ms, std::uint64_t& suppressed) {
    std::int64_t next = next_ms_.load(std::memory_order_relaxed);
    if (now_ms < next || !next_ms_.compare_exchange_strong(next, now_ms + log_interval_ms, std::memory_order_relaxed)) {
        held_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    suppressed = held_.exchange(0, std::memory_order_relaxed);
    return true;
}

fanout_stats fanout::stats() const {
    fanout_stats s;
    s.received_broadcast = received_broadcast_.value();
    s.received_channel = received_channel_.value();
    s.received = received_user_.value() + s.received_broadcast + s.received_channel;
    s.dropped_no_subscriber = dropped_no_subscriber_.value();
    s.delivered = delivered_.value();
    s.as_string = as_string_.value();
    s.dropped_no_session = dropped_no_session_.value();
    s.undelivered_no_session = undelivered_no_session_.load(std::memory_order_relaxed);
    s.dropped_reserved_event = dropped_reserved_event_.value();
    s.dropped_invalid_event = dropped_invalid_event_.value();
    return s;
}
}  // namespace pusher::app
