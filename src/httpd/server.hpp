#pragma once
// httpd::server: the HTTP/1.1 (or HTTPS) listener. Owns the listening sockets, the route table, the connection limits
// and the TLS context; every accepted connection is pinned to one io_context of the pool (round robin) for life and
// owns itself (keep-alive, limits, timeouts). Beast, Asio and OpenSSL stay behind a pimpl; start/stop/close_idle/
// stats may be called from any thread.
#include "httpd/limits.hpp"
#include "httpd/route.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pusher {
class io_pool;
}

namespace pusher::httpd {
struct options {
    // An IPv4 or IPv6 literal ("127.0.0.1", "::", "::1", "0.0.0.0") or "localhost" (binds 127.0.0.1 and ::1 when
    // the machine has it, on the same port).
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;                            // 0 = any free port (start() reports it)
    std::size_t header_limit = 16 * 1024;              // request line + headers; over it -> 431
    std::chrono::milliseconds header_timeout{10'000};  // a new connection must send its first request header
    std::chrono::milliseconds idle_timeout{60'000};    // keep-alive: the next request (header) must come by then
    std::chrono::milliseconds body_timeout{60'000};    // reading a request body
    int backlog = 1024;

    // Connection limits, checked once per accepted connection (0 = unlimited). Over one, the connection is still
    // read up to its request header and answered `503` (total) or `429` (per address) with {"error":"..."} and
    // `Connection: close`, so that the client sees why. "Per IP" means per IPv4 address or per IPv6 /64.
    std::size_t max_connections = 0;         // open at once, websockets handed over included, until their socket closes
    std::size_t max_connections_per_ip = 0;  // open at once from one address
    std::size_t connection_rate_per_ip = 0;  // new connections per second from one address (burst: as many at once)
    // Proxies whose X-Forwarded-For / Forwarded header names the client (CIDRs, comma-separated; httpd/
    // trusted_proxies.hpp). A connection from one counts only against max_connections; each request through it
    // carries the forwarded client's address (route requests, logs), and the per-address limits apply to what a route
    // admits per request (request::admit_client: an Engine.IO handshake), since one proxy connection carries many
    // clients' requests. Checked by the configuration: the server assumes it parses.
    std::string trusted_proxies;

    // TLS (1.2+) on every connection when both are set: PEM certificate chain and private key (without passphrase).
    // The handshake must complete within header_timeout.
    std::string tls_cert_file;
    std::string tls_key_file;
};

struct endpoint {
    std::string address;  // "127.0.0.1" or "::1"
    std::uint16_t port = 0;
    std::string to_string() const;  // "127.0.0.1:8080" or "[::1]:8080"
};

class server {
  public:
    server(io_pool& pool, options opts);
    ~server();  // stops accepting; connections already running keep their io_context's pace until it stops
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    // Routes by path prefix, the longest prefix wins. A prefix ending in '/' also matches the path without it
    // ("/socket.io/" serves "/socket.io"). Call before start(). Other paths get 404.
    void add_route(std::string prefix, std::shared_ptr<route> r);
    void add_handler(std::string prefix, sync_handler fn, std::size_t body_limit = std::size_t{1} << 20);

    // Binds, listens and starts accepting. Returns the first bound endpoint (the real port when options.port is 0).
    // Throws std::system_error with a clear message ("cannot listen on 127.0.0.1:8080: Address already in use"), or
    // std::runtime_error for a TLS certificate or key that cannot be used ("cannot use TLS key FILE: ...").
    endpoint start();
    std::vector<endpoint> endpoints() const;
    // Stops accepting (graceful shutdown, step 1). Responses written from now on carry `Connection: close`.
    void stop();
    // Closes every connection that waits for its next request (not one that is reading or answering).
    void close_idle();
    // HTTP connections currently open (websocket sockets handed over are no longer counted).
    std::size_t connection_count() const;
    // Open connections (websockets included), admissions, refusals by reason, TLS handshake failures.
    counters const& stats() const;
    bool tls() const;  // the listener speaks TLS
    // Reads the certificate and key files again (a renewed certificate) for the connections accepted from now on;
    // open ones keep theirs. Empty on success (or without TLS), else why not: the old ones stay in use.
    std::string reload_tls();

    struct state;  // defined in server_state.hpp (private to httpd)

  private:
    std::shared_ptr<state> state_;
};
}  // namespace pusher::httpd
