#pragma once
// The series /metrics exposes about the server's parts, read at scrape time from their own counters (engine,
// Socket.IO server, hub, broker, gate), so the hot paths pay nothing for them. The fan-out registers its own
// (pusher_messages_*, pusher_delivery_latency_seconds) in fanout's constructor.
#include <functional>

namespace pusher::metrics {
class registry;
}
namespace pusher::httpd {
struct counters;
}
namespace pusher::engineio {
struct counters;
}
namespace pusher::socketio {
struct server_stats;
}
namespace pusher::hub {
class hub;
}
namespace pusher::broker {
class broker;
}

namespace pusher::app {
struct gate_stats;

struct server_parts {
    httpd::counters const& http;
    engineio::counters const& engine;
    socketio::server_stats const& sockets;
    hub::hub const& hub;
    broker::broker const& broker;
    gate_stats const& gate;
    std::function<bool()> ready;
};

// Registers every series of `parts` in `reg`. Each referenced object must outlive `reg`'s last scrape.
void register_server_metrics(metrics::registry& reg, server_parts parts);
}  // namespace pusher::app
