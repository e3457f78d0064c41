#pragma once
// The pusher's HTTP endpoints other than /socket.io/, as httpd routes: adapters from httpd's request/response to the
// pure api:: handlers, the asynchronous POST /api/publish (answered from the broker's confirm), and the embedded
// demo page. Plain route objects; the application mounts them (application.cpp).
#include "api/publish.hpp"
#include "httpd/route.hpp"

#include <functional>
#include <memory>
#include <string>

namespace pusher::broker {
class broker;
}
namespace pusher::metrics {
class registry;
}

namespace pusher::app {
// Readiness as /readyz reports it: ready, or the reason why not.
struct readiness {
    bool ready = false;
    std::string reason;
};
using readiness_fn = std::function<readiness()>;

// POST /api/publish: parse, publish through the broker, answer 202 once the broker accepted every message (publisher
// confirms with AMQP) or 503 when it could not.
std::shared_ptr<httpd::route> make_publish_route(broker::broker& b, api::publish_settings settings);
// GET /api/presence and POST /api/disconnect: asked of every node through the control plane (api/cluster_api.hpp).
class control_plane;
std::shared_ptr<httpd::route> make_presence_route(control_plane& cp, api::publish_settings settings);
std::shared_ptr<httpd::route> make_disconnect_route(control_plane& cp, api::publish_settings settings);
// GET /healthz, GET /readyz, GET /metrics.
std::shared_ptr<httpd::route> make_healthz_route();
std::shared_ptr<httpd::route> make_readyz_route(readiness_fn fn);
std::shared_ptr<httpd::route> make_metrics_route(metrics::registry const& reg);
// GET / and the demo's files (web/demo, the Socket.IO browser bundle), from the binary; 404 for anything else.
std::shared_ptr<httpd::route> make_demo_route();
}  // namespace pusher::app
