#pragma once
// engine: the state shared by an engineio::server and all its sessions: options, the application's handler, the
// sharded sid table, the counters, and the request dispatch (validation, handshake, routing to a session).
// Sessions hold a shared_ptr to it, so it outlives the server object while sessions drain. Thread-safe: the
// table is sharded behind mutexes, the rest is immutable or atomic.
#include "engineio/server.hpp"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pusher::engineio {
class server_session;

// Engine.IO's HTTP error codes (engine.io Server.errors), sent as `{"code":N,"message":"..."}` with 400 / 403.
enum class http_error {
    unknown_transport = 0,
    unknown_sid,
    bad_handshake_method,
    bad_request,
    forbidden,
    unsupported_protocol_version,
    // Not the reference server's: a handshake after close_all (the node is shutting down) gets 503 with this code,
    // so that a proxy tries another node (nginx: proxy_next_upstream http_503) and a client reconnects elsewhere.
    shutting_down
};

class engine : public std::enable_shared_from_this<engine> {
  public:
    engine(options o, handler& h);

    void handle(httpd::request req, httpd::reply rep);

    // The open packet for a new session: `0{"sid":...,"upgrades":[...],"pingInterval":...}` (exactly five keys; four
    // for EIO=3, which has no maxPayload).
    std::string open_packet(std::string_view sid, bool websocket, int protocol = 4) const;
    // Answers `rep` with `res` plus the CORS headers for `origin` (none when origin is empty).
    void respond(httpd::reply& rep, httpd::response res, std::string_view origin);
    void respond_error(httpd::reply& rep, http_error e, std::string_view origin);
    static httpd::response error_response(http_error e);

    // False once close_all has run: the session must close at once (a handshake that raced with the shutdown).
    bool add(std::shared_ptr<server_session> const& s);
    void remove(std::string_view sid);
    std::shared_ptr<server_session> find(std::string_view sid) const;
    std::size_t count() const;
    // Closes every session, and from now on refuses handshakes (http_error::shutting_down): a node that is shutting
    // down must not open sessions that its shutdown would then cut.
    void close_all(disconnect_reason why);

    options const opts;
    handler& app;
    counters stats;

  private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    struct shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::shared_ptr<server_session>, string_hash, std::equal_to<>> sessions;
    };
    static constexpr std::size_t shard_count = 16;
    shard& shard_for(std::string_view sid) const { return shards_[std::hash<std::string_view>{}(sid) % shard_count]; }

    bool origin_allowed(std::string_view origin) const;
    void handshake(httpd::request& req, httpd::reply& rep, bool websocket, std::string_view origin, bool eio3);

    mutable std::array<shard, shard_count> shards_;
    std::atomic<bool> closing_{false};  // close_all ran; read under a shard's lock by add()
    std::string open_tail_polling_;     // everything after the sid in the open packet
    std::string open_tail_websocket_;
    std::string open_tail_polling_v3_;
    std::string open_tail_websocket_v3_;
};
}  // namespace pusher::engineio
