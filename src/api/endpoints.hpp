#pragma once
// GET /healthz, GET /readyz, GET /metrics as pure functions (GET and HEAD; anything else is 405).
#include "api/request.hpp"

#include <string_view>

namespace pusher::metrics {
class registry;
}

namespace pusher::api {
// 200 {"status":"ok"} while the process serves.
response healthz(request const& req);
// 200 {"status":"ready"}, or 503 {"status":"not ready","reason":"<reason>"} (reason left out when empty).
response readyz(request const& req, bool ready, std::string_view reason = {});
// 200 with the registry's Prometheus text (text/plain; version=0.0.4; charset=utf-8).
response metrics_page(request const& req, metrics::registry const& reg);
}  // namespace pusher::api
