#pragma once
// trusted_proxies: the networks of `--trusted-proxies` (CIDRs), and the client address behind them. A request whose
// TCP peer is in one of them carries its client's address in `X-Forwarded-For` (or RFC 7239 `Forwarded`): walking
// that list from the right, the first address that is not itself a trusted proxy is the client (addresses left of
// it were written by the client and prove nothing). Immutable after parse(); any thread. No I/O.
#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::httpd {
class trusted_proxies {
  public:
    // "10.0.0.0/8, 192.168.1.7, fd00::/8" (a bare address is one host). Empty list: trusts nobody. On a bad entry
    // returns nullopt and sets `error` to a line naming it.
    static std::optional<trusted_proxies> parse(std::string_view list, std::string& error);

    bool empty() const { return networks_.empty(); }
    bool contains(boost::asio::ip::address const& a) const;
    // The client behind a trusted peer, from the X-Forwarded-For value (preferred when present) or the Forwarded
    // value; nullopt when neither names one that parses (then the peer itself is the client).
    std::optional<boost::asio::ip::address> client(std::string_view x_forwarded_for, std::string_view forwarded) const;

  private:
    struct network {
        std::array<std::uint8_t, 16> bytes{};  // IPv4 as v4-mapped IPv6
        unsigned prefix = 0;                   // in IPv6 bits (an IPv4 /24 is /120)
    };
    std::vector<network> networks_;
};

// One address of a forwarding header: `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]:4711`, `192.0.2.1:80`, or quoted.
std::optional<boost::asio::ip::address> parse_forwarded_address(std::string_view value);
}  // namespace pusher::httpd
