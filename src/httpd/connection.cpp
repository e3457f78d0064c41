// connection<Stream>: one HTTP/1.1 keep-alive connection, plain (beast::tcp_stream) or TLS (tls_socket), from its
// first request header to its close or its websocket hand-over, and start_connection(), which makes one. Each
// connection lives on the io_context its socket was accepted for; the only state it shares is server::state.
#include "httpd/connection.hpp"

#include "common/log.hpp"
#include "httpd/lingering_close.hpp"
#include "httpd/reply_target.hpp"
#include "httpd/server_state.hpp"
#include "httpd/tls_socket.hpp"
#include "httpd/upgrade.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace pusher::httpd {
namespace {
using request_parser = http::request_parser<http::string_body>;

// A body over the route's limit is read and thrown away up to this many bytes, so that the 413 reaches the client
// (closing with unread bytes makes the kernel send RST, and the client may lose the response). Beyond: close.
constexpr std::size_t max_discard = 16u << 20;

bool contains_token(std::string_view list, std::string_view token) {
    // Comma-separated, case-insensitive token list (e.g. `Connection: keep-alive, Upgrade`).
    while (!list.empty()) {
        auto const comma = list.find(',');
        auto item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (item.size() == token.size() && std::equal(item.begin(), item.end(), token.begin(), [](char x, char y) {
                return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
            })) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }
    return false;
}

// One HTTP/1.1 connection over `Stream` (beast::tcp_stream, or tls_socket when the listener speaks TLS): reads a
// request, hands it to its route, writes the reply, then the next request. Owns the stream (until a websocket route
// takes it), its read buffer and its ticket in the limits; lives on one io_context, where every member is touched.
// Kept alive by its pending operations and by the reply handle of the current request. A refused connection reads
// one request header, answers 503/429 and closes.
template <class Stream>
class connection final : public connection_base {
    static constexpr bool tls = std::is_same_v<Stream, tls_socket>;

  public:
    template <class... StreamArgs>
    connection(std::shared_ptr<server::state> st, admission adm, StreamArgs&&... stream_args)
        : stream_(std::forward<StreamArgs>(stream_args)...),
          // Room for a whole request header (options.header_limit, over it: 431) plus what a client may pipeline
          // behind it; flat_buffer allocates only what is read, so an idle connection pays nothing for it.
          buffer_(st->opts.header_limit + 4096),
          state_(std::move(st)),
          ticket_(std::move(adm.ticket)),
          refused_(adm.refused),
          slot_(std::move(adm.slot)) {
        remote_ip_ = adm.peer.address().to_string();
        remote_address_ = format_endpoint(adm.peer.address(), adm.peer.port());
        via_proxy_ = adm.via_proxy;
        peer_ = adm.peer;
    }

    ~connection() override {
        if (!refused_) {
            state_->registry.remove(this);
        }
    }

    void start() {
        error_code ec;
        stream_.socket().set_option(tcp::no_delay(true), ec);
        if (!refused_) {
            state_->registry.add(this, weak_from_this());
        }
        if constexpr (tls) {
            // The handshake and the first request header share one deadline (header_timeout).
            stream_.expires_after(state_->opts.header_timeout);
            stream_.async_handshake([self = self()](error_code ec) { self->on_handshake(ec); });
        } else {
            read_header();
        }
    }

    asio::any_io_executor executor() override { return stream_.get_executor(); }

    // Called on this connection's thread (posted by server::close_idle).
    void close_if_idle() override {
        if (phase_ == phase::idle && buffer_.size() == 0) {
            close();
        }
    }

    void deliver(response r) override {
        asio::post(stream_.get_executor(), [self = self(), r = std::move(r)]() mutable { self->write(std::move(r)); });
    }

    std::unique_ptr<upgrade> take_upgrade() override {
        assert(
            static_cast<asio::io_context&>(stream_.get_executor().context()).get_executor().running_in_this_thread());
        if (phase_ != phase::handling || !upgrade_request_) {
            return nullptr;
        }
        phase_ = phase::closed;
        auto const data = buffer_.data();
        std::string buffered(static_cast<char const*>(data.data()), data.size());
        buffer_.consume(buffer_.size());
        state_->registry.remove(this);
        if constexpr (tls) {
            auto [socket, ssl] = stream_.release();
            return std::unique_ptr<upgrade>(new upgrade{std::move(socket), parser_->release(), std::move(buffered),
                                                        std::move(ssl), std::move(ticket_)});
        } else {
            return std::unique_ptr<upgrade>(new upgrade{stream_.release_socket(), parser_->release(),
                                                        std::move(buffered), nullptr, std::move(ticket_)});
        }
    }

  private:
    enum class phase { idle, reading, handling, writing, closed };

    std::shared_ptr<connection> self() { return std::static_pointer_cast<connection>(shared_from_this()); }

    void on_handshake(error_code ec) {
        if (phase_ == phase::closed) {
            return;
        }
        if (ec) {
            state_->limiter->stats().tls_handshake_failures_total.fetch_add(1, std::memory_order_relaxed);
            log::debug("httpd: TLS handshake with {} failed: {}", remote_address_, ec.message());
            close();
            return;
        }
        read_header(false);
    }

    void read_header(bool arm_deadline = true) {
        phase_ = phase::idle;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(state_->opts.header_limit));
        // No body limit yet (Beast would check Content-Length against its 1 MiB default while reading the
        // header): the route's limit is applied once the route is known.
        parser_->body_limit(boost::none);
        if (arm_deadline) {
            stream_.expires_after(requests_ == 0 ? state_->opts.header_timeout : state_->opts.idle_timeout);
        }
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = self()](error_code ec, std::size_t) { self->on_header(ec); });
    }

    void on_header(error_code ec) {
        if (phase_ == phase::closed) {
            return;
        }
        phase_ = phase::reading;
        if (ec) {
            if (ec == http::error::header_limit) {
                fail_request(431, "request header too large\n");
            } else if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
                       ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
                close();
            } else {
                log::debug("httpd: bad request from {}: {}", remote_address_, ec.message());
                fail_request(400, "bad request\n");
            }
            return;
        }
        if (refused_) {
            // The limits said no at accept time; now that the request is read, the client can be told why.
            keep_alive_ = false;
            phase_ = phase::handling;
            write(refusal_response(*refused_));
            return;
        }
        auto const& msg = parser_->get();
        std::string_view const target = msg.target();
        route_ = state_->find_route(target.substr(0, target.find('?')));
        std::size_t const limit = route_ ? route_->body_limit() : std::size_t{64} << 10;
        upgrade_request_ = msg.method() == http::verb::get && contains_token(msg[http::field::connection], "upgrade") &&
                           contains_token(msg[http::field::upgrade], "websocket");

        auto const length = parser_->content_length();
        if (length && *length > limit) {
            too_large_ = true;
            if (*length > max_discard) {
                force_close_ = true;
                dispatch();
            } else {
                discard_left_ = *length;
                continue_then([self = self()] { self->discard_body(); });
            }
            return;
        }
        parser_->body_limit(limit);
        if (parser_->is_done()) {
            dispatch();
            return;
        }
        continue_then([self = self()] { self->read_body(); });
    }

    // `Expect: 100-continue` (curl sends it for bodies over 1 KiB): say continue first, or the client waits 1 s.
    template <class Next>
    void continue_then(Next next) {
        if (!contains_token(parser_->get()[http::field::expect], "100-continue")) {
            next();
            return;
        }
        static constexpr char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";
        stream_.expires_after(state_->opts.body_timeout);
        asio::async_write(stream_, asio::buffer(continue_line, sizeof(continue_line) - 1),
                          [self = self(), next = std::move(next)](error_code ec, std::size_t) mutable {
                              if (ec) {
                                  self->close();
                                  return;
                              }
                              next();
                          });
    }

    void read_body() {
        stream_.expires_after(state_->opts.body_timeout);
        http::async_read(stream_, buffer_, *parser_, [self = self()](error_code ec, std::size_t) {
            if (ec == http::error::body_limit) {
                // Chunked and over the limit: we cannot resynchronise on this connection.
                self->too_large_ = true;
                self->force_close_ = true;
                self->dispatch();
                return;
            }
            if (ec) {
                self->close();
                return;
            }
            self->dispatch();
        });
    }

    void discard_body() {
        std::size_t const n = std::min(discard_left_, buffer_.size());
        buffer_.consume(n);
        discard_left_ -= n;
        if (discard_left_ == 0) {
            discard_.reset();
            dispatch();
            return;
        }
        if (!discard_) {
            discard_ = std::make_unique<std::array<char, 16384>>();
        }
        stream_.expires_after(state_->opts.body_timeout);
        stream_.async_read_some(asio::buffer(*discard_, std::min(discard_left_, discard_->size())),
                                [self = self()](error_code ec, std::size_t n) {
                                    if (ec) {
                                        self->close();
                                        return;
                                    }
                                    self->discard_left_ -= n;
                                    self->discard_body();
                                });
    }

    void dispatch() {
        phase_ = phase::handling;
        stream_.expires_never();
        ++requests_;
        auto& msg = parser_->get();
        keep_alive_ = msg.keep_alive() && !force_close_;

        request req;
        req.method = std::string(msg.method_string());
        req.target = std::string(msg.target());
        req.headers.reserve(8);
        for (auto const& f : msg) {
            req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
        }
        if (!too_large_) {
            req.body = std::move(msg.body());
        }
        req.remote_address = remote_address_;
        req.remote_ip = remote_ip_;
        if (via_proxy_) {
            // The client behind the proxy: its address for the route, its logs and its per-address limits.
            req.via_proxy = true;
            req.limiter = state_->limiter;
            // Every line of each header, in order: a proxy that adds a line of its own instead of appending to the
            // client's must still have the last (right-most) word.
            auto client = state_->proxies.client(req.header_list("X-Forwarded-For"), req.header_list("Forwarded"));
            auto const a = client ? *client : peer_.address();
            req.remote_ip = a.to_string();
            req.remote_address = !client ? remote_address_ : a.is_v6() ? "[" + req.remote_ip + "]" : req.remote_ip;
            req.client_key =
                a.is_v4() ? make_address_key(a.to_v4().to_bytes()) : make_address_key(a.to_v6().to_bytes());
        }
        req.body_too_large = too_large_;
        req.websocket_upgrade = upgrade_request_;
        req.io = &static_cast<asio::io_context&>(stream_.get_executor().context());

        if (!route_) {
            write(response::text(404, "not found\n"));
            return;
        }
        try {
            route_->handle(std::move(req), reply(shared_from_this()));
        } catch (std::exception const& e) {
            // handle() is not supposed to throw; the reply it was given has answered 500 on unwinding.
            log::error("httpd: route for {} threw: {}", std::string_view(msg.target()), e.what());
        }
    }

    void fail_request(unsigned status, std::string body) {
        keep_alive_ = false;
        phase_ = phase::handling;
        write(response::text(status, std::move(body)));
    }

    void write(response r) {
        if (phase_ != phase::handling) {
            return;  // closed (or the socket was handed over) meanwhile
        }
        phase_ = phase::writing;
        route_ = nullptr;
        state_->limiter->stats().count_response(r.status);
        bool const keep = keep_alive_ && !r.close && !state_->draining.load(std::memory_order_relaxed);
        res_.emplace();
        auto& res = *res_;
        res.version(11);
        res.result(r.status);
        res.set(http::field::content_type, r.content_type);
        for (auto& h : r.headers) {
            res.insert(h.name, h.value);
        }
        res.body() = std::move(r.body);
        res.keep_alive(keep);
        res.prepare_payload();
        keep_alive_ = keep;
        stream_.expires_after(state_->opts.body_timeout);
        http::async_write(stream_, res, [self = self()](error_code ec, std::size_t) {
            self->res_.reset();
            if (ec || !self->keep_alive_) {
                self->close(ec ? closing::abort : closing::linger);
                return;
            }
            self->too_large_ = false;
            self->force_close_ = false;
            self->upgrade_request_ = false;
            self->read_header();
        });
    }

    // linger: the answer just written (often an error the client did not wait for, a 413 or a 431) must reach the
    // client even while it is still sending; only after a completed write, with no read pending.
    enum class closing { abort, linger };

    void close(closing how = closing::abort) {
        if (phase_ == phase::closed) {
            return;
        }
        phase_ = phase::closed;
        if constexpr (tls) {
            stream_.close(how == closing::linger);  // close_notify when it goes out at once, then the socket
        } else if (how == closing::linger) {
            lingering_close(stream_.release_socket());
        } else {
            error_code ec;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
            stream_.socket().close(ec);
        }
        ticket_.reset();  // the socket is closed: its place in the limits is free
        slot_.reset();
    }

    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<request_parser> parser_;
    std::optional<http::response<http::string_body>> res_;
    std::shared_ptr<server::state> state_;
    connection_ticket ticket_;
    std::optional<refusal> refused_;
    bool via_proxy_ = false;
    tcp::endpoint peer_;
    refusal_slot slot_;
    route* route_ = nullptr;  // the server's route table outlives us (held by state_)
    std::string remote_address_;
    std::string remote_ip_;
    std::unique_ptr<std::array<char, 16384>> discard_;
    std::size_t discard_left_ = 0;
    std::uint64_t requests_ = 0;
    phase phase_ = phase::idle;
    bool keep_alive_ = true;
    bool too_large_ = false;
    bool force_close_ = false;
    bool upgrade_request_ = false;
};
}  // namespace

// On the socket's own io_context: wraps it in the listener's stream type and starts the connection.
void start_connection(std::shared_ptr<server::state> const& st, tcp::socket socket, admission adm) {
    if (auto const tls = st->tls.load()) {
        auto ssl = tls->make_session(static_cast<int>(socket.native_handle()));
        if (!ssl) {
            log::warn("httpd: cannot create a TLS session (out of memory?): closing {}",
                      format_endpoint(adm.peer.address(), adm.peer.port()));
            return;  // the socket, the ticket and the slot go with the stack
        }
        std::make_shared<connection<tls_socket>>(st, std::move(adm), std::move(socket), std::move(ssl))->start();
    } else {
        std::make_shared<connection<beast::tcp_stream>>(st, std::move(adm), std::move(socket))->start();
    }
}
}  // namespace pusher::httpd
