#pragma once
// socketio::socket: one namespace connection of one client (Socket.IO calls it a socket; a session may hold one per
// namespace). It owns its id, its app data and its pending server->client acks; it shares the Engine.IO session.
// Threading: state lives on the session's thread. Every public method may be called from any thread (work hops to
// the session thread through session::dispatch, which runs at once when already there).
#include "engineio/disconnect_reason.hpp"
#include "engineio/session.hpp"
#include "socketio/packet.hpp"

#include <any>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace pusher::socketio {
class namespace_handler;
class server;
namespace detail {
class client;
struct admission_state;
struct namespace_entry;
}  // namespace detail

// Why a socket left its namespace.
enum class disconnect_reason : std::uint8_t {
    client_namespace_disconnect,  // the client sent DISCONNECT for the namespace
    server_namespace_disconnect,  // socket::disconnect()
    client_close,                 // from here on: the Engine.IO session ended (engineio::disconnect_reason)
    transport_close,
    transport_error,
    ping_timeout,
    parse_error,
    payload_too_large,
    slow_consumer,
    server_close,
    server_shutdown,
};

disconnect_reason from_engineio(engineio::disconnect_reason why);
std::string_view to_string(disconnect_reason why);

// Connection state recovery, in the CONNECT reply: `pid` (the private id a client sends back to recover) and, for a
// recovered socket, the id it had before (`sid`, socket::id_size characters; empty = keep the new one).
//
// `missed` (recovered sockets only): how many events follow the reply as the replay. An extension the reference
// client ignores; the demo page reads it from the raw packet to say "recovered N missed".
struct recovery_ids {
    std::string pid;
    std::string sid;
    std::optional<std::size_t> missed;
};

// Outcome of socket::emit_with_ack.
enum class ack_status : std::uint8_t { ok, timeout, disconnected };
using ack_handler = std::function<void(ack_status, arguments)>;

class socket : public std::enable_shared_from_this<socket> {
  public:
    // Socket.IO socket ids are 20 characters of base64url (120 random bits), like the reference server's.
    static constexpr std::size_t id_size = 20;

    // The id sent in the CONNECT reply. Any thread.
    std::string_view id() const { return {id_.data(), id_.size()}; }
    // The namespace name ("/" or "/custom"). Any thread.
    std::string_view nsp() const;
    // The Engine.IO session under this socket: the hub sends pre-encoded frames straight to it. Any thread.
    std::shared_ptr<engineio::session> const& session() const { return session_; }
    // Accepted and not yet disconnected. Any thread.
    bool connected() const { return state_.load(std::memory_order_acquire) == state::connected; }

    // Application data (e.g. the user id). Session thread only (on_connect, on_event and on_disconnect run there).
    std::any& data() { return data_; }

    // Sends an event. Dropped (and logged at debug) when the socket is not connected.
    void emit(std::string_view event, arguments args = {});
    // Sends an event that asks for an acknowledgement; `on_ack` runs once, on the session thread, with ok and the
    // client's arguments, or with timeout (no answer within `timeout`; zero means no limit) or disconnected.
    void emit_with_ack(std::string_view event, arguments args, std::chrono::milliseconds timeout, ack_handler on_ack);
    // Answers an event that carried an ack id (event::ack_id).
    void ack(std::uint64_t id, arguments args);
    // Server-side disconnect: sends DISCONNECT for the namespace and reports server_namespace_disconnect. With
    // close_session, closes the whole Engine.IO connection too (reported as server_close).
    void disconnect(bool close_session = false);

    // For the server; not part of the API (make_shared needs it public).
    socket(std::shared_ptr<engineio::session> session, detail::namespace_entry const& ns, std::array<char, id_size> id);
    ~socket();
    socket(socket const&) = delete;
    socket& operator=(socket const&) = delete;

  private:
    friend class detail::client;
    friend struct detail::admission_state;
    friend class server;
    enum class state : std::uint8_t { pending, connected, closed };
    struct pending_acks;

    void finish_admission(bool accepted, std::string message, recovery_ids ids = {});
    void on_ack_timeout(std::uint64_t id);
    // Session thread: removes and returns the handler waiting for ack `id` (empty when none).
    ack_handler take_ack(std::uint64_t id);
    // Session thread: queues an encoded packet and its attachments, back to back.
    void send(frame const& packet, std::vector<frame> const& attachments);
    // Session thread: fail every pending ack (the socket left).
    void drop_acks();

    std::shared_ptr<engineio::session> session_;
    detail::namespace_entry const* ns_;  // the server's namespace (name + handler), stable for the server's life
    detail::client* owner_ = nullptr;    // set while attached to its client; session thread
    std::array<char, id_size> id_;
    std::atomic<state> state_{state::pending};
    std::any data_;
    std::unique_ptr<pending_acks> acks_;  // only once emit_with_ack was used
};
using socket_ptr = std::shared_ptr<socket>;

// The decision on a CONNECT, which the application may take later and on any thread: exactly one of accept() or
// reject() takes effect, the first one; later calls do nothing. Copyable (every copy is the same decision). If the
// client went away meanwhile, the decision is a no-op: the application has already been told through
// namespace_handler::on_disconnect. If the last copy is dropped undecided, the connect is rejected.
class admission {
  public:
    explicit admission(socket_ptr s);
    // Sends the CONNECT reply `{"sid":"..."}`; the socket is connected from then on.
    void accept() const;
    // The same with `{"sid":"...","pid":"..."}` (connection state recovery): with ids.sid, the socket takes that id.
    void accept(recovery_ids ids) const;
    // Sends CONNECT_ERROR `{"message":"<message>"}`. The Engine.IO connection stays open.
    void reject(std::string message) const;

  private:
    std::shared_ptr<detail::admission_state> state_;
};

// An event from the client.
struct event {
    std::string name;
    arguments args;                       // the arguments after the name
    std::optional<std::uint64_t> ack_id;  // set when the client waits for an answer: socket::ack(*ack_id, ...)
};
}  // namespace pusher::socketio
