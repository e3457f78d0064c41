// connection_limiter with time passed in: total and per-address caps, the per-address token bucket, tickets, address
// keys (IPv4, IPv6 /64) and the bounded table.
#include "httpd/limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace pusher::httpd {
namespace {
using namespace std::chrono_literals;
using clock = connection_limiter::clock;

address_key v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return make_address_key(std::array<std::uint8_t, 4>{a, b, c, d});
}

address_key v6(std::uint16_t first, std::uint16_t last) {
    std::array<std::uint8_t, 16> bytes{};
    bytes[0] = static_cast<std::uint8_t>(first >> 8);
    bytes[1] = static_cast<std::uint8_t>(first & 0xff);
    bytes[14] = static_cast<std::uint8_t>(last >> 8);
    bytes[15] = static_cast<std::uint8_t>(last & 0xff);
    return make_address_key(bytes);
}

std::shared_ptr<connection_limiter> make(connection_limits l) {
    return std::make_shared<connection_limiter>(l, 42);
}

TEST(ConnectionLimiter, UnlimitedAdmitsAndCountsOpenConnections) {
    auto l = make({});
    auto const t0 = clock::time_point{} + 1h;
    std::vector<connection_ticket> tickets;
    for (int i = 0; i < 100; ++i) {
        auto v = l->admit(v4(10, 0, 0, 1), t0);
        ASSERT_FALSE(v.refused);
        ASSERT_TRUE(v.ticket);
        tickets.push_back(std::move(v.ticket));
    }
    EXPECT_EQ(l->stats().open_connections.load(), 100);
    EXPECT_EQ(l->stats().accepted_total.load(), 100u);
    EXPECT_EQ(l->tracked(), 0u);  // no per-address limit: no table
    tickets.clear();
    EXPECT_EQ(l->stats().open_connections.load(), 0);
}

TEST(ConnectionLimiter, TotalCapRefusesUntilATicketIsReleased) {
    auto l = make({.max_connections = 2});
    auto const t0 = clock::time_point{} + 1h;
    auto a = l->admit(v4(10, 0, 0, 1), t0);
    auto b = l->admit(v4(10, 0, 0, 2), t0);
    auto c = l->admit(v4(10, 0, 0, 3), t0);
    ASSERT_TRUE(a.ticket);
    ASSERT_TRUE(b.ticket);
    ASSERT_FALSE(c.ticket);
    EXPECT_EQ(c.refused, refusal::max_connections);
    EXPECT_EQ(l->stats().refused(refusal::max_connections), 1u);
    EXPECT_EQ(l->stats().open_connections.load(), 2);

    a.ticket.reset();
    a.ticket.reset();  // idempotent
    EXPECT_EQ(l->stats().open_connections.load(), 1);
    auto d = l->admit(v4(10, 0, 0, 3), t0);
    EXPECT_TRUE(d.ticket);
    EXPECT_EQ(l->stats().accepted_total.load(), 3u);
}

TEST(ConnectionLimiter, PerAddressCapCountsEachAddressAlone) {
    auto l = make({.max_per_address = 2});
    auto const t0 = clock::time_point{} + 1h;
    auto const alice = v4(192, 0, 2, 1);
    auto const bob = v4(192, 0, 2, 2);
    auto a1 = l->admit(alice, t0);
    auto a2 = l->admit(alice, t0);
    auto a3 = l->admit(alice, t0);
    auto b1 = l->admit(bob, t0);
    EXPECT_TRUE(a1.ticket);
    EXPECT_TRUE(a2.ticket);
    EXPECT_EQ(a3.refused, refusal::max_connections_per_ip);
    EXPECT_TRUE(b1.ticket);
    EXPECT_EQ(l->open_from(alice), 2u);
    EXPECT_EQ(l->open_from(bob), 1u);
    EXPECT_EQ(l->stats().refused(refusal::max_connections_per_ip), 1u);

    // A ticket moved elsewhere (a websocket taking the socket) still counts, until it goes.
    connection_ticket moved = std::move(a1.ticket);
    EXPECT_FALSE(a1.ticket);
    EXPECT_EQ(l->open_from(alice), 2u);
    moved = connection_ticket();
    EXPECT_EQ(l->open_from(alice), 1u);
    EXPECT_TRUE(l->admit(alice, t0).ticket);  // admitted (and released again at once)

    // Without a rate limit, an address with nothing open is forgotten at once.
    a2.ticket.reset();
    b1.ticket.reset();
    EXPECT_EQ(l->tracked(), 0u);
    EXPECT_EQ(l->stats().tracked_addresses.load(), 0);
}

TEST(ConnectionLimiter, RateIsATokenBucketPerAddress) {
    auto l = make({.rate_per_address = 5});
    auto t = clock::time_point{} + 1h;
    auto const alice = v4(198, 51, 100, 7);
    // A burst of 5 at once, then refused.
    for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(l->admit(alice, t).ticket) << i;
    }
    auto over = l->admit(alice, t);
    EXPECT_EQ(over.refused, refusal::connection_rate_per_ip);
    // Another address has its own bucket.
    EXPECT_TRUE(l->admit(v4(198, 51, 100, 8), t).ticket);
    // 200 ms later one token is back (5 per second), not two.
    t += 200ms;
    EXPECT_TRUE(l->admit(alice, t).ticket);
    EXPECT_FALSE(l->admit(alice, t).ticket);
    // After a quiet second the bucket is full again, but never more than full.
    t += 10s;
    for (int i = 0; i < 5; ++i) {
        EXPECT_TRUE(l->admit(alice, t).ticket) << i;
    }
    EXPECT_FALSE(l->admit(alice, t).ticket);
    EXPECT_EQ(l->stats().refused(refusal::connection_rate_per_ip), 3u);
    EXPECT_EQ(l->stats().open_connections.load(), 0);  // every ticket above was dropped at once
}

TEST(ConnectionLimiter, RateRefusalsTakeNoTokenButOtherRefusalsDo) {
    // Every attempt that passes the rate check takes a token, even when a cap then refuses it: a client retrying
    // in a loop against a full server is still slowed down.
    auto l = make({.max_connections = 1, .rate_per_address = 2});
    auto t = clock::time_point{} + 1h;
    auto const alice = v4(203, 0, 113, 1);
    auto held = l->admit(v4(203, 0, 113, 99), t);
    ASSERT_TRUE(held.ticket);
    EXPECT_EQ(l->admit(alice, t).refused, refusal::max_connections);
    EXPECT_EQ(l->admit(alice, t).refused, refusal::max_connections);
    EXPECT_EQ(l->admit(alice, t).refused, refusal::connection_rate_per_ip);
    held.ticket.reset();
    EXPECT_EQ(l->admit(alice, t).refused, refusal::connection_rate_per_ip);
    t += 500ms;
    EXPECT_TRUE(l->admit(alice, t).ticket);
}

TEST(ConnectionLimiter, Ipv6AddressesCountPerSlash64) {
    auto l = make({.max_per_address = 1});
    auto const t0 = clock::time_point{} + 1h;
    auto a = l->admit(v6(0x2001, 1), t0);
    ASSERT_TRUE(a.ticket);
    // Same /64, another interface id: the same client.
    EXPECT_EQ(l->admit(v6(0x2001, 2), t0).refused, refusal::max_connections_per_ip);
    // Another /64.
    EXPECT_TRUE(l->admit(v6(0x2002, 1), t0).ticket);
    // IPv4 keys keep all four bytes.
    auto b = l->admit(v4(10, 0, 0, 1), t0);
    ASSERT_TRUE(b.ticket);
    EXPECT_TRUE(l->admit(v4(10, 0, 0, 2), t0).ticket);
    EXPECT_EQ(make_address_key(std::array<std::uint8_t, 16>{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}),
              v4(10, 0, 0, 1));
}

TEST(ConnectionLimiter, TableStaysBoundedAndForgetsIdleAddresses) {
    auto l = make({.rate_per_address = 1, .max_tracked_addresses = 64});
    auto t = clock::time_point{} + 1h;
    // 1000 addresses, one connection each, all within the same instant: the table is swept as it fills.
    for (std::uint32_t i = 0; i < 1000; ++i) {
        auto v = l->admit(
            v4(10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)),
            t);
        ASSERT_TRUE(v.ticket) << i;
    }
    EXPECT_LE(l->tracked(), 64u);
    EXPECT_EQ(l->stats().tracked_addresses.load(), static_cast<std::int64_t>(l->tracked()));

    // Addresses with open connections are never forgotten (their count must come back down on release).
    std::vector<connection_ticket> open;
    for (std::uint32_t i = 0; i < 100; ++i) {
        auto v = l->admit(v4(172, 16, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)), t);
        ASSERT_TRUE(v.ticket);
        open.push_back(std::move(v.ticket));
    }
    t += 2s;
    for (std::uint32_t i = 0; i < 300; ++i) {
        ASSERT_TRUE(l->admit(v4(192, 168, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)), t).ticket);
    }
    for (std::uint32_t i = 0; i < 100; ++i) {
        EXPECT_EQ(l->open_from(v4(172, 16, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i))), 1u);
    }
    open.clear();
    EXPECT_EQ(l->stats().open_connections.load(), 0);
    // Later, once every bucket has refilled, one sweep forgets everything idle.
    t += 2s;
    for (std::uint32_t i = 0; i < 100; ++i) {
        ASSERT_TRUE(l->admit(v6(static_cast<std::uint16_t>(0x2001 + i), 1), t + std::chrono::seconds(i)).ticket);
    }
    EXPECT_LE(l->tracked(), 64u);
}

TEST(ConnectionLimiter, RefusalNames) {
    EXPECT_EQ(to_string(refusal::max_connections), "max_connections");
    EXPECT_EQ(to_string(refusal::max_connections_per_ip), "max_connections_per_ip");
    EXPECT_EQ(to_string(refusal::connection_rate_per_ip), "connection_rate_per_ip");
}
}  // namespace
}  // namespace pusher::httpd

namespace pusher::httpd {
namespace {
// Behind a trusted proxy: its TCP connections count only against the total; each session it forwards counts only
// against the forwarded client's address.
TEST(ConnectionLimiter, ProxyConnectionsCountTheTotalAndForwardedSessionsTheirAddress) {
    auto l = make({.max_connections = 2, .max_per_address = 1});
    auto const t0 = clock::time_point{} + 1h;
    auto const proxy = v4(10, 0, 0, 1);
    auto c1 = l->admit(proxy, t0, admission_scope::total_only);
    auto c2 = l->admit(proxy, t0, admission_scope::total_only);  // a second from the same address: not per-address
    ASSERT_FALSE(c1.refused);
    ASSERT_FALSE(c2.refused);
    EXPECT_EQ(l->admit(proxy, t0, admission_scope::total_only).refused, refusal::max_connections);
    EXPECT_EQ(l->open_from(proxy), 0u);

    auto alice = l->admit(v4(203, 0, 113, 7), t0, admission_scope::address_only);
    ASSERT_FALSE(alice.refused);
    EXPECT_EQ(l->admit(v4(203, 0, 113, 7), t0, admission_scope::address_only).refused, refusal::max_connections_per_ip);
    EXPECT_FALSE(l->admit(v4(203, 0, 113, 8), t0, admission_scope::address_only).refused);
    EXPECT_EQ(l->stats().open_connections.load(), 2);  // sessions are not connections
    alice.ticket.reset();
    EXPECT_EQ(l->open_from(v4(203, 0, 113, 7)), 0u);
    EXPECT_FALSE(l->admit(v4(203, 0, 113, 7), t0, admission_scope::address_only).refused);
    c1.ticket.reset();
    EXPECT_EQ(l->stats().open_connections.load(), 1);
}
}  // namespace
}  // namespace pusher::httpd
