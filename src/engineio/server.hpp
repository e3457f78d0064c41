#pragma once
// engineio::server: an Engine.IO v4 endpoint, mounted as an httpd route on a path prefix (the app mounts one at
// "/socket.io/"). Owns the sid table and the counters; every session lives on the io_context of the connection
// whose handshake created it, and calls the handler there. Create it with std::make_shared (httpd keeps a
// shared_ptr to it). handle() runs on httpd's connection threads; close_all/session_count/find from any thread.
#include "engineio/disconnect_reason.hpp"
#include "engineio/handler.hpp"
#include "engineio/session.hpp"
#include "httpd/route.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::engineio {
// The defaults are Socket.IO's.
struct options {
    std::chrono::milliseconds ping_interval{25'000};
    std::chrono::milliseconds ping_timeout{20'000};
    std::size_t max_payload = 1'000'000;  // a POST body or websocket message over it closes the session (413)
    bool polling = true;                  // transports offered
    bool websocket = true;
    bool allow_upgrades = true;  // polling -> websocket
    // Empty = any origin. Otherwise a request carrying an Origin header not in the list is refused with 403
    // (polling and websocket); allowed origins get CORS headers on polling responses.
    std::vector<std::string> allowed_origins;
    std::size_t max_outbox_frames = 4096;     // queued and not yet written: over either limit the session closes
    std::size_t max_outbox_bytes = 4u << 20;  // with disconnect_reason::slow_consumer
    std::chrono::milliseconds upgrade_timeout{10'000};  // a probe websocket must send `5` by then
    // At most this many frames per websocket write (0 = no limit: everything queued leaves in one write). Only for
    // measuring what batching buys (1 = the one-write-per-frame baseline of docs/benchmarks.md; `pusher
    // --max-frames-per-write`).
    std::size_t max_frames_per_write = 0;
    // The start of every sid this server issues (pusher: "<node id>."), so that a proxy in front of several nodes can
    // send a polling request to the node that owns its session by the sid alone. Empty: bare random sids.
    std::string sid_prefix;
    // Also serve EIO=3 clients (socket.io-client 2.x): the client pings, `len:packet` polling payloads, no
    // maxPayload in the handshake. Off: an EIO=3 request gets "Unsupported protocol version", as from the reference
    // server without allowEIO3.
    bool allow_eio3 = false;
};

inline constexpr std::size_t disconnect_reason_count = static_cast<std::size_t>(disconnect_reason::server_shutdown) + 1;

// Counters for metrics: relaxed atomics, read them from any thread.
struct counters {
    std::atomic<std::int64_t> open_polling{0};  // sessions open now, by current transport
    std::atomic<std::int64_t> open_websocket{0};
    std::atomic<std::uint64_t> opened_total{0};
    std::array<std::atomic<std::uint64_t>, disconnect_reason_count> closed_total{};  // index: disconnect_reason
    std::atomic<std::uint64_t> upgrades_total{0};
    std::atomic<std::uint64_t> frames_out_total{0};  // packets handed to a transport
    std::atomic<std::uint64_t> ws_writes_total{0};   // websocket batches written (frames_out / this = batching)
    std::atomic<std::uint64_t> bytes_out_total{0};
    std::atomic<std::uint64_t> frames_in_total{0};
    std::atomic<std::uint64_t> bytes_in_total{0};
    std::atomic<std::uint64_t> bad_requests_total{0};  // answered 400/403/413
    std::atomic<std::int64_t> session_objects{0};      // session objects alive (open, or closed and finishing)

    std::uint64_t closed(disconnect_reason r) const {
        return closed_total[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
    }
    std::uint64_t slow_consumers() const { return closed(disconnect_reason::slow_consumer); }
};

class engine;  // the shared state behind the server (sid table, options, handler, counters): engineio/engine.hpp

class server : public httpd::route {
  public:
    // `h` must outlive every session (call close_all and stop the io_pool before destroying it).
    server(options opts, handler& h);
    ~server() override;
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    // httpd::route
    std::size_t body_limit() const override;
    void handle(httpd::request req, httpd::reply rep) override;

    // Closes every open session with `why` (websocket: close frame; polling: a held GET gets `1`). Any thread.
    void close_all(disconnect_reason why);
    // Sessions currently in the sid table (open or upgrading). Any thread.
    std::size_t session_count() const;
    // The open session with that sid, or null. Any thread.
    std::shared_ptr<session> find(std::string_view sid) const;

    counters const& stats() const;
    options const& opts() const;

  private:
    std::shared_ptr<engine> engine_;
};
}  // namespace pusher::engineio
