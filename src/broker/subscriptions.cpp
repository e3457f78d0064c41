#include "broker/subscriptions.hpp"

#include "broker/error.hpp"

#include <utility>

namespace pusher::broker {
subscriptions::subscriptions(loop_thread& loop, binding_table::options o, broker_counters& counters,
                             std::string_view who, send_fn send, gauges g)
    : loop_(loop),
      table_(o),
      counters_(counters),
      gauges_(g),
      who_(who),
      send_(std::move(send)),
      timer_(loop.context()) {}

void subscriptions::subscribe(std::string_view user, broker::done_fn done) {
    if (loop_.stopped()) {
        complete(done, error::stopped, who_);
        return;
    }
    if (!binding_table::valid_key(user)) {
        // Checked here: AMQP cannot carry a longer routing key, and an unsendable bind must never look like a broken
        // connection. Not counted: the matching unsubscribe is ignored. Still answered on the loop.
        loop_.post([this, done = std::move(done)]() mutable { complete(done, error::invalid_user, who_); });
        return;
    }
    loop_.post([this, user = std::string(user), done = std::move(done)]() mutable {
        if (aborted_) {
            complete(done, error::stopped, who_);
            return;
        }
        apply(table_.subscribe(user, std::move(done), binding_table::clock::now()));
    });
}

void subscriptions::unsubscribe(std::string_view user) {
    if (loop_.stopped()) {
        return;
    }
    loop_.post([this, user = std::string(user)] {
        if (!aborted_) {
            apply(table_.unsubscribe(user, binding_table::clock::now()));
        }
    });
}

std::size_t subscriptions::link_up() {
    auto fx = table_.link_up();
    auto const n = fx.commands.size();
    apply(std::move(fx));
    return n;
}

void subscriptions::abort() {
    aborted_ = true;
    apply(table_.abort(error::stopped));
    timer_.cancel();
}

void subscriptions::apply(binding_table::effects fx) {
    for (auto const& cmd : fx.commands) {
        if (!send_(cmd)) {
            break;  // the link is down: link_down() reset the table, link_up() will re-bind
        }
        counters_.add(cmd.what == binding_table::op::bind ? counters_.binds : counters_.unbinds);
    }
    gauges_.bound->store(table_.bound_users(), broker_counters::relaxed);
    gauges_.subscriptions->store(table_.subscriptions(), broker_counters::relaxed);
    for (auto& c : fx.completions) {
        if (c.ec == error::subscribe_timeout) {
            counters_.add(counters_.subscribe_timeouts);
        }
        complete(c.done, c.ec, who_);
    }
    if (presence_) {
        for (auto const& p : fx.presence) {
            presence_(p);
        }
    }
    arm_timer();
}

void subscriptions::arm_timer() {
    auto next = table_.next_deadline();
    if (aborted_ || !next || (timer_at_ && *timer_at_ <= *next)) {
        return;
    }
    timer_at_ = next;
    timer_.expires_at(*next);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || aborted_) {
            return;  // replaced by an earlier deadline (that wait owns timer_at_), or stopping
        }
        timer_at_.reset();
        apply(table_.tick(binding_table::clock::now()));
    });
}
}  // namespace pusher::broker
