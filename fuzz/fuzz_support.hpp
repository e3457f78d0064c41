#pragma once
// What every fuzz target shares: FUZZ_CHECK for invariants (prints what broke and aborts, so libFuzzer keeps the
// input as a crash even in a build without assertions), a cursor over the input for targets whose input has some
// structure, and reference checks written independently of the code under test (UTF-8, JSON via Boost.JSON's DOM).
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace pusher::fuzz {
[[noreturn]] inline void check_failed(char const* what, char const* file, int line, std::string_view detail) {
    std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)%s%.*s\n", what, file, line, detail.empty() ? "" : ": ",
                 static_cast<int>(detail.size()), detail.data());
    std::abort();
}
}  // namespace pusher::fuzz

#define FUZZ_CHECK(cond)                                                 \
    do {                                                                 \
        if (!(cond)) {                                                   \
            ::pusher::fuzz::check_failed(#cond, __FILE__, __LINE__, {}); \
        }                                                                \
    } while (0)
#define FUZZ_CHECK_MSG(cond, detail)                                         \
    do {                                                                     \
        if (!(cond)) {                                                       \
            ::pusher::fuzz::check_failed(#cond, __FILE__, __LINE__, detail); \
        }                                                                    \
    } while (0)

namespace pusher::fuzz {
inline std::string_view as_text(std::uint8_t const* data, std::size_t size) {
    return {reinterpret_cast<char const*>(data), size};
}

// Reads a structured input front to back; past the end every read yields zeros / empty, so any input is usable.
class cursor {
  public:
    explicit cursor(std::string_view in) : in_(in) {}

    bool empty() const { return in_.empty(); }
    std::string_view rest() {
        std::string_view r = in_;
        in_ = {};
        return r;
    }
    std::uint8_t byte() {
        if (in_.empty()) {
            return 0;
        }
        auto const b = static_cast<std::uint8_t>(in_.front());
        in_.remove_prefix(1);
        return b;
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>((byte() << 8) | byte()); }
    std::string_view take(std::size_t n) {
        std::string_view r = in_.substr(0, n);
        in_.remove_prefix(r.size());
        return r;
    }
    // Up to the next `sep` (consumed), or the rest.
    std::string_view until(char sep) {
        auto const at = in_.find(sep);
        std::string_view r = in_.substr(0, at);
        in_.remove_prefix(at == std::string_view::npos ? in_.size() : at + 1);
        return r;
    }

  private:
    std::string_view in_;
};

// RFC 3629 UTF-8, written as the Unicode table 3-7 ranges (a second opinion, not the project's validator).
inline bool reference_utf8(std::string_view s) {
    std::size_t i = 0;
    auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto in = [&](std::size_t k, unsigned lo, unsigned hi) { return k < s.size() && at(k) >= lo && at(k) <= hi; };
    while (i < s.size()) {
        unsigned const c = at(i);
        if (c <= 0x7f) {
            i += 1;
        } else if (c >= 0xc2 && c <= 0xdf && in(i + 1, 0x80, 0xbf)) {
            i += 2;
        } else if (c == 0xe0 && in(i + 1, 0xa0, 0xbf) && in(i + 2, 0x80, 0xbf)) {
            i += 3;
        } else if (((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) && in(i + 1, 0x80, 0xbf) &&
                   in(i + 2, 0x80, 0xbf)) {
            i += 3;
        } else if (c == 0xed && in(i + 1, 0x80, 0x9f) && in(i + 2, 0x80, 0xbf)) {
            i += 3;
        } else if (c == 0xf0 && in(i + 1, 0x90, 0xbf) && in(i + 2, 0x80, 0xbf) && in(i + 3, 0x80, 0xbf)) {
            i += 4;
        } else if (c >= 0xf1 && c <= 0xf3 && in(i + 1, 0x80, 0xbf) && in(i + 2, 0x80, 0xbf) && in(i + 3, 0x80, 0xbf)) {
            i += 4;
        } else if (c == 0xf4 && in(i + 1, 0x80, 0x8f) && in(i + 2, 0x80, 0xbf) && in(i + 3, 0x80, 0xbf)) {
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

// DOM equality as far as Boost.JSON 1.81 can tell: it reads a zero with a huge exponent (`0e400`) as NaN, and its
// default (imprecise) number parser may land one ulp apart on the same digits depending on how many bytes follow
// them in the buffer (`78900.5890183888888]` vs the same with 26 newlines after it). So NaN equals NaN and doubles
// equal within a few ulps.
inline bool same_json(boost::json::value const& a, boost::json::value const& b) {
    if (a.is_double() && b.is_double()) {
        double const x = a.get_double();
        double const y = b.get_double();
        if (x != x || y != y) {
            return x != x && y != y;
        }
        return x == y || std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
    }
    if (a.is_array() && b.is_array()) {
        auto const& x = a.get_array();
        auto const& y = b.get_array();
        if (x.size() != y.size()) {
            return false;
        }
        for (std::size_t i = 0; i < x.size(); ++i) {
            if (!same_json(x[i], y[i])) {
                return false;
            }
        }
        return true;
    }
    if (a.is_object() && b.is_object()) {
        auto const& x = a.get_object();
        auto const& y = b.get_object();
        if (x.size() != y.size()) {
            return false;
        }
        for (auto const& kv : x) {
            auto const* other = y.if_contains(kv.key());
            if (other == nullptr || !same_json(kv.value(), *other)) {
                return false;
            }
        }
        return true;
    }
    return a == b;
}

// How deep a JSON payload may nest and still count as JSON (common/json_text.hpp says the same). Boost.JSON's own
// default of 32 is not a property of JSON: the oracle must not inherit it from the code under test.
inline constexpr std::size_t json_max_depth = 1000;

// The document as a Boost.JSON DOM, or nullopt when it is not exactly one JSON value (UTF-8 checked, no comments).
inline std::optional<boost::json::value> parse_json(std::string_view text) {
    boost::system::error_code ec;
    boost::json::parse_options opts;
    opts.max_depth = json_max_depth;
    boost::json::value v = boost::json::parse(text, ec, {}, opts);
    if (ec) {
        return std::nullopt;
    }
    return v;
}
}  // namespace pusher::fuzz
