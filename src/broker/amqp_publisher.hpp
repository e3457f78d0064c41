#pragma once
// amqp_publisher: the publishing half of amqp_broker, the role of an amqp_link of its own (docs/dependencies.md
// §4.6: RabbitMQ flow control blocks connections that publish, and a blocked write must never stall the consumer).
// Confirm mode
// with a bounded in-flight window; a publication's `done` runs once every one of its messages is confirmed (or
// with the first failure). Owns the window, the backlog and the deadlines; everything runs on the link's thread.
// Internal to the broker module: include it from .cpp files only.
#include "broker/amqp_link.hpp"
#include "broker/counters.hpp"
#include "broker/message_id.hpp"

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace pusher::broker {
class amqp_publisher final : private amqp_link::role {
  public:
    struct settings {
        amqp_link::settings link;  // who, options, connection name
        std::string exchange;
        std::string broadcast_exchange;
        std::string channel_exchange;
        std::string undelivered_exchange;  // empty = off (undeliver() does nothing)
        std::string control_exchange;      // empty = off (send_control() fails)
        std::string presence_exchange;     // empty = off (presence() does nothing)
        std::string upstream_exchange;     // empty = off (an upstream publication is refused)
        std::size_t window = 1024;         // messages sent and not yet confirmed
        std::size_t backlog = 100'000;     // messages waiting for the window; beyond it publish fails (overloaded)
        std::chrono::milliseconds timeout{10'000};  // publish -> all confirms
    };

    amqp_publisher(settings s, broker_counters& counters);
    ~amqp_publisher() override;  // stops
    amqp_publisher(amqp_publisher const&) = delete;
    amqp_publisher& operator=(amqp_publisher const&) = delete;

    void start();
    void stop();
    void publish(publication p, broker::done_fn done);
    // The routing check (any thread): one mandatory message to the direct exchange with routing key `key`, not
    // counted in the publish metrics. `done` gets success when the broker routed it to a queue, error::unroutable
    // when it came back (no binding for `key`), or another error when nothing can be concluded (not connected...).
    void probe(std::string key, broker::done_fn done);
    // Republishes `u` on the undelivered exchange (any thread), through the same window and backlog as publish():
    // fire and forget, counted by reason (broker_counters::undelivered) and, when it fails, in undelivered_failed.
    void undeliver(undelivered u);
    // An `online` / `offline` event on the presence exchange (any thread): routing key `user`, type `type`, body
    // `body` (JSON); fire and forget like undeliver(), counted in presence_events / presence_failed.
    void presence(std::string user, std::string_view type, std::string body);
    // A message to another node (broker::send_control): mandatory, on the control exchange, routing key `node`.
    void send_control(std::string node, std::string type, std::string body, broker::done_fn done);
    bool connected() const { return link_.connected(); }

    // The `type` of routing-check messages: the consumer recognises (and drops) them by it and their routing key.
    static constexpr std::string_view probe_event = "pusher.routing_check";

  private:
    using clock = std::chrono::steady_clock;
    // One publish() call: N messages (one per user, or one broadcast), one done.
    struct batch {
        publication pub;
        broker::done_fn done;
        std::string message_id;
        std::int64_t timestamp_ms = 0;
        std::size_t next = 0;       // next message to send
        std::size_t count = 0;      // messages in the batch
        std::size_t remaining = 0;  // messages not yet confirmed
        bool finished = false;      // done has run
        bool probe = false;         // a routing check: mandatory, not counted
        bool returned = false;      // a probe the broker sent back (basic.return): unroutable
        bool undelivered = false;   // for the undelivered exchange: counted in undelivered_failed only
        bool control = false;       // to another node on the control exchange: mandatory, not counted
        bool presence = false;      // for the presence exchange: counted in presence_failed only
        bool content_is_json = true;
        undelivered_reason reason = undelivered_reason::no_session;
        clock::time_point deadline;
        bool mandatory() const { return probe || control; }
        // Fire and forget, beside the publishes (undelivered, presence): counted apart, never retried.
        bool side() const { return undelivered || presence; }
    };

    // amqp_link::role
    void setup(amqp_connection& c) override;
    void up() override;
    void down(boost::system::error_code ec) override;
    void on_method(amqp_frame_t const& frame) override;

    void enqueue(std::shared_ptr<batch> b);
    // Queues a side message (batch::side) on the link's thread, or counts it in `failed` when it cannot go.
    void send_side(std::shared_ptr<batch> b, broker_counters::counter& failed);
    void pump();
    bool send_one(std::shared_ptr<batch> const& b);
    void finish(batch& b, boost::system::error_code ec);
    void fail_all(boost::system::error_code ec);
    void confirm(std::uint64_t tag, bool multiple, bool ok);
    void on_return(amqp_frame_t const& frame);
    void arm_sweep();
    void sweep();

    settings settings_;
    broker_counters& counters_;
    amqp_link link_;  // before everything that lives on its thread

    // Below: the link's thread only.
    std::uint64_t next_tag_ = 0;                                   // delivery tags count from 1 per channel
    std::map<std::uint64_t, std::shared_ptr<batch>> unconfirmed_;  // tag -> its batch
    std::deque<std::shared_ptr<batch>> queue_;                     // batches with messages still to send, in order
    std::size_t queued_messages_ = 0;                              // unsent messages in queue_
    message_id_generator ids_;
    boost::asio::steady_timer sweep_timer_{link_.loop().context()};
    bool sweep_armed_ = false;
};
}  // namespace pusher::broker
