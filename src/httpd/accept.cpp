// The accept path: each listener's accept loop, on the listener's io_context (the pool's first), and admit(), which
// asks the limiter about every accepted socket and posts it to its own io_context (the pool's next, round robin) for
// start_connection(). A listener is owned by its pending accept (or retry timer). Never blocks on a client.
#include "httpd/server_state.hpp"

#include "common/io_pool.hpp"
#include "common/log.hpp"
#include "httpd/connection.hpp"
#include "httpd/limiter.hpp"

#include <boost/asio/post.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace pusher::httpd {
namespace {
// Refused connections being answered at once (each waits up to header_timeout for its request header). Beyond this,
// a refused connection is closed without an answer: a flood must not turn refusals into a resource of its own.
constexpr std::int64_t max_refusing = 1024;

asio::ip::address unmapped(asio::ip::address const& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    }
    return a;
}

// Logs that a limit refuses connections, at most once a minute per limit (the counters have the numbers).
void warn_refusal(server::state& st, refusal r) {
    auto const now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto& last = st.last_refusal_warning[static_cast<std::size_t>(r)];
    auto prev = last.load(std::memory_order_relaxed);
    auto const minute =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::minutes(1)).count();
    if ((prev == 0 || now - prev >= minute) && last.compare_exchange_strong(prev, now, std::memory_order_relaxed)) {
        log::warn("httpd: refusing new connections: {} reached (see pusher_connections_refused_total)", to_string(r));
    }
}

// On the listener's thread, once per accepted socket: asks the limiter (one atomic, or one small lock with a
// per-address limit), then hands the socket to its own io_context. Never blocks, never waits for the client.
void admit(std::shared_ptr<server::state> const& st, tcp::socket socket, tcp::endpoint const& peer_endpoint) {
    auto const addr = unmapped(peer_endpoint.address());
    address_key const key =
        addr.is_v4() ? make_address_key(addr.to_v4().to_bytes()) : make_address_key(addr.to_v6().to_bytes());
    auto const& limits = st->limiter->limits();
    auto const now =
        limits.rate_per_address != 0 ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    // A trusted proxy carries many clients: its connections count only against the total (per request, the client
    // behind it is admitted by the route: request::admit_client).
    bool const via_proxy = !st->proxies.empty() && st->proxies.contains(addr);
    auto verdict = st->limiter->admit(key, now, via_proxy ? admission_scope::total_only : admission_scope::connection);
    admission adm{std::move(verdict.ticket), verdict.refused, {}, tcp::endpoint(addr, peer_endpoint.port()), via_proxy};
    if (adm.refused) {
        warn_refusal(*st, *adm.refused);
        if (st->refusing.fetch_add(1, std::memory_order_relaxed) >= max_refusing) {
            st->refusing.fetch_sub(1, std::memory_order_relaxed);
            st->limiter->stats().refused_unanswered_total.fetch_add(1, std::memory_order_relaxed);
            error_code ignored;
            socket.close(ignored);
            return;
        }
        adm.slot = refusal_slot(&st->refusing);
    }
    auto ex = socket.get_executor();
    asio::post(ex, [st, socket = std::move(socket), adm = std::move(adm)]() mutable {
        start_connection(st, std::move(socket), std::move(adm));
    });
}
}  // namespace

void accept_loop(std::shared_ptr<server::state> st, std::shared_ptr<listener> l) {
    auto* acceptor = &l->acceptor;
    auto* peer = &l->peer;
    acceptor->async_accept(st->pool.next(), *peer, [st, l = std::move(l)](error_code ec, tcp::socket socket) mutable {
        if (ec == asio::error::operation_aborted || !l->acceptor.is_open()) {
            return;
        }
        if (ec) {
            // E.g. EMFILE: the listener stays; try again shortly rather than spin on the same error.
            log::warn("httpd: accept failed: {}", ec.message());
            auto* timer = &l->backoff;
            timer->expires_after(std::chrono::milliseconds(50));
            timer->async_wait([st = std::move(st), l = std::move(l)](error_code) mutable {
                if (l->acceptor.is_open()) {
                    accept_loop(std::move(st), std::move(l));
                }
            });
            return;
        }
        admit(st, std::move(socket), l->peer);
        accept_loop(std::move(st), std::move(l));
    });
}
}  // namespace pusher::httpd
