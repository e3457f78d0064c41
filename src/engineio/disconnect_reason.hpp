#pragma once
// Why an Engine.IO session ended. Typed, so that logs, metrics and the Socket.IO layer can tell them apart.
#include <string_view>

namespace pusher::engineio {
enum class disconnect_reason {
    client_close,       // the client sent a close packet (or closed the websocket cleanly)
    transport_close,    // the connection went away (TCP closed or reset)
    transport_error,    // a read or write failed, or a second concurrent GET arrived
    ping_timeout,       // no pong within ping_timeout after a ping
    parse_error,        // a packet could not be decoded (Engine.IO or the layer above)
    payload_too_large,  // a message or POST body over max_payload
    slow_consumer,      // the outbox grew over its frame or byte limit: the client does not read fast enough
    server_close,       // closed by the application (e.g. Socket.IO connect timeout, auth refused)
    server_shutdown,    // the server is shutting down; clients should reconnect elsewhere
};

constexpr std::string_view to_string(disconnect_reason r) {
    switch (r) {
        case disconnect_reason::client_close:
            return "client_close";
        case disconnect_reason::transport_close:
            return "transport_close";
        case disconnect_reason::transport_error:
            return "transport_error";
        case disconnect_reason::ping_timeout:
            return "ping_timeout";
        case disconnect_reason::parse_error:
            return "parse_error";
        case disconnect_reason::payload_too_large:
            return "payload_too_large";
        case disconnect_reason::slow_consumer:
            return "slow_consumer";
        case disconnect_reason::server_close:
            return "server_close";
        case disconnect_reason::server_shutdown:
            return "server_shutdown";
    }
    return "unknown";
}
}  // namespace pusher::engineio
