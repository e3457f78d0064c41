// httpd::server, the facade: the route table, start() (TLS context, bind, listen, one accept loop per listener),
// stop(), close_idle() and the figures. Runs on the caller's thread (any); whatever touches a listener or a
// connection is posted to that one's io_context. The accept path is accept.cpp, a connection is connection.cpp.
#include "httpd/server.hpp"

#include "httpd/server_state.hpp"

#include "common/io_pool.hpp"
#include "common/log.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cassert>
#include <random>
#include <stdexcept>
#include <system_error>

namespace pusher::httpd {
namespace {
std::uint64_t random_seed() {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
}
}  // namespace

server::state::state(io_pool& p, options o)
    : pool(p),
      opts(std::move(o)),
      limiter(std::make_shared<connection_limiter>(connection_limits{.max_connections = opts.max_connections,
                                                                     .max_per_address = opts.max_connections_per_ip,
                                                                     .rate_per_address = opts.connection_rate_per_ip},
                                                   random_seed())) {
    std::string error;
    if (auto p = trusted_proxies::parse(opts.trusted_proxies, error)) {
        proxies = std::move(*p);
    }
}

std::string endpoint::to_string() const {
    bool const v6 = address.find(':') != std::string::npos;
    std::string out;
    out.reserve(address.size() + 8);
    if (v6) {
        out.push_back('[');
    }
    out.append(address);
    if (v6) {
        out.push_back(']');
    }
    out.push_back(':');
    out.append(std::to_string(port));
    return out;
}

std::string format_endpoint(asio::ip::address const& a, std::uint16_t port) {
    return endpoint{a.to_string(), port}.to_string();
}

server::server(io_pool& pool, options opts) : state_(std::make_shared<state>(pool, std::move(opts))) {}

server::~server() {
    stop();
}

void server::add_route(std::string prefix, std::shared_ptr<route> r) {
    assert(r);
    auto& routes = state_->routes;
    routes.emplace_back(std::move(prefix), std::move(r));
    std::stable_sort(routes.begin(), routes.end(),
                     [](auto const& a, auto const& b) { return a.first.size() > b.first.size(); });
}

void server::add_handler(std::string prefix, sync_handler fn, std::size_t body_limit) {
    add_route(std::move(prefix), make_route(std::move(fn), body_limit));
}

endpoint server::start() {
    auto& st = *state_;
    if (!st.bound.empty()) {
        return st.bound.front();
    }
    if (!st.opts.tls_cert_file.empty() || !st.opts.tls_key_file.empty()) {
        if (st.opts.tls_cert_file.empty() || st.opts.tls_key_file.empty()) {
            throw std::runtime_error("TLS needs both tls_cert_file and tls_key_file");
        }
        st.tls.store(std::make_shared<tls_context const>(st.opts.tls_cert_file, st.opts.tls_key_file));
    }
    std::vector<asio::ip::address> addresses;
    error_code ec;
    auto const literal = asio::ip::make_address(st.opts.host, ec);
    if (!ec) {
        addresses.push_back(literal);
    } else if (st.opts.host == "localhost") {
        addresses.push_back(asio::ip::address(asio::ip::address_v4::loopback()));
        addresses.push_back(asio::ip::address(asio::ip::address_v6::loopback()));
    } else {
        throw std::system_error(ec, "cannot listen on " + st.opts.host + ": not an IP address or localhost");
    }

    std::uint16_t port = st.opts.port;
    std::vector<std::shared_ptr<listener>> started;
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        auto l = std::make_shared<listener>(st.pool.context(0));
        auto* acceptor = &l->acceptor;
        tcp::endpoint const ep(addresses[i], port);
        auto fail = [&](char const* what) {
            if (i > 0) {
                // The additional address of "localhost" (::1) is best effort: the machine may have no IPv6.
                log::debug("httpd: not listening on {}: {} ({})", format_endpoint(ep.address(), port), ec.message(),
                           what);
                return;
            }
            throw std::system_error(ec, "cannot listen on " + format_endpoint(ep.address(), port));
        };
        if (acceptor->open(ep.protocol(), ec); ec) {
            fail("open");
            continue;
        }
        acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
        if (ep.address().is_v6()) {
            acceptor->set_option(asio::ip::v6_only(!ep.address().is_unspecified()), ec);
        }
        if (acceptor->bind(ep, ec); ec) {
            fail("bind");
            continue;
        }
        if (acceptor->listen(st.opts.backlog, ec); ec) {
            fail("listen");
            continue;
        }
        auto const local = acceptor->local_endpoint(ec);
        port = local.port();
        st.bound.push_back(endpoint{local.address().to_string(), port});
        st.listeners.push_back(l);
        started.push_back(std::move(l));
    }
    for (auto& l : started) {
        auto ex = l->acceptor.get_executor();
        asio::post(ex, [s = state_, l = std::move(l)]() mutable { accept_loop(std::move(s), std::move(l)); });
    }
    return st.bound.front();
}

std::vector<endpoint> server::endpoints() const {
    return state_->bound;
}

void server::stop() {
    state_->draining.store(true, std::memory_order_relaxed);
    for (auto& w : state_->listeners) {
        auto l = w.lock();
        if (!l) {
            continue;
        }
        // The acceptor is not thread-safe: close it on its own thread, or here when no thread runs its context.
        auto& ctx = static_cast<asio::io_context&>(l->acceptor.get_executor().context());
        auto close = [l] {
            error_code ec;
            l->acceptor.close(ec);
            l->backoff.cancel();
        };
        if (ctx.stopped()) {
            close();
        } else {
            asio::post(ctx, close);
        }
    }
}

void server::close_idle() {
    for (auto& w : state_->registry.snapshot()) {
        if (auto c = w.lock()) {
            asio::post(c->executor(), [c] { c->close_if_idle(); });
        }
    }
}

std::size_t server::connection_count() const {
    return state_->registry.size();
}

counters const& server::stats() const {
    return state_->limiter->stats();
}

std::string server::reload_tls() {
    auto& st = *state_;
    if (st.tls.load() == nullptr) {
        return {};
    }
    try {
        st.tls.store(std::make_shared<tls_context const>(st.opts.tls_cert_file, st.opts.tls_key_file));
    } catch (std::exception const& e) {
        return e.what();
    }
    return {};
}

bool server::tls() const {
    return state_->tls.load() != nullptr;
}
}  // namespace pusher::httpd
