#pragma once
// subscriptions: broker::subscribe / unsubscribe (one instance for users, one for channels), counted by a binding_table
// and driven on its broker's loop_thread. It takes the calls from any thread, performs the table's effects on the loop
// (each command through `send`, then the completions), keeps the one timer for grace ends and subscribe deadlines, and
// keeps the gauges. What a command does belongs to the owner: memory_broker confirms it at once, amqp_consumer writes a
// queue.bind / queue.unbind frame and confirms it when the -ok arrives. Internal to the broker module: include it from
// .cpp files only.
#include "broker/binding_table.hpp"
#include "broker/counters.hpp"
#include "broker/loop_thread.hpp"

#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace pusher::broker {
class subscriptions {
  public:
    // Sends one command; false when the link is down (the remaining commands are dropped: link_up() re-sends).
    using send_fn = std::function<bool(binding_table::command const&)>;

    // The gauges this instance keeps (the users' or the channels' pair of broker_counters).
    struct gauges {
        broker_counters::counter* bound;
        broker_counters::counter* subscriptions;
    };
    static gauges of_users(broker_counters& c) { return {&c.bound_users, &c.subscriptions}; }
    static gauges of_channels(broker_counters& c) { return {&c.bound_channels, &c.channel_subscriptions}; }

    subscriptions(loop_thread& loop, binding_table::options o, broker_counters& counters, std::string_view who,
                  send_fn send, gauges g);

    // Any thread. `done` runs on the loop: at once with error::invalid_user or error::stopped, else once bound.
    void subscribe(std::string_view user, broker::done_fn done);
    void unsubscribe(std::string_view user);

    // Presence changes (binding_table::presence_change) go to `fn`, on the loop's thread. Set before the first call.
    using presence_fn = std::function<void(binding_table::presence_change const&)>;
    void on_presence(presence_fn fn) { presence_ = std::move(fn); }

    // Below: the loop's thread only.
    binding_table const& table() const { return table_; }
    // The broker confirmed the oldest outstanding command for `key`.
    void confirmed(std::string_view key) { apply(table_.confirmed(key)); }
    // The link came up: re-binds every subscribed user; returns how many commands that sent.
    std::size_t link_up();
    void link_down() { apply(table_.link_down()); }
    // Stop: every waiter gets error::stopped; the timer is cancelled.
    void abort();

  private:
    void apply(binding_table::effects fx);
    void arm_timer();

    loop_thread& loop_;
    binding_table table_;
    broker_counters& counters_;
    gauges gauges_;
    std::string who_;
    send_fn send_;
    presence_fn presence_;
    boost::asio::steady_timer timer_;
    std::optional<binding_table::time_point> timer_at_;
    bool aborted_ = false;
};
}  // namespace pusher::broker
