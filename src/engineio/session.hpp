#pragma once
// engineio::session: one Engine.IO connection, independent of its transport (polling, websocket, or polling that
// upgraded to websocket). The server owns the implementation; layers above (socketio, hub) see only this interface,
// which keeps Asio out of their headers and lets their unit tests use an in-memory session.
//
// Threading: a session lives on one executor (the worker thread where its handshake arrived). send(), send_binary()
// and close() may be called from any thread (they post when called from elsewhere); everything else, and every
// session_handler callback, runs on the session's own thread.
#include "common/frame.hpp"
#include "engineio/disconnect_reason.hpp"

#include <functional>
#include <string_view>

namespace pusher::engineio {
enum class transport_kind { polling, websocket };

constexpr std::string_view to_string(transport_kind t) {
    return t == transport_kind::polling ? "polling" : "websocket";
}

class session {
  public:
    virtual ~session() = default;

    // Queues one Engine.IO packet. `packet` holds the whole encoded text packet including its type digit, e.g.
    // `4` + `2["event",{...}]` for a message. The same frame may be shared by many sessions: queueing it copies a
    // pointer; the transport copies the bytes once when it writes them.
    // Returns at once. Over the outbox limits the session closes with disconnect_reason::slow_consumer.
    virtual void send(frame packet) = 0;
    // Queues one binary message (raw bytes; over polling it goes out as `b<base64>`).
    virtual void send_binary(frame bytes) = 0;
    // Closes the session (idempotent). The handler's on_close runs once with `why`.
    virtual void close(disconnect_reason why) = 0;
    // Runs `fn` on the session's thread (at once if already there).
    virtual void dispatch(std::function<void()> fn) = 0;

    // The Engine.IO sid (stable for the session's life; safe from any thread).
    virtual std::string_view id() const = 0;
    // Own thread only.
    virtual transport_kind transport() const = 0;
    // The client's address as seen by the server ("ip:port"); safe from any thread.
    virtual std::string_view remote_address() const = 0;
    // The Engine.IO protocol revision of the client: 4, or 3 (socket.io-client 2.x, served with
    // options::allow_eio3; its Socket.IO layer speaks protocol v4). Fixed at the handshake; any thread.
    virtual int protocol() const { return 4; }
    // EIO=3 only: the handshake's query string (a 2.x client has no CONNECT payload: it authenticates there).
    virtual std::string_view handshake_query() const { return {}; }
};
}  // namespace pusher::engineio
