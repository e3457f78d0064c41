#pragma once
// api::request / api::response: the HTTP vocabulary of the API handlers, as plain data (no Beast, no httpd), so the
// handlers are pure functions the app adapts to its HTTP server and unit tests call directly.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::api {
// What a handler reads of one request. Views into the caller's request: valid during the handler call only.
struct request {
    std::string_view method;          // "GET", "POST", ...
    std::string_view path;            // "/api/publish" (no query)
    std::string_view query;           // raw, after '?'; empty when none
    std::string_view authorization;   // the Authorization header; empty when absent
    std::string_view content_type;    // the Content-Type header; empty when absent
    std::string_view body;            // empty when body_too_large
    std::string_view remote_address;  // "ip:port", for logs
    bool body_too_large = false;      // the HTTP server refused to read a body over its limit
};

inline constexpr std::string_view json_content_type = "application/json";

struct response {
    unsigned status = 200;
    std::string content_type = std::string(json_content_type);
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers (e.g. Allow, WWW-Authenticate)
};

// `{"error":"<message>"}` with the message as a JSON string.
response error_response(unsigned status, std::string_view message);
// 405 with `Allow: <allowed>`.
response method_not_allowed(std::string_view allowed);
response not_found();
}  // namespace pusher::api
