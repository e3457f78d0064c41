#pragma once
// detail::client: Socket.IO's state for one Engine.IO session (internal to the socketio library). It owns the
// session's sockets (one per joined namespace), a binary packet waiting for its attachments, and the connect
// timeout. It lives on the session's thread; the session holds it through a client_link (its session_handler), timers
// through weak pointers.
#include "common/log.hpp"
#include "engineio/handler.hpp"
#include "socketio/packet.hpp"
#include "socketio/socket.hpp"

#include <atomic>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::socketio {
class server;
}

namespace pusher::socketio::detail {
// Runs application code; an exception must not cross the event loop: it is logged and reported as false.
template <class F>
bool call_app(std::string_view what, F&& fn) noexcept {
    try {
        fn();
        return true;
    } catch (std::exception const& e) {
        log::error("socketio: {} threw: {}", what, e.what());
    } catch (...) {
        log::error("socketio: {} threw", what);
    }
    return false;
}

class client : public std::enable_shared_from_this<client> {
  public:
    client(server& srv, std::shared_ptr<engineio::session> session);
    client(client const&) = delete;
    client& operator=(client const&) = delete;

    // Arms the connect timeout (needs shared_from_this, hence not in the constructor). For a protocol v4 client
    // (EIO=3: socket.io-client 2.x), which sends no CONNECT for the main namespace, also joins it at once with the
    // handshake's `token` / `user` query parameters as the auth payload.
    void start();

    // engineio::session_handler, forwarded by client_link.
    void on_message(std::string_view text);
    void on_binary(std::string_view bytes);
    void on_close(engineio::disconnect_reason why);

    // From a socket, on the session thread.
    void admit(socket_ptr const& s, bool accepted, std::string const& message, recovery_ids const& ids = {});
    void leave(socket_ptr const& s, bool close_session);
    server& owner() { return server_; }
    // Closes the session after an unexpected failure (an exception) while handling its input.
    void abort();

  private:
    struct partial {
        packet p;
        std::vector<frame> received;
    };

    void handle(packet& p, std::vector<frame> const& received);
    void on_connect_packet(packet& p);
    // The CONNECT a protocol v4 client implies: "/" with {"token":...,"user":...} from its handshake query.
    void connect_v4();
    void on_connect_timeout();
    void fail(decode_error e, std::string_view detail = {});
    socket_ptr find(std::string_view nsp) const;
    void remove(socket const* s);
    // Detaches `s` (it is closed from now on); returns the state it had.
    socket::state detach(socket& s);

    server& server_;
    std::shared_ptr<engineio::session> session_;
    std::vector<socket_ptr> sockets_;  // joined or waiting for admission; usually one
    std::unique_ptr<partial> partial_;
    bool const v4_;  // Socket.IO protocol v4 (an EIO=3 session): no CONNECT payloads, ERROR packets as `4"message"`
    bool closed_ = false;
    bool joined_ = false;  // some namespace was accepted: the connect timeout no longer applies
    // joined_ || closed_, readable from the scheduler's thread: an expired connect timeout that no longer matters
    // is dropped there, without a post to this session's thread.
    std::atomic<bool> timeout_moot_{false};
};

// The session_handler the Engine.IO session owns. It shares the client, so that a timer or an admission can still
// find it, and keeps it alive across a callback that closes the session.
class client_link final : public engineio::session_handler {
  public:
    explicit client_link(std::shared_ptr<client> c) : client_(std::move(c)) {}
    void on_message(std::string_view text) override;
    void on_binary(std::string_view bytes) override;
    void on_close(engineio::disconnect_reason why) override;

  private:
    std::shared_ptr<client> client_;
};
}  // namespace pusher::socketio::detail
