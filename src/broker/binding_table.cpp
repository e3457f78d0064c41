#include "broker/binding_table.hpp"

#include "broker/error.hpp"

#include <cassert>
#include <utility>

namespace pusher::broker {
binding_table::binding_table(options o) : options_(o) {}

void binding_table::send(map::iterator it, op what, effects& fx) {
    entry& e = it->second;
    bool const bind = what == op::bind;
    assert(connected_ && e.bound != bind);
    e.bound = bind;
    ++e.outstanding;
    bind ? ++bound_users_ : --bound_users_;
    fx.commands.push_back({what, it->first});
}

void binding_table::answer_waiters(entry& e, boost::system::error_code ec, effects& fx) {
    for (auto& w : e.waiters) {
        fx.completions.push_back({std::move(w.done), ec});
        deadlines_.erase(w.where);
    }
    e.waiters.clear();
}

void binding_table::went_offline(map::iterator it, effects& fx) {
    if (it->second.online) {
        it->second.online = false;
        fx.presence.push_back({it->first, false, 0});
    }
}

void binding_table::erase_if_idle(map::iterator it) {
    entry const& e = it->second;
    if (e.count == 0 && e.outstanding == 0 && !e.bound && !e.unbind_at && e.waiters.empty()) {
        users_.erase(it);
    }
}

binding_table::effects binding_table::subscribe(std::string_view user, done_fn done, time_point now) {
    effects fx;
    auto it = users_.find(user);
    if (it == users_.end()) {
        it = users_.emplace(std::string(user), entry{}).first;
    }
    entry& e = it->second;
    ++e.count;
    ++subscriptions_;
    e.unbind_at.reset();  // a subscribe inside the grace keeps the binding (and the key online)
    if (!e.online) {
        e.online = true;
        fx.presence.push_back({it->first, true, e.count});
    }
    if (e.bound && e.outstanding == 0) {
        fx.completions.push_back({std::move(done), {}});
        return fx;
    }
    auto const deadline = now + options_.subscribe_timeout;
    e.waiters.push_back({std::move(done), deadline, deadlines_.emplace(deadline, it->first)});
    if (!e.bound && connected_) {
        // Also right after an unbind still in flight: the broker applies unbind then bind, so the key ends bound.
        send(it, op::bind, fx);
    }
    return fx;
}

binding_table::effects binding_table::unsubscribe(std::string_view user, time_point now) {
    effects fx;
    auto it = users_.find(user);
    if (it == users_.end() || it->second.count == 0) {
        ++mismatched_;
        return fx;
    }
    entry& e = it->second;
    --e.count;
    --subscriptions_;
    if (e.count > 0) {
        return fx;
    }
    if (e.bound && options_.unbind_grace > duration::zero()) {
        e.unbind_at = now + options_.unbind_grace;
        deadlines_.emplace(*e.unbind_at, it->first);
        return fx;  // waiters of departed subscribers still complete when the bind is confirmed
    }
    if (e.bound) {
        send(it, op::unbind, fx);
    }
    went_offline(it, fx);
    answer_waiters(e, error::unsubscribed, fx);
    erase_if_idle(it);
    return fx;
}

binding_table::effects binding_table::confirmed(std::string_view user) {
    effects fx;
    auto it = users_.find(user);
    if (it == users_.end() || it->second.outstanding == 0) {
        return fx;  // a reply for a command from before link_down(); nothing waits for it
    }
    entry& e = it->second;
    --e.outstanding;
    if (e.outstanding == 0 && e.bound) {
        answer_waiters(e, {}, fx);
    }
    erase_if_idle(it);
    return fx;
}

binding_table::effects binding_table::tick(time_point now) {
    effects fx;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        auto node = deadlines_.extract(deadlines_.begin());
        auto it = users_.find(node.mapped());
        if (it == users_.end()) {
            continue;
        }
        entry& e = it->second;
        std::erase_if(e.waiters, [&](waiter& w) {
            if (w.deadline > now) {
                return false;
            }
            fx.completions.push_back({std::move(w.done), error::subscribe_timeout});
            return true;
        });
        if (e.unbind_at && *e.unbind_at <= now) {
            e.unbind_at.reset();
            assert(e.count == 0);
            if (e.bound) {
                send(it, op::unbind, fx);
            }
            went_offline(it, fx);
            answer_waiters(e, error::unsubscribed, fx);
        }
        erase_if_idle(it);
    }
    return fx;
}

binding_table::effects binding_table::link_up() {
    effects fx;
    connected_ = true;
    for (auto it = users_.begin(); it != users_.end(); ++it) {
        if (it->second.count > 0 && !it->second.bound) {
            send(it, op::bind, fx);
        }
    }
    return fx;
}

binding_table::effects binding_table::link_down() {
    effects fx;
    connected_ = false;
    bound_users_ = 0;
    for (auto it = users_.begin(); it != users_.end();) {
        entry& e = it->second;
        e.bound = false;
        e.outstanding = 0;
        e.unbind_at.reset();
        if (e.count == 0) {
            went_offline(it, fx);  // inside its grace: gone now
            answer_waiters(e, error::unsubscribed, fx);
            it = users_.erase(it);
        } else {
            ++it;
        }
    }
    return fx;
}

binding_table::effects binding_table::abort(boost::system::error_code ec) {
    effects fx;
    for (auto it = users_.begin(); it != users_.end(); ++it) {
        answer_waiters(it->second, ec, fx);
        went_offline(it, fx);
    }
    users_.clear();
    deadlines_.clear();
    connected_ = false;
    bound_users_ = 0;
    subscriptions_ = 0;
    return fx;
}

std::optional<binding_table::time_point> binding_table::next_deadline() const {
    if (deadlines_.empty()) {
        return std::nullopt;
    }
    return deadlines_.begin()->first;
}

bool binding_table::routed(std::string_view user) const {
    auto it = users_.find(user);
    return it != users_.end() && it->second.bound;
}

std::size_t binding_table::waiting() const {
    std::size_t n = 0;
    for (auto const& [user, e] : users_) {
        n += e.waiters.size();
    }
    return n;
}

std::size_t binding_table::outstanding() const {
    std::size_t n = 0;
    for (auto const& [user, e] : users_) {
        n += e.outstanding;
    }
    return n;
}
}  // namespace pusher::broker
