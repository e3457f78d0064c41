#pragma once
// socketio::server: Socket.IO v5 on top of Engine.IO (it is the engineio::handler). It owns the namespace table and the
// counters; per session it creates a client (namespaces, binary reassembly, connect timeout) that lives on the
// session's thread. The server itself is shared by every worker thread: after setup it is read-only but for atomics.
//
// Use: register namespaces, then hand the server to the Engine.IO server as its handler.
//     socketio::asio_scheduler timers(ctx);
//     socketio::server sio(timers, {.connect_timeout = 1000ms});
//     my_handler chat;                    // a namespace_handler
//     sio.add_namespace("/", chat);
//     engineio::server eio(..., sio);      // the server and the handlers must outlive every session
#include "engineio/handler.hpp"
#include "socketio/packet.hpp"
#include "socketio/scheduler.hpp"
#include "socketio/socket.hpp"

#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace pusher::socketio {
// What the client sent with its CONNECT. Views valid during on_connect only.
struct connect_request {
    std::string_view auth_json;       // the auth object as compact JSON, "{}" when the CONNECT had no payload
    boost::json::object const& auth;  // the same, parsed
};

// The application's side of a namespace. Callbacks run on the socket's session thread; they must not block.
class namespace_handler {
  public:
    virtual ~namespace_handler() = default;
    // A client asks to join. Decide now or later through `a` (see admission). Until accepted, the socket receives
    // nothing and its events are dropped.
    virtual void on_connect(socket_ptr const& s, connect_request const& req, admission a) = 0;
    // An event from a connected socket. `e` may be moved from.
    virtual void on_event(socket_ptr const& s, event& e) = 0;
    // Called once for every socket that was accepted, or that was still waiting for its admission when it went
    // (then a later decision does nothing). Not called after a reject.
    virtual void on_disconnect(socket_ptr const& s, disconnect_reason why) = 0;
};

struct options {
    // Close the Engine.IO connection when no namespace was joined this long after it opened (Socket.IO's
    // connectTimeout; the reference server closes when nothing is connected at that moment).
    std::chrono::milliseconds connect_timeout{45000};
    // Attachments one binary packet may announce (each is at most the Engine.IO max payload).
    std::size_t max_attachments = 10;
    // Random bits for socket ids; called on any worker thread. Default: a per-thread PRNG seeded from random_device.
    std::function<std::uint64_t()> random;
};

// Counters, for logs and metrics; relaxed atomics.
struct server_stats {
    std::atomic<std::uint64_t> sessions{0};            // Engine.IO sessions opened
    std::atomic<std::uint64_t> connects{0};            // namespace connections accepted
    std::atomic<std::uint64_t> rejects{0};             // refused by the application
    std::atomic<std::uint64_t> invalid_namespaces{0};  // CONNECT to a namespace that does not exist
    std::atomic<std::uint64_t> disconnects{0};         // accepted sockets that left
    std::atomic<std::uint64_t> events{0};              // events handed to the application
    std::atomic<std::uint64_t> decode_errors{0};       // packets that closed their connection
    std::atomic<std::uint64_t> connect_timeouts{0};    // sessions closed for joining no namespace in time
};

namespace detail {
struct namespace_entry {
    std::string name;
    namespace_handler* handler;
};
}  // namespace detail

class server final : public engineio::handler {
  public:
    server(scheduler& timers, options opts = {});
    ~server() override;
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    // Registers a namespace ("/" or "/name"). Setup only: before the first session opens. The handler must outlive
    // the server's sessions.
    void add_namespace(std::string name, namespace_handler& handler);

    // engineio::handler: a new session. Called on the session's thread.
    std::unique_ptr<engineio::session_handler> on_open(std::shared_ptr<engineio::session> const& s) override;

    server_stats const& stats() const { return stats_; }
    options const& opts() const { return opts_; }

  private:
    friend class detail::client;
    friend class socket;
    detail::namespace_entry const* find_namespace(std::string_view name) const;
    std::array<char, socket::id_size> make_socket_id() const;

    scheduler& timers_;
    options opts_;
    decode_limits limits_;
    std::map<std::string, detail::namespace_entry, std::less<>> namespaces_;
    mutable server_stats stats_;
};
}  // namespace pusher::socketio
