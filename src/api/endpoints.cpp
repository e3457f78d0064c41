#include "api/endpoints.hpp"

#include "common/json_text.hpp"
#include "metrics/registry.hpp"

namespace pusher::api {
namespace {
bool readable(request const& req) {
    return req.method == "GET" || req.method == "HEAD";
}
}  // namespace

response healthz(request const& req) {
    if (!readable(req)) {
        return method_not_allowed("GET, HEAD");
    }
    return response{200, std::string(json_content_type), "{\"status\":\"ok\"}", {}};
}

response readyz(request const& req, bool ready, std::string_view reason) {
    if (!readable(req)) {
        return method_not_allowed("GET, HEAD");
    }
    if (ready) {
        return response{200, std::string(json_content_type), "{\"status\":\"ready\"}", {}};
    }
    std::string body = "{\"status\":\"not ready\"";
    if (!reason.empty()) {
        body += ",\"reason\":";
        json_text::append_string(body, reason);
    }
    body.push_back('}');
    return response{503, std::string(json_content_type), std::move(body), {}};
}

response metrics_page(request const& req, metrics::registry const& reg) {
    if (!readable(req)) {
        return method_not_allowed("GET, HEAD");
    }
    response r{200, std::string(metrics::content_type), {}, {}};
    reg.expose(r.body);
    return r;
}
}  // namespace pusher::api
