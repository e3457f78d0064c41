#pragma once
// JSON as text: validate without building a DOM, and write JSON strings. Pusher never re-serialises a payload
// (re-serialising changes numbers, see docs/dependencies.md §5): it validates the bytes and splices them as they are.
#include <cstddef>
#include <string>
#include <string_view>

namespace pusher::json_text {
// How deep is_valid lets arrays and objects nest. RFC 8259 sets no limit; Boost.JSON's default (32) would call a
// valid, deeper payload invalid (fan-out then delivered it as a JSON string, /api/publish refused it).
inline constexpr std::size_t max_depth = 1000;

// True when `text` is exactly one JSON value (surrounding white space allowed), valid UTF-8, nothing after it, nested
// at most max_depth deep.
bool is_valid(std::string_view text);

// Appends the JSON escapes of `s`, without quotes, as JSON.stringify writes them (`"`, `\\`, \n \r \t \b \f, other
// control characters as \u00XX; everything else as is). The one escaper of the project.
void append_escaped(std::string& out, std::string_view s);

// Appends `s` as a JSON string literal (quotes and escapes included) to `out`.
inline void append_string(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    append_escaped(out, s);
    out.push_back('"');
}

inline std::string quote(std::string_view s) {
    std::string out;
    append_string(out, s);
    return out;
}
}  // namespace pusher::json_text
