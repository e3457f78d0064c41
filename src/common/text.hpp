#pragma once
// Small text helpers every parser of lists needs (option values, header values): trimming white space and splitting
// a comma-separated list. Views into the input, no copies. Pure functions, any thread.
#include <string_view>
#include <vector>

namespace pusher::text {
// `s` without the white space (space, tab, CR, LF, VT, FF) at either end.
std::string_view trim(std::string_view s);

// The items of a comma-separated list, each trimmed; empty items are kept ("a,,b" has three), so that the caller
// decides whether one is an error.
std::vector<std::string_view> split_list(std::string_view list);
}  // namespace pusher::text
