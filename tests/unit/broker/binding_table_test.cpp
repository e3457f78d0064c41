// binding_table: the counting, confirmation, grace and link-state rules, driven with a fake clock.
#include "broker/binding_table.hpp"
#include "broker/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pusher::broker {
namespace {
using namespace std::chrono_literals;
using table = binding_table;
using op = binding_table::op;

// Records what each done callback received.
struct probe {
    std::vector<std::optional<boost::system::error_code>> results;
    binding_table::done_fn make() {
        auto i = results.size();
        results.emplace_back();
        return [this, i](boost::system::error_code ec) { results[i] = ec; };
    }
    bool done(std::size_t i) const { return results.at(i).has_value(); }
    boost::system::error_code ec(std::size_t i) const { return results.at(i).value(); }
};

void run(table::effects& fx) {
    for (auto& c : fx.completions) {
        c.done(c.ec);
    }
}

// The presence changes of some effects, as "+key/N" (online with N subscribers) and "-key" (offline).
std::vector<std::string> presence_of(table::effects const& fx) {
    std::vector<std::string> out;
    for (auto const& p : fx.presence) {
        out.push_back(p.online ? "+" + p.key + "/" + std::to_string(p.subscribers) : "-" + p.key);
    }
    return out;
}

class binding_table_test : public ::testing::Test {
  protected:
    table make(std::chrono::milliseconds grace) {
        table t({.unbind_grace = grace, .subscribe_timeout = 10s});
        auto fx = t.link_up();
        EXPECT_TRUE(fx.empty());
        return t;
    }
    table::time_point t0 = table::time_point{} + 1h;
    probe p;
};

TEST_F(binding_table_test, first_subscribe_binds_and_done_waits_for_the_confirmation) {
    auto t = make(2000ms);
    auto fx = t.subscribe("alice", p.make(), t0);
    ASSERT_EQ(fx.commands.size(), 1u);
    EXPECT_EQ(fx.commands[0].what, op::bind);
    EXPECT_EQ(fx.commands[0].key, "alice");
    EXPECT_TRUE(fx.completions.empty());
    EXPECT_TRUE(t.routed("alice"));
    EXPECT_EQ(t.waiting(), 1u);

    fx = t.confirmed("alice");
    EXPECT_TRUE(fx.commands.empty());
    ASSERT_EQ(fx.completions.size(), 1u);
    run(fx);
    ASSERT_TRUE(p.done(0));
    EXPECT_FALSE(p.ec(0));
    EXPECT_EQ(t.bound_users(), 1u);
    EXPECT_EQ(t.subscriptions(), 1u);
}

TEST_F(binding_table_test, several_subscribers_wait_on_one_bind) {
    auto t = make(2000ms);
    auto fx1 = t.subscribe("alice", p.make(), t0);
    auto fx2 = t.subscribe("alice", p.make(), t0 + 1ms);
    auto fx3 = t.subscribe("alice", p.make(), t0 + 2ms);
    EXPECT_EQ(fx1.commands.size(), 1u);
    EXPECT_TRUE(fx2.empty());
    EXPECT_TRUE(fx3.empty());
    auto fx = t.confirmed("alice");
    EXPECT_EQ(fx.completions.size(), 3u);
    run(fx);
    for (std::size_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(p.done(i));
        EXPECT_FALSE(p.ec(i));
    }
    EXPECT_EQ(t.subscriptions(), 3u);
}

TEST_F(binding_table_test, subscribe_when_bound_completes_at_once) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    t.confirmed("alice");
    auto fx = t.subscribe("alice", p.make(), t0);
    EXPECT_TRUE(fx.commands.empty());
    ASSERT_EQ(fx.completions.size(), 1u);
    run(fx);
    EXPECT_FALSE(p.ec(1));
}

TEST_F(binding_table_test, last_unsubscribe_unbinds_after_the_grace) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    t.subscribe("alice", p.make(), t0);
    t.confirmed("alice");
    EXPECT_TRUE(t.unsubscribe("alice", t0 + 1s).empty());  // one subscriber left
    EXPECT_TRUE(t.unsubscribe("alice", t0 + 2s).empty());  // grace starts
    EXPECT_TRUE(t.routed("alice"));                        // still bound inside the grace
    ASSERT_TRUE(t.next_deadline().has_value());
    EXPECT_LE(*t.next_deadline(), t0 + 4s);
    EXPECT_TRUE(t.tick(t0 + 3999ms).commands.empty());
    auto fx = t.tick(t0 + 4s);
    ASSERT_EQ(fx.commands.size(), 1u);
    EXPECT_EQ(fx.commands[0].what, op::unbind);
    EXPECT_EQ(fx.commands[0].key, "alice");
    EXPECT_FALSE(t.routed("alice"));
    EXPECT_EQ(t.bound_users(), 0u);
    EXPECT_EQ(t.users(), 1u);  // until the unbind is confirmed
    EXPECT_TRUE(t.confirmed("alice").empty());
    EXPECT_EQ(t.users(), 0u);
}

TEST_F(binding_table_test, subscribe_inside_the_grace_cancels_the_unbind) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    t.confirmed("alice");
    t.unsubscribe("alice", t0 + 1s);
    auto fx = t.subscribe("alice", p.make(), t0 + 2s);  // a page reload
    EXPECT_TRUE(fx.commands.empty());
    ASSERT_EQ(fx.completions.size(), 1u);  // already bound: no wait
    EXPECT_TRUE(t.tick(t0 + 10s).empty());
    EXPECT_TRUE(t.routed("alice"));
    // The next grace is measured from the next last unsubscribe.
    t.unsubscribe("alice", t0 + 20s);
    EXPECT_TRUE(t.tick(t0 + 21s).empty());
    EXPECT_EQ(t.tick(t0 + 22s).commands.size(), 1u);
}

TEST_F(binding_table_test, zero_grace_unbinds_at_once) {
    auto t = make(0ms);
    t.subscribe("alice", p.make(), t0);
    t.confirmed("alice");
    auto fx = t.unsubscribe("alice", t0);
    ASSERT_EQ(fx.commands.size(), 1u);
    EXPECT_EQ(fx.commands[0].what, op::unbind);
    EXPECT_FALSE(t.routed("alice"));
}

TEST_F(binding_table_test, quick_unbind_then_bind_ends_bound) {
    auto t = make(0ms);
    t.subscribe("alice", p.make(), t0);
    t.confirmed("alice");
    auto fx1 = t.unsubscribe("alice", t0);
    auto fx2 = t.subscribe("alice", p.make(), t0);  // before the unbind-ok
    ASSERT_EQ(fx1.commands.size(), 1u);
    EXPECT_EQ(fx1.commands[0].what, op::unbind);
    ASSERT_EQ(fx2.commands.size(), 1u);
    EXPECT_EQ(fx2.commands[0].what, op::bind);
    EXPECT_TRUE(fx2.completions.empty());
    EXPECT_TRUE(t.confirmed("alice").completions.empty());  // unbind-ok: the bind is still in flight
    EXPECT_FALSE(p.done(1));
    auto fx = t.confirmed("alice");  // bind-ok
    ASSERT_EQ(fx.completions.size(), 1u);
    run(fx);
    EXPECT_FALSE(p.ec(1));
    EXPECT_TRUE(t.routed("alice"));
    EXPECT_EQ(t.outstanding(), 0u);
}

TEST_F(binding_table_test, unsubscribe_before_the_confirmation_without_grace_fails_the_waiter) {
    auto t = make(0ms);
    t.subscribe("alice", p.make(), t0);
    auto fx = t.unsubscribe("alice", t0);
    ASSERT_EQ(fx.commands.size(), 1u);
    EXPECT_EQ(fx.commands[0].what, op::unbind);
    run(fx);
    ASSERT_TRUE(p.done(0));
    EXPECT_EQ(p.ec(0), error::unsubscribed);
    t.confirmed("alice");  // bind-ok
    t.confirmed("alice");  // unbind-ok
    EXPECT_EQ(t.users(), 0u);
}

TEST_F(binding_table_test, unsubscribe_before_the_confirmation_inside_the_grace_still_completes) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    EXPECT_TRUE(t.unsubscribe("alice", t0).empty());
    auto fx = t.confirmed("alice");
    run(fx);
    ASSERT_TRUE(p.done(0));
    EXPECT_FALSE(p.ec(0));
}

TEST_F(binding_table_test, users_are_independent) {
    auto t = make(0ms);
    EXPECT_EQ(t.subscribe("alice", p.make(), t0).commands.size(), 1u);
    EXPECT_EQ(t.subscribe("bob", p.make(), t0).commands.size(), 1u);
    auto ok = t.confirmed("bob");
    run(ok);
    EXPECT_FALSE(p.done(0));
    EXPECT_TRUE(p.done(1));
    auto fx = t.unsubscribe("bob", t0);
    EXPECT_EQ(fx.commands.size(), 1u);
    EXPECT_TRUE(t.routed("alice"));
    EXPECT_FALSE(t.routed("bob"));
    EXPECT_FALSE(t.routed("carol"));
}

TEST_F(binding_table_test, mismatched_unsubscribe_is_ignored) {
    auto t = make(0ms);
    EXPECT_TRUE(t.unsubscribe("nobody", t0).empty());
    EXPECT_EQ(t.mismatched(), 1u);
    EXPECT_EQ(t.users(), 0u);
}

TEST_F(binding_table_test, subscribe_while_the_link_is_down_waits_for_link_up) {
    table t({.unbind_grace = 2s, .subscribe_timeout = 10s});
    auto fx = t.subscribe("alice", p.make(), t0);
    EXPECT_TRUE(fx.commands.empty() && fx.completions.empty());
    EXPECT_EQ(presence_of(fx), std::vector<std::string>{"+alice/1"}) << "online: its session waits here";
    EXPECT_FALSE(t.routed("alice"));
    fx = t.link_up();
    ASSERT_EQ(fx.commands.size(), 1u);
    EXPECT_EQ(fx.commands[0].key, "alice");
    EXPECT_FALSE(p.done(0));
    fx = t.confirmed("alice");
    run(fx);
    ASSERT_TRUE(p.done(0));
    EXPECT_FALSE(p.ec(0));
}

TEST_F(binding_table_test, subscribe_times_out_while_down_but_keeps_counting) {
    table t({.unbind_grace = 2s, .subscribe_timeout = 10s});
    t.subscribe("alice", p.make(), t0);
    ASSERT_TRUE(t.next_deadline().has_value());
    EXPECT_EQ(*t.next_deadline(), t0 + 10s);
    EXPECT_TRUE(t.tick(t0 + 9s).empty());
    auto fx = t.tick(t0 + 10s);
    ASSERT_EQ(fx.completions.size(), 1u);
    run(fx);
    EXPECT_EQ(p.ec(0), error::subscribe_timeout);
    EXPECT_EQ(t.subscriptions(), 1u);
    fx = t.link_up();  // the subscription still counts: the key is bound when the broker comes back
    EXPECT_EQ(fx.commands.size(), 1u);
}

TEST_F(binding_table_test, link_down_then_up_rebinds_users_with_subscribers_only) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    t.subscribe("bob", p.make(), t0);
    t.subscribe("carol", p.make(), t0);  // never confirmed
    t.confirmed("alice");
    t.confirmed("bob");
    t.unsubscribe("bob", t0 + 1s);  // inside the grace when the link drops
    auto fx = t.link_down();
    EXPECT_TRUE(fx.commands.empty() && fx.completions.empty());
    EXPECT_EQ(presence_of(fx), std::vector<std::string>{"-bob"});
    EXPECT_FALSE(t.routed("alice"));
    EXPECT_EQ(t.bound_users(), 0u);
    EXPECT_EQ(t.outstanding(), 0u);
    EXPECT_TRUE(t.confirmed("carol").empty());  // a late reply from the old link is ignored

    auto sub = t.subscribe("alice", p.make(), t0 + 2s);  // waits for the rebind
    EXPECT_TRUE(sub.empty());

    fx = t.link_up();
    std::vector<std::string> keys;
    for (auto& c : fx.commands) {
        EXPECT_EQ(c.what, op::bind);
        keys.push_back(c.key);
    }
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"alice", "carol"}));
    fx = t.confirmed("alice");
    run(fx);
    EXPECT_TRUE(p.done(3));
    fx = t.confirmed("carol");
    run(fx);
    EXPECT_TRUE(p.done(2));
    EXPECT_FALSE(p.ec(2));
    EXPECT_EQ(t.bound_users(), 2u);
    EXPECT_TRUE(t.tick(t0 + 1h).commands.empty());  // bob's old grace is gone with the link
}

TEST_F(binding_table_test, abort_fails_every_waiter) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    t.subscribe("bob", p.make(), t0);
    auto fx = t.abort(error::stopped);
    EXPECT_EQ(fx.completions.size(), 2u);
    EXPECT_EQ(fx.presence.size(), 2u) << "both keys were online";
    run(fx);
    EXPECT_EQ(p.ec(0), error::stopped);
    EXPECT_EQ(p.ec(1), error::stopped);
    EXPECT_EQ(t.users(), 0u);
    EXPECT_FALSE(t.next_deadline().has_value());
}

TEST_F(binding_table_test, abort_reports_every_key_still_online_offline_once) {
    auto t = make(2000ms);
    t.link_up();
    t.subscribe("alice", p.make(), t0);
    t.confirmed("alice");
    t.subscribe("bob", p.make(), t0);
    t.confirmed("bob");
    t.unsubscribe("bob", t0 + 2s);  // its grace runs until t0 + 4 s: still online at the abort
    t.subscribe("carol", p.make(), t0);
    t.confirmed("carol");
    t.unsubscribe("carol", t0);
    auto gone = t.tick(t0 + 3s);  // carol's grace ended: offline already
    ASSERT_EQ(gone.presence.size(), 1u);
    auto fx = t.abort(error::stopped);
    std::vector<std::string> offline;
    for (auto const& c : fx.presence) {
        EXPECT_FALSE(c.online);
        offline.push_back(c.key);
    }
    std::sort(offline.begin(), offline.end());
    EXPECT_EQ(offline, (std::vector<std::string>{"alice", "bob"}));
}

TEST_F(binding_table_test, answered_waiters_take_their_deadlines_out_and_stale_ones_do_nothing) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    ASSERT_TRUE(t.next_deadline().has_value());
    t.confirmed("alice");  // answered: its deadline (t0+10s) goes, no timer work is left for it
    EXPECT_FALSE(t.next_deadline().has_value());
    EXPECT_TRUE(t.tick(t0 + 11s).empty());
    EXPECT_TRUE(t.routed("alice"));

    // A grace cancelled by a new subscriber leaves a stale deadline behind: it does nothing when it comes.
    t.unsubscribe("alice", t0 + 12s);
    t.subscribe("alice", p.make(), t0 + 13s);  // bound already: answered at once
    ASSERT_TRUE(t.next_deadline().has_value());
    EXPECT_TRUE(t.tick(t0 + 15s).commands.empty());
    EXPECT_TRUE(t.routed("alice"));
    EXPECT_FALSE(t.next_deadline().has_value());
}

// ---- presence ----

TEST_F(binding_table_test, a_key_comes_online_on_its_first_subscriber_and_goes_offline_when_the_grace_ends) {
    auto t = make(2000ms);
    EXPECT_EQ(presence_of(t.subscribe("alice", p.make(), t0)), std::vector<std::string>{"+alice/1"});
    EXPECT_TRUE(presence_of(t.subscribe("alice", p.make(), t0)).empty()) << "a second tab: still online";
    t.confirmed("alice");
    EXPECT_TRUE(presence_of(t.unsubscribe("alice", t0 + 1s)).empty());
    EXPECT_TRUE(presence_of(t.unsubscribe("alice", t0 + 1s)).empty()) << "the grace starts";
    EXPECT_TRUE(presence_of(t.subscribe("alice", p.make(), t0 + 2s)).empty()) << "a reload inside the grace";
    EXPECT_TRUE(presence_of(t.unsubscribe("alice", t0 + 2s)).empty());
    EXPECT_TRUE(presence_of(t.tick(t0 + 3s)).empty());
    EXPECT_EQ(presence_of(t.tick(t0 + 4s)), std::vector<std::string>{"-alice"});
    EXPECT_EQ(presence_of(t.subscribe("alice", p.make(), t0 + 5s)), std::vector<std::string>{"+alice/1"});
}

TEST_F(binding_table_test, presence_stays_paired_across_the_link_going_down_and_without_a_grace) {
    auto t = make(2000ms);
    t.subscribe("alice", p.make(), t0);
    t.subscribe("bob", p.make(), t0);
    t.unsubscribe("bob", t0);  // bob is inside his grace
    EXPECT_EQ(presence_of(t.link_down()), std::vector<std::string>{"-bob"}) << "forgotten: offline now";
    EXPECT_TRUE(presence_of(t.link_up()).empty()) << "re-binding alice says nothing new";
    EXPECT_EQ(presence_of(t.unsubscribe("alice", t0 + 1s)), std::vector<std::string>{})
        << "bound again? not yet confirmed, but still in its grace";
    auto u = make(0ms);
    u.subscribe("carol", p.make(), t0);
    EXPECT_EQ(presence_of(u.unsubscribe("carol", t0)), std::vector<std::string>{"-carol"});
}
}  // namespace
}  // namespace pusher::broker
