#pragma once
// app::application: the pusher server, composed. Owns every part (worker pool, HTTP listener, Engine.IO / Socket.IO
// endpoint, hub, broker, fan-out, gate, metrics) and wires them as docs/architecture.md draws:
//
//   broker --message--> fanout --frame--> hub --same frame--> each session of the user
//   client --CONNECT--> gate --token--> auth; --subscribe--> broker (bind confirmed) --> accept, hub.attach
//
// Lifecycle: construct (validates and builds everything, throws std::runtime_error with one clear line), start()
// (listens, starts the broker and the workers), then shutdown() once (graceful: /readyz 503, stop accepting,
// clients told to reconnect, drain, broker closed). Not copyable; start/shutdown from one control thread.
#include "config/config.hpp"

#include <memory>
#include <string>
#include <vector>

namespace pusher::app {
class application {
  public:
    explicit application(config::config cfg);
    ~application();  // shuts down if still running
    application(application const&) = delete;
    application& operator=(application const&) = delete;

    // Listens and starts serving. Returns the bound endpoints as "HOST:PORT" (the first is the main one). Throws
    // std::system_error / std::runtime_error when it cannot listen.
    std::vector<std::string> start();
    // Graceful shutdown (idempotent): not ready, stop accepting, close every session with `server_shutdown` (the
    // client reconnects, to another node behind a load balancer), wait up to the drain time for them to finish,
    // close idle HTTP connections, stop the broker (unbinds, closes AMQP), stop the workers.
    void shutdown();
    // SIGHUP: reads the token keys (--jwt-secret-file, --jwt-public-key) and the TLS certificate and key again, for
    // the connections from now on; open connections stay. What fails to load keeps the old material, logged.
    void reload();

  private:
    struct parts;
    std::unique_ptr<parts> parts_;
};
}  // namespace pusher::app
