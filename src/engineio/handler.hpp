#pragma once
// The seam between Engine.IO and the layer above it (Socket.IO, or the conformance echo endpoint): Engine.IO knows
// nothing of Socket.IO. The server calls `handler::on_open` once per new session, on the session's thread, and then
// the returned session_handler's callbacks, on that same thread, until on_close.
#include "engineio/disconnect_reason.hpp"
#include "engineio/session.hpp"

#include <memory>
#include <string_view>

namespace pusher::engineio {
class session_handler {
  public:
    virtual ~session_handler() = default;
    // A text message packet's data (without the leading `4`).
    virtual void on_message(std::string_view text) = 0;
    // A binary message's bytes.
    virtual void on_binary(std::string_view bytes) = 0;
    // Called exactly once. The session drops its session_handler right after, which breaks any ownership cycle
    // (a handler may hold a shared_ptr to its session).
    virtual void on_close(disconnect_reason why) = 0;
};

class handler {
  public:
    virtual ~handler() = default;
    // A new session is open (its open packet is queued). Return the object that handles its messages.
    virtual std::unique_ptr<session_handler> on_open(std::shared_ptr<session> const& s) = 0;
};
}  // namespace pusher::engineio
