#pragma once
// UTF-8, checked the strict way (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF),
// as a websocket text frame must be (RFC 6455 §8.1) and as browsers decode it. The one validator of the project:
// the websocket reader checks what clients send, the fan-out what the broker delivers. Pure functions, any thread.
#include <cstddef>
#include <string>
#include <string_view>

namespace pusher::utf8 {
// Length of the well-formed sequence starting at s[i] (1-4), or 0 when it is not one; then `bad` is how many bytes
// form its maximal subpart (at least 1): the unit that one U+FFFD replaces.
std::size_t sequence_length(std::string_view s, std::size_t i, std::size_t& bad);

// True when all of `s` is well-formed UTF-8.
bool is_valid(std::string_view s);

// `s` with every ill-formed subpart replaced by U+FFFD (what a browser's decoder shows); `s` itself when valid.
std::string repaired(std::string_view s);
}  // namespace pusher::utf8
