#include "endpoint.hpp"

#include <charconv>

namespace pusher::load {
std::optional<endpoint> parse_url(std::string_view url) {
    endpoint ep;
    auto const sep = url.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        return std::nullopt;
    }
    ep.scheme = std::string(url.substr(0, sep));
    std::string_view rest = url.substr(sep + 3);
    auto const slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) {
        ep.path = std::string(rest.substr(slash));
    }
    if (auto const at = authority.rfind('@'); at != std::string_view::npos) {
        authority = authority.substr(at + 1);
    }
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        auto const close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        ep.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return std::nullopt;
            }
            port_text = after.substr(1);
        }
    } else {
        auto const colon = authority.rfind(':');
        ep.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
        }
    }
    if (ep.host.empty()) {
        return std::nullopt;
    }
    if (!port_text.empty()) {
        unsigned port = 0;
        auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (ec != std::errc{} || p != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            return std::nullopt;
        }
        ep.port = static_cast<std::uint16_t>(port);
    } else if (ep.scheme == "http" || ep.scheme == "ws") {
        ep.port = 80;
    } else if (ep.scheme == "amqp") {
        ep.port = 5672;
    } else {
        return std::nullopt;
    }
    return ep;
}

bool is_loopback_host(std::string_view host) {
    if (host == "localhost" || host == "::1") {
        return true;
    }
    // Dotted quad with a first octet of 127.
    unsigned octets[4] = {};
    char const* p = host.data();
    char const* const end = host.data() + host.size();
    for (int i = 0; i < 4; ++i) {
        auto [next, ec] = std::from_chars(p, end, octets[i]);
        if (ec != std::errc{} || next == p || octets[i] > 255) {
            return false;
        }
        p = next;
        if (i < 3) {
            if (p == end || *p != '.') {
                return false;
            }
            ++p;
        }
    }
    return p == end && octets[0] == 127;
}

std::string source_address(unsigned n) {
    // 127.0.1.1 .. 127.0.1.254, then 127.0.2.1 ...; never 127.0.0.x, which other tools on the machine may use.
    unsigned const third = 1 + (n / 254) % 254;
    unsigned const fourth = 1 + n % 254;
    return "127.0." + std::to_string(third) + "." + std::to_string(fourth);
}
}  // namespace pusher::load
