#pragma once
// amqp_consumer: the consuming half of amqp_broker, a role of an amqp_link (the connection, its thread and its
// reconnects). It declares the exchanges and our exclusive queue, consumes, and owns the subscriptions (counted
// bindings) with the FIFO of bind/unbind commands awaiting their -ok. Internal to the broker module: include it
// from .cpp files only.
#include "broker/amqp_link.hpp"
#include "broker/binding_table.hpp"
#include "broker/counters.hpp"
#include "broker/subscriptions.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

namespace pusher::broker {
class amqp_consumer final : private amqp_link::role {
  public:
    struct settings {
        amqp_link::settings link;  // who, options, connection name, drain budget, coalesce (consume: set here)
        std::string exchange;
        std::string broadcast_exchange;
        std::string channel_exchange;  // direct: routing key = channel name
        std::string queue;             // empty = server-named
        binding_table::options table;
        // The routing check: every `routing_check` while ready, `probe(key, done)` publishes a mandatory message
        // to our direct exchange with a routing key bound to our queue alone (see amqp_publisher::probe). If the
        // broker cannot route it, our bindings are gone although our queue and connection are fine (the exchange
        // was deleted, then declared again): we start over on a new connection, which re-declares and re-binds
        // everything. Nothing else would tell us. Off when `probe` is empty or the interval is zero.
        std::chrono::milliseconds routing_check{0};
        std::function<void(std::string key, broker::done_fn done)> probe;
        // The direct exchange may have an alternate exchange (the undelivered exchange is on): a probe the broker
        // routed must then also come back to our queue before the next check, or the check fails.
        bool expect_probe = false;
        // Users that come online / go offline here (binding_table::presence_change), on the link's thread.
        subscriptions::presence_fn presence;
    };

    amqp_consumer(settings s, broker_counters& counters);
    ~amqp_consumer() override;  // stops
    amqp_consumer(amqp_consumer const&) = delete;
    amqp_consumer& operator=(amqp_consumer const&) = delete;

    void start(sink& out);
    void stop();
    void subscribe(std::string_view user, broker::done_fn done) { subs_.subscribe(user, std::move(done)); }
    void unsubscribe(std::string_view user) { subs_.unsubscribe(user); }
    void subscribe_channel(std::string_view channel, broker::done_fn done) {
        channel_subs_.subscribe(channel, std::move(done));
    }
    void unsubscribe_channel(std::string_view channel) { channel_subs_.unsubscribe(channel); }
    bool ready() const { return ready_.load(std::memory_order_acquire); }

  private:
    using clock = std::chrono::steady_clock;
    struct pending {
        binding_table::op what;
        bool channel;  // on the channel exchange (channel_subs_), else the direct one (subs_)
        std::string key;
        clock::time_point sent_at;
        std::uint64_t seq;
    };

    // amqp_link::role
    void setup(amqp_connection& c) override;
    void up() override;
    void down(boost::system::error_code ec) override;
    void on_delivery(amqp_envelope_t const& env) override;
    void on_method(amqp_frame_t const& frame) override;

    bool send(binding_table::command const& cmd, bool channel);
    void on_reply(binding_table::op what);
    void set_ready(bool r);
    void arm_routing_check();
    void check_routing();
    void routing_check_failed(char const* what);

    settings settings_;
    broker_counters& counters_;
    std::atomic<bool> ready_{false};
    amqp_link link_;  // before everything that lives on its thread

    // Below: the link's thread only.
    subscriptions subs_;          // users, on the direct exchange
    subscriptions channel_subs_;  // channels, on the channel exchange
    sink* sink_ = nullptr;
    std::string queue_;
    std::deque<pending> inflight_;  // bind/unbind sent, -ok not yet read (replies come back in order)
    std::uint64_t next_seq_ = 0;
    std::uint64_t restore_until_seq_ = 0;  // ready once the re-binds up to this one are confirmed
    std::string probe_key_;                // our queue's routing-check key on the direct exchange (empty: no check)
    bool probe_in_flight_ = false;
    bool probe_routed_ = false;  // the last probe was routed (expect_probe) ...
    bool probe_seen_ = false;    // ... and came back to our queue
    std::uint64_t probe_generation_ = 0;
    bool warned_alternate_ = false;  // the alternate-exchange warning is logged once
    boost::asio::steady_timer routing_check_timer_{link_.loop().context()};
};
}  // namespace pusher::broker
