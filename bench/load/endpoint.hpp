#pragma once
// Target addresses of the load generator, and the safety rule that goes with them: every target must be on this
// machine (127.0.0.0/8, ::1 or "localhost"). A load generator that can be pointed elsewhere is a weapon.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pusher::load {
struct endpoint {
    std::string scheme;  // "http", "amqp", ...
    std::string host;    // without brackets
    std::uint16_t port = 0;
    std::string path;  // "/..." or empty
};

// Parses scheme://[userinfo@]host[:port][/path]; the port defaults by scheme (http 80, amqp 5672).
std::optional<endpoint> parse_url(std::string_view url);
bool is_loopback_host(std::string_view host);
// The n-th source address to spread connections over: 127.0.1.1, 127.0.1.2, ... (n >= 0, wraps within 127/8).
std::string source_address(unsigned n);
}  // namespace pusher::load
