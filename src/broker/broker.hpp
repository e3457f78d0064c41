#pragma once
// broker: where messages for users come from, and where publishes go. Two implementations: memory_broker (the
// embedded default, one process) and amqp_broker (RabbitMQ; every node sees what any node publishes).
//
// Subscriptions are counted per user: every subscribe() is matched by exactly one unsubscribe(). The first
// subscribe of a user binds the user's routing key; `done` runs once the broker has confirmed that binding (at once
// when it is already bound), so a message published after `done` reaches this node. The last unsubscribe unbinds the
// key `unbind_grace` later; a subscribe within the grace cancels the unbind (page reloads do not churn bindings).
//
// Threading: every method may be called from any thread and returns at once. Callbacks (`done`, sink::on_message)
// run on the broker's own thread: post to your own executor from there, never block.
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::broker {
// One delivered message. Views are valid during the sink call only.
struct message {
    std::string_view user;        // the routing key; empty for a broadcast
    bool broadcast = false;       // came through the fanout exchange: for every connected user
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
};

// One publish request (from /api/publish or `pusher send`).
struct publication {
    std::vector<std::string> users;  // one message per user; ignored when broadcast
    bool broadcast = false;
    std::string event = "notification";
    std::string payload;             // JSON text
    std::string message_id;          // optional
    std::int64_t timestamp_ms = 0;   // 0 = now
};

class broker {
public:
    using done_fn = std::function<void(boost::system::error_code)>;
    virtual ~broker() = default;

    // Starts delivering to `s` (connects, declares, consumes). Non-blocking: readiness is reported by ready().
    virtual void start(sink& s) = 0;
    // Stops: unbinds, closes connections, joins the broker's thread. Idempotent; no callback runs after it returns.
    virtual void stop() = 0;

    virtual void subscribe(std::string_view user, done_fn done) = 0;
    virtual void unsubscribe(std::string_view user) = 0;

    // `done` runs with success once the broker accepted every message (publisher confirms for AMQP), or with an
    // error (not connected, nacked, timed out).
    virtual void publish(publication p, done_fn done) = 0;

    // Connected, consuming, and every subscribed user's binding restored.
    virtual bool ready() const = 0;
};

}  // namespace pusher::broker
