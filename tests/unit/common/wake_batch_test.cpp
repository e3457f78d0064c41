// common/wake_batch: wake-ups deferred while a batch is open on the thread, run once at its (outermost) end.
#include "common/random_bytes.hpp"
#include "common/wake_batch.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <thread>
#include <vector>

namespace {
void record(void* arg) {
    static_cast<std::vector<int>*>(arg)->push_back(1);
}

TEST(WakeBatch, WithoutABatchTheCallerWakesAtOnce) {
    std::vector<int> woken;
    EXPECT_FALSE(pusher::wake_batch::defer(&record, &woken));
    EXPECT_TRUE(woken.empty());
}

TEST(WakeBatch, DeferredWakeUpsRunWhenTheOutermostBatchCloses) {
    std::vector<int> woken;
    {
        pusher::wake_batch outer;
        {
            pusher::wake_batch inner;
            EXPECT_TRUE(pusher::wake_batch::defer(&record, &woken));
        }
        EXPECT_TRUE(woken.empty());  // the inner end is not the batch's end
        EXPECT_TRUE(pusher::wake_batch::defer(&record, &woken));
        EXPECT_TRUE(woken.empty());
    }
    EXPECT_EQ(woken.size(), 2u);
    EXPECT_FALSE(pusher::wake_batch::defer(&record, &woken));  // closed: at once again
}

TEST(WakeBatch, ABatchIsPerThread) {
    std::vector<int> woken;
    pusher::wake_batch open_here;
    bool deferred_there = true;
    std::thread([&] { deferred_there = pusher::wake_batch::defer(&record, &woken); }).join();
    EXPECT_FALSE(deferred_there);
}

TEST(RandomBytes, FillsAcrossRefillsAndDiffers) {
    std::vector<std::uint8_t> a(10000), b(10000);  // more than one 4 KiB refill each
    pusher::random_bytes(a.data(), a.size());
    pusher::random_bytes(b.data(), b.size());
    EXPECT_NE(a, b);
    std::array<int, 256> seen{};
    for (auto x : a) {
        ++seen[x];
    }
    for (int n : seen) {
        EXPECT_GT(n, 0);  // 10,000 uniform bytes miss a value with probability ~256 * e^-39
    }
}
}  // namespace
