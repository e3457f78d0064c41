#pragma once
// server::state (private to httpd; include it from httpd's .cpp files only): what the server facade (server.cpp), its
// listeners and accept loops (accept.cpp) and every connection (connection.cpp) share: options, routes, limits, TLS
// context, the open-connection registry. Routes, TLS context, listeners and endpoints are set on the caller's thread
// (add_route, start()); after that only the atomics, the limiter and the registry change, from any io_context.
//
// Before common/aliases.hpp, whose `using tcp = boost::asio::ip::tcp` needs the declaration.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"
#include "httpd/connection_registry.hpp"
#include "httpd/limiter.hpp"
#include "httpd/reply_target.hpp"
#include "httpd/server.hpp"
#include "httpd/tls.hpp"
#include "httpd/trusted_proxies.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::httpd {
// "127.0.0.1:8080" or "[::1]:8080" (server.cpp).
std::string format_endpoint(asio::ip::address const& a, std::uint16_t port);

// What close_idle needs of a connection, whatever its stream (plain or TLS).
class connection_base : public detail::reply_target, public std::enable_shared_from_this<connection_base> {
  public:
    virtual asio::any_io_executor executor() = 0;
    virtual void close_if_idle() = 0;
};

// One listening socket, on the pool's first io_context.
struct listener {
    explicit listener(asio::io_context& ctx) : acceptor(ctx), backoff(ctx) {}
    tcp::acceptor acceptor;
    asio::steady_timer backoff;  // after a failed accept (EMFILE...): retry a little later, do not spin
    tcp::endpoint peer;          // the address of the connection being accepted
};

// Shared by the server, its listeners and every connection (connections may outlive the server object).
struct server::state {
    state(io_pool& p, options o);

    io_pool& pool;
    options opts;
    std::shared_ptr<connection_limiter> limiter;  // tickets (held by connections and websockets) keep it alive
    trusted_proxies proxies;                      // from opts.trusted_proxies
    // Set by start() when the listener speaks TLS; replaced by reload_tls(). Each new connection loads it once (its
    // SSL object keeps the context it was made from alive), so a reload never touches a running connection.
    std::atomic<std::shared_ptr<tls_context const>> tls;
    std::atomic<std::int64_t> refusing{0};  // refused connections being answered now
    std::array<std::atomic<std::int64_t>, refusal_count> last_refusal_warning{};  // steady_clock ticks
    std::vector<std::pair<std::string, std::shared_ptr<route>>> routes;           // longest prefix first
    // Weak: a listener is owned by its pending accept operation, so it dies on its own io_context (an I/O
    // object must never outlive its context, which a connection on another context holding `state` could cause).
    std::vector<std::weak_ptr<listener>> listeners;
    std::vector<endpoint> bound;
    std::atomic<bool> draining{false};

    connection_registry registry;  // admitted HTTP connections, until closed or upgraded

    route* find_route(std::string_view path) const {
        for (auto const& [prefix, r] : routes) {
            if (path.starts_with(prefix)) {
                return r.get();
            }
            if (prefix.size() > 1 && prefix.back() == '/' &&
                path == std::string_view(prefix).substr(0, prefix.size() - 1)) {
                return r.get();
            }
        }
        return nullptr;
    }
};

// Accepts on `l` until its acceptor closes, on the listener's io_context; each socket is admitted (or refused) and
// started on the pool's next io_context (accept.cpp).
void accept_loop(std::shared_ptr<server::state> st, std::shared_ptr<listener> l);
}  // namespace pusher::httpd
