#include "payload.hpp"

#include <gtest/gtest.h>

namespace pusher::load {
TEST(Payload, PaddedToSizeAndParsedBack) {
    auto const p = make_payload(1764000000123456789ull, "u42", 7, 100);
    EXPECT_EQ(p.size(), 100u);
    EXPECT_EQ(p.front(), '{');
    EXPECT_EQ(p.back(), '}');
    auto f = parse_payload(p);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->t_ns, 1764000000123456789ull);
    EXPECT_EQ(f->user, "u42");
    EXPECT_EQ(f->seq, 7u);
}

TEST(Payload, SmallerThanMinimumIsNotTruncated) {
    auto const p = make_payload(1, "user", 2, 10);
    EXPECT_EQ(p, R"({"t":1,"u":"user","seq":2,"p":""})");
}

TEST(Payload, ParseRejectsMissingFields) {
    EXPECT_FALSE(parse_payload(R"({"u":"a","seq":1})"));
    EXPECT_FALSE(parse_payload(R"({"t":1,"seq":1})"));
    EXPECT_FALSE(parse_payload(R"({"t":1,"u":"a"})"));
    EXPECT_FALSE(parse_payload(R"({"t":x,"u":"a","seq":1})"));
    EXPECT_FALSE(parse_payload(""));
}

TEST(Packets, ClassifiesEngineIoAndSocketIo) {
    EXPECT_EQ(classify(R"(0{"sid":"x","pingInterval":25000})"), packet_kind::open);
    EXPECT_EQ(classify("1"), packet_kind::close);
    EXPECT_EQ(classify("2"), packet_kind::ping);
    EXPECT_EQ(classify("6"), packet_kind::noop);
    EXPECT_EQ(classify(R"(40{"sid":"abc"})"), packet_kind::sio_connect);
    EXPECT_EQ(classify("41"), packet_kind::sio_disconnect);
    EXPECT_EQ(classify(R"(42["bench",{}])"), packet_kind::sio_event);
    EXPECT_EQ(classify(R"(431[{"ok":true}])"), packet_kind::sio_ack);
    EXPECT_EQ(classify(R"(44{"message":"bad token"})"), packet_kind::sio_error);
    EXPECT_EQ(classify("4"), packet_kind::other);
    EXPECT_EQ(classify("3"), packet_kind::other);
    EXPECT_EQ(classify(""), packet_kind::other);
}

TEST(Packets, SplitsEventNameAndData) {
    auto const frame = std::string(R"(42["bench",)") + make_payload(5, "u1", 9, 60) + "]";
    auto ev = parse_event(frame);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->name, "bench");
    auto f = parse_payload(ev->data);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->user, "u1");
    EXPECT_EQ(f->seq, 9u);

    auto bare = parse_event(R"(42["ping"])");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->name, "ping");
    EXPECT_TRUE(bare->data.empty());

    EXPECT_FALSE(parse_event(R"(42[1,2])"));
    EXPECT_FALSE(parse_event(R"(42["open)"));
    EXPECT_FALSE(parse_event(R"(42/admin,["x",1])"));
    EXPECT_FALSE(parse_event("2"));
}

TEST(Packets, ConnectPackets) {
    EXPECT_EQ(connect_packet_user("u7"), R"(40{"user":"u7"})");
    EXPECT_EQ(connect_packet_token("a.b.c"), R"(40{"token":"a.b.c"})");
}
}  // namespace pusher::load
