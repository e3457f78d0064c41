#include "endpoint.hpp"

#include <gtest/gtest.h>

namespace pusher::load {
TEST(Endpoint, ParsesHttpAndAmqpUrls) {
    auto a = parse_url("http://127.0.0.1:8080");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->scheme, "http");
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 8080);
    EXPECT_EQ(a->path, "");

    auto b = parse_url("amqp://guest:guest@localhost/");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "localhost");
    EXPECT_EQ(b->port, 5672);
    EXPECT_EQ(b->path, "/");

    auto c = parse_url("http://[::1]:9/x?y");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->port, 9);
    EXPECT_EQ(c->path, "/x?y");

    EXPECT_FALSE(parse_url("127.0.0.1:8080"));
    EXPECT_FALSE(parse_url("http://:80"));
    EXPECT_FALSE(parse_url("http://h:0"));
    EXPECT_FALSE(parse_url("http://h:70000"));
    EXPECT_FALSE(parse_url("ftp://h"));
}

TEST(Endpoint, OnlyLoopbackIsATarget) {
    EXPECT_TRUE(is_loopback_host("127.0.0.1"));
    EXPECT_TRUE(is_loopback_host("127.1.2.3"));
    EXPECT_TRUE(is_loopback_host("localhost"));
    EXPECT_TRUE(is_loopback_host("::1"));
    EXPECT_FALSE(is_loopback_host("10.0.0.1"));
    EXPECT_FALSE(is_loopback_host("192.168.1.1"));
    EXPECT_FALSE(is_loopback_host("128.0.0.1"));
    EXPECT_FALSE(is_loopback_host("127.0.0.1.example.com"));
    EXPECT_FALSE(is_loopback_host("127.0.0"));
    EXPECT_FALSE(is_loopback_host("127.0.0.256"));
    EXPECT_FALSE(is_loopback_host("example.com"));
}

TEST(Endpoint, SourceAddressesStayInLoopbackAndAreDistinct) {
    EXPECT_EQ(source_address(0), "127.0.1.1");
    EXPECT_EQ(source_address(253), "127.0.1.254");
    EXPECT_EQ(source_address(254), "127.0.2.1");
    for (unsigned i = 0; i < 1000; i += 37) {
        EXPECT_TRUE(is_loopback_host(source_address(i)));
    }
}
}  // namespace pusher::load
