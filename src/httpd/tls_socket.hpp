#pragma once
// tls_socket: an Asio stream (AsyncReadStream + AsyncWriteStream, so Beast's HTTP reads and writes work on it) that
// speaks TLS over a TCP socket. OpenSSL reads and writes the non-blocking descriptor itself; Asio only waits for
// readiness. Owns the socket, the connection's SSL object and an optional deadline; lives on the socket's
// io_context, every call on that thread. Because the SSL object is bound to the descriptor and not to an io_context,
// the pair can move to another io_context with the descriptor (release(), then a new tls_socket there), and no
// per-connection buffers exist beyond OpenSSL's own (released while idle: SSL_MODE_RELEASE_BUFFERS).
// Include it only where TLS bytes flow (httpd's connection, engineio's websocket transport).
//
// Before common/aliases.hpp, whose `using tcp = boost::asio::ip::tcp` needs the declaration.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"
#include "httpd/tls.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace pusher::httpd {
class tls_socket {
  public:
    using executor_type = tcp::socket::executor_type;

    // Takes a connected socket (made non-blocking here: OpenSSL does the reads and writes) and its TLS state,
    // created for that socket's descriptor (tls_context::make_session) or released from another tls_socket.
    tls_socket(tcp::socket socket, ssl_handle ssl, bool handshake_done = false);
    ~tls_socket();
    tls_socket(tls_socket const&) = delete;
    tls_socket& operator=(tls_socket const&) = delete;

    executor_type get_executor() { return socket_.get_executor(); }
    tcp::socket& socket() { return socket_; }
    bool handshake_done() const { return handshake_done_; }

    // Gives up the socket and the TLS state (websocket hand-over); the stream is empty afterwards. No operation may be
    // pending.
    std::pair<tcp::socket, ssl_handle> release();

    // A deadline as beast::tcp_stream has: once it passes, pending and later operations complete with
    // beast::error::timeout, until the next expires_after / expires_never.
    void expires_after(std::chrono::steady_clock::duration d);
    void expires_never();

    // Sends close_notify if the socket takes it at once (never waits), then closes the socket; with `linger`, the
    // lingering way (httpd/lingering_close.hpp: what we wrote last reaches a peer that is still sending).
    void close(bool linger = false);

    // The server side of the TLS handshake. Signature: void(error_code).
    template <class Token>
    auto async_handshake(Token&& token) {
        return asio::async_compose<Token, void(error_code)>(
            [op = io_op(*this, op_kind::handshake, asio::mutable_buffer())](auto& self, error_code ec = {},
                                                                            std::size_t = 0) mutable {
                op.run(self, ec, [](auto& s, error_code e, std::size_t) { s.complete(e); });
            },
            token, socket_);
    }

    template <class MutableBufferSequence, class Token>
    auto async_read_some(MutableBufferSequence const& buffers, Token&& token) {
        asio::mutable_buffer first;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
            if (asio::mutable_buffer b(*it); b.size() != 0) {
                first = b;
                break;
            }
        }
        return asio::async_compose<Token, void(error_code, std::size_t)>(
            [op = io_op(*this, op_kind::read, first)](auto& self, error_code ec = {}, std::size_t = 0) mutable {
                op.run(self, ec, [](auto& s, error_code e, std::size_t n) { s.complete(e, n); });
            },
            token, socket_);
    }

    // Writes at most one TLS record's worth: one buffer of the sequence as it is, or several small ones gathered
    // into one record (HTTP header + body), so that a response is not split into tiny records.
    template <class ConstBufferSequence, class Token>
    auto async_write_some(ConstBufferSequence const& buffers, Token&& token) {
        asio::const_buffer first;
        std::size_t count = 0;
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
            if (asio::const_buffer b(*it); b.size() != 0) {
                if (count++ == 0) {
                    first = b;
                }
            }
        }
        io_op op(*this, op_kind::write, asio::mutable_buffer(const_cast<void*>(first.data()), first.size()));
        if (count > 1 && first.size() < record_size) {
            op.gathered.resize(std::min(asio::buffer_size(buffers), record_size));
            asio::buffer_copy(asio::buffer(op.gathered), buffers);
        }
        return asio::async_compose<Token, void(error_code, std::size_t)>(
            [op = std::move(op)](auto& self, error_code ec = {}, std::size_t = 0) mutable {
                op.run(self, ec, [](auto& s, error_code e, std::size_t n) { s.complete(e, n); });
            },
            token, socket_);
    }

  private:
    static constexpr std::size_t record_size = 16384;  // TLS's maximum plaintext per record
    enum class op_kind { handshake, read, write };
    enum class want { nothing, read, write };
    struct step_result {
        want wait = want::nothing;
        error_code ec;
        std::size_t bytes = 0;
    };
    // One OpenSSL call (SSL_do_handshake / SSL_read_ex / SSL_write_ex): done, or which readiness to wait for.
    step_result step(op_kind kind, void* data, std::size_t size);
    bool expired() const;

    // The state of one operation: retries its OpenSSL call until it no longer wants to wait. Completing before
    // the initiating function returns is not allowed (Asio's rule), so an immediate result is posted first.
    struct io_op {
        io_op(tls_socket& s, op_kind k, asio::mutable_buffer b) : stream(&s), kind(k), buffer(b) {}
        tls_socket* stream;
        op_kind kind;
        asio::mutable_buffer buffer;
        std::string gathered;  // writes: small buffers copied into one record (retried with the same bytes)
        std::optional<step_result> result;
        bool started = false;

        template <class Self, class Complete>
        void run(Self& self, error_code ec, Complete complete) {
            if (result) {
                return complete(self, result->ec, result->bytes);
            }
            bool const initiating = !started;
            started = true;
            if (ec == asio::error::operation_aborted && stream->expired()) {
                ec = beast::error::timeout;
            }
            if (!ec && stream->expired()) {
                ec = beast::error::timeout;
            }
            step_result r;
            if (ec) {
                r.ec = ec;
            } else if (kind != op_kind::handshake && buffer.size() == 0) {
                r = {};  // nothing to read or write
            } else {
                void* data = gathered.empty() ? buffer.data() : gathered.data();
                std::size_t const size = gathered.empty() ? buffer.size() : gathered.size();
                r = stream->step(kind, data, size);
                if (r.wait != want::nothing) {
                    stream->socket_.async_wait(r.wait == want::read ? tcp::socket::wait_read : tcp::socket::wait_write,
                                               std::move(self));
                    return;
                }
            }
            if (initiating) {
                result = r;
                asio::post(std::move(self));
                return;
            }
            complete(self, r.ec, r.bytes);
        }
    };

    struct deadline {
        explicit deadline(executor_type ex, tcp::socket& s) : timer(std::move(ex)), socket(&s) {}
        asio::steady_timer timer;
        tcp::socket* socket;
        bool expired = false;
    };

    tcp::socket socket_;
    ssl_handle ssl_;
    std::shared_ptr<deadline> deadline_;  // shared with the timer's handler, which may run after we are gone
    bool handshake_done_ = false;
    bool broken_ = false;  // a fatal TLS or socket error: OpenSSL forbids SSL_shutdown after one
};
}  // namespace pusher::httpd
