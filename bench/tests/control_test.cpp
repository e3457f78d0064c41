#include "control.hpp"
#include "receiver.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

namespace pusher::load {
TEST(LineChannel, SplitsLinesAndKeepsThePartialTail) {
    std::string pending = "a\nbb\ncc";
    auto lines = line_channel::take_lines(pending);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "a");
    EXPECT_EQ(lines[1], "bb");
    EXPECT_EQ(pending, "cc");
}

TEST(LineChannel, CarriesLinesOverASocketPairAndSeesTheClose) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    line_channel a(sv[0]);
    auto b = std::make_unique<line_channel>(sv[1]);
    ASSERT_TRUE(a.send(R"({"cmd":"wave","n":1})"));
    ASSERT_TRUE(a.send(std::string(100000, 'x')));  // longer than one read
    bool closed = false;
    std::vector<std::string> got;
    while (got.size() < 2) {
        auto lines = b->receive(1000, closed);
        ASSERT_FALSE(closed);
        got.insert(got.end(), lines.begin(), lines.end());
    }
    EXPECT_EQ(got[0], R"({"cmd":"wave","n":1})");
    EXPECT_EQ(got[1].size(), 100000u);
    b.reset();
    a.receive(1000, closed);
    EXPECT_TRUE(closed);
}

TEST(Expectations, PerUserCountsAndSequenceSums) {
    publish_summary pub;
    pub.count = 10;  // messages 0..9 to users i % 3
    pub.users = 3;
    expectations e(pub, false);
    EXPECT_EQ(e.for_user(0).count, 4u);  // 0 3 6 9
    EXPECT_EQ(e.for_user(0).seq_sum, 18u);
    EXPECT_EQ(e.for_user(1).count, 3u);  // 1 4 7
    EXPECT_EQ(e.for_user(1).seq_sum, 12u);
    EXPECT_EQ(e.for_user(2).count, 3u);  // 2 5 8
    EXPECT_EQ(e.for_user(2).seq_sum, 15u);

    pub.failed = {4, 9};
    expectations f(pub, false);
    EXPECT_EQ(f.for_user(0).count, 3u);
    EXPECT_EQ(f.for_user(0).seq_sum, 9u);
    EXPECT_EQ(f.for_user(1).count, 2u);
    EXPECT_EQ(f.for_user(1).seq_sum, 8u);

    publish_summary few;
    few.count = 2;
    few.users = 5;
    expectations g(few, false);
    EXPECT_EQ(g.for_user(1).count, 1u);
    EXPECT_EQ(g.for_user(4).count, 0u);
}

TEST(Expectations, BroadcastEveryoneGetsEverything) {
    publish_summary pub;
    pub.count = 100;
    pub.users = 7;
    pub.failed = {50};
    expectations e(pub, true);
    for (std::uint64_t u : {0u, 3u, 6u}) {
        EXPECT_EQ(e.for_user(u).count, 99u);
        EXPECT_EQ(e.for_user(u).seq_sum, 4950u - 50u);
    }
}
}  // namespace pusher::load
