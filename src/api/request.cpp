#include "api/request.hpp"

#include "common/json_text.hpp"

namespace pusher::api {
response error_response(unsigned status, std::string_view message) {
    std::string body = "{\"error\":";
    json_text::append_string(body, message);
    body.push_back('}');
    return response{status, std::string(json_content_type), std::move(body), {}};
}

response method_not_allowed(std::string_view allowed) {
    auto r = error_response(405, "method not allowed");
    r.headers.emplace_back("Allow", std::string(allowed));
    return r;
}

response not_found() {
    return error_response(404, "not found");
}
}  // namespace pusher::api
