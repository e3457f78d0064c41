// hub::history and the offset arithmetic, sans I/O: parsing what clients send back, serial-number comparison across
// the wrap of the 64-bit counter, the caps, and which entries count as lost.
#include "hub/history.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace pusher::hub {
namespace {
constexpr seq_t top = std::numeric_limits<seq_t>::max();

history::entry entry_at(seq_t s, bool delivered = true, std::size_t payload = 10) {
    history::entry e;
    e.seq = s;
    e.f = make_frame(std::string(payload, 'x'));
    e.delivered = delivered;
    if (!delivered) {
        broker::undelivered u;
        u.user = "alice";
        u.event = "n";
        u.payload = std::to_string(s);
        e.origin = std::make_shared<broker::undelivered const>(std::move(u));
    }
    return e;
}

std::vector<seq_t> replayed(history& h, seq_t after) {
    std::vector<pusher::hub::replayed> out;
    h.replay_after(after, out);
    std::vector<seq_t> seqs;
    for (auto const& p : out) {
        seqs.push_back(p.seq);
    }
    return seqs;
}

TEST(offsets, are_decimal_text_both_ways) {
    EXPECT_EQ(format_offset(0), "0");
    EXPECT_EQ(format_offset(top), "18446744073709551615");
    EXPECT_EQ(parse_offset("18446744073709551615"), top);
    EXPECT_EQ(parse_offset("0"), seq_t{0});
    EXPECT_EQ(parse_offset("42"), seq_t{42});
    for (char const* bad : {"", "-1", "+1", "1a", " 1", "1 ", "0x10", "18446744073709551616", "123456789012345678901",
                            "1.0", "\xc3\xa9"}) {
        EXPECT_FALSE(parse_offset(bad)) << bad;
    }
}

TEST(offsets, compare_in_serial_arithmetic_across_the_wrap) {
    EXPECT_TRUE(seq_after(1, 0));
    EXPECT_FALSE(seq_after(0, 1));
    EXPECT_FALSE(seq_after(5, 5));
    EXPECT_TRUE(seq_after(0, top));  // 0 follows 2^64 - 1
    EXPECT_TRUE(seq_after(3, top - 3));
    EXPECT_FALSE(seq_after(top, 0));
    EXPECT_EQ(seq_max(top, 2), seq_t{2});
    EXPECT_EQ(seq_max(2, top), seq_t{2});
}

TEST(history, replays_what_follows_an_offset_in_order_across_the_wrap) {
    history h(top - 3);
    lost_messages lost;
    for (seq_t s : {top - 2, top - 1, top, seq_t{0}, seq_t{1}}) {
        h.append(entry_at(s), {}, lost);
    }
    EXPECT_TRUE(h.covers(top - 3));
    EXPECT_EQ(replayed(h, top - 1), (std::vector<seq_t>{top, 0, 1}));
    EXPECT_EQ(replayed(h, 0), (std::vector<seq_t>{1}));
    EXPECT_EQ(replayed(h, 1), (std::vector<seq_t>{}));
    EXPECT_EQ(replayed(h, top - 3), (std::vector<seq_t>{top - 2, top - 1, top, 0, 1}));
    EXPECT_TRUE(lost.empty());
}

TEST(history, keeps_at_most_max_events_and_then_cannot_cover_older_offsets) {
    history h(100);
    lost_messages lost;
    history_limits const lim{3, 1 << 20};
    for (seq_t s = 101; s <= 105; ++s) {
        h.append(entry_at(s, s != 101 && s != 103), lim, lost);  // 101 and 103 reached no session
    }
    EXPECT_EQ(h.size(), 3u);
    EXPECT_FALSE(h.covers(100));  // 101 and 102 are gone
    EXPECT_FALSE(h.covers(101));
    EXPECT_TRUE(h.covers(102));
    EXPECT_EQ(replayed(h, 102), (std::vector<seq_t>{103, 104, 105}));
    ASSERT_EQ(lost.size(), 1u);  // 101: dropped before anyone had it; 102 was delivered
    EXPECT_EQ(lost[0]->payload, "101");
}

TEST(history, keeps_at_most_max_bytes_counting_the_entry_overhead) {
    history h(0);
    lost_messages lost;
    std::size_t const one = 100 + history::entry_overhead;
    history_limits const lim{1000, 3 * one};
    for (seq_t s = 1; s <= 10; ++s) {
        h.append(entry_at(s, true, 100), lim, lost);
        EXPECT_LE(h.bytes(), 3 * one);
    }
    EXPECT_EQ(h.size(), 3u);
    EXPECT_EQ(h.bytes(), 3 * one);
    EXPECT_TRUE(h.covers(7));
    EXPECT_FALSE(h.covers(6));
}

TEST(history, a_single_entry_over_the_cap_is_dropped_at_once) {
    history h(0);
    lost_messages lost;
    h.append(entry_at(1, false, 5000), history_limits{10, 1024}, lost);
    EXPECT_TRUE(h.empty());
    EXPECT_EQ(h.bytes(), 0u);
    EXPECT_FALSE(h.covers(0));
    EXPECT_EQ(lost.size(), 1u);
}

TEST(history, hands_each_undelivered_message_over_once) {
    history h(0);
    lost_messages lost;
    for (seq_t s = 1; s <= 4; ++s) {
        h.append(entry_at(s, s % 2 == 0), {}, lost);
    }
    std::size_t const before = h.bytes();
    lost_messages out;
    h.take_undelivered(out);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]->payload, "1");
    EXPECT_EQ(out[1]->payload, "3");
    EXPECT_LT(h.bytes(), before);  // the kept copies are released
    out.clear();
    h.take_undelivered(out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(h.size(), 4u);  // still replayable
}

TEST(history, a_replay_counts_as_a_delivery) {
    history h(0);
    lost_messages lost;
    h.append(entry_at(1, false), {}, lost);
    h.append(entry_at(2, false), {}, lost);
    EXPECT_EQ(replayed(h, 1), (std::vector<seq_t>{2}));
    lost_messages out;
    h.take_undelivered(out);
    ASSERT_EQ(out.size(), 1u);  // only 1 (the client said it had read it: not replayed, still not delivered)
    EXPECT_EQ(out[0]->payload, "1");
}
}  // namespace
}  // namespace pusher::hub
