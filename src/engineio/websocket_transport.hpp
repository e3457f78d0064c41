#pragma once
// websocket_transport: one server websocket (RFC 6455 over the TCP socket, or over TLS when httpd's listener speaks
// it; framing in websocket_frame.hpp): the opening handshake, the read loop, batched writes (a whole batch of frames
// in one socket write), ping/pong and the closing handshake. It keeps the connection's ticket in httpd's limits
// until its socket closes. Reports to a ws_listener (the session). Lives on the io_context its socket is bound to;
// every call on that thread. Keeps itself alive while operations are pending; holds its listener only while
// attached (detach() or close breaks the cycle). No Asio in this header.
// common/aliases.hpp's `using tcp = boost::asio::ip::tcp` needs tcp declared; a declaration is enough here.
namespace boost::asio::ip {
class tcp;
}
#include "common/aliases.hpp"
#include "engineio/disconnect_reason.hpp"
#include "engineio/outbox.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace boost::asio {
class io_context;
}

namespace pusher::httpd {
struct upgrade;
}

namespace pusher::engineio {
class websocket_transport;

class ws_listener {
  public:
    virtual ~ws_listener() = default;
    // The upgrade request is valid and the 101 is about to be written: what the listener writes now leaves in the same
    // socket write (a 101 that cannot be written ends in on_ws_end). Or, with `ec`, the handshake was refused.
    virtual void on_ws_open(websocket_transport& t, error_code ec) = 0;
    // One whole message. `data` is valid during the call only.
    virtual void on_ws_message(websocket_transport& t, std::string_view data, bool binary) = 0;
    // A write() batch is on the socket (or failed).
    virtual void on_ws_written(websocket_transport& t, error_code ec) = 0;
    // The read loop ended, and why: client_close (the peer closed the websocket), payload_too_large (a message
    // over the limit), parse_error (a websocket protocol violation, e.g. invalid UTF-8), transport_close (the
    // connection went away or we closed it).
    virtual void on_ws_end(websocket_transport& t, disconnect_reason why) = 0;
};

class websocket_transport {
  public:
    virtual ~websocket_transport() = default;

    // Takes the upgrade (its socket must already be bound to `ctx`, see rehome) and prepares the stream.
    static std::shared_ptr<websocket_transport> create(boost::asio::io_context& ctx, std::unique_ptr<httpd::upgrade> up,
                                                       std::size_t max_message);
    // Rebinds the upgrade's socket to `target` (releases the descriptor and wraps it again there), so that the
    // session and its transport share one thread. A TLS connection's state goes along: OpenSSL is bound to the
    // descriptor's number, not to an io_context (httpd/tls.hpp). Call on the socket's current thread. No-op when
    // already there. Null when the socket could not be moved (it is closed then).
    static std::unique_ptr<httpd::upgrade> rehome(std::unique_ptr<httpd::upgrade> up, boost::asio::io_context& target);
    // Completes the handshake (101) and closes the websocket at once (a second websocket for a sid that is already
    // upgraded or upgrading).
    static void accept_and_close(boost::asio::io_context& ctx, std::unique_ptr<httpd::upgrade> up);

    // Validates the upgrade request, calls on_ws_open and answers 101 (or 400 / 426 and on_ws_open with an error),
    // then reads messages until closed; reports to `l`.
    virtual void accept(std::shared_ptr<ws_listener> l) = 0;
    // Stops reporting to the listener (the transport finishes on its own).
    virtual void detach() = 0;
    // Writes every item as its own message (text or binary frame) in one socket write: each item's bytes are copied,
    // behind their frame header, into the transport's own buffer, and the item is released. One batch at a time:
    // call only when !writing(). Takes the items out of `batch` (leaves it empty, capacity reused).
    virtual void write(out_queue& batch) = 0;
    virtual bool writing() const = 0;
    // Closing handshake with `code` after the current batch; the read loop then ends (on_ws_end).
    virtual void close(std::uint16_t code) = 0;
    // Closes the socket now (slow consumer, errors): pending operations fail, nothing more is sent.
    virtual void abort() = 0;
};
}  // namespace pusher::engineio
