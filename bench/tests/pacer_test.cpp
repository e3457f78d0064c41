#include "pacer.hpp"

#include <gtest/gtest.h>

namespace pusher::load {
TEST(Pacer, UnlimitedNeverWaits) {
    pacer p(0, 0);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(p.wait_ns(0), 0u);
        p.sent();
    }
}

TEST(Pacer, SpacesMessagesAtTheRate) {
    pacer p(1000, 1'000'000'000);  // 1000/s: one per ms, starting at t = 1 s
    EXPECT_EQ(p.wait_ns(1'000'000'000), 0u);
    p.sent();
    EXPECT_EQ(p.wait_ns(1'000'000'000), 1'000'000u);
    EXPECT_EQ(p.wait_ns(1'000'400'000), 600'000u);
    EXPECT_EQ(p.wait_ns(1'001'000'000), 0u);
    p.sent();
    EXPECT_EQ(p.skipped_slots(), 0u);
}

TEST(Pacer, FallingBehindAllowsABoundedBurstAndCountsTheRest) {
    pacer p(1000, 0, 5);
    // 100 ms late: 100 slots are due, at most 5 may go back to back.
    std::uint64_t const now = 100'000'000;
    int burst = 0;
    while (p.wait_ns(now) == 0 && burst < 1000) {
        p.sent();
        ++burst;
    }
    EXPECT_EQ(burst, 6);  // the 5-message burst plus the slot that is due right now
    EXPECT_EQ(p.skipped_slots(), 95u);
}
}  // namespace pusher::load
