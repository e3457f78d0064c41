#pragma once
// The demo page (web/demo/) and the Socket.IO browser bundle, compiled into the binary by cmake/embed.cmake, so the
// server needs no files at run time. Plain constant data: safe to use from any thread, no initialisation order.
#include <span>
#include <string_view>

namespace pusher::web {

// One embedded file. All views point into static storage that lives as long as the program.
struct asset {
    std::string_view path;          // the URL path it is served at: "/index.html", "/app.js", ...
    std::string_view content_type;  // for the Content-Type header, e.g. "text/html; charset=utf-8"
    std::string_view body;          // the exact bytes of the file
};

// The asset served at `path`, or nullptr. `path` is the request target's path; a query ("?user=alice") or fragment
// is ignored, and "/" means "/index.html". No percent-decoding and no directory walking: the table is exact.
asset const* find_asset(std::string_view path) noexcept;

// Every embedded asset (for listings, tests and ETag precomputation). Defined in the generated source.
std::span<asset const> all_assets() noexcept;

}  // namespace pusher::web
