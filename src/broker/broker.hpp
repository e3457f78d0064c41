#pragma once
// broker: where messages for users come from, and where publishes go. Two implementations: memory_broker (the
// embedded default, one process) and amqp_broker (RabbitMQ; every node sees what any node publishes).
//
// Subscriptions are counted per user (and, the same way, per channel): every subscribe() is matched by exactly one
// unsubscribe(). The first subscribe of a user binds the user's routing key; `done` runs once the broker has confirmed
// that binding (at once when it is already bound), so a message published after `done` reaches this node. The last
// unsubscribe unbinds the key `unbind_grace` later; a subscribe within the grace cancels the unbind (page reloads do
// not churn bindings).
//
// Threading: every method may be called from any thread and returns at once. Callbacks (`done`, sink::on_message)
// run on the broker's own thread: post to your own executor from there, never block, and never call stop() from
// one. After stop(), a `done` runs at once on the caller's thread with error::stopped (broker/error.hpp).
#include "broker/error.hpp"

#include <boost/system/error_code.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::broker {
// One delivered message. Views are valid during the sink call only.
struct message {
    std::string_view user;        // the routing key; empty for a broadcast or a channel event
    bool broadcast = false;       // came through the fanout exchange: for every connected user
    std::string_view channel;     // came through the channel exchange: for the channel's subscribers (routing key)
    std::string_view event;       // AMQP `type` property; "notification" when absent
    std::string_view payload;     // the body bytes as received (JSON, or anything: fanout makes it a JSON string)
    bool content_is_json = true;  // false when content_type says it is not JSON (fanout still validates)
    std::string_view message_id;  // empty when absent
    std::optional<std::int64_t> timestamp_ms;  // publish time, from header timestamp_ms or the timestamp property
};

class sink {
  public:
    virtual ~sink() = default;
    virtual void on_message(message const& m) = 0;
    // A message another node addressed to this one (broker::send_control): its AMQP `type` and body. Views are
    // valid during the call only.
    virtual void on_control(std::string_view type, std::string_view body) {
        (void)type;
        (void)body;
    }
};

// Why a message that reached this node went to the undelivered exchange (header `x-pusher-reason`).
enum class undelivered_reason : std::uint8_t {
    no_session,         // a user message found no session (and nothing held for recovery) of its user here
    recovery_expired,   // held for a session's recovery, which did not happen within the window
    recovery_overflow,  // held for a recovery, and pushed out by the per-session or node-wide cap
};
inline constexpr std::size_t undelivered_reason_count = 3;
inline std::string_view to_string(undelivered_reason r) {
    switch (r) {
        case undelivered_reason::no_session:
            return "no_session";
        case undelivered_reason::recovery_expired:
            return "recovery_expired";
        case undelivered_reason::recovery_overflow:
            return "recovery_overflow";
    }
    return "no_session";
}

// A message to republish on the undelivered exchange: the same routing key (user), `type` (event), body and
// properties as it came, plus the reason. Owns its bytes: it crosses from the consumer's thread to the publisher's.
struct undelivered {
    std::string user;
    std::string event;
    std::string payload;
    bool content_is_json = true;
    std::string message_id;
    std::optional<std::int64_t> timestamp_ms;
    undelivered_reason reason = undelivered_reason::no_session;

    static undelivered of(message const& m, undelivered_reason why) {
        return {std::string(m.user),
                std::string(m.event),
                std::string(m.payload),
                m.content_is_json,
                std::string(m.message_id),
                m.timestamp_ms,
                why};
    }
};

// One publish request (from /api/publish or `pusher send`).
struct publication {
    std::vector<std::string> users;     // one message per user; ignored when broadcast
    std::vector<std::string> channels;  // one message per channel (the channel exchange); ignored when broadcast
    bool broadcast = false;
    std::string event = "notification";
    std::string payload;            // JSON text
    std::string message_id;         // optional
    std::int64_t timestamp_ms = 0;  // 0 = now
    // An upstream event (a client's, for the backend): published to the upstream exchange with this routing key (the
    // event name) and `headers` (x-pusher-user, ...); users, channels and broadcast are ignored then.
    std::string upstream_key;
    std::vector<std::pair<std::string, std::string>> headers;
};

// A latency histogram as counted so far: the sum, the count, and the buckets (not cumulative).
struct latency_histogram {
    // Upper bounds (ms) of the buckets; the last bucket counts everything above.
    static constexpr std::array<std::uint32_t, 11> bounds_ms{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};

    std::uint64_t us_sum = 0;
    std::uint64_t count = 0;
    std::array<std::uint64_t, bounds_ms.size() + 1> buckets{};
};

// A snapshot of a broker's counters, for /metrics and /readyz. Counters only grow; gauges are current values.
struct broker_stats {
    std::uint64_t messages_received = 0;       // handed to the sink
    std::uint64_t messages_unroutable = 0;     // memory broker: published for a user nobody here subscribed to
    std::uint64_t messages_invalid = 0;        // AMQP deliveries dropped (e.g. a direct message with no routing key)
    std::uint64_t messages_published = 0;      // sent by publish() (one per user, or one per broadcast)
    std::uint64_t messages_confirmed = 0;      // acknowledged by the broker (publisher confirms)
    std::uint64_t messages_failed = 0;         // nacked, lost with the connection, timed out, or refused while down
    std::uint64_t binds = 0;                   // queue.bind sent (including re-binds after a reconnect)
    std::uint64_t unbinds = 0;                 // queue.unbind sent
    std::uint64_t subscribe_timeouts = 0;      // subscribe() done with an error because the bind was not confirmed
    latency_histogram bind_latency;            // queue.bind sent -> bind-ok
    latency_histogram unbind_latency;          // queue.unbind sent -> unbind-ok
    std::uint64_t reconnects = 0;              // successful connections after the first one (consumer + publisher)
    std::uint64_t connection_failures = 0;     // connection attempts that failed, and connections lost
    std::uint64_t routing_check_failures = 0;  // AMQP: our own probe was unroutable (bindings lost), so re-bound
    std::uint64_t bound_users = 0;             // gauge: users whose routing key is bound (or inside the unbind grace)
    std::uint64_t subscriptions = 0;           // gauge: subscribe() calls not yet matched by unsubscribe()
    std::uint64_t bound_channels = 0;          // gauge: channels bound (or inside the unbind grace)
    std::uint64_t channel_subscriptions = 0;   // gauge: subscribe_channel() calls not yet matched
    bool consumer_connected = false;           // gauge (memory broker: true once started)
    bool publisher_connected = false;          // gauge (memory broker: true once started)
    // undeliver() calls by undelivered_reason (index = the enum's value): handed to the undelivered exchange (AMQP),
    // or only counted (memory broker).
    std::array<std::uint64_t, undelivered_reason_count> undelivered{};
    // AMQP: of those, not confirmed (not connected, backlog full, nacked, timed out, lost), never retried.
    std::uint64_t undelivered_failed = 0;
    // Presence events (online / offline) handed to the presence exchange (AMQP; the memory broker only counts
    // them), and of those, the ones not confirmed (never retried).
    std::uint64_t presence_events = 0;
    std::uint64_t presence_failed = 0;
};

class broker {
  public:
    using done_fn = std::function<void(boost::system::error_code)>;
    virtual ~broker() = default;

    // Starts delivering to `s` (connects, declares, consumes). Non-blocking: readiness is reported by ready().
    virtual void start(sink& s) = 0;
    // Stops: unbinds, closes connections, joins the broker's thread. Idempotent; no callback runs after it returns.
    virtual void stop() = 0;

    // `done` runs exactly once: success when the binding is confirmed, or an error from broker/error.hpp (e.g.
    // subscribe_timeout while the broker is unreachable, stopped). The subscription counts either way (the binding is
    // made when the broker comes back), so every subscribe() is still matched by one unsubscribe().
    virtual void subscribe(std::string_view user, done_fn done) = 0;
    virtual void unsubscribe(std::string_view user) = 0;
    // The same for a channel: counted per channel name, bound with the channel name as routing key on the channel
    // exchange (one mechanism with the users': the same counts, grace and confirmation).
    virtual void subscribe_channel(std::string_view channel, done_fn done) = 0;
    virtual void unsubscribe_channel(std::string_view channel) = 0;

    // `done` runs with success once the broker accepted every message (publisher confirms for AMQP), or with an
    // error (not connected, nacked, timed out).
    virtual void publish(publication p, done_fn done) = 0;

    // Hands a message that reached this node but nobody here to the backend: amqp_broker republishes it on the
    // undelivered exchange (fire and forget: a failure is counted, never retried); memory_broker only counts it.
    // Any thread; returns at once.
    virtual void undeliver(undelivered u) { (void)u; }

    // The address of every node at once for send_control: each node binds it on the control exchange beside its
    // own id (a node id cannot contain a dot).
    static constexpr std::string_view every_node = "all.nodes";
    // Sends a message to node `node` of the cluster (its sink's on_control gets it): amqp_broker publishes it on the
    // control exchange with routing key `node`. `done` gets success once the broker routed it to that node's queue,
    // error::unroutable when no such node is connected, or another error (not connected, stopped...). The memory
    // broker is a cluster of one: error::unroutable for every node.
    virtual void send_control(std::string node, std::string type, std::string body, done_fn done) {
        (void)node;
        (void)type;
        (void)body;
        if (done) {
            done(make_error_code(error::unroutable));
        }
    }
    // This node has a name on the control exchange that other nodes can reach (amqp_broker with a control exchange
    // and a node id).
    virtual bool clustered() const { return false; }

    // Connected, consuming, and every subscribed user's binding restored.
    virtual bool ready() const = 0;

    // Counters for metrics; cheap (relaxed atomics), callable from any thread.
    virtual broker_stats stats() const { return {}; }
};

}  // namespace pusher::broker
