#pragma once
// Finds the members of a top-level JSON object as raw text, without building a DOM of their values. /api/publish
// uses it to take the exact bytes of `data` (never re-serialised: re-serialising changes numbers,
// docs/dependencies.md §5) and to parse only the small fields. Runs on text json_text::is_valid() has accepted;
// defensive all the same.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::api {
struct json_member {
    std::string key;             // decoded (escapes resolved)
    std::string_view raw_value;  // the value's exact bytes, e.g. `{"a": 1.0}`, `"x"`, `12e3`
};

// The members in document order (duplicates kept), or nullopt when the text is not a JSON object.
std::optional<std::vector<json_member>> object_members(std::string_view json);

// The value of a raw JSON string literal (`"a\n"` -> a, newline), or nullopt when `raw` is not a string.
std::optional<std::string> decode_string(std::string_view raw);
}  // namespace pusher::api
