#include "httpd/trusted_proxies.hpp"

#include "common/text.hpp"

#include <boost/asio/ip/address_v6.hpp>

#include <algorithm>
#include <charconv>

namespace pusher::httpd {
namespace {
std::array<std::uint8_t, 16> bytes_of(boost::asio::ip::address const& a) {
    if (a.is_v4()) {
        return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4()).to_bytes();
    }
    return a.to_v6().to_bytes();
}

std::optional<boost::asio::ip::address> make(std::string_view text) {
    boost::system::error_code ec;
    auto a = boost::asio::ip::make_address(std::string(text), ec);
    if (ec) {
        return std::nullopt;
    }
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        a = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
    }
    return a;
}

// The `for=` parameter of one Forwarded element (`for=192.0.2.60;proto=http;by=203.0.113.43`).
std::string_view for_parameter(std::string_view element) {
    while (!element.empty()) {
        auto const semi = element.find(';');
        auto const pair = text::trim(element.substr(0, semi));
        if (pair.size() > 4 &&
            (pair.substr(0, 4) == "for=" || pair.substr(0, 4) == "For=" || pair.substr(0, 4) == "FOR=")) {
            return pair.substr(4);
        }
        if (semi == std::string_view::npos) {
            break;
        }
        element.remove_prefix(semi + 1);
    }
    return {};
}
}  // namespace

std::optional<boost::asio::ip::address> parse_forwarded_address(std::string_view value) {
    value = text::trim(value);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
    }
    if (!value.empty() && value.front() == '[') {  // [v6] or [v6]:port
        auto const close = value.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        return make(value.substr(1, close - 1));
    }
    if (std::count(value.begin(), value.end(), ':') == 1) {  // v4:port
        value = value.substr(0, value.find(':'));
    }
    return make(value);
}

std::optional<trusted_proxies> trusted_proxies::parse(std::string_view list, std::string& error) {
    trusted_proxies t;
    list = text::trim(list);
    if (list.empty()) {
        return t;
    }
    for (auto item : text::split_list(list)) {
        auto const slash = item.find('/');
        auto const addr = make(item.substr(0, slash));
        if (!addr) {
            error = "not an IP address or CIDR: \"" + std::string(item) + "\"";
            return std::nullopt;
        }
        unsigned const max = addr->is_v4() ? 32 : 128;
        unsigned prefix = max;
        if (slash != std::string_view::npos) {
            auto const bits = item.substr(slash + 1);
            auto const [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
            if (ec != std::errc() || end != bits.data() + bits.size() || prefix > max || bits.empty()) {
                error = "bad prefix length in \"" + std::string(item) + "\"";
                return std::nullopt;
            }
        }
        t.networks_.push_back(network{bytes_of(*addr), addr->is_v4() ? prefix + 96 : prefix});
    }
    return t;
}

bool trusted_proxies::contains(boost::asio::ip::address const& a) const {
    auto const b = bytes_of(a);
    return std::any_of(networks_.begin(), networks_.end(), [&](network const& n) {
        unsigned const whole = n.prefix / 8;
        if (!std::equal(b.begin(), b.begin() + whole, n.bytes.begin())) {
            return false;
        }
        unsigned const rest = n.prefix % 8;
        if (rest == 0) {
            return true;
        }
        auto const mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
        return (b[whole] & mask) == (n.bytes[whole] & mask);
    });
}

std::optional<boost::asio::ip::address> trusted_proxies::client(std::string_view x_forwarded_for,
                                                                std::string_view forwarded) const {
    bool const xff = !text::trim(x_forwarded_for).empty();
    if (!xff && text::trim(forwarded).empty()) {
        return std::nullopt;
    }
    std::optional<boost::asio::ip::address> last;
    auto const entries = text::split_list(xff ? x_forwarded_for : forwarded);
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {  // right to left: the nearest hop first
        auto const entry = *it;
        auto const a = parse_forwarded_address(xff ? entry : for_parameter(entry));
        if (!a) {
            return last;  // garbage (or "unknown") at this hop: the nearest address we could read is the client
        }
        last = a;
        if (!contains(*a)) {
            return a;
        }
    }
    return last;  // every hop is a trusted proxy: the left-most one is the client
}
}  // namespace pusher::httpd
