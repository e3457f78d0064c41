#include "app/application.hpp"

#include "app/control_plane.hpp"
#include "app/fanout.hpp"
#include "app/gate.hpp"
#include "app/handover.hpp"
#include "app/held_sessions.hpp"
#include "app/http_routes.hpp"
#include "app/server_metrics.hpp"
#include "auth/key_set.hpp"
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
#include <random>
#include <stdexcept>
#include <thread>

namespace pusher::app {
namespace {
using namespace std::chrono_literals;
// How long a node waits for another node to answer a hand-over (a node that is gone is known at once: the broker
// cannot route to it).
constexpr std::chrono::milliseconds handover_timeout{3000};

std::unique_ptr<auth::reloadable_verifier> make_verifier(decltype(config::config::auth) const& a) {
    auth::key_sources s;
    s.secret = a.jwt_secret;
    s.secret_file = a.jwt_secret_file;
    s.public_key_path = a.jwt_public_key_file;
    s.claims.leeway = a.leeway;
    s.claims.require_exp = a.require_exp;
    s.claims.audience = a.audience;
    s.claims.issuer = a.issuer;
    if (s.empty()) {
        return nullptr;
    }
    auto keys = auth::key_set::load(s);
    if (!keys) {
        throw std::runtime_error(keys.error().message);
    }
    log::info("tokens: {} accepted", (*keys)->describe());
    return std::make_unique<auth::reloadable_verifier>(std::move(s), std::move(*keys));
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

hub::recovery_options recovery_options(config::config const& c) {
    hub::recovery_options r;
    r.enabled = c.recovery.window.count() > 0;
    r.per_user = {c.recovery.max_events, c.recovery.max_bytes};
    r.node_max_bytes = c.recovery.node_max_bytes;
    std::random_device rd;  // offsets start at a random point (hub/history.hpp)
    r.first_seq = (static_cast<hub::seq_t>(rd()) << 32) | rd();
    return r;
}

// Messages for a user with no session here go to the broker's undelivered exchange (the memory broker counts them),
// unless --undelivered-exchange is empty: then the fan-out drops them.
fanout::undeliver_fn undeliver_hook(decltype(config::config::broker) const& b, broker::broker& br) {
    if (b.kind == config::broker_kind::amqp && b.undelivered_exchange.empty()) {
        return {};
    }
    return [&br](broker::undelivered u) { br.undeliver(std::move(u)); };
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
    o.allow_eio3 = c.engineio.allow_eio3;
    o.allowed_origins = c.server.allowed_origins;
    o.sid_prefix = c.broker.node_id + ".";  // a proxy routes polling requests to their node by it (docs/deployment.md)
    return o;
}
}  // namespace

// Declaration order is construction order: everything a part uses is declared before it, and destroyed after it.
// The pool comes first so that it is destroyed last: sessions still queued on its contexts call into the Socket.IO
// server and the gate while they unwind.
struct application::parts {
    explicit parts(config::config c)
        : cfg_(std::move(c)),
          pool_(cfg_.server.threads),
          hub_(hub::hub::default_shards, recovery_options(cfg_)),
          verifier_(make_verifier(cfg_.auth)),
          broker_(make_broker(cfg_.broker)),
          fanout_(hub_, metrics_, fanout::system_clock_ms, undeliver_hook(cfg_.broker, *broker_)),
          gate_(hub_, *broker_, verifier_.get(), cfg_.auth.dev_auth, auth::clock::now,
                gate_recovery{hub_.recovery_enabled() ? &held_ : nullptr, &timers_, cfg_.recovery.window,
                              undeliver_hook(cfg_.broker, *broker_),
                              hub_.recovery_enabled() && broker_->clustered() ? &handover_ : nullptr,
                              cfg_.broker.node_id, cfg_.broker.unbind_grace + 5s}),
          timers_(pool_.context(0)),
          handover_(*broker_, timers_, metrics_, cfg_.broker.node_id, handover_timeout),
          control_(*broker_, timers_, metrics_, cfg_.broker.node_id),
          socketio_(timers_, socketio::options{cfg_.engineio.connect_timeout, 10, {}}),
          engineio_(std::make_shared<engineio::server>(engine_options(cfg_), socketio_)),
          httpd_(pool_, httpd::options{.host = cfg_.server.listen_host,
                                       .port = cfg_.server.listen_port,
                                       .max_connections = cfg_.server.max_connections,
                                       .max_connections_per_ip = cfg_.server.max_connections_per_ip,
                                       .connection_rate_per_ip = cfg_.server.connection_rate_per_ip,
                                       .trusted_proxies = cfg_.server.trusted_proxies,
                                       .tls_cert_file = cfg_.server.tls_cert,
                                       .tls_key_file = cfg_.server.tls_key}),
          metrics_httpd_(
              cfg_.server.metrics_host.empty()
                  ? nullptr
                  : std::make_unique<httpd::server>(
                        pool_, httpd::options{.host = cfg_.server.metrics_host, .port = cfg_.server.metrics_port})) {
        if (verifier_ == nullptr && !cfg_.auth.dev_auth) {
            log::warn(
                "neither --jwt-secret nor --jwt-public-key is set and --dev-auth is off: every client will be "
                "refused");
        }
        gate_.limit_channels(cfg_.channels.per_session);
        if (!cfg_.broker.upstream_exchange.empty()) {
            gate_.enable_upstream(cfg_.channels.upstream_rate);
        }
        socketio_.add_namespace("/", gate_);
        // Control messages from other nodes: the cluster queries, and (with recovery) the session hand-overs.
        fanout_.on_control_messages([this](std::string_view type, std::string_view body) {
            if (!control_.on_control(type, body) && hub_.recovery_enabled() && broker_->clustered()) {
                handover_.on_control(type, body);
            }
        });
        control_.serve_with([this](cluster::query const& q) { return gate_.answer(q); });
        if (hub_.recovery_enabled() && broker_->clustered()) {
            fanout_.on_handed_over([this](std::string_view user) { return held_.recently_handed_over(user); });
            handover_.serve_with([this](cluster::handover_request r, handover::answer_fn answer) {
                gate_.serve_handover(std::move(r), std::move(answer));
            });
        }
        log::info("node id {}{}", cfg_.broker.node_id,
                  broker_->clustered() ? " (sessions can be handed over between nodes)" : "");
        register_server_metrics(metrics_, {httpd_.stats(), engineio_->stats(), socketio_.stats(), hub_, *broker_,
                                           gate_.stats(), [this] { return ready(); }});
        metrics_.add_callback("pusher_node_info", "This node; its --node-id as the label `node` (join on it)",
                              metrics::kind::gauge, {{"node", cfg_.broker.node_id}}, [] { return 1.0; });
        httpd_.add_route("/socket.io/", engineio_);
        api::publish_settings publish;
        publish.api_keys = cfg_.api.api_keys;
        httpd_.add_route("/api/publish", make_publish_route(*broker_, publish));
        httpd_.add_route("/api/presence", make_presence_route(control_, publish));
        httpd_.add_route("/api/disconnect", make_disconnect_route(control_, publish));
        // The operator's endpoints: on the public listener, or on --metrics-listen alone.
        auto& ops = metrics_httpd_ ? *metrics_httpd_ : httpd_;
        ops.add_route("/healthz", make_healthz_route());
        ops.add_route("/readyz", make_readyz_route([this] { return readiness_now(); }));
        ops.add_route("/metrics", make_metrics_route(metrics_));
        httpd_.add_route("/", make_demo_route());
    }

    bool ready() const { return !stopping_.load(std::memory_order_relaxed) && broker_->ready(); }

    readiness readiness_now() const {
        if (stopping_.load(std::memory_order_relaxed)) {
            return {false, "shutting down"};
        }
        if (!broker_->ready()) {
            auto const s = broker_->stats();
            return {false, s.consumer_connected ? "restoring bindings" : "broker not connected"};
        }
        return {true, {}};
    }

    config::config cfg_;
    io_pool pool_;
    metrics::registry metrics_;
    hub::hub hub_;
    std::unique_ptr<auth::reloadable_verifier> verifier_;  // its key set is swapped by reload()
    std::unique_ptr<broker::broker> broker_;
    fanout fanout_;
    held_sessions held_;
    gate gate_;
    socketio::asio_scheduler timers_;
    handover handover_;
    control_plane control_;
    socketio::server socketio_;
    std::shared_ptr<engineio::server> engineio_;
    httpd::server httpd_;
    std::unique_ptr<httpd::server> metrics_httpd_;  // --metrics-listen: /metrics, /healthz, /readyz alone
    std::atomic<bool> started_{false};
    std::atomic<bool> stopping_{false};
    bool stopped_ = false;
};

application::application(config::config cfg) : parts_(std::make_unique<parts>(std::move(cfg))) {}

application::~application() {
    shutdown();
}

std::vector<std::string> application::start() {
    auto& p = *parts_;
    auto first = p.httpd_.start();
    if (p.metrics_httpd_) {
        auto const ops = p.metrics_httpd_->start();
        log::info("metrics endpoints on {} (/metrics, /healthz, /readyz)", ops.to_string());
    }
    p.broker_->start(p.fanout_);
    p.control_.start();
    p.pool_.start();
    p.started_ = true;
    std::vector<std::string> out;
    for (auto const& ep : p.httpd_.endpoints()) {
        out.push_back(ep.to_string());
    }
    if (out.empty()) {
        out.push_back(first.to_string());
    }
    return out;
}

void application::reload() {
    auto& p = *parts_;
    if (p.verifier_ != nullptr) {
        if (auto keys = p.verifier_->reload()) {
            log::info("reload: tokens: {} accepted", *keys);
        } else {
            log::error("reload: the token keys did not load, the previous ones stay in force: {}",
                       keys.error().message);
        }
    }
    if (p.httpd_.tls()) {
        if (auto why = p.httpd_.reload_tls(); why.empty()) {
            log::info("reload: TLS certificate {} in use for new connections", p.cfg_.server.tls_cert);
        } else {
            log::error("reload: the TLS certificate did not load, the previous one stays in use: {}", why);
        }
    }
}

void application::shutdown() {
    auto& p = *parts_;
    if (p.stopped_) {
        return;
    }
    p.stopped_ = true;
    p.stopping_ = true;  // /readyz answers 503 from now on
    if (!p.started_) {
        p.broker_->stop();
        return;
    }
    auto const sessions = p.engineio_->session_count();
    log::info("shutting down: {} session(s) told to reconnect, up to {} ms to drain", sessions,
              p.cfg_.shutdown.drain.count());
    p.httpd_.stop();
    p.engineio_->close_all(engineio::disconnect_reason::server_shutdown);
    // close_all runs on each session's thread: let the workers finish it (close frames written, held GETs
    // answered, the gate told) within the drain time.
    auto const deadline = std::chrono::steady_clock::now() + p.cfg_.shutdown.drain;
    while (p.engineio_->session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    if (auto left = p.engineio_->session_count(); left > 0) {
        log::warn("shutdown: {} session(s) still open after the drain time; closing them", left);
    }
    // Their clients reconnect to other nodes, which ask this one for their state: keep answering until every held
    // session is handed over, or the drain time is up.
    if (p.broker_->clustered() && p.hub_.recovery_enabled()) {
        while (p.hub_.held_sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
        }
    }
    // The sessions held for recovery cannot come back here: what reached nobody goes to the undelivered exchange.
    p.gate_.release_held();
    p.httpd_.close_idle();
    if (p.metrics_httpd_) {  // it answered /readyz 503 and /metrics through the drain
        p.metrics_httpd_->stop();
        p.metrics_httpd_->close_idle();
    }
    p.broker_->stop();  // unbinds, closes the AMQP connections; no broker callback runs after this
    p.pool_.stop();
    log::info("stopped");
}
}  // namespace pusher::app
