#include "proc_stats.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace pusher::load {
TEST(ProcStats, ParsesStatWithSpacesAndParensInTheName) {
    // Fields 14 (utime) = 250, 15 (stime) = 50.
    std::string const stat =
        "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 100 1000000 200 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
    auto ticks = parse_stat_cpu_ticks(stat);
    ASSERT_TRUE(ticks);
    EXPECT_EQ(*ticks, 300u);
    EXPECT_FALSE(parse_stat_cpu_ticks("1234 (x) S 1 2"));
    EXPECT_FALSE(parse_stat_cpu_ticks("garbage"));
}

TEST(ProcStats, ParsesVmRss) {
    EXPECT_EQ(parse_status_rss_kb("Name:\tx\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads: 3\n"), 12345u);
    EXPECT_FALSE(parse_status_rss_kb("Name:\tx\n"));
    EXPECT_FALSE(parse_status_rss_kb("VmRSS:\t kB\n"));
}

TEST(ProcStats, SamplesThisProcessAndNotAMissingOne) {
    auto s = sample_process(static_cast<int>(::getpid()));
    ASSERT_TRUE(s);
    EXPECT_GT(s->rss_kb, 0u);
    EXPECT_FALSE(sample_process(0));
    EXPECT_FALSE(sample_process(-5));
}
}  // namespace pusher::load
