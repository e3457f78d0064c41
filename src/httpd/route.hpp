#pragma once
// The HTTP vocabulary every route speaks: a parsed request, a response, the move-only reply handle through which a
// route answers (at once or later, from any thread), and the route interface itself. Plain types, no Beast or Asio,
// so that the api module and unit tests can build requests and read responses cheaply.
#include "httpd/limits.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace pusher::httpd {
struct upgrade;  // httpd/upgrade.hpp (Beast + Asio): the socket of a websocket upgrade request
namespace detail {
class reply_target;
}

struct header_field {
    std::string name;
    std::string value;
};

// One HTTP request, as the connection read it. Owns its bytes, so a route may keep it while it answers later.
struct request {
    std::string method;                     // as sent, e.g. "GET"
    std::string target;                     // origin-form: "/socket.io/?EIO=4&transport=polling"
    std::vector<header_field> headers;      // in arrival order, names as sent
    std::string body;                       // empty when body_too_large
    std::string remote_address;             // "127.0.0.1:53412" or "[::1]:53412"
    std::string remote_ip;                  // "127.0.0.1" or "::1" (for per-address limits)
    bool body_too_large = false;            // the body exceeded route::body_limit(): answer 413
    bool websocket_upgrade = false;         // a websocket upgrade request: the route may take the socket (reply)
    boost::asio::io_context* io = nullptr;  // the connection's io_context (the thread handle() runs on)
    // The connection comes from a trusted proxy (options::trusted_proxies): remote_address / remote_ip name the client
    // it forwards for. admit_client() then counts one long-lived client session (an Engine.IO handshake) against that
    // client's per-address limits: an empty optional when admitted (hold the ticket for the session's life in
    // `ticket`), else the refusal. Without a proxy it admits at once: the TCP connection was admitted already.
    bool via_proxy = false;
    std::shared_ptr<connection_limiter> limiter;  // via_proxy only
    address_key client_key{};
    std::optional<refusal> admit_client(connection_ticket& ticket) const;

    std::string_view path() const;   // target before '?'
    std::string_view query() const;  // target after '?', raw (percent-encoded); empty when none
    // The first header of that name (case-insensitive), or empty.
    std::string_view header(std::string_view name) const;
    bool has_header(std::string_view name) const;
    // Every header of that name, in order, joined by ", " (RFC 9110 §5.3: a list split over several lines).
    std::string header_list(std::string_view name) const;
};

struct response;
// The answer to a connection (or, behind a proxy, a session) refused by a limit: 503 for the server as a whole, 429
// for one client's address, with {"error":"..."}, Retry-After and Connection: close.
response refusal_response(refusal r);

struct response {
    unsigned status = 200;
    std::string body;
    std::string content_type = "text/plain; charset=UTF-8";
    std::vector<header_field> headers;  // extra headers (Content-Length and Content-Type are set by httpd)
    bool close = false;                 // send `Connection: close` and close the connection after writing

    static response text(unsigned status, std::string body);
    static response json(unsigned status, std::string body);  // application/json
    response& with_header(std::string name, std::string value);
};

// The right to answer one request. Move-only; send() exactly once, from any thread (it posts to the connection's
// thread). Destroying an unanswered reply answers 500, so a request is never left hanging. The connection reads
// nothing more until the reply is written (HTTP/1.1 keeps responses in order).
class reply {
  public:
    reply() = default;
    explicit reply(std::shared_ptr<detail::reply_target> target);
    reply(reply&&) noexcept;
    reply& operator=(reply&&) noexcept;
    reply(reply const&) = delete;
    reply& operator=(reply const&) = delete;
    ~reply();

    // Answers the request. No-op on an empty (moved-from or already used) reply.
    void send(response r);
    // For a websocket upgrade request only, and only synchronously inside route::handle (on the connection's
    // thread): takes the connection's socket, the Beast request and any bytes already read past it. The
    // connection forgets the socket; the reply becomes empty. Returns null when not an upgrade request.
    std::unique_ptr<upgrade> take_upgrade();
    // True until send() or take_upgrade().
    explicit operator bool() const { return target_ != nullptr; }

  private:
    std::shared_ptr<detail::reply_target> target_;
};

// A handler for every request whose path starts with a prefix. handle() runs on the connection's thread.
class route {
  public:
    virtual ~route() = default;
    // Requests with a bigger body are not read: handle() gets them with body_too_large set (default: 1 MiB).
    virtual std::size_t body_limit() const { return std::size_t{1} << 20; }
    virtual void handle(request req, reply rep) = 0;
};

// The synchronous convenience: a plain function request -> response (/healthz, /api/publish, /metrics). Runs on
// the connection's thread; must not block. An exception it throws answers 500 (and is logged).
using sync_handler = std::function<response(request const&)>;
std::shared_ptr<route> make_route(sync_handler fn, std::size_t body_limit = std::size_t{1} << 20);
}  // namespace pusher::httpd
