#pragma once
// TLS test helpers: a throw-away certificate made at test time with the openssl CLI, and blocking clients (HTTPS
// keep-alive requests, a wss:// websocket) on Asio's SSL stream, each on its own io_context run on the calling
// thread, every operation bounded by a deadline. An independent TLS implementation from the server's (which drives
// OpenSSL over the descriptor itself). Tests only.
#include "integration/engineio/client.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pusher::test {
namespace ssl = boost::asio::ssl;

// A self-signed certificate (EC P-256, CN=localhost, SAN localhost and 127.0.0.1) and its key, plus a key that does
// not match and a file that is not PEM, in a private temporary directory removed at destruction.
struct test_certificate {
    test_certificate() {
        std::random_device rd;
        dir = std::filesystem::temp_directory_path() / ("pusher-tls-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(dir);
        cert = (dir / "cert.pem").string();
        key = (dir / "key.pem").string();
        other_key = (dir / "other-key.pem").string();
        garbage = (dir / "garbage.pem").string();
        auto const quiet = " >/dev/null 2>&1";
        std::string const req =
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
            " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
            " -keyout " +
            key + " -out " + cert + quiet;
        std::string const other =
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + other_key + quiet;
        if (std::system(req.c_str()) != 0 || std::system(other.c_str()) != 0) {
            throw std::runtime_error("openssl CLI failed to make a test certificate");
        }
        std::ofstream(garbage) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    }
    ~test_certificate() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
    test_certificate(test_certificate const&) = delete;
    test_certificate& operator=(test_certificate const&) = delete;

    std::filesystem::path dir;
    std::string cert;
    std::string key;
    std::string other_key;
    std::string garbage;
};

// A client context that trusts exactly the test certificate (and checks the host name).
inline std::shared_ptr<ssl::context> client_context(std::string const& ca_file) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    ctx->set_verify_mode(ssl::verify_peer);
    ctx->load_verify_file(ca_file);
    return ctx;
}

inline void set_host(SSL* ssl, char const* host) {
    SSL_set_tlsext_host_name(ssl, host);
    SSL_set1_host(ssl, host);
}

// One keep-alive HTTPS connection.
class https_client {
  public:
    https_client(std::uint16_t port, std::string const& ca_file, std::chrono::milliseconds timeout = 5s)
        : ctx_(client_context(ca_file)), stream_(ioc_, *ctx_) {
        error_code ec;
        beast::get_lowest_layer(stream_).socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        if (ec) {
            handshake_error = ec;
            return;
        }
        set_host(stream_.native_handle(), "localhost");
        handshake_error = run_op(ioc_, [&](auto done) {
            beast::get_lowest_layer(stream_).expires_after(timeout);
            stream_.async_handshake(ssl::stream_base::client, [done](error_code ec) mutable { done(ec); });
        });
    }

    bool ok() const { return !handshake_error; }

    http_result request(http::verb method, std::string const& target, std::string body = {},
                        std::chrono::milliseconds timeout = 5s,
                        std::vector<std::pair<std::string, std::string>> const& headers = {}) {
        http_result r;
        if (handshake_error) {
            r.ec = handshake_error;
            return r;
        }
        http::request<http::string_body> req{method, target, 11};
        req.set(http::field::host, "localhost");
        for (auto const& [name, value] : headers) {
            req.set(name, value);
        }
        req.body() = std::move(body);
        if (method == http::verb::post) {
            req.prepare_payload();
        }
        req.keep_alive(true);
        r.ec = run_op(ioc_, [&](auto done) {
            beast::get_lowest_layer(stream_).expires_after(timeout);
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
    http_result get(std::string const& target) { return request(http::verb::get, target); }

    // True when the server ends the connection (close_notify or EOF) within the timeout.
    bool closed_by_server(std::chrono::milliseconds timeout = 3s) {
        char c;
        auto ec = run_op(ioc_, [&](auto done) {
            beast::get_lowest_layer(stream_).expires_after(timeout);
            stream_.async_read_some(asio::buffer(&c, 1), [done](error_code ec, std::size_t) mutable { done(ec); });
        });
        return ec && ec != beast::error::timeout;
    }

    error_code handshake_error;

  private:
    asio::io_context ioc_;
    std::shared_ptr<ssl::context> ctx_;
    ssl::stream<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::string_body>> res_;
};

// One wss:// websocket connection.
class wss_client {
  public:
    wss_client(std::uint16_t port, std::string const& target, std::string const& ca_file)
        : ctx_(client_context(ca_file)), ws_(ioc_, *ctx_) {
        auto& layer = beast::get_lowest_layer(ws_);
        error_code ec;
        layer.socket().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
        if (ec) {
            handshake_error = ec;
            return;
        }
        set_host(ws_.next_layer().native_handle(), "localhost");
        handshake_error = run_op(ioc_, [&](auto done) {
            layer.expires_after(5s);
            ws_.next_layer().async_handshake(ssl::stream_base::client, [&, done](error_code ec) mutable {
                if (ec) {
                    done(ec);
                    return;
                }
                ws_.async_handshake(response, "localhost", target, [done](error_code ec) mutable { done(ec); });
            });
        });
        layer.expires_never();
    }

    bool ok() const { return !handshake_error; }

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

    error_code write(std::string const& data) {
        auto& layer = beast::get_lowest_layer(ws_);
        ws_.text(true);
        auto ec = run_op(ioc_, [&](auto done) {
            layer.expires_after(5s);
            ws_.async_write(asio::buffer(data), [done](error_code ec, std::size_t) mutable { done(ec); });
        });
        layer.expires_never();
        return ec;
    }

    void close() {
        auto& layer = beast::get_lowest_layer(ws_);
        run_op(ioc_, [&](auto done) {
            layer.expires_after(2s);
            ws_.async_close(websocket::close_code::normal, [done](error_code ec) mutable { done(ec); });
        });
    }

    error_code handshake_error;
    error_code last_error;
    websocket::response_type response;

  private:
    asio::io_context ioc_;
    std::shared_ptr<ssl::context> ctx_;
    websocket::stream<ssl::stream<beast::tcp_stream>> ws_;
    beast::flat_buffer buffer_;
};
}  // namespace pusher::test
