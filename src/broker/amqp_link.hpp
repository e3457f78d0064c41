#pragma once
// amqp_link: one AMQP connection kept alive on a loop_thread of its own. It owns the thread, the rabbitmq-c
// connection, the readiness watch on its socket, the generation (bumped per connection, so that handlers of an older
// one return), heartbeats, the drain of incoming frames, and reconnecting with capped exponential backoff. What the
// connection is for is its role: amqp_consumer and amqp_publisher are the two roles (and whatever else needs a
// connection of its own). The design: docs/dependencies.md §4, the "inline" one. Internal to the broker module:
// include it from .cpp files only.
#include "broker/amqp_connection.hpp"
#include "broker/backoff.hpp"
#include "broker/counters.hpp"
#include "broker/loop_thread.hpp"

#include <amqp.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pusher::broker {
class amqp_link {
  public:
    struct settings {
        std::string who;                   // "amqp consumer": the start of its log lines
        std::string thread_name = "amqp";  // "amqp-consumer": its thread's name (at most 15 bytes)
        amqp_options options;            // where and how to connect (url, TLS, timeouts, heartbeat, reconnect backoff)
        std::string connection_name;     // shown by rabbitmqctl
        bool consume = false;            // read deliveries (amqp_consume_message) rather than bare frames
        std::size_t drain_budget = 256;  // frames per turn before yielding to timers and posted work
        // While deliveries flow, read again after this pause instead of waking on every readable byte (0 = never
        // pause; the consumer's is amqp_options::read_pause, `--amqp-read-pause-us`). Each wake of this thread and
        // of the workers it posts to costs more than the message itself; at 10,000 messages/s a pause of 500 us
        // turns ~1 wake per message into ~1 per 5, for at most 500 us of added latency, and only under load: the
        // first message after a quiet spell is read at once.
        std::chrono::microseconds coalesce{0};
    };

    // What the connection is for. Every call comes on the link's thread.
    class role {
      public:
        virtual ~role() = default;
        // A fresh connection, before anything reads from it: declare, bind, consume, confirm_select... Blocking is
        // fine here (docs/dependencies.md §4.5). Throws amqp_failure.
        virtual void setup(amqp_connection& c) = 0;
        // The connection is up and watched. May send (and may lose it again: check link.connection()).
        virtual void up() = 0;
        // It is gone: `ec` is error::connection_lost, or error::stopped from stop() (the connection is then still
        // open, and closed cleanly right after).
        virtual void down(boost::system::error_code ec) = 0;
        // One delivery (settings::consume only).
        virtual void on_delivery(amqp_envelope_t const&) {}
        // A method frame the link does not handle itself (bind-ok, basic.ack, basic.return...).
        virtual void on_method(amqp_frame_t const& frame) = 0;
    };

    // `connected` is the gauge this link keeps (broker_counters::consumer_connected, ...).
    amqp_link(settings s, broker_counters& counters, std::atomic<bool>& connected);
    ~amqp_link();  // stops
    amqp_link(amqp_link const&) = delete;
    amqp_link& operator=(amqp_link const&) = delete;

    // Any thread.
    void start(role& r);
    void stop();
    loop_thread& loop() { return loop_; }
    bool connected() const { return connected_.load(std::memory_order_acquire); }

    // Below: the link's thread only.
    amqp_connection* connection() const { return conn_.get(); }
    std::uint64_t generation() const { return generation_; }
    bool stopping() const { return stopping_; }
    // Drops the connection (polite: close it cleanly, the socket still works) and reconnects after the backoff.
    void lost(std::string const& reason, bool polite = false);
    // The connection got all the way to useful: the next loss starts the backoff from its minimum again.
    void reset_backoff() { backoff_.reset(); }
    std::string const& who() const { return settings_.who; }
    // "host:port" of the node this link is connected to (or tries next), for log lines.
    std::string address() const;

  private:
    void connect();
    void connect_failed(std::string const& reason);
    void schedule_reconnect(std::string const& reason);
    void drop_socket();
    void arm_wait();
    void arm_coalesce();
    void arm_heartbeat();
    void drain(std::uint64_t gen);
    bool dispatch(amqp_frame_t const& frame);  // false: the connection was lost

    settings settings_;
    broker_counters& counters_;
    std::atomic<bool>& gauge_;
    std::atomic<bool> connected_{false};
    loop_thread loop_;

    // Below: the link's thread only.
    role* role_ = nullptr;
    bool stopping_ = false;
    std::unique_ptr<amqp_connection> conn_;
    std::optional<boost::asio::posix::stream_descriptor> socket_;  // a dup of the library's fd, for readiness only
    std::uint64_t generation_ = 0;
    bool wait_armed_ = false;
    bool drain_posted_ = false;
    bool ever_connected_ = false;
    boost::asio::steady_timer heartbeat_timer_{loop_.context()};
    boost::asio::steady_timer reconnect_timer_{loop_.context()};
    boost::asio::steady_timer coalesce_timer_{loop_.context()};
    backoff backoff_;
    // The nodes of the cluster (--amqp-url's list), tried in order: a connect that fails moves on to the next at
    // once, a round where none answered waits for the backoff, a lost connection fails over to the next.
    std::vector<std::string> urls_;
    std::size_t url_ = 0;              // the one connected to, or tried next
    std::size_t failed_in_round_ = 0;  // connects that failed since the last success or backoff
};
}  // namespace pusher::broker
