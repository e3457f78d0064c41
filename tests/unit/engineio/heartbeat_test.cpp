// The heartbeat schedule with a hand-driven clock.
#include "engineio/heartbeat.hpp"

#include <gtest/gtest.h>

namespace pusher::engineio {
namespace {
using namespace std::chrono_literals;
using action = heartbeat::action;

struct HeartbeatTest : ::testing::Test {
    heartbeat::time_point t0 = heartbeat::time_point{} + 1000s;
    heartbeat hb{300ms, 200ms};
};

TEST_F(HeartbeatTest, FirstPingExactlyOneIntervalAfterHandshake) {
    hb.start(t0);
    EXPECT_EQ(hb.next_deadline(), t0 + 300ms);
    EXPECT_EQ(hb.poll(t0 + 299ms), action::none);
    EXPECT_EQ(hb.poll(t0 + 300ms), action::send_ping);
    EXPECT_TRUE(hb.awaiting_pong());
    EXPECT_EQ(hb.next_deadline(), t0 + 500ms);
}

TEST_F(HeartbeatTest, NoPongTimesOutAtTheDeadline) {
    hb.start(t0);
    ASSERT_EQ(hb.poll(t0 + 300ms), action::send_ping);
    EXPECT_FALSE(hb.dead(t0 + 499ms));
    EXPECT_EQ(hb.poll(t0 + 499ms), action::none);
    EXPECT_TRUE(hb.dead(t0 + 500ms));  // dead at the deadline even before the timer runs
    EXPECT_EQ(hb.poll(t0 + 500ms), action::timed_out);
}

// engine.io v3: the client pings; the server never asks for a ping and gives up after interval + timeout of silence.
TEST_F(HeartbeatTest, V3WaitsForTheClientAndNeverPings) {
    hb.start(t0, true);
    EXPECT_TRUE(hb.client_pings());
    EXPECT_EQ(hb.next_deadline(), t0 + 500ms);
    EXPECT_EQ(hb.poll(t0 + 499ms), action::none);
    EXPECT_TRUE(hb.on_client_packet(t0 + 400ms));  // a ping (or anything) moves the deadline
    EXPECT_EQ(hb.next_deadline(), t0 + 900ms);
    EXPECT_EQ(hb.poll(t0 + 600ms), action::none);
    EXPECT_FALSE(hb.dead(t0 + 899ms));
    EXPECT_EQ(hb.poll(t0 + 900ms), action::timed_out);
    EXPECT_FALSE(hb.on_client_packet(t0 + 901ms));  // too late: already dead
}

TEST_F(HeartbeatTest, TimeoutCountsFromWhenThePingIsQueued) {
    hb.start(t0);
    ASSERT_EQ(hb.poll(t0 + 310ms), action::send_ping);  // the timer ran 10 ms late
    EXPECT_EQ(hb.next_deadline(), t0 + 510ms);
}

TEST_F(HeartbeatTest, PongSchedulesNextPingOneIntervalLater) {
    hb.start(t0);
    ASSERT_EQ(hb.poll(t0 + 300ms), action::send_ping);
    EXPECT_TRUE(hb.on_pong(t0 + 350ms));
    EXPECT_FALSE(hb.awaiting_pong());
    EXPECT_EQ(hb.next_deadline(), t0 + 650ms);
    EXPECT_EQ(hb.poll(t0 + 649ms), action::none);
    EXPECT_EQ(hb.poll(t0 + 650ms), action::send_ping);
    EXPECT_TRUE(hb.on_pong(t0 + 849ms));
    EXPECT_FALSE(hb.dead(t0 + 10s));
}

TEST_F(HeartbeatTest, LatePongIsRefused) {
    hb.start(t0);
    ASSERT_EQ(hb.poll(t0 + 300ms), action::send_ping);
    EXPECT_FALSE(hb.on_pong(t0 + 500ms));
    EXPECT_TRUE(hb.dead(t0 + 500ms));
}

TEST_F(HeartbeatTest, NotDeadWhileWaitingToPing) {
    hb.start(t0);
    EXPECT_FALSE(hb.dead(t0 + 1h));  // only a ping without pong makes a session dead
}
}  // namespace
}  // namespace pusher::engineio
