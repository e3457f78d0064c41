#include "histogram.hpp"

#include <gtest/gtest.h>

#include <random>

namespace pusher::load {
TEST(Histogram, ExactBelow128AndBucketBoundsCoverEveryValue) {
    for (std::uint64_t v = 0; v < 128; ++v) {
        EXPECT_EQ(histogram::bucket_of(v), v);
    }
    for (std::uint64_t v :
         std::initializer_list<std::uint64_t>{128, 129, 255, 256, 1000, 123456789, (1ull << 40) + 17, UINT64_MAX}) {
        auto const i = histogram::bucket_of(v);
        ASSERT_LT(i, histogram::bucket_count);
        EXPECT_LE(histogram::bucket_low(i), v) << v;
        EXPECT_GE(histogram::bucket_high(i), v) << v;
        // Relative width below 1/64.
        EXPECT_LE(histogram::bucket_high(i) - histogram::bucket_low(i), histogram::bucket_low(i) / 64) << v;
    }
    // Consecutive buckets tile the number line.
    for (std::size_t i = 0; i + 1 < histogram::bucket_count; ++i) {
        ASSERT_EQ(histogram::bucket_high(i) + 1, histogram::bucket_low(i + 1)) << i;
    }
}

TEST(Histogram, QuantilesWithinOnePointSixPercent) {
    histogram h;
    for (std::uint64_t v = 1; v <= 100000; ++v) {
        h.record(v * 1000);  // 1 us .. 100 ms in ns
    }
    EXPECT_EQ(h.count(), 100000u);
    EXPECT_EQ(h.min(), 1000u);
    EXPECT_EQ(h.max(), 100'000'000u);
    EXPECT_EQ(h.quantile(1.0), 100'000'000u);
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
        double const want = q * 100'000'000.0;
        EXPECT_NEAR(static_cast<double>(h.quantile(q)), want, want * 0.016) << q;
    }
    EXPECT_NEAR(h.mean(), 50'000'500.0, 1.0);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
    std::mt19937_64 rng(42);  // fixed seed: the test is deterministic
    histogram a, b, all;
    for (int i = 0; i < 10000; ++i) {
        auto const v = rng() % 10'000'000;
        (i % 2 == 0 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    for (double q : {0.1, 0.5, 0.99}) {
        EXPECT_EQ(a.quantile(q), all.quantile(q));
    }
}

TEST(Histogram, SerializeRoundTripsAndRejectsGarbage) {
    histogram h;
    for (std::uint64_t v : std::initializer_list<std::uint64_t>{5, 500, 5000, 5000, 123456789}) {
        h.record(v);
    }
    histogram back;
    ASSERT_TRUE(back.deserialize(h.serialize()));
    EXPECT_EQ(back.count(), 5u);
    EXPECT_EQ(back.min(), 5u);
    EXPECT_EQ(back.max(), 123456789u);
    EXPECT_EQ(back.quantile(0.5), h.quantile(0.5));
    EXPECT_DOUBLE_EQ(back.mean(), h.mean());

    histogram empty;
    ASSERT_TRUE(back.deserialize(empty.serialize()));
    EXPECT_EQ(back.count(), 0u);
    EXPECT_EQ(back.quantile(0.99), 0u);

    histogram kept;
    kept.record(7);
    EXPECT_FALSE(kept.deserialize("1 2"));
    EXPECT_FALSE(kept.deserialize("1 2 3 99999:1"));
    EXPECT_FALSE(kept.deserialize("1 2 3 4-5"));
    EXPECT_EQ(kept.count(), 1u);  // unchanged after a failed parse
}
}  // namespace pusher::load
