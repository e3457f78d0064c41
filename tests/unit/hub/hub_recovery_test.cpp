// The hub's side of connection state recovery: recorded deliveries, held sessions, and a recovery that gets exactly
// what its session missed (nothing twice, nothing skipped), also while deliveries run on another thread.
#include "hub/hub.hpp"

#include "unit/hub/fake_session.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace pusher::hub {
namespace {
using testing::fake_session;

recovery_options on(seq_t first = 1000, history_limits per_user = {}, std::size_t node = 256 << 20) {
    recovery_options r;
    r.enabled = true;
    r.first_seq = first;
    r.per_user = per_user;
    r.node_max_bytes = node;
    return r;
}

// A frame whose text is its offset, so that tests can read sequences back.
frame frame_of(seq_t s) {
    return make_frame(std::to_string(s));
}

std::shared_ptr<broker::undelivered const> origin_of(seq_t s) {
    broker::undelivered u;
    u.user = "alice";
    u.payload = std::to_string(s);
    return std::make_shared<broker::undelivered const>(std::move(u));
}

delivery deliver(hub& h, std::string_view user, seq_t* last = nullptr) {
    seq_t const s = h.next_seq();
    if (last != nullptr) {
        *last = s;
    }
    return h.deliver_recorded(user, frame_of(s), s, [s] { return origin_of(s); });
}

std::vector<seq_t> seqs(std::vector<replayed> const& replay) {
    std::vector<seq_t> out;
    for (auto const& r : replay) {
        out.push_back(std::stoull(*r.f));
    }
    return out;
}

std::vector<seq_t> seqs(std::vector<frame> const& frames) {
    std::vector<seq_t> out;
    for (auto const& f : frames) {
        out.push_back(std::stoull(*f));
    }
    return out;
}

TEST(hub_recovery, a_held_session_gets_exactly_what_followed_its_offset_then_live_frames) {
    hub h(4, on());
    auto first = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    ASSERT_TRUE(h.attach("alice", first, &start));
    EXPECT_EQ(start, seq_t{999});  // nothing recorded yet: the offset before the first
    seq_t read = 0;
    deliver(h, "alice");
    deliver(h, "alice", &read);  // the client read up to here (1001)
    deliver(h, "alice");         // written to the socket, never read
    EXPECT_EQ(first->count(), 3u);

    ASSERT_TRUE(h.hold("alice", *first));
    EXPECT_EQ(h.held_sessions(), 1u);
    EXPECT_FALSE(h.has("alice"));
    auto const d = deliver(h, "alice");  // for nobody live: kept for the held session
    EXPECT_EQ(d.sessions, 0u);
    EXPECT_EQ(d.held, 1u);

    auto second = std::make_shared<fake_session>("s2");
    auto const replay = h.recover("alice", second, read, start);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1002, 1003}));
    EXPECT_EQ(h.held_sessions(), 0u);
    EXPECT_TRUE(h.has("alice"));
    deliver(h, "alice");
    EXPECT_EQ(seqs(second->frames()), (std::vector<seq_t>{1004}));
}

TEST(hub_recovery, without_an_offset_a_session_gets_everything_since_it_began) {
    hub h(4, on());
    deliver(h, "alice");  // before alice is here: not hers
    auto s1 = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    h.attach("alice", s1, &start);
    ASSERT_TRUE(h.hold("alice", *s1));
    deliver(h, "alice");
    deliver(h, "alice");
    auto const replay = h.recover("alice", std::make_shared<fake_session>("s2"), std::nullopt, start);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1001, 1002}));
}

TEST(hub_recovery, broadcasts_are_merged_in_offset_order) {
    hub h(4, on());
    auto s1 = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    h.attach("alice", s1, &start);
    h.hold("alice", *s1);
    deliver(h, "alice");           // 1000
    seq_t const b = h.next_seq();  // 1001
    h.deliver_all_recorded(frame_of(b), b);
    deliver(h, "alice");  // 1002
    auto const replay = h.recover("alice", std::make_shared<fake_session>("s2"), std::nullopt, start);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1000, 1001, 1002}));
}

TEST(hub_recovery, refuses_offsets_from_the_future_capped_out_histories_and_users_without_a_held_session) {
    hub h(4, on(1000, history_limits{2, 1 << 20}));
    auto s1 = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    h.attach("alice", s1, &start);
    EXPECT_FALSE(h.recover("alice", std::make_shared<fake_session>("x"), std::nullopt, start));  // not held
    h.hold("alice", *s1);
    EXPECT_FALSE(h.recover("bob", std::make_shared<fake_session>("x"), std::nullopt, start));
    deliver(h, "alice");
    EXPECT_FALSE(h.recover("alice", std::make_shared<fake_session>("x"), seq_t{5000}, start));  // never issued
    auto const d2 = deliver(h, "alice");
    auto const d3 = deliver(h, "alice");  // the cap of 2 pushes 1000 out, which reached nobody
    EXPECT_TRUE(d2.lost.empty());
    ASSERT_EQ(d3.lost.size(), 1u);
    EXPECT_EQ(d3.lost[0]->payload, "1000");
    EXPECT_FALSE(h.recover("alice", std::make_shared<fake_session>("x"), std::nullopt, start));
    EXPECT_EQ(h.held_sessions(), 1u);  // a refused recovery changes nothing
    // From 1000 on, what is left is exact.
    auto const replay = h.recover("alice", std::make_shared<fake_session>("y"), seq_t{1000}, start);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1001, 1002}));
}

TEST(hub_recovery, releasing_the_last_held_session_hands_over_what_reached_nobody_and_frees_the_history) {
    hub h(4, on());
    auto s1 = std::make_shared<fake_session>("s1");
    h.attach("alice", s1);
    deliver(h, "alice");  // delivered live
    h.hold("alice", *s1);
    deliver(h, "alice");
    deliver(h, "alice");
    EXPECT_GT(h.history_bytes(), 0u);
    lost_messages lost;
    h.release_held("alice", lost);
    ASSERT_EQ(lost.size(), 2u);
    EXPECT_EQ(lost[0]->payload, "1001");
    EXPECT_EQ(lost[1]->payload, "1002");
    EXPECT_EQ(h.held_sessions(), 0u);
    EXPECT_EQ(h.history_bytes(), 0u);
    EXPECT_EQ(deliver(h, "alice").held, 0u);  // the record is gone: a miss from now on
}

TEST(hub_recovery, a_handed_over_session_takes_its_frames_with_their_keys_and_frees_the_record) {
    hub h(4, on());
    auto s1 = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    h.attach("alice", s1, &start);
    h.hold("alice", *s1);
    seq_t const s = h.next_seq();
    h.deliver_recorded(
        "alice", frame_of(s), s, [s] { return origin_of(s); }, 77);
    auto const out = h.hand_over("alice", std::nullopt, start);
    ASSERT_TRUE(out);
    ASSERT_EQ(out->size(), 1u);
    EXPECT_EQ((*out)[0].key, 77u);
    EXPECT_EQ(seqs(*out), (std::vector<seq_t>{1000}));
    EXPECT_EQ(h.held_sessions(), 0u);
    EXPECT_EQ(h.history_bytes(), 0u);  // the record went: nothing is left for the undelivered exchange either
    EXPECT_FALSE(h.hand_over("alice", std::nullopt, start));
}

TEST(hub_recovery, a_reservation_records_for_a_session_that_is_not_here_yet) {
    hub h(4, on());
    deliver(h, "alice");  // 1000: before the reservation, a miss
    seq_t const start = h.reserve("alice");
    EXPECT_EQ(h.held_sessions(), 1u);
    EXPECT_EQ(deliver(h, "alice").held, 1u);  // 1001: kept for it
    auto s1 = std::make_shared<fake_session>("s1");
    auto const replay = h.recover("alice", s1, std::nullopt, start);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1001}));
    deliver(h, "alice");
    EXPECT_EQ(seqs(s1->frames()), (std::vector<seq_t>{1002}));

    // Given up instead: what it kept is lost, for the undelivered exchange.
    seq_t const again = h.reserve("bob");
    (void)again;
    deliver(h, "bob");
    lost_messages lost;
    h.release_held("bob", lost);
    EXPECT_EQ(lost.size(), 1u);
    EXPECT_FALSE(h.has("bob"));
}

TEST(hub_recovery, the_node_budget_bounds_every_history_together) {
    std::size_t const entry = 4 + history::entry_overhead + 4;  // frame "1000", overhead, kept payload "1000"
    hub h(1, on(1000, history_limits{1000, 1 << 20}, 3 * entry));
    auto s1 = std::make_shared<fake_session>("s1");
    h.attach("alice", s1);
    h.hold("alice", *s1);
    std::size_t lost = 0;
    for (int i = 0; i < 10; ++i) {
        lost += deliver(h, "alice").lost.size();
        EXPECT_LE(h.history_bytes(), 3 * entry);
    }
    EXPECT_EQ(lost, 7u);
}

TEST(hub_recovery, recovers_exactly_once_and_in_order_while_deliveries_run_on_another_thread) {
    // Across the wrap too; caps large enough that nothing is pushed out while the test thread lags.
    hub h(64, on(std::numeric_limits<seq_t>::max() - 500, history_limits{1 << 20, 1 << 28}));
    constexpr int total = 20000;
    auto current = std::make_shared<fake_session>("s0");
    seq_t start = 0;
    ASSERT_TRUE(h.attach("alice", current, &start));
    std::vector<seq_t> offsets;  // what deliveries assigned, in order
    offsets.reserve(total);
    std::atomic<bool> done{false};
    std::thread broker([&] {
        for (int i = 0; i < total; ++i) {
            seq_t s = 0;
            deliver(h, "alice", &s);
            offsets.push_back(s);
            if (i % 3 == 0) {
                seq_t const b = h.next_seq();  // a broadcast now and then
                h.deliver_all_recorded(frame_of(b), b);
                offsets.push_back(b);
            }
        }
        done = true;
    });
    // The client's view: each session's replay, then what it got live, one session after another.
    std::vector<seq_t> seen;
    int recoveries = 0;
    while (!done || recoveries < 3) {
        ASSERT_TRUE(h.hold("alice", *current));
        auto const live = seqs(current->frames());
        seen.insert(seen.end(), live.begin(), live.end());
        auto next = std::make_shared<fake_session>(std::to_string(recoveries + 1).insert(0, 1, 's'));
        std::optional<seq_t> read;
        if (!seen.empty()) {
            read = seen.back();
        }
        auto const replay = h.recover("alice", next, read, start);
        ASSERT_TRUE(replay);
        auto const r = seqs(*replay);
        seen.insert(seen.end(), r.begin(), r.end());
        current = next;
        ++recoveries;
    }
    broker.join();
    auto const last = seqs(current->frames());
    seen.insert(seen.end(), last.begin(), last.end());
    EXPECT_EQ(seen, offsets);
    EXPECT_GE(recoveries, 3);
}

// ---- channels ----

// alice attached, a member of chat:1, then held: where her session began, and its channel point.
std::pair<seq_t, std::vector<channel_point>> hold_alice_in_chat1(hub& h) {
    auto s1 = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    h.attach("alice", s1, &start);
    seq_t joined = 0;
    h.join("chat:1", s1, &joined);
    std::vector<channel_point> points{{"chat:1", joined}};
    EXPECT_TRUE(h.hold("alice", *s1, points));
    return {start, std::move(points)};
}

delivery to_channel(hub& h, std::string_view channel, seq_t* last = nullptr) {
    seq_t const s = h.next_seq();
    if (last != nullptr) {
        *last = s;
    }
    return h.deliver_channel_recorded(channel, frame_of(s), s);
}

TEST(hub_channels, members_get_the_channels_frames_and_leaving_stops_them) {
    hub h(4, on());
    auto a = std::make_shared<fake_session>("a");
    auto b = std::make_shared<fake_session>("b");
    EXPECT_TRUE(h.join("chat:1", a));
    EXPECT_FALSE(h.join("chat:1", a)) << "a member already";
    EXPECT_TRUE(h.join("chat:1", b));
    EXPECT_TRUE(h.join("chat:2", b));
    EXPECT_EQ(h.channels(), 2u);
    EXPECT_EQ(h.channel_members(), 3u);
    EXPECT_EQ(h.users(), 0u) << "channels are not users";
    EXPECT_EQ(to_channel(h, "chat:1").sessions, 2u);
    EXPECT_EQ(to_channel(h, "chat:2").sessions, 1u);
    EXPECT_EQ(to_channel(h, "chat:3").sessions, 0u);
    EXPECT_EQ(h.deliver("chat:1", frame_of(1)), 0u) << "a user of the same name is someone else";
    EXPECT_TRUE(h.leave("chat:1", *a));
    EXPECT_FALSE(h.leave("chat:1", *a));
    EXPECT_EQ(to_channel(h, "chat:1").sessions, 1u);
    EXPECT_EQ(a->count(), 1u);
    EXPECT_EQ(b->count(), 3u);
    EXPECT_EQ(h.deliver_channel("chat:2", frame_of(1)), 1u);
}

TEST(hub_channels, a_recovery_merges_the_users_and_its_channels_frames_in_offset_order_from_where_each_began) {
    hub h(4, on());
    auto s1 = std::make_shared<fake_session>("s1");
    seq_t start = 0;
    h.attach("alice", s1, &start);
    to_channel(h, "chat:1");  // before alice joined chat:1: never hers
    seq_t joined = 0;
    ASSERT_TRUE(h.join("chat:1", s1, &joined));
    seq_t read = 0;
    deliver(h, "alice");
    to_channel(h, "chat:1", &read);  // read up to here
    deliver(h, "alice");             // 1003: missed
    to_channel(h, "chat:1");         // 1004: missed
    std::vector<channel_point> const points{{"chat:1", joined}};
    ASSERT_TRUE(h.hold("alice", *s1, points));
    EXPECT_EQ(h.channel_members(), 0u);
    auto const kept = to_channel(h, "chat:1");  // 1005: for the held member
    EXPECT_EQ(kept.sessions, 0u);
    EXPECT_EQ(kept.held, 1u);
    deliver(h, "alice");      // 1006
    to_channel(h, "chat:2");  // not its channel

    auto s2 = std::make_shared<fake_session>("s2");
    auto const replay = h.recover("alice", s2, read, start, points);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1003, 1004, 1005, 1006}));
    EXPECT_EQ(h.channel_members(), 1u) << "a member again";
    to_channel(h, "chat:1");  // 1008: live
    EXPECT_EQ(seqs(s2->frames()), (std::vector<seq_t>{1008}));

    // Without an offset: from where it began, and each channel from where it joined.
    ASSERT_TRUE(h.hold("alice", *s2, points));
    auto const all = h.recover("alice", std::make_shared<fake_session>("s3"), std::nullopt, start, points);
    ASSERT_TRUE(all);
    EXPECT_EQ(seqs(*all), (std::vector<seq_t>{1001, 1002, 1003, 1004, 1005, 1006, 1008}));
}

TEST(hub_channels, a_channel_that_capped_out_what_a_held_member_missed_is_not_recovered_and_release_frees_it) {
    hub h(4, on(1000, history_limits{2, 1 << 20}));
    auto const [start, points] = hold_alice_in_chat1(h);
    to_channel(h, "chat:1");
    to_channel(h, "chat:1");
    to_channel(h, "chat:1");  // the first of the three is gone: no exact replay
    EXPECT_FALSE(h.recover("alice", std::make_shared<fake_session>("s2"), std::nullopt, start, points));
    EXPECT_EQ(h.held_sessions(), 1u) << "nothing changed";
    lost_messages lost;
    h.release_held("alice", lost, points);
    EXPECT_TRUE(lost.empty()) << "channel events are never republished";
    EXPECT_EQ(h.held_sessions(), 0u);
    EXPECT_EQ(to_channel(h, "chat:1").held, 0u) << "the channel's record is gone";
    EXPECT_EQ(h.history_bytes(), 0u);
}

TEST(hub_channels, a_handed_over_session_takes_its_channels_frames_and_frees_their_records) {
    hub h(4, on());
    auto const [start, points] = hold_alice_in_chat1(h);
    to_channel(h, "chat:1");  // 1000
    deliver(h, "alice");      // 1001
    auto const out = h.hand_over("alice", std::nullopt, start, points);
    ASSERT_TRUE(out);
    EXPECT_EQ(seqs(*out), (std::vector<seq_t>{1000, 1001}));
    EXPECT_EQ(h.held_sessions(), 0u);
    EXPECT_EQ(to_channel(h, "chat:1").held, 0u) << "the channel's record went with the held member";
    EXPECT_EQ(h.history_bytes(), 0u);
}

TEST(hub_channels, a_channel_reservation_records_for_a_member_that_is_not_here_yet) {
    hub h(4, on());
    seq_t const start = h.reserve("alice");
    to_channel(h, "chat:1");  // 1000: before the channel's reservation, not for it
    seq_t const joined = h.reserve_channel("chat:1");
    EXPECT_EQ(to_channel(h, "chat:1").held, 1u);  // 1001: kept for it
    deliver(h, "alice");                          // 1002
    std::vector<channel_point> const points{{"chat:1", joined}};
    auto s1 = std::make_shared<fake_session>("s1");
    auto const replay = h.recover("alice", s1, std::nullopt, start, points);
    ASSERT_TRUE(replay);
    EXPECT_EQ(seqs(*replay), (std::vector<seq_t>{1001, 1002}));
    EXPECT_EQ(h.channel_members(), 1u) << "a member from now on";
    to_channel(h, "chat:1");  // 1003: live
    EXPECT_EQ(seqs(s1->frames()), (std::vector<seq_t>{1003}));

    // Given up instead: the channel's record goes with the user's.
    seq_t const bob_start = h.reserve("bob");
    (void)bob_start;
    std::vector<channel_point> const bobs{{"chat:2", h.reserve_channel("chat:2")}};
    lost_messages lost;
    h.release_held("bob", lost, bobs);
    EXPECT_EQ(to_channel(h, "chat:2").held, 0u);
    EXPECT_EQ(h.held_sessions(), 0u);
}
}  // namespace
}  // namespace pusher::hub
