#pragma once
// binding_table: the per-user subscription counts behind broker::subscribe/unsubscribe, as a pure state machine
// shared by memory_broker and amqp_broker. It owns the counts, the subscribers waiting for a bind confirmation and
// the unbind grace deadlines. It does no I/O and reads no clock: every call takes `now` and returns the effects for
// the caller to perform (send bind/unbind, then run done callbacks). Not thread-safe: one owner (the broker thread).
//
// Rules (broker.hpp): first subscribe -> bind; done callbacks are held until the bind is confirmed (several
// subscribers of one user may wait on one bind); last unsubscribe -> unbind after `unbind_grace` (0 = at once); a
// subscribe inside the grace cancels the unbind. Commands for one key are confirmed in the order they were sent (AMQP
// replies on one channel are ordered), so a quick unbind -> bind needs no waiting: the last command sent wins.
#include "broker/broker.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pusher::broker {
class binding_table {
  public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    using duration = clock::duration;
    using done_fn = broker::done_fn;

    struct options {
        duration unbind_grace = std::chrono::seconds(2);
        // A subscriber whose bind is not confirmed by then gets error::subscribe_timeout (its count stays).
        duration subscribe_timeout = std::chrono::seconds(10);
    };

    enum class op { bind, unbind };
    struct command {
        op what;
        std::string key;
    };
    struct completion {
        done_fn done;
        boost::system::error_code ec;
    };
    // A key came online (its first subscriber, not inside a grace) or went offline (the grace ended with nobody, or
    // the link went down meanwhile): presence events. Always paired, whatever the link does in between.
    struct presence_change {
        std::string key;
        bool online;
        std::size_t subscribers;  // at that moment
    };
    // What the caller must do, in order: send every command, then run every completion (and report presence).
    struct effects {
        std::vector<command> commands;
        std::vector<completion> completions;
        std::vector<presence_change> presence;
        bool empty() const { return commands.empty() && completions.empty() && presence.empty(); }
    };

    explicit binding_table(options o);

    // A user id usable as a routing key: AMQP 0-9-1 routing keys are short strings (1..255 bytes here; empty is
    // refused because a direct message without a key is for nobody). Both brokers apply the same rule.
    static bool valid_key(std::string_view user) { return !user.empty() && user.size() <= 255; }
    // A publication both brokers accept: a broadcast, or at least one user or channel, every key valid.
    static bool valid_publication(publication const& p) {
        auto const all_valid = [](std::vector<std::string> const& keys) {
            for (auto const& k : keys) {
                if (!valid_key(k)) {
                    return false;
                }
            }
            return true;
        };
        if (!p.upstream_key.empty()) {
            return valid_key(p.upstream_key);
        }
        return p.broadcast ||
               ((!p.users.empty() || !p.channels.empty()) && all_valid(p.users) && all_valid(p.channels));
    }

    effects subscribe(std::string_view user, done_fn done, time_point now);
    // An unsubscribe without a matching subscribe is ignored (and reported by the return value of mismatched()).
    effects unsubscribe(std::string_view user, time_point now);
    // The broker confirmed the oldest outstanding command for `user` (bind-ok or unbind-ok).
    effects confirmed(std::string_view user);
    // Due unbinds (grace over) and expired waiters. Call at next_deadline() or later.
    effects tick(time_point now);
    // The link came up (connected, queue declared, consuming): bind every user that has subscribers.
    effects link_up();
    // The link went down: nothing is bound any more (the exclusive queue died with it), no command is outstanding.
    // Users inside the grace are forgotten; waiters of users with subscribers keep waiting until their deadline.
    effects link_down();
    // Stop: every waiter gets `ec`, every key still online goes offline (this node stops routing anything), everything
    // is forgotten, the link is down.
    effects abort(boost::system::error_code ec);

    // The earliest time tick() has work (possibly none: stale deadlines are skipped by tick()).
    std::optional<time_point> next_deadline() const;
    // True when the user's key is bound or being bound (subscribers, or inside the grace): messages for it route here.
    bool routed(std::string_view user) const;
    bool connected() const { return connected_; }
    std::size_t bound_users() const { return bound_users_; }      // keys bound or being bound
    std::size_t subscriptions() const { return subscriptions_; }  // sum of counts
    std::size_t users() const { return users_.size(); }           // entries, including unbinds in flight
    std::size_t waiting() const;                                  // subscribers waiting for a bind confirmation
    std::size_t outstanding() const;                              // commands sent and not yet confirmed
    std::size_t mismatched() const { return mismatched_; }        // unsubscribes without a subscription

  private:
    using deadline_map = std::multimap<time_point, std::string>;
    struct waiter {
        done_fn done;
        time_point deadline;
        deadline_map::iterator where;  // its entry in deadlines_, erased when it is answered before the deadline
    };
    struct entry {
        std::size_t count = 0;        // subscribers
        std::size_t outstanding = 0;  // commands sent and not yet confirmed
        bool bound = false;           // the last command sent was a bind
        bool online = false;          // an online presence_change was reported, its offline not yet
        std::optional<time_point> unbind_at;
        std::vector<waiter> waiters;
    };
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using map = std::unordered_map<std::string, entry, string_hash, std::equal_to<>>;

    void send(map::iterator it, op what, effects& fx);
    // Answers every waiter of `e` with `ec` (success too) and takes their deadlines out.
    void answer_waiters(entry& e, boost::system::error_code ec, effects& fx);
    void erase_if_idle(map::iterator it);
    void went_offline(map::iterator it, effects& fx);

    options options_;
    map users_;
    // Deadlines (grace ends, waiter timeouts) by time; an entry may be stale (a cancelled grace). A waiter answered
    // before its deadline takes its entry out, so that a burst of connections leaves no timer work behind.
    deadline_map deadlines_;
    bool connected_ = false;
    std::size_t bound_users_ = 0;
    std::size_t subscriptions_ = 0;
    std::size_t mismatched_ = 0;
};
}  // namespace pusher::broker
