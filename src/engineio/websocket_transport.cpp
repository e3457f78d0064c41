#include "engineio/websocket_transport.hpp"

#include "engineio/packet.hpp"
#include "engineio/websocket_frame.hpp"
#include "httpd/lingering_close.hpp"
#include "httpd/tls_socket.hpp"
#include "httpd/upgrade.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <type_traits>

#include <unistd.h>

namespace pusher::engineio {
namespace {
constexpr auto close_timeout = std::chrono::seconds(5);  // how long we wait for the peer's close frame

disconnect_reason reason_for(std::uint16_t code) {
    return code == close_code::too_big ? disconnect_reason::payload_too_large : disconnect_reason::parse_error;
}

// The two streams a websocket runs on: the TCP socket itself, or TLS over it. The plain path stays a plain socket
// (no indirection per read or write); the TLS one is httpd's tls_socket, whose state moved here with the upgrade.
tcp::socket make_stream(httpd::upgrade& up, tcp::socket*) {
    return std::move(up.socket);
}

httpd::tls_socket make_stream(httpd::upgrade& up, httpd::tls_socket*) {
    return httpd::tls_socket(std::move(up.socket), std::move(up.tls), true);
}

tcp::socket& tcp_of(tcp::socket& s) {
    return s;
}

tcp::socket& tcp_of(httpd::tls_socket& s) {
    return s.socket();
}

// A server websocket (RFC 6455, no extensions) on `Stream` (tcp::socket, or httpd::tls_socket for wss://). Owns the
// stream, the connection's ticket in httpd's limits, the frame reader, the write buffers and, only while closing, a
// timer. Lives on the socket's io_context; every call on that thread.
//
// Writes: frames are appended to `pending_`; one socket write (`inflight_`) at a time; what is appended meanwhile
// leaves in the next write. A write() batch is reported written (on_ws_written) once its bytes are on the socket.
// Buffers are released after each write, so an idle connection holds none.
// Reads: while no message is in progress, into a 64-byte buffer inside the object (an idle connection holds no
// read buffer); within a message, into a 16 KiB buffer that exists only until the message is complete; before the
// first message, into 1 KiB (the CONNECT in one read).
template <class Stream>
class rfc6455_websocket final : public websocket_transport,
                                public frame_sink,
                                public std::enable_shared_from_this<rfc6455_websocket<Stream>> {
    using std::enable_shared_from_this<rfc6455_websocket<Stream>>::shared_from_this;

  public:
    rfc6455_websocket(std::unique_ptr<httpd::upgrade> up, std::size_t max_message)
        : socket_(make_stream(*up, static_cast<Stream*>(nullptr))),
          ticket_(std::move(up->ticket)),
          reader_(max_message),
          upgrade_(std::move(up)) {}

    void accept(std::shared_ptr<ws_listener> l) override {
        listener_ = std::move(l);
        // TCP_NODELAY is already set: httpd sets it on every accepted socket.
        auto const& req = upgrade_->request;
        auto const key = req[http::field::sec_websocket_key];
        auto const decoded_key = base64_decode(std::string_view(key.data(), key.size()));
        if (req[http::field::sec_websocket_version] != "13") {
            // RFC 6455 §4.4: tell the client which version we speak.
            refuse(426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n");
            return;
        }
        if (!decoded_key || decoded_key->size() != 16) {
            refuse(400, "Bad Request", "");
            return;
        }
        // permessage-deflate and subprotocols, if offered, are declined by not mentioning them.
        pending_ =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
        pending_ += websocket_accept_key(std::string_view(key.data(), key.size()));
        pending_ += "\r\n\r\n";
        handshake_ = true;
        // The listener hears of the open now, so that what it sends at once (the Engine.IO open packet) leaves in
        // the same write as the 101. Should that write fail, the listener gets on_ws_end.
        if (auto listener = listener_) {
            listener->on_ws_open(*this, {});
        }
        if (!flushing_) {
            flush();
        }
    }

    void detach() override { listener_.reset(); }

    void write(out_queue& batch) override {
        if (batch.empty()) {
            return;
        }
        if (close_sent_ || failed_) {
            batch.clear();  // nothing may follow a close frame (RFC 6455 §5.5.1)
            return;
        }
        for (auto const& item : batch) {
            append_data_frame(pending_, *item.data, item.binary);
        }
        batch.clear();
        batch_waiting_ = true;
        if (!flushing_) {
            flush();
        }
    }

    bool writing() const override { return batch_waiting_; }

    void close(std::uint16_t code) override {
        if (close_requested_ || close_sent_ || failed_) {
            return;
        }
        close_requested_ = true;
        close_code_ = code;
        // The deadline covers the whole closing handshake, from now: what is still being written ahead of our
        // close frame too. A peer that stopped reading would otherwise hold the socket and its buffers forever.
        arm_close_timer();
        if (!batch_waiting_ && !handshake_) {
            send_close();
        }
    }

    void abort() override {
        failed_ = true;
        close_requested_ = true;
        if (close_timer_) {
            close_timer_->cancel();
        }
        error_code ec;
        tcp_of(socket_).shutdown(tcp::socket::shutdown_both, ec);
        tcp_of(socket_).close(ec);
        ticket_.reset();  // the socket is closed: its place in httpd's limits is free
    }

    // frame_sink
    void on_frame_message(std::string_view payload, bool binary) override {
        got_message_ = true;
        if (close_requested_) {
            return;  // we are closing: the session has had its last message
        }
        if (auto l = listener_) {
            l->on_ws_message(*this, payload, binary);
        }
    }

    void on_frame_ping(std::string_view payload) override {
        if (!close_sent_ && !failed_) {
            append_pong_frame(pending_, payload);
            if (!flushing_) {
                flush();
            }
        }
    }

    void on_frame_close(std::uint16_t code) override {
        // The peer closes. Answer with the same code (RFC 6455 §5.5.1) unless we already sent ours, then close the
        // TCP connection once that is written.
        if (!close_sent_) {
            close_sent_ = true;
            append_close_frame(pending_, code == close_code::no_status ? close_code::normal : code);
        }
        close_after_flush_ = true;
        arm_close_timer();  // a peer that closes but does not read our answer gets no more than the close timeout
        if (!flushing_) {
            flush();
        }
        end(disconnect_reason::client_close);
    }

  private:
    void refuse(unsigned status, std::string_view reason, std::string_view extra) {
        count_response(status);
        pending_ = "HTTP/1.1 ";
        pending_ += std::to_string(status);
        pending_ += ' ';
        pending_ += reason;
        pending_ += "\r\nContent-Length: 0\r\nConnection: close\r\n";
        pending_ += extra;
        pending_ += "\r\n";
        close_after_flush_ = true;
        upgrade_.reset();
        flush();
        if (auto l = std::exchange(listener_, nullptr)) {
            l->on_ws_open(*this, asio::error::connection_refused);
        }
    }

    void count_response(unsigned status) {
        if (auto* stats = ticket_.stats()) {
            stats->count_response(status);
        }
    }

    void on_handshake_written() {
        count_response(101);
        std::string buffered = std::move(upgrade_->buffered);
        upgrade_.reset();
        if (!buffered.empty()) {
            // A client that did not wait for the 101: its first frames came with the request.
            if (!consume(buffered)) {
                return;
            }
        }
        if (close_requested_ && !close_sent_ && !batch_waiting_) {
            send_close();
        }
        read();
    }

    void read() {
        if (reader_.done() || failed_) {
            return;
        }
        char* buf = small_.data();
        std::size_t size = small_.size();
        // Within a message: 16 KiB. Before the first message (a CONNECT with its token, a probe): 1 KiB, so that it
        // comes in one read rather than 64 bytes and then the rest.
        std::size_t const want = reader_.mid_message() ? 16384 : got_message_ ? 0 : 1024;
        if (want != big_size_) {
            big_.reset(want != 0 ? new char[want] : nullptr);
            big_size_ = static_cast<std::uint32_t>(want);
        }
        if (big_) {
            buf = big_.get();
            size = big_size_;
        }
        socket_.async_read_some(asio::buffer(buf, size),
                                [self = shared_from_this(), buf](error_code ec, std::size_t n) {
                                    if (ec) {
                                        self->end(disconnect_reason::transport_close);
                                        self->abort();
                                        return;
                                    }
                                    if (self->consume(std::string_view(buf, n))) {
                                        self->read();
                                    }
                                });
    }

    // Feeds bytes to the reader; false when reading is over (a close frame or a protocol violation).
    bool consume(std::string_view bytes) {
        if (auto const err = reader_.feed(bytes, *this)) {
            fail(err);
            return false;
        }
        return !reader_.done();
    }

    // A protocol violation: send a close frame with the code, then drop the connection (RFC 6455 §7.1.7).
    void fail(std::uint16_t code) {
        if (!close_sent_ && !failed_) {
            close_sent_ = true;
            append_close_frame(pending_, code);
        }
        close_after_flush_ = true;
        arm_close_timer();
        if (!flushing_) {
            flush();
        }
        end(reason_for(code));
    }

    void send_close() {
        if (close_sent_ || failed_) {
            return;
        }
        close_sent_ = true;
        append_close_frame(pending_, close_code_);
        if (!flushing_) {
            flush();
        }
        // Wait for the peer's close frame (the read loop sees it), but not forever.
        arm_close_timer();
    }

    // Drops the connection close_timeout from the first call (later calls keep that deadline).
    void arm_close_timer() {
        if (close_timer_ || failed_) {
            return;
        }
        close_timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor(), close_timeout);
        close_timer_->async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) {
                self->abort();
            }
        });
    }

    void end(disconnect_reason why) {
        if (auto l = std::exchange(listener_, nullptr)) {
            l->on_ws_end(*this, why);
        }
    }

    void flush() {
        if (failed_) {
            return;
        }
        if (pending_.empty()) {
            after_flush({});
            return;
        }
        flushing_ = true;
        inflight_.swap(pending_);
        asio::async_write(socket_, asio::buffer(inflight_), [self = shared_from_this()](error_code ec, std::size_t) {
            self->flushing_ = false;
            std::string().swap(self->inflight_);  // no buffer kept between writes
            if (ec) {
                self->failed_ = true;
                self->pending_.clear();
            }
            if (!ec && !self->pending_.empty()) {
                self->flush();
                return;
            }
            self->after_flush(ec);
        });
    }

    // Everything appended so far is on the socket (or the socket failed).
    void after_flush(error_code ec) {
        if (handshake_) {
            handshake_ = false;
            if (ec) {
                upgrade_.reset();
                batch_waiting_ = false;
                end(disconnect_reason::transport_close);
                abort();
                return;
            }
            if (batch_waiting_) {
                // what the listener sent on open left with the 101
                batch_waiting_ = false;
                if (auto l = listener_) {
                    l->on_ws_written(*this, ec);
                }
            }
            on_handshake_written();
            return;
        }
        if (batch_waiting_) {
            batch_waiting_ = false;
            if (auto l = listener_) {
                l->on_ws_written(*this, ec);
            }
            if (close_requested_ && !close_sent_ && !failed_) {
                send_close();
                return;
            }
        }
        if (close_after_flush_ || ec) {
            close_after_flush_ = false;
            if constexpr (std::is_same_v<Stream, httpd::tls_socket>) {
                if (!ec) {
                    socket_.close(true);  // close_notify, when the socket takes it at once; then lingering
                }
            } else if (!ec) {
                // What we wrote last (a close frame with its code, a refusal) must reach the peer even if it is still
                // sending: the socket is closed once the peer has finished (abort() below then finds it moved out).
                httpd::lingering_close(std::move(socket_));
            }
            abort();
        }
    }

    Stream socket_;
    httpd::connection_ticket ticket_;
    frame_reader reader_;
    std::unique_ptr<httpd::upgrade> upgrade_;  // the request, until the 101 is written
    std::shared_ptr<ws_listener> listener_;
    std::array<char, 64> small_{};
    std::unique_ptr<char[]> big_;  // see read()
    std::uint32_t big_size_ = 0;
    std::string pending_;
    std::string inflight_;
    std::unique_ptr<asio::steady_timer> close_timer_;
    std::uint16_t close_code_ = close_code::normal;
    bool handshake_ = false;          // the 101 is being written
    bool got_message_ = false;        // a whole message was read
    bool flushing_ = false;           // a socket write is in flight
    bool batch_waiting_ = false;      // a write() batch is not yet on the socket
    bool close_requested_ = false;    // close() was called (or we failed)
    bool close_sent_ = false;         // our close frame is queued: no data frame may follow
    bool close_after_flush_ = false;  // drop the connection once everything is written
    bool failed_ = false;             // the socket is closed or broken
};

// The listener of a websocket that is accepted only to be closed at once.
class closing_listener final : public ws_listener {
  public:
    void on_ws_open(websocket_transport& t, error_code ec) override {
        if (!ec) {
            t.close(close_code::normal);
        }
    }
    void on_ws_message(websocket_transport&, std::string_view, bool) override {}
    void on_ws_written(websocket_transport&, error_code) override {}
    void on_ws_end(websocket_transport&, disconnect_reason) override {}
};
}  // namespace

std::shared_ptr<websocket_transport> websocket_transport::create(asio::io_context&, std::unique_ptr<httpd::upgrade> up,
                                                                 std::size_t max_message) {
    if (up->tls) {
        return std::make_shared<rfc6455_websocket<httpd::tls_socket>>(std::move(up), max_message);
    }
    return std::make_shared<rfc6455_websocket<tcp::socket>>(std::move(up), max_message);
}

std::unique_ptr<httpd::upgrade> websocket_transport::rehome(std::unique_ptr<httpd::upgrade> up,
                                                            asio::io_context& target) {
    auto& current = static_cast<asio::io_context&>(up->socket.get_executor().context());
    if (&current == &target) {
        return up;
    }
    error_code ec;
    auto const protocol = up->socket.local_endpoint(ec).protocol();
    if (ec) {
        return nullptr;
    }
    auto const fd = up->socket.release(ec);
    if (ec) {
        return nullptr;
    }
    tcp::socket moved(target);
    moved.assign(protocol, fd, ec);
    if (ec) {
        ::close(fd);
        return nullptr;
    }
    // A TLS connection's state travels with the descriptor: OpenSSL reads and writes the descriptor by its number
    // (httpd/tls.hpp), which release/assign keep, and holds no reference to either io_context.
    return std::unique_ptr<httpd::upgrade>(new httpd::upgrade{
        std::move(moved), std::move(up->request), std::move(up->buffered), std::move(up->tls), std::move(up->ticket)});
}

void websocket_transport::accept_and_close(asio::io_context& ctx, std::unique_ptr<httpd::upgrade> up) {
    auto t = create(ctx, std::move(up), 1024);
    t->accept(std::make_shared<closing_listener>());
}
}  // namespace pusher::engineio
