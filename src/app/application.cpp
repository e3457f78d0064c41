#include "app/application.hpp"

#include "app/fanout.hpp"
#include "app/gate.hpp"
#include "app/http_routes.hpp"
#include "app/server_metrics.hpp"
#include "auth/jwt_verifier.hpp"
#include "broker/amqp_broker.hpp"
#include "broker/memory_broker.hpp"
#include "common/io_pool.hpp"
#include "common/log.hpp"
#include "engineio/server.hpp"
#include "httpd/server.hpp"
#include "hub/hub.hpp"
#include "metrics/registry.hpp"
#include "socketio/asio_scheduler.hpp"
#include "socketio/server.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace pusher::app {
namespace {
using namespace std::chrono_literals;

std::unique_ptr<auth::verifier> make_verifier(decltype(config::config::auth) const& a) {
    if (a.jwt_secret.empty() && a.jwt_public_key_file.empty()) {
        return nullptr;
    }
    auth::jwt_settings s;
    s.secret = a.jwt_secret;
    s.public_key_file = a.jwt_public_key_file;
    s.leeway = a.leeway;
    s.require_exp = a.require_exp;
    s.audience = a.audience;
    s.issuer = a.issuer;
    auto v = auth::jwt_verifier::create(std::move(s));
    if (!v) {
        throw std::runtime_error(v.error().message);
    }
    log::info("tokens: {} accepted", fmt::join((*v)->algorithms(), ", "));
    return std::move(*v);
}

std::unique_ptr<broker::broker> make_broker(decltype(config::config::broker) const& b) {
    if (b.kind == config::broker_kind::memory) {
        broker::memory_broker::options o;
        o.unbind_grace = b.unbind_grace;
        log::info("broker: embedded (in-process; publish with POST /api/publish)");
        return std::make_unique<broker::memory_broker>(o);
    }
    broker::amqp_broker::options const& o = b;  // every AMQP option, as configured
    if (auto why = broker::amqp_broker::validate(o); !why.empty()) {
        throw std::runtime_error(why);
    }
    return std::make_unique<broker::amqp_broker>(o);
}

engineio::options engine_options(config::config const& c) {
    engineio::options o;
    o.ping_interval = c.engineio.ping_interval;
    o.ping_timeout = c.engineio.ping_timeout;
    o.upgrade_timeout = c.engineio.upgrade_timeout;
    o.max_payload = c.engineio.max_payload;
    o.max_outbox_frames = c.engineio.outbox_max_frames;
    o.max_outbox_bytes = c.engineio.outbox_max_bytes;
    o.max_frames_per_write = c.engineio.max_frames_per_write;
    o.allowed_origins = c.server.allowed_origins;
    return o;
}
}  // namespace

// Declaration order is construction order: everything a part uses is declared before it, and destroyed after it.
// The pool comes first so that it is destroyed last: sessions still queued on its contexts call into the Socket.IO
// server and the gate while they unwind.
struct application::parts {
    explicit parts(config::config c)
        : cfg(std::move(c)),
          pool(cfg.server.threads),
          verifier(make_verifier(cfg.auth)),
          bus(make_broker(cfg.broker)),
          out(hub, registry),
          door(hub, *bus, verifier.get(), cfg.auth.dev_auth),
          timers(pool.context(0)),
          sockets(timers, socketio::options{cfg.engineio.connect_timeout, 10, {}}),
          engine(std::make_shared<engineio::server>(engine_options(cfg), sockets)),
          http(pool, httpd::options{.host = cfg.server.listen_host,
                                    .port = cfg.server.listen_port,
                                    .max_connections = cfg.server.max_connections,
                                    .max_connections_per_ip = cfg.server.max_connections_per_ip,
                                    .connection_rate_per_ip = cfg.server.connection_rate_per_ip,
                                    .tls_cert_file = cfg.server.tls_cert,
                                    .tls_key_file = cfg.server.tls_key}) {
        if (verifier == nullptr && !cfg.auth.dev_auth) {
            log::warn(
                "neither --jwt-secret nor --jwt-public-key is set and --dev-auth is off: every client will be "
                "refused");
        }
        sockets.add_namespace("/", door);
        register_server_metrics(registry, {http.stats(), engine->stats(), sockets.stats(), hub, *bus, door.stats(),
                                           [this] { return ready(); }});
        http.add_route("/socket.io/", engine);
        api::publish_settings publish;
        publish.api_key = cfg.api.api_key;
        http.add_route("/api/publish", make_publish_route(*bus, publish));
        http.add_route("/healthz", make_healthz_route());
        http.add_route("/readyz", make_readyz_route([this] { return readiness_now(); }));
        http.add_route("/metrics", make_metrics_route(registry));
        http.add_route("/", make_demo_route());
    }

    bool ready() const { return !stopping.load(std::memory_order_relaxed) && bus->ready(); }

    readiness readiness_now() const {
        if (stopping.load(std::memory_order_relaxed)) {
            return {false, "shutting down"};
        }
        if (!bus->ready()) {
            auto const s = bus->stats();
            return {false, s.consumer_connected ? "restoring bindings" : "broker not connected"};
        }
        return {true, {}};
    }

    config::config cfg;
    io_pool pool;
    metrics::registry registry;
    hub::hub hub;
    std::unique_ptr<auth::verifier> verifier;
    std::unique_ptr<broker::broker> bus;
    fanout out;
    gate door;
    socketio::asio_scheduler timers;
    socketio::server sockets;
    std::shared_ptr<engineio::server> engine;
    httpd::server http;
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};
    bool stopped = false;
};

application::application(config::config cfg) : parts_(std::make_unique<parts>(std::move(cfg))) {}

application::~application() {
    shutdown();
}

std::vector<std::string> application::start() {
    auto& p = *parts_;
    auto first = p.http.start();
    p.bus->start(p.out);
    p.pool.start();
    p.started = true;
    std::vector<std::string> out;
    for (auto const& ep : p.http.endpoints()) {
        out.push_back(ep.to_string());
    }
    if (out.empty()) {
        out.push_back(first.to_string());
    }
    return out;
}

void application::shutdown() {
    auto& p = *parts_;
    if (p.stopped) {
        return;
    }
    p.stopped = true;
    p.stopping = true;  // /readyz answers 503 from now on
    if (!p.started) {
        p.bus->stop();
        return;
    }
    auto const sessions = p.engine->session_count();
    log::info("shutting down: {} session(s) told to reconnect, up to {} ms to drain", sessions,
              p.cfg.shutdown.drain.count());
    p.http.stop();
    p.engine->close_all(engineio::disconnect_reason::server_shutdown);
    // close_all runs on each session's thread: let the workers finish it (close frames written, held GETs
    // answered, the gate told) within the drain time.
    auto const deadline = std::chrono::steady_clock::now() + p.cfg.shutdown.drain;
    while (p.engine->session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    if (auto left = p.engine->session_count(); left > 0) {
        log::warn("shutdown: {} session(s) still open after the drain time; closing them", left);
    }
    p.http.close_idle();
    p.bus->stop();  // unbinds, closes the AMQP connections; no broker callback runs after this
    p.pool.stop();
    log::info("stopped");
}
}  // namespace pusher::app
