#pragma once
// JSON as text: validate without building a DOM, and write JSON strings. Pusher never re-serialises a payload
// (re-serialising changes numbers, see STACK.md §5): it validates the bytes and splices them as they are.
#include <string>
#include <string_view>

namespace pusher::json_text {
// True when `text` is exactly one JSON value (surrounding white space allowed), valid UTF-8, nothing after it.
bool is_valid(std::string_view text);

// Appends `s` as a JSON string literal (quotes and escapes included) to `out`.
void append_string(std::string& out, std::string_view s);

inline std::string quote(std::string_view s) {
    std::string out;
    append_string(out, s);
    return out;
}
}  // namespace pusher::json_text
