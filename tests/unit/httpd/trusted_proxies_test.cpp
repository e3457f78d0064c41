// trusted_proxies: CIDR lists, membership (IPv4, IPv6, v4-mapped), and the client behind a chain of proxies from
// X-Forwarded-For and RFC 7239 Forwarded: the right-most address that is not a trusted proxy.
#include "httpd/trusted_proxies.hpp"

#include <gtest/gtest.h>

namespace pusher::httpd {
namespace {
using boost::asio::ip::make_address;

trusted_proxies parse(std::string_view list) {
    std::string error;
    auto t = trusted_proxies::parse(list, error);
    EXPECT_TRUE(t) << error;
    return t ? *t : trusted_proxies{};
}

std::string client(trusted_proxies const& t, std::string_view xff, std::string_view forwarded = {}) {
    auto c = t.client(xff, forwarded);
    return c ? c->to_string() : "none";
}

TEST(TrustedProxies, ParsesCidrsAndHosts) {
    auto const t = parse("10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1");
    EXPECT_TRUE(t.contains(make_address("10.200.3.4")));
    EXPECT_TRUE(t.contains(make_address("192.168.1.7")));
    EXPECT_FALSE(t.contains(make_address("192.168.1.8")));
    EXPECT_TRUE(t.contains(make_address("fd12::1")));
    EXPECT_TRUE(t.contains(make_address("::1")));
    EXPECT_FALSE(t.contains(make_address("11.0.0.1")));
    EXPECT_TRUE(t.contains(make_address("::ffff:10.1.2.3")));  // v4-mapped is the IPv4 address
    EXPECT_TRUE(parse("").empty());
    EXPECT_TRUE(parse("0.0.0.0/0").contains(make_address("8.8.8.8")));
    EXPECT_TRUE(parse("10.1.2.0/23").contains(make_address("10.1.3.255")));
    EXPECT_FALSE(parse("10.1.2.0/23").contains(make_address("10.1.4.0")));
}

TEST(TrustedProxies, RefusesBadEntriesWithALine) {
    for (std::string_view bad : {"10.0.0.0/33", "nginx", "10.0.0.0/", "10.0.0.0/8,", "::1/129", "10.0.0.1/x"}) {
        std::string error;
        EXPECT_FALSE(trusted_proxies::parse(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

TEST(TrustedProxies, TheClientIsTheRightMostUntrustedAddress) {
    auto const t = parse("10.0.0.0/8");
    EXPECT_EQ(client(t, "203.0.113.7"), "203.0.113.7");
    // The client wrote 1.2.3.4 itself; the proxy appended what it saw.
    EXPECT_EQ(client(t, "1.2.3.4, 203.0.113.7"), "203.0.113.7");
    EXPECT_EQ(client(t, "1.2.3.4, 203.0.113.7, 10.0.0.2"), "203.0.113.7");  // two proxies in a row
    EXPECT_EQ(client(t, "10.0.0.3, 10.0.0.2"), "10.0.0.3");                 // every hop trusted: the left-most
    EXPECT_EQ(client(t, "garbage, 203.0.113.7"), "203.0.113.7");
    EXPECT_EQ(client(t, "203.0.113.7, garbage"), "none");  // the nearest hop is unreadable: the peer is the client
    EXPECT_EQ(client(t, "2001:db8::1"), "2001:db8::1");
    EXPECT_EQ(client(t, "[2001:db8::1]:4711"), "2001:db8::1");
    EXPECT_EQ(client(t, "203.0.113.7:5555"), "203.0.113.7");
    EXPECT_EQ(client(t, ""), "none");
}

TEST(TrustedProxies, ReadsForwardedWhenThereIsNoXForwardedFor) {
    auto const t = parse("10.0.0.0/8");
    EXPECT_EQ(client(t, "", "for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60");
    EXPECT_EQ(client(t, "", R"(for=192.0.2.43, for="[2001:db8:cafe::17]:4711")"), "2001:db8:cafe::17");
    EXPECT_EQ(client(t, "", "for=198.51.100.17;by=10.0.0.1, for=10.0.0.9"), "198.51.100.17");
    EXPECT_EQ(client(t, "", "for=unknown"), "none");
    EXPECT_EQ(client(t, "198.51.100.1", "for=192.0.2.60"), "198.51.100.1");  // X-Forwarded-For wins
}
}  // namespace
}  // namespace pusher::httpd
