#pragma once
// amqp_consumer: the consuming half of amqp_broker. It owns one rabbitmq-c connection, the binding table and the
// FIFO of bind/unbind commands awaiting their -ok, and runs them on a thread of its own with a single-thread
// io_context (STACK.md §4, the "inline" design). Internal to the broker module: include it from .cpp files only.
#include "broker/amqp_connection.hpp"
#include "broker/amqp_counters.hpp"
#include "broker/backoff.hpp"
#include "broker/binding_table.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace pusher::broker {
class amqp_consumer {
  public:
    struct settings {
        amqp_endpoint endpoint;
        std::string exchange;
        std::string broadcast_exchange;
        std::string queue;  // empty = server-named
        binding_table::options table;
        std::chrono::milliseconds reconnect_min{500};
        std::chrono::milliseconds reconnect_max{10000};
        std::size_t drain_budget = 256;  // deliveries per turn before yielding to timers and posted work
        // While messages flow, read again after this pause instead of waking on every readable byte (0 = never
        // pause). Each wake of this thread and of the workers it posts to costs a few microseconds here; at
        // 10,000 messages/s a pause of 500 us turns ~1 wake per message into ~1 per 5, for at most 500 us of added
        // latency, and only under load: the first message after a quiet spell is read at once.
        std::chrono::microseconds coalesce{500};
        // The routing check: every `routing_check` while ready, `probe(key, done)` publishes a mandatory message
        // to our direct exchange with a routing key bound to our queue alone (see amqp_publisher::probe). If the
        // broker cannot route it, our bindings are gone although our queue and connection are fine (the exchange
        // was deleted, then declared again): we start over on a new connection, which re-declares and re-binds
        // everything. Nothing else would tell us. Off when `probe` is empty or the interval is zero.
        std::chrono::milliseconds routing_check{0};
        std::function<void(std::string key, broker::done_fn done)> probe;
    };

    amqp_consumer(settings s, amqp_counters& counters);
    ~amqp_consumer();  // stops
    amqp_consumer(amqp_consumer const&) = delete;
    amqp_consumer& operator=(amqp_consumer const&) = delete;

    void start(sink& out);
    void stop();
    void subscribe(std::string_view user, broker::done_fn done);
    void unsubscribe(std::string_view user);
    bool ready() const { return ready_.load(std::memory_order_acquire); }

  private:
    using clock = std::chrono::steady_clock;
    struct pending {
        binding_table::op what;
        std::string key;
        clock::time_point sent_at;
        std::uint64_t seq;
    };

    void connect();
    void lost(std::string const& reason, bool polite = false);  // polite: close the connection cleanly
    void schedule_reconnect(std::string const& reason);
    void apply(binding_table::effects fx);
    bool send(binding_table::command const& cmd);
    void arm_wait();
    void arm_coalesce(std::uint64_t gen);
    void arm_heartbeat();
    void arm_table_timer();
    void drain(std::uint64_t generation);
    bool handle_frame(amqp_frame_t const& frame);
    bool on_reply(binding_table::op what);
    void deliver(amqp_envelope_t const& env);
    void set_ready(bool r);
    void publish_gauges();
    void arm_routing_check();
    void check_routing();
    static void run(broker::done_fn& done, boost::system::error_code ec);

    settings settings_;
    amqp_counters& counters_;
    boost::asio::io_context ioc_{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::thread thread_;
    std::mutex lifecycle_;
    std::atomic<bool> started_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<bool> ready_{false};

    // Below: the consumer thread only.
    sink* sink_ = nullptr;
    bool stopping_ = false;
    std::unique_ptr<amqp_connection> conn_;
    std::optional<boost::asio::posix::stream_descriptor> socket_;  // a dup of the library's fd, for readiness only
    std::uint64_t generation_ = 0;                                 // bumped per connection: stale handlers return
    bool wait_armed_ = false;
    bool drain_posted_ = false;
    bool ever_connected_ = false;
    std::string queue_;
    binding_table table_;
    std::deque<pending> inflight_;  // bind/unbind sent, -ok not yet read (replies come back in order)
    std::uint64_t next_seq_ = 0;
    std::uint64_t restore_until_seq_ = 0;  // ready once the re-binds up to this one are confirmed
    boost::asio::steady_timer heartbeat_timer_{ioc_};
    boost::asio::steady_timer table_timer_{ioc_};
    std::optional<clock::time_point> table_timer_at_;
    boost::asio::steady_timer reconnect_timer_{ioc_};
    boost::asio::steady_timer coalesce_timer_{ioc_};
    backoff backoff_;
    std::string probe_key_;  // our queue's routing-check key on the direct exchange (empty: no check)
    bool probe_in_flight_ = false;
    boost::asio::steady_timer routing_check_timer_{ioc_};
};
}  // namespace pusher::broker
