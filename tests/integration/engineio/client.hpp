#pragma once
// A small blocking test client over real sockets: HTTP/1.1 keep-alive requests and a websocket, each on its own
// io_context (run on the calling thread), every operation bounded by a deadline. Tests only.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pusher::test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

struct http_result {
    error_code ec;  // transport error (then status is 0)
    unsigned status = 0;
    std::string body;
    http::fields headers;
    bool keep_alive = false;

    std::string header(std::string_view name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : std::string(it->value());
    }
};

// Runs `ioc` until the operation started by `start` calls its completion (or the deadline closes the stream).
template <class Start>
error_code run_op(asio::io_context& ioc, Start&& start) {
    error_code result = asio::error::would_block;
    ioc.restart();
    start([&](error_code ec) { result = ec; });
    ioc.run();
    return result;
}

// One keep-alive HTTP connection.
class http_client {
  public:
    explicit http_client(std::uint16_t port, std::string host = "127.0.0.1") : stream_(ioc_) {
        error_code ec;
        stream_.socket().connect(tcp::endpoint(asio::ip::make_address(host), port), ec);
        connect_error_ = ec;
    }

    http_result request(http::verb method, std::string const& target, std::string body = {},
                        std::vector<std::pair<std::string, std::string>> const& headers = {},
                        std::chrono::milliseconds timeout = 5s) {
        http_result r;
        if (connect_error_) {
            r.ec = connect_error_;
            return r;
        }
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "localhost");
        for (auto const& [k, v] : headers) {
            req.set(k, v);
        }
        req.body() = std::move(body);
        if (method == http::verb::post || method == http::verb::put || !req.body().empty()) {
            req.prepare_payload();
        }
        req.keep_alive(true);
        r.ec = run_op(ioc_, [&](auto done) {
            stream_.expires_after(timeout);
            http::async_write(stream_, req, [&, done](error_code ec, std::size_t) mutable {
                if (ec) {
                    done(ec);
                    return;
                }
                res_.emplace();
                res_->body_limit(64u << 20);
                http::async_read(stream_, buffer_, *res_, [done](error_code ec, std::size_t) mutable { done(ec); });
            });
        });
        if (!r.ec) {
            auto msg = res_->release();
            r.status = msg.result_int();
            r.body = std::move(msg.body());
            r.keep_alive = msg.keep_alive();
            r.headers = std::move(msg.base());
        }
        return r;
    }

    http_result get(std::string const& target, std::chrono::milliseconds timeout = 5s) {
        return request(http::verb::get, target, {}, {}, timeout);
    }
    http_result post(std::string const& target, std::string body, std::chrono::milliseconds timeout = 5s) {
        return request(http::verb::post, target, std::move(body), {}, timeout);
    }

    // Writes raw bytes and reads one response (for requests Beast would not build).
    http_result raw(std::string const& bytes, std::chrono::milliseconds timeout = 5s) {
        http_result r;
        r.ec = run_op(ioc_, [&](auto done) {
            stream_.expires_after(timeout);
            asio::async_write(stream_, asio::buffer(bytes), [&, done](error_code ec, std::size_t) mutable {
                if (ec) {
                    done(ec);
                    return;
                }
                res_.emplace();
                res_->body_limit(64u << 20);
                http::async_read(stream_, buffer_, *res_, [done](error_code ec, std::size_t) mutable { done(ec); });
            });
        });
        if (!r.ec) {
            auto msg = res_->release();
            r.status = msg.result_int();
            r.body = std::move(msg.body());
            r.keep_alive = msg.keep_alive();
            r.headers = std::move(msg.base());
        }
        return r;
    }

    // True when the server closed the connection (reads EOF within the timeout).
    bool closed_by_server(std::chrono::milliseconds timeout = 2s) {
        char c;
        auto ec = run_op(ioc_, [&](auto done) {
            stream_.expires_after(timeout);
            stream_.async_read_some(asio::buffer(&c, 1), [done](error_code ec, std::size_t) mutable { done(ec); });
        });
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }

    tcp::socket& socket() { return stream_.socket(); }

  private:
    asio::io_context ioc_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::string_body>> res_;
    error_code connect_error_;
};

struct ws_message {
    std::string data;
    bool binary = false;
};

// One websocket client connection.
class ws_client {
  public:
    ws_client(std::uint16_t port, std::string const& target,
              std::vector<std::pair<std::string, std::string>> headers = {}, std::string host = "127.0.0.1")
        : ws_(ioc_) {
        auto& layer = beast::get_lowest_layer(ws_);
        error_code ec;
        layer.socket().connect(tcp::endpoint(asio::ip::make_address(host), port), ec);
        if (ec) {
            handshake_error = ec;
            return;
        }
        ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
            for (auto const& [k, v] : headers) {
                req.set(k, v);
            }
        }));
        handshake_error = run_op(ioc_, [&](auto done) {
            layer.expires_after(5s);
            ws_.async_handshake(response, "localhost", target, [done](error_code ec) mutable { done(ec); });
        });
        layer.expires_never();
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view payload) {
            if (kind == websocket::frame_type::pong) {
                pongs.emplace_back(payload);
            }
        });
    }

    error_code ping(std::string const& payload) {
        auto& layer = beast::get_lowest_layer(ws_);
        auto ec = run_op(ioc_, [&](auto done) {
            layer.expires_after(5s);
            ws_.async_ping(websocket::ping_data(payload.c_str()), [done](error_code ec) mutable { done(ec); });
        });
        layer.expires_never();
        return ec;
    }

    // One text message in several frames.
    error_code write_fragments(std::vector<std::string> const& parts) {
        auto& layer = beast::get_lowest_layer(ws_);
        ws_.binary(false);
        for (std::size_t i = 0; i < parts.size(); ++i) {
            auto ec = run_op(ioc_, [&](auto done) {
                layer.expires_after(5s);
                ws_.async_write_some(i + 1 == parts.size(), asio::buffer(parts[i]),
                                     [done](error_code ec, std::size_t) mutable { done(ec); });
            });
            if (ec) {
                return ec;
            }
        }
        layer.expires_never();
        return {};
    }

    std::vector<std::string> pongs;  // payloads of the pongs received (seen while reading)

    bool ok() const { return !handshake_error; }

    // The next message, or nullopt with `last_error` set (closed, timeout).
    std::optional<ws_message> read(std::chrono::milliseconds timeout = 5s) {
        auto& layer = beast::get_lowest_layer(ws_);
        buffer_.clear();
        last_error = run_op(ioc_, [&](auto done) {
            layer.expires_after(timeout);
            ws_.async_read(buffer_, [done](error_code ec, std::size_t) mutable { done(ec); });
        });
        layer.expires_never();
        if (last_error) {
            return std::nullopt;
        }
        return ws_message{beast::buffers_to_string(buffer_.data()), !ws_.got_text()};
    }

    // Reads until a text message that is not a ping ("2"), answering nothing.
    std::optional<std::string> read_text(std::chrono::milliseconds timeout = 5s) {
        auto m = read(timeout);
        if (!m) {
            return std::nullopt;
        }
        return m->data;
    }

    error_code write(std::string const& data, bool binary = false) {
        auto& layer = beast::get_lowest_layer(ws_);
        ws_.binary(binary);
        auto ec = run_op(ioc_, [&](auto done) {
            layer.expires_after(5s);
            ws_.async_write(asio::buffer(data), [done](error_code ec, std::size_t) mutable { done(ec); });
        });
        layer.expires_never();
        return ec;
    }

    // Waits for the server to close: true when the read ends with a close frame or EOF within the timeout.
    bool closed_by_server(std::chrono::milliseconds timeout = 3s) {
        while (true) {
            if (!read(timeout)) {
                return last_error != beast::error::timeout;
            }
        }
    }

    websocket::close_reason close_reason() const { return ws_.reason(); }

    void close() {
        auto& layer = beast::get_lowest_layer(ws_);
        run_op(ioc_, [&](auto done) {
            layer.expires_after(2s);
            ws_.async_close(websocket::close_code::normal, [done](error_code ec) mutable { done(ec); });
        });
    }

    // Drops the TCP connection without a closing handshake.
    void drop() {
        error_code ec;
        beast::get_lowest_layer(ws_).socket().close(ec);
    }

    tcp::socket& socket() { return beast::get_lowest_layer(ws_).socket(); }

    error_code handshake_error;
    error_code last_error;
    websocket::response_type response;

  private:
    asio::io_context ioc_;
    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
};
}  // namespace pusher::test
