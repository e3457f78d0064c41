#pragma once
// app::fanout: the broker's sink. Turns each delivered message into one Engine.IO frame, encoded once
// (`42["<event>",<payload>]`, the payload's bytes spliced as they are), and hands that frame to the hub, which queues
// the same frame (a pointer) on every session of the user (or on every session for a broadcast); each session's
// transport copies the bytes when it writes them. A channel event (`42["<event>",<payload>,{"channel":"<name>"}]`)
// goes the same way to the channel's members. Owns only its counters (in the registry given at construction).
// on_message runs on the broker's thread (the consumer's for amqp_broker, memory_broker's own) and never waits on
// I/O: the hub takes a shard lock (each in turn for a broadcast), and each session only its inbox lock and, for the
// first frame of a burst, its worker's mailbox lock (engineio/server_session.hpp, engineio/session_mailbox.hpp).
//
// Payload rules (the AMQP contract: a non-JSON body is delivered as a JSON string, never dropped silently):
// - content_is_json and the body is one valid JSON value: spliced as is (surrounding JSON white space trimmed);
// - otherwise (not JSON, content type says not JSON, or empty): delivered as a JSON string, so an empty body is `""`
//   (not null: an empty body is not JSON either, and one rule is easier to rely on than two); bytes that are not
//   UTF-8 become U+FFFD, because a websocket text frame must be valid UTF-8 or the browser drops the connection.
// Dropped, counted and logged (at most one line per reason per 10 s): reserved Socket.IO event names (`connect`,
// ...), empty or non-UTF-8 event names, and messages for a user with no session on this node, unless an undeliver
// hook takes those (the broker's undelivered exchange): they are then handed to it, not dropped.
#include "broker/broker.hpp"
#include "common/frame.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

namespace pusher::hub {
class hub;
}
namespace pusher::metrics {
class counter;
class histogram;
class registry;
}  // namespace pusher::metrics

namespace pusher::app {
// A snapshot of the fan-out's counters (the same values /metrics shows).
struct fanout_stats {
    std::uint64_t received = 0;               // messages from the broker (user + broadcast)
    std::uint64_t received_broadcast = 0;     // of which broadcasts
    std::uint64_t received_channel = 0;       // of which channel events
    std::uint64_t dropped_no_subscriber = 0;  // channel events that found no member here (e.g. inside the grace)
    std::uint64_t delivered = 0;              // frames handed to sessions (one per recipient session)
    std::uint64_t as_string = 0;              // payloads that were not JSON and went out as a JSON string
    std::uint64_t dropped_no_session = 0;
    std::uint64_t undelivered_no_session = 0;  // handed to the undeliver hook instead (not in /metrics: the broker's)
    std::uint64_t dropped_reserved_event = 0;
    std::uint64_t dropped_invalid_event = 0;
};

class fanout final : public broker::sink {
  public:
    // Milliseconds since the Unix epoch (the clock publishers stamp timestamp_ms with).
    using clock_fn = std::function<std::int64_t()>;
    static std::int64_t system_clock_ms();

    // Takes a user message that found no session here (broker::broker::undeliver); empty = drop it.
    using undeliver_fn = std::function<void(broker::undelivered)>;

    // Registers its metrics in `reg` (pusher_messages_*_total, pusher_delivery_latency_seconds): one fanout per
    // registry. `h` and `reg` must outlive it.
    fanout(hub::hub& h, metrics::registry& reg, clock_fn now_ms = system_clock_ms, undeliver_fn undeliver = {});

    // Asked for a user message that found nobody here: true when the user's session was just handed to another node
    // (which is bound and got the message too). Counted (dropped, reason handed_over) instead of undelivered.
    using handed_over_fn = std::function<bool(std::string_view user)>;
    void on_handed_over(handed_over_fn fn) { handed_over_ = std::move(fn); }

    void on_message(broker::message const& m) override;
    // Control messages from other nodes go to `fn` (the session hand-over); set before the broker starts.
    using control_fn = std::function<void(std::string_view type, std::string_view body)>;
    void on_control_messages(control_fn fn) { control_ = std::move(fn); }
    void on_control(std::string_view type, std::string_view body) override;

    // The frame a message becomes (exposed for tests and benchmarks; on_message uses it).
    // With `offset` (connection state recovery on), the frame carries it as its last argument.
    // With `meta_json` (a channel event: `{"channel":"..."}`), the frame carries it as a second argument.
    static frame encode(std::string_view event, std::string_view payload, bool content_is_json, bool* as_string,
                        std::string_view offset = {}, std::string_view meta_json = {});
    // A channel event's meta argument: `{"channel":"<channel>"}`.
    static std::string channel_meta(std::string_view channel);

    fanout_stats stats() const;

  private:
    // Lets one log line per interval through and counts the ones it holds back. Any thread.
    class log_throttle {
      public:
        // True when a line may be logged now; `suppressed` is then how many were held back since the last one.
        bool allow(std::int64_t now_ms, std::uint64_t& suppressed);

      private:
        std::atomic<std::int64_t> next_ms_{0};
        std::atomic<std::uint64_t> held_{0};
    };

    // Delivers `f` (recording it for recovery when the hub does); the number of live sessions it reached, or
    // nullopt when nobody here was waiting for it at all (no live and no held session).
    std::optional<std::size_t> hand_to_hub(broker::message const& m, frame const& f, std::uint64_t seq);

    void log_no_session(broker::message const& m);
    void drop(metrics::counter& reason_counter, log_throttle& throttle, char const* what, broker::message const& m);

    hub::hub& hub_;
    clock_fn now_ms_;
    undeliver_fn undeliver_;
    control_fn control_;
    handed_over_fn handed_over_;
    std::atomic<std::uint64_t> undelivered_no_session_{0};
    metrics::counter& received_user_;
    metrics::counter& received_broadcast_;
    metrics::counter& received_channel_;
    metrics::counter& dropped_no_subscriber_;
    metrics::counter& delivered_;
    metrics::counter& as_string_;
    metrics::counter& dropped_no_session_;
    metrics::counter& dropped_reserved_event_;
    metrics::counter& dropped_invalid_event_;
    metrics::counter& dropped_handed_over_;
    metrics::histogram& latency_;
    log_throttle no_session_log_;
    log_throttle reserved_log_;
    log_throttle invalid_log_;
    log_throttle handed_over_log_;
};
}  // namespace pusher::app
