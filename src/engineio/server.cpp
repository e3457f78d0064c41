#include "engineio/server.hpp"

#include "common/log.hpp"
#include "engineio/engine.hpp"
#include "engineio/server_session.hpp"
#include "httpd/upgrade.hpp"

#include <boost/asio/post.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <vector>

namespace pusher::engineio {
namespace {
std::string_view error_message(http_error e) {
    switch (e) {
        case http_error::unknown_transport:
            return "Transport unknown";
        case http_error::unknown_sid:
            return "Session ID unknown";
        case http_error::bad_handshake_method:
            return "Bad handshake method";
        case http_error::bad_request:
            return "Bad request";
        case http_error::forbidden:
            return "Forbidden";
        case http_error::unsupported_protocol_version:
            return "Unsupported protocol version";
        case http_error::shutting_down:
            return "Server shutting down";
    }
    return "Bad request";
}

// The query parameters engine.io looks at; the others (cache busters like `t=`) are ignored.
struct eio_query {
    std::optional<std::string> eio;
    std::optional<std::string> transport;
    std::optional<std::string> sid;
};

std::optional<eio_query> parse_eio_query(std::string_view query) {
    if (!boost::urls::parse_query(query)) {
        return std::nullopt;
    }
    boost::urls::params_view const params(query);  // valid, so this does not throw
    eio_query q;
    for (auto const& p : params) {
        if (!p.has_value) {
            continue;
        }
        if (p.key == "EIO" && !q.eio) {
            q.eio = p.value;
        } else if (p.key == "transport" && !q.transport) {
            q.transport = p.value;
        } else if (p.key == "sid" && !q.sid) {
            q.sid = p.value;
        }
    }
    return q;
}

template <class Fn>
void run_on(server_session& s, Fn&& fn) {
    if (s.on_own_thread()) {
        fn();
    } else {
        asio::post(s.context(), std::forward<Fn>(fn));
    }
}
}  // namespace

engine::engine(options o, handler& h) : opts(std::move(o)), app(h) {
    auto tail = [&](bool upgrades, bool v3) {
        std::string t = "\",\"upgrades\":[";
        if (upgrades) {
            t += "\"websocket\"";
        }
        t += "],\"pingInterval\":" + std::to_string(opts.ping_interval.count()) +
             ",\"pingTimeout\":" + std::to_string(opts.ping_timeout.count());
        if (!v3) {
            t += ",\"maxPayload\":" + std::to_string(opts.max_payload);
        }
        return t + "}";
    };
    open_tail_polling_ = tail(opts.allow_upgrades && opts.websocket, false);
    open_tail_websocket_ = tail(false, false);
    open_tail_polling_v3_ = tail(opts.allow_upgrades && opts.websocket, true);
    open_tail_websocket_v3_ = tail(false, true);
}

std::string engine::open_packet(std::string_view sid, bool websocket, int protocol) const {
    // engine.io v4 handshake: exactly sid, upgrades, pingInterval, pingTimeout, maxPayload, in that order.
    std::string out = "0{\"sid\":\"";
    out += sid;
    if (protocol == 3) {
        out += websocket ? open_tail_websocket_v3_ : open_tail_polling_v3_;
    } else {
        out += websocket ? open_tail_websocket_ : open_tail_polling_;
    }
    return out;
}

httpd::response engine::error_response(http_error e) {
    std::string body = "{\"code\":" + std::to_string(static_cast<int>(e)) + ",\"message\":\"";
    body += error_message(e);
    body += "\"}";
    int const status = e == http_error::forbidden ? 403 : e == http_error::shutting_down ? 503 : 400;
    return httpd::response::json(status, std::move(body));
}

void engine::respond(httpd::reply& rep, httpd::response res, std::string_view origin) {
    if (!origin.empty()) {
        // CORS for browsers on another origin (cookies/credentials allowed, as Socket.IO's `cors` option does).
        res.with_header("Access-Control-Allow-Origin", std::string(origin));
        res.with_header("Access-Control-Allow-Credentials", "true");
        res.with_header("Vary", "Origin");
    }
    rep.send(std::move(res));
}

void engine::respond_error(httpd::reply& rep, http_error e, std::string_view origin) {
    stats.bad_requests_total.fetch_add(1, std::memory_order_relaxed);
    respond(rep, error_response(e), origin);
}

bool engine::origin_allowed(std::string_view origin) const {
    return opts.allowed_origins.empty() ||
           std::find(opts.allowed_origins.begin(), opts.allowed_origins.end(), origin) != opts.allowed_origins.end();
}

void engine::handle(httpd::request req, httpd::reply rep) {
    std::string origin(req.header("Origin"));
    if (!origin.empty() && !origin_allowed(origin)) {
        stats.bad_requests_total.fetch_add(1, std::memory_order_relaxed);
        rep.send(error_response(http_error::forbidden));  // no CORS headers: the browser hides the answer
        return;
    }
    if (req.method == "OPTIONS" && !req.websocket_upgrade) {
        // CORS preflight (a browser POSTing with a custom header, or with credentials).
        auto res = httpd::response::text(204, "");
        res.with_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        if (auto const h = req.header("Access-Control-Request-Headers"); !h.empty()) {
            res.with_header("Access-Control-Allow-Headers", std::string(h));
        }
        res.with_header("Access-Control-Max-Age", "86400");
        respond(rep, std::move(res), origin);
        return;
    }

    auto const q = parse_eio_query(req.query());
    if (!q) {
        respond_error(rep, http_error::bad_request, origin);
        return;
    }
    // The reference server's order: transport, then protocol version, then sid / handshake method.
    bool const is_polling = q->transport == "polling" && opts.polling;
    bool const is_websocket = q->transport == "websocket" && opts.websocket;
    if (!is_polling && !is_websocket) {
        respond_error(rep, http_error::unknown_transport, origin);
        return;
    }
    bool const eio3 = q->eio == "3" && opts.allow_eio3;
    if (q->eio != "4" && !eio3) {
        respond_error(rep, http_error::unsupported_protocol_version, origin);
        return;
    }
    if (is_websocket != req.websocket_upgrade) {
        // transport=websocket without an upgrade, or an upgrade request that says polling.
        respond_error(rep, http_error::bad_request, origin);
        return;
    }

    if (!q->sid) {
        if (req.method != "GET") {
            respond_error(rep, http_error::bad_handshake_method, origin);
            return;
        }
        if (closing_.load(std::memory_order_acquire)) {
            respond(rep, error_response(http_error::shutting_down), origin);
            return;
        }
        handshake(req, rep, is_websocket, origin, eio3);
        return;
    }

    auto s = find(*q->sid);
    if (!s) {
        respond_error(rep, http_error::unknown_sid, origin);
        return;
    }
    if (is_websocket) {
        if (!opts.allow_upgrades) {
            respond_error(rep, http_error::bad_request, origin);
            return;
        }
        auto up = rep.take_upgrade();
        if (!up) {
            return;  // the connection is gone
        }
        up = websocket_transport::rehome(std::move(up), s->context());
        if (!up) {
            return;  // could not move the socket: it is closed
        }
        run_on(*s, [s, up = std::move(up)]() mutable { s->upgrade(std::move(up)); });
        return;
    }
    if (req.method == "GET") {
        run_on(*s, [s, rep = std::move(rep), origin = std::move(origin)]() mutable {
            s->poll(std::move(rep), std::move(origin));
        });
    } else if (req.method == "POST") {
        run_on(*s, [s, rep = std::move(rep), origin = std::move(origin), body = std::move(req.body),
                    too_large = req.body_too_large]() mutable {
            s->post(std::move(rep), std::move(origin), std::move(body), too_large);
        });
    } else {
        respond_error(rep, http_error::bad_request, origin);
    }
}

void engine::handshake(httpd::request& req, httpd::reply& rep, bool websocket, std::string_view origin, bool eio3) {
    assert(req.io != nullptr);
    // Behind a trusted proxy the per-address limits apply here, per session, to the client it forwards for.
    httpd::connection_ticket ticket;
    if (auto refused = req.admit_client(ticket)) {
        respond(rep, httpd::refusal_response(*refused), origin);
        return;
    }
    auto s = std::make_shared<server_session>(shared_from_this(), *req.io, req.remote_address,
                                              websocket ? transport_kind::websocket : transport_kind::polling);
    s->hold(std::move(ticket));
    if (eio3) {
        s->use_eio3(std::string(req.query()));
    }
    if (websocket) {
        auto up = rep.take_upgrade();
        if (up) {
            s->open_websocket(std::move(up));
        }
        return;
    }
    s->open_polling(std::move(rep), std::string(origin));
}

bool engine::add(std::shared_ptr<server_session> const& s) {
    auto& sh = shard_for(s->id());
    std::lock_guard lock(sh.mutex);
    sh.sessions.emplace(std::string(s->id()), s);
    // close_all sets the flag before it takes each shard's lock: a session added after close_all saw this shard
    // finds the flag set; one added before is in close_all's snapshot.
    return !closing_.load(std::memory_order_acquire);
}

void engine::remove(std::string_view sid) {
    auto& sh = shard_for(sid);
    std::lock_guard lock(sh.mutex);
    if (auto it = sh.sessions.find(sid); it != sh.sessions.end()) {
        sh.sessions.erase(it);
    }
}

std::shared_ptr<server_session> engine::find(std::string_view sid) const {
    auto& sh = shard_for(sid);
    std::lock_guard lock(sh.mutex);
    auto it = sh.sessions.find(sid);
    return it == sh.sessions.end() ? nullptr : it->second;
}

std::size_t engine::count() const {
    std::size_t n = 0;
    for (auto& sh : shards_) {
        std::lock_guard lock(sh.mutex);
        n += sh.sessions.size();
    }
    return n;
}

void engine::close_all(disconnect_reason why) {
    closing_.store(true, std::memory_order_release);
    std::vector<std::shared_ptr<server_session>> all;
    for (auto& sh : shards_) {
        std::lock_guard lock(sh.mutex);
        for (auto const& [_, s] : sh.sessions) {
            all.push_back(s);
        }
    }
    for (auto& s : all) {
        s->close(why);
    }
}

server::server(options opts, handler& h) : engine_(std::make_shared<engine>(std::move(opts), h)) {}

server::~server() = default;

std::size_t server::body_limit() const {
    return engine_->opts.max_payload;
}

void server::handle(httpd::request req, httpd::reply rep) {
    try {
        engine_->handle(std::move(req), std::move(rep));
    } catch (std::exception const& e) {
        // Nothing here is expected to throw (bad input is answered, not thrown); if it does, the reply (if
        // still held) answers 500 as it unwinds.
        log::error("engineio: request failed: {}", e.what());
    }
}

void server::close_all(disconnect_reason why) {
    engine_->close_all(why);
}

std::size_t server::session_count() const {
    return engine_->count();
}

std::shared_ptr<session> server::find(std::string_view sid) const {
    return engine_->find(sid);
}

counters const& server::stats() const {
    return engine_->stats;
}

options const& server::opts() const {
    return engine_->opts;
}
}  // namespace pusher::engineio
