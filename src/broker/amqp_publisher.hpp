#pragma once
// amqp_publisher: the publishing half of amqp_broker, on its own connection and thread (STACK.md §4.6: RabbitMQ
// flow control blocks connections that publish, and a blocked write must never stall the consumer). Confirm mode
// with a bounded in-flight window; a publication's `done` runs once every one of its messages is confirmed (or
// with the first failure). Owns the connection, the window, the backlog and the timers; everything runs on its
// single-thread io_context. Internal to the broker module: include it from .cpp files only.
#include "broker/amqp_connection.hpp"
#include "broker/amqp_counters.hpp"
#include "broker/backoff.hpp"
#include "broker/message_id.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace pusher::broker {
class amqp_publisher {
  public:
    struct settings {
        amqp_endpoint endpoint;
        std::string exchange;
        std::string broadcast_exchange;
        std::size_t window = 1024;      // messages sent and not yet confirmed
        std::size_t backlog = 100'000;  // messages waiting for the window; beyond it publish fails (overloaded)
        std::chrono::milliseconds timeout{10'000};  // publish -> all confirms
        std::chrono::milliseconds reconnect_min{500};
        std::chrono::milliseconds reconnect_max{10000};
    };

    amqp_publisher(settings s, amqp_counters& counters);
    ~amqp_publisher();  // stops
    amqp_publisher(amqp_publisher const&) = delete;
    amqp_publisher& operator=(amqp_publisher const&) = delete;

    void start();
    void stop();
    void publish(publication p, broker::done_fn done);
    // The routing check (any thread): one mandatory message to the direct exchange with routing key `key`, not
    // counted in the publish metrics. `done` gets success when the broker routed it to a queue, error::unroutable
    // when it came back (no binding for `key`), or another error when nothing can be concluded (not connected...).
    void probe(std::string key, broker::done_fn done);
    bool connected() const { return connected_.load(std::memory_order_acquire); }

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
        clock::time_point deadline;
    };

    void enqueue(std::shared_ptr<batch> b);

    void connect();
    void lost(std::string const& reason, bool polite = false);  // polite: close the connection cleanly
    void schedule_reconnect(std::string const& reason);
    void pump();
    bool send_one(std::shared_ptr<batch> const& b);
    void finish(batch& b, boost::system::error_code ec);
    void confirm(std::uint64_t tag, bool multiple, bool ok);
    void arm_wait();
    void arm_heartbeat();
    void arm_sweep();
    void sweep();
    void drain(std::uint64_t generation);
    bool handle_frame(amqp_frame_t const& frame);
    static void run(broker::done_fn& done, boost::system::error_code ec);

    settings settings_;
    amqp_counters& counters_;
    boost::asio::io_context ioc_{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::thread thread_;
    std::mutex lifecycle_;
    std::atomic<bool> started_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<bool> connected_{false};

    // Below: the publisher thread only.
    bool stopping_ = false;
    std::unique_ptr<amqp_connection> conn_;
    std::optional<boost::asio::posix::stream_descriptor> socket_;
    std::uint64_t generation_ = 0;
    bool wait_armed_ = false;
    bool drain_posted_ = false;
    bool ever_connected_ = false;
    std::uint64_t next_tag_ = 0;                                   // delivery tags count from 1 per channel
    std::map<std::uint64_t, std::shared_ptr<batch>> unconfirmed_;  // tag -> its batch
    std::deque<std::shared_ptr<batch>> queue_;                     // batches with messages still to send, in order
    std::size_t queued_messages_ = 0;                              // unsent messages in queue_
    message_id_generator ids_;
    boost::asio::steady_timer heartbeat_timer_{ioc_};
    boost::asio::steady_timer sweep_timer_{ioc_};
    bool sweep_armed_ = false;
    boost::asio::steady_timer reconnect_timer_{ioc_};
    backoff backoff_;
};
}  // namespace pusher::broker
