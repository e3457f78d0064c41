#include "app/server_metrics.hpp"

#include "app/gate.hpp"
#include "broker/broker.hpp"
#include "engineio/server.hpp"
#include "httpd/limits.hpp"
#include "hub/hub.hpp"
#include "metrics/registry.hpp"
#include "socketio/server.hpp"

#include <atomic>
#include <string>
#include <tuple>
#include <utility>

namespace pusher::app {
namespace {
template <class T>
double load(std::atomic<T> const& a) {
    return static_cast<double>(a.load(std::memory_order_relaxed));
}
}  // namespace

void register_server_metrics(metrics::registry& reg, server_parts p) {
    using metrics::kind;
    auto const& eio = p.engine;
    auto const& sio = p.sockets;
    auto const& hub = p.hub;
    auto const& broker = p.broker;
    auto const& gate = p.gate;

    // TCP connections (httpd admission).
    auto const& http = p.http;
    reg.add_callback("pusher_connections_open", "Open TCP connections (HTTP and websockets)", kind::gauge, {},
                     [&http] { return load(http.open_connections); });
    reg.add_callback("pusher_connections_accepted_total", "TCP connections admitted", kind::counter, {},
                     [&http] { return load(http.accepted_total); });
    for (std::size_t i = 0; i < httpd::refusal_count; ++i) {
        auto const r = static_cast<httpd::refusal>(i);
        reg.add_callback("pusher_connections_refused_total",
                         "TCP connections (behind a trusted proxy: sessions) refused by a limit, by reason",
                         kind::counter, {{"reason", std::string(httpd::to_string(r))}},
                         [&http, r] { return static_cast<double>(http.refused(r)); });
    }
    for (std::size_t i = 0; i < http.responses_total.size(); ++i) {
        reg.add_callback("pusher_http_requests_total",
                         "HTTP requests answered, by status class (websocket handshakes: 101 or their refusal)",
                         kind::counter, {{"status", std::to_string(i + 1) + "xx"}},
                         [&http, i] { return load(http.responses_total[i]); });
    }
    reg.add_callback("pusher_connections_lingering",
                     "Connections closed after an answer the client may not have read yet, still draining its input",
                     kind::gauge, {}, [] { return static_cast<double>(httpd::lingering_sockets()); });
    reg.add_callback("pusher_tls_handshake_failures_total", "TLS handshakes that failed or timed out", kind::counter,
                     {}, [&http] { return load(http.tls_handshake_failures_total); });

    // Engine.IO sessions.
    for (auto [transport, gauge] :
         {std::pair{"polling", &eio.open_polling}, std::pair{"websocket", &eio.open_websocket}}) {
        reg.add_callback("pusher_connections", "Open Engine.IO sessions by current transport", kind::gauge,
                         {{"transport", transport}}, [gauge] { return load(*gauge); });
    }
    reg.add_callback("pusher_connections_opened_total", "Engine.IO sessions opened", kind::counter, {},
                     [&eio] { return load(eio.opened_total); });
    for (std::size_t i = 0; i < engineio::disconnect_reason_count; ++i) {
        auto const why = static_cast<engineio::disconnect_reason>(i);
        reg.add_callback("pusher_connections_closed_total", "Engine.IO sessions closed, by reason", kind::counter,
                         {{"reason", std::string(engineio::to_string(why))}},
                         [&eio, why] { return static_cast<double>(eio.closed(why)); });
    }
    reg.add_callback("pusher_slow_consumer_disconnects_total",
                     "Sessions closed because their outbox went over its limits", kind::counter, {},
                     [&eio] { return static_cast<double>(eio.slow_consumers()); });
    reg.add_callback("pusher_transport_upgrades_total", "Polling sessions upgraded to websocket", kind::counter, {},
                     [&eio] { return load(eio.upgrades_total); });
    reg.add_callback("pusher_frames_sent_total", "Engine.IO packets handed to a transport", kind::counter, {},
                     [&eio] { return load(eio.frames_out_total); });
    reg.add_callback("pusher_bytes_sent_total", "Engine.IO packet bytes handed to a transport", kind::counter, {},
                     [&eio] { return load(eio.bytes_out_total); });
    reg.add_callback("pusher_websocket_writes_total",
                     "Websocket write batches (pusher_frames_sent_total / this = frames per syscall)", kind::counter,
                     {}, [&eio] { return load(eio.ws_writes_total); });
    reg.add_callback("pusher_frames_received_total", "Engine.IO packets received", kind::counter, {},
                     [&eio] { return load(eio.frames_in_total); });
    reg.add_callback("pusher_bad_requests_total", "Engine.IO requests refused (400, 403, 413)", kind::counter, {},
                     [&eio] { return load(eio.bad_requests_total); });

    // Socket.IO and the gate.
    reg.add_callback("pusher_socket_connects_total", "Socket.IO connections accepted (user authenticated and bound)",
                     kind::counter, {}, [&sio] { return load(sio.connects); });
    for (auto [reason, counter] :
         {std::pair{"auth", &gate.auth_failures}, std::pair{"binding", &gate.subscribe_failures},
          std::pair{"namespace", &sio.invalid_namespaces}}) {
        reg.add_callback("pusher_socket_connect_refused_total", "Socket.IO CONNECTs refused, by reason", kind::counter,
                         {{"reason", reason}}, [counter] { return load(*counter); });
    }
    reg.add_callback("pusher_socket_connect_timeouts_total", "Sessions closed for sending no CONNECT in time",
                     kind::counter, {}, [&sio] { return load(sio.connect_timeouts); });
    reg.add_callback("pusher_socket_decode_errors_total", "Socket.IO packets that could not be decoded", kind::counter,
                     {}, [&sio] { return load(sio.decode_errors); });
    reg.add_callback("pusher_client_events_total",
                     "Events sent by clients that are not subscribe / unsubscribe (ignored)", kind::counter, {},
                     [&gate] { return load(gate.client_events); });

    // Channels (the gate, the hub, the broker's bindings).
    reg.add_callback("pusher_channel_subscribes_total", "Channel subscriptions that took effect", kind::counter, {},
                     [&gate] { return load(gate.channel_subscribes); });
    for (std::size_t i = 0; i < gate_stats::channel_refusal_reasons.size(); ++i) {
        reg.add_callback("pusher_channel_subscribe_refusals_total",
                         "Channel subscribes refused, by reason (bad_request, bad_name, not_allowed, bad_token, "
                         "too_many, unavailable, unsubscribed)",
                         kind::counter, {{"reason", std::string(gate_stats::channel_refusal_reasons[i])}},
                         [&gate, i] { return load(gate.channel_refusals[i]); });
    }
    for (auto [outcome, member] :
         {std::pair{"published", &gate_stats::upstream_published}, std::pair{"failed", &gate_stats::upstream_failed},
          std::pair{"rate_limited", &gate_stats::upstream_rate_limited},
          std::pair{"refused", &gate_stats::upstream_refused}}) {
        reg.add_callback("pusher_upstream_events_total",
                         "Client events with an ack for the backend, by outcome: published (confirmed), failed (the "
                         "broker did not take it), rate_limited, refused (upstream off, binary arguments)",
                         kind::counter, {{"outcome", outcome}}, [&gate, member] { return load(gate.*member); });
    }
    reg.add_callback("pusher_channels", "Channels with at least one member on this node", kind::gauge, {},
                     [&hub] { return static_cast<double>(hub.channels()); });
    reg.add_callback("pusher_channel_subscriptions", "Channel memberships of connections on this node", kind::gauge, {},
                     [&hub] { return static_cast<double>(hub.channel_members()); });

    // Connection state recovery (the gate and the hub).
    for (auto [outcome, member] :
         {std::pair{"same_node", &gate_stats::recovered}, std::pair{"other_node", &gate_stats::recovered_other_node},
          std::pair{"handed_over", &gate_stats::handed_over}, std::pair{"expired", &gate_stats::recovery_expired},
          std::pair{"overflow", &gate_stats::recovery_overflow}, std::pair{"unknown", &gate_stats::recovery_unknown}}) {
        reg.add_callback("pusher_recoveries_total",
                         "Connection state recovery: recovering CONNECTs recovered from this node's state (same_node) "
                         "or another node's (other_node), held sessions handed to another node (handed_over), held "
                         "sessions whose window ended (expired), recoveries refused because a cap pushed out what they "
                         "missed (overflow), pids unknown, not the user's, or not handed over (unknown)",
                         kind::counter, {{"outcome", outcome}}, [&gate, member] { return load(gate.*member); });
    }
    reg.add_callback("pusher_recovery_takeovers_total",
                     "Recoveries that first closed the old session the server still thought open", kind::counter, {},
                     [&gate] { return load(gate.recovery_takeovers); });
    reg.add_callback("pusher_recovery_events_replayed_total", "Events replayed to recovered sessions", kind::counter,
                     {}, [&gate] { return load(gate.events_replayed); });
    reg.add_callback("pusher_recovery_sessions_held", "Sessions held for a recovery", kind::gauge, {},
                     [&hub] { return static_cast<double>(hub.held_sessions()); });
    reg.add_callback("pusher_recovery_history_bytes", "Bytes kept for recovery (every user's and the broadcasts)",
                     kind::gauge, {}, [&hub] { return static_cast<double>(hub.history_bytes()); });

    // The hub.
    reg.add_callback("pusher_users_online", "Users with at least one connection on this node", kind::gauge, {},
                     [&hub] { return static_cast<double>(hub.users()); });
    reg.add_callback("pusher_sessions", "Connections attached to a user", kind::gauge, {},
                     [&hub] { return static_cast<double>(hub.sessions()); });

    // The broker. Each callback takes its own snapshot: stats() is a handful of relaxed loads.
    auto stat = [&broker](auto member) {
        return [&broker, member] { return static_cast<double>(broker.stats().*member); };
    };
    using bs = broker::broker_stats;
    reg.add_callback("pusher_broker_ready", "1 when connected, consuming and every binding restored", kind::gauge, {},
                     [ready = p.ready] { return ready() ? 1.0 : 0.0; });
    reg.add_callback("pusher_broker_consumer_connected", "1 while the consuming connection is up", kind::gauge, {},
                     [&broker] { return broker.stats().consumer_connected ? 1.0 : 0.0; });
    reg.add_callback("pusher_broker_publisher_connected", "1 while the publishing connection is up", kind::gauge, {},
                     [&broker] { return broker.stats().publisher_connected ? 1.0 : 0.0; });
    reg.add_callback("pusher_bindings", "User routing keys bound (or inside the unbind grace)", kind::gauge, {},
                     stat(&bs::bound_users));
    reg.add_callback("pusher_broker_subscriptions", "Connections holding a subscription", kind::gauge, {},
                     stat(&bs::subscriptions));
    reg.add_callback("pusher_presence_events_total",
                     "Presence events (online / offline) published (embedded broker: counted only)", kind::counter, {},
                     stat(&bs::presence_events));
    reg.add_callback("pusher_presence_events_failed_total", "Presence events not confirmed by the broker (not retried)",
                     kind::counter, {}, stat(&bs::presence_failed));
    reg.add_callback("pusher_channel_bindings", "Channel routing keys bound (or inside the unbind grace)", kind::gauge,
                     {}, stat(&bs::bound_channels));
    reg.add_callback("pusher_broker_binds_total", "queue.bind sent (re-binds after a reconnect included)",
                     kind::counter, {}, stat(&bs::binds));
    reg.add_callback("pusher_broker_unbinds_total", "queue.unbind sent", kind::counter, {}, stat(&bs::unbinds));
    reg.add_callback("pusher_broker_subscribe_timeouts_total", "Bindings not confirmed in time", kind::counter, {},
                     stat(&bs::subscribe_timeouts));
    reg.add_callback("pusher_broker_routing_check_failures_total",
                     "Routing probes returned unroutable (bindings lost at the broker), each followed by a re-bind",
                     kind::counter, {}, stat(&bs::routing_check_failures));
    reg.add_callback("pusher_broker_reconnects_total", "Broker connections re-established", kind::counter, {},
                     stat(&bs::reconnects));
    reg.add_callback("pusher_broker_connection_failures_total", "Broker connection attempts failed or connections lost",
                     kind::counter, {}, stat(&bs::connection_failures));
    reg.add_callback("pusher_broker_messages_received_total", "Messages the broker delivered to this node",
                     kind::counter, {}, stat(&bs::messages_received));
    for (auto [reason, member] :
         {std::pair{"unroutable", &bs::messages_unroutable}, std::pair{"invalid", &bs::messages_invalid}}) {
        reg.add_callback("pusher_broker_messages_dropped_total",
                         "Broker messages dropped before the fan-out, by reason", kind::counter, {{"reason", reason}},
                         stat(member));
    }
    for (auto [outcome, member] :
         {std::pair{"sent", &bs::messages_published}, std::pair{"confirmed", &bs::messages_confirmed},
          std::pair{"failed", &bs::messages_failed}}) {
        reg.add_callback("pusher_publish_messages_total", "Messages published through /api/publish, by outcome",
                         kind::counter, {{"outcome", outcome}}, stat(member));
    }
    for (std::size_t i = 0; i < broker::undelivered_reason_count; ++i) {
        auto const reason = broker::to_string(static_cast<broker::undelivered_reason>(i));
        reg.add_callback("pusher_messages_undelivered_total",
                         "Messages that reached this node but no session, handed to the undelivered exchange (the "
                         "embedded broker only counts them), by reason",
                         kind::counter, {{"reason", std::string(reason)}},
                         [&broker, i] { return static_cast<double>(broker.stats().undelivered[i]); });
    }
    reg.add_callback("pusher_messages_undelivered_failed_total",
                     "Messages for the undelivered exchange that were not confirmed (never retried)", kind::counter, {},
                     stat(&bs::undelivered_failed));

    std::vector<double> bounds;
    for (auto ms : broker::latency_histogram::bounds_ms) {
        bounds.push_back(ms / 1000.0);
    }
    for (auto [name, help, member] :
         {std::tuple{"pusher_bind_latency_seconds", "queue.bind sent -> bind-ok", &bs::bind_latency},
          std::tuple{"pusher_unbind_latency_seconds", "queue.unbind sent -> unbind-ok", &bs::unbind_latency}}) {
        reg.add_callback_histogram(name, help, bounds, {}, [&broker, member] {
            auto const s = broker.stats().*member;
            metrics::histogram_snapshot h;
            h.buckets.assign(s.buckets.begin(), s.buckets.end());
            h.sum = static_cast<double>(s.us_sum) / 1e6;
            return h;
        });
    }
}
}  // namespace pusher::app
