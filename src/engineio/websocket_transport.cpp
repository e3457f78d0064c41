#include "engineio/websocket_transport.hpp"

#include "engineio/corked_stream.hpp"
#include "httpd/upgrade.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>

#include <unistd.h>

namespace pusher::engineio {
namespace {
// An unmasked, unfragmented server frame (RFC 6455 §5.2): FIN + opcode, the payload length in 7, 7+16 or 7+64 bits,
// then the payload. Data messages are framed here rather than by websocket::stream::async_write: one Beast write
// operation per message (allocation, posts, buffer sequences) cost several times the framing itself, and fan-out
// is all about the cost per frame. Beast still reads, answers pings and runs the closing handshake; its control
// frames go through the same corked buffer, whole, so the byte stream stays well-formed.
void append_frame(corked_stream& layer, std::string_view payload, bool binary) {
    char header[10];
    std::size_t n = 0;
    header[n++] = static_cast<char>(0x80 | (binary ? 0x2 : 0x1));
    std::uint64_t const len = payload.size();
    if (len < 126) {
        header[n++] = static_cast<char>(len);
    } else if (len <= 0xffff) {
        header[n++] = 126;
        header[n++] = static_cast<char>((len >> 8) & 0xff);
        header[n++] = static_cast<char>(len & 0xff);
    } else {
        header[n++] = 127;
        for (int shift = 56; shift >= 0; shift -= 8) {
            header[n++] = static_cast<char>((len >> shift) & 0xff);
        }
    }
    layer.append(std::string_view(header, n));
    layer.append(payload);
}

disconnect_reason end_reason(error_code ec) {
    if (ec == websocket::error::closed) {
        return disconnect_reason::client_close;
    }
    if (ec == websocket::error::message_too_big || ec == websocket::error::buffer_overflow) {
        return disconnect_reason::payload_too_large;
    }
    if (ec == websocket::condition::protocol_violation) {
        return disconnect_reason::parse_error;
    }
    return disconnect_reason::transport_close;
}

// The websocket transport on Beast. Owns the websocket::stream (and through it the corked layer and the socket),
// the read buffer and the batch being written. Lives on the socket's io_context.
class beast_websocket final : public websocket_transport,
                              public flush_listener,
                              public std::enable_shared_from_this<beast_websocket> {
  public:
    beast_websocket(std::unique_ptr<httpd::upgrade> up, std::size_t max_message)
        : ws_(std::move(up->socket), std::move(up->buffered)), request_(std::move(up)) {
        ws_.read_message_max(max_message);
        ws_.auto_fragment(false);  // engine.io: one packet per frame
        websocket::stream_base::timeout t{};
        t.handshake_timeout = std::chrono::seconds(5);    // also bounds the closing handshake
        t.idle_timeout = websocket::stream_base::none();  // Engine.IO has its own heartbeat
        t.keep_alive_pings = false;
        ws_.set_option(t);
    }

    void bind_self() { ws_.next_layer().bind(weak_from_this(), this); }

    void accept(std::shared_ptr<ws_listener> l) override {
        listener_ = std::move(l);
        error_code ec;
        ws_.next_layer().next_layer().set_option(tcp::no_delay(true), ec);
        ws_.async_accept(request_->request, [self = shared_from_this()](error_code ec) {
            self->request_.reset();
            if (auto l = self->listener_) {
                l->on_ws_open(*self, ec);
            }
            if (ec) {
                self->listener_.reset();
                return;
            }
            self->read();
        });
    }

    void detach() override { listener_.reset(); }

    void write(out_queue& batch) override {
        if (closing_ || batch.empty()) {
            return;
        }
        writing_ = true;
        auto& layer = ws_.next_layer();
        layer.cork();
        // Once Beast has sent a close frame (the peer closed), no data frame may follow it (RFC 6455 §5.5.1).
        if (ws_.is_open() && !layer.failed()) {
            for (auto const& item : batch) {
                append_frame(layer, *item.data, item.binary);
            }
        }
        batch.clear();
        layer.uncork();  // one socket write for the whole batch -> on_flushed
    }

    bool writing() const override { return writing_; }

    void close(std::uint16_t code) override {
        if (closing_) {
            return;
        }
        closing_ = true;
        close_code_ = code;
        if (!writing_) {
            do_close();
        }
    }

    void abort() override {
        closing_ = true;
        close_started_ = true;
        error_code ec;
        auto& sock = ws_.next_layer().next_layer();
        sock.shutdown(tcp::socket::shutdown_both, ec);
        sock.close(ec);
    }

    void on_flushed(error_code ec) override {
        writing_ = false;
        if (auto l = listener_) {
            l->on_ws_written(*this, ec);
        }
        if (closing_ && !writing_ && !close_started_) {
            do_close();
        }
    }

  private:
    void read() {
        ws_.async_read(rbuf_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec) {
                if (auto l = std::exchange(self->listener_, nullptr)) {
                    l->on_ws_end(*self, end_reason(ec));
                }
                return;
            }
            auto const data = self->rbuf_.cdata();
            if (auto l = self->listener_) {
                l->on_ws_message(*self, std::string_view(static_cast<char const*>(data.data()), data.size()),
                                 !self->ws_.got_text());
            }
            self->rbuf_.consume(self->rbuf_.size());
            if (self->rbuf_.capacity() > 4096) {
                self->rbuf_.shrink_to_fit();  // a big message must not leave a big buffer behind
            }
            self->read();
        });
    }

    void do_close() {
        close_started_ = true;
        ws_.async_close(websocket::close_reason(close_code_),
                        [self = shared_from_this()](error_code) { self->abort(); });
    }

    websocket::stream<corked_stream> ws_;
    std::unique_ptr<httpd::upgrade> request_;  // until the handshake is answered
    std::shared_ptr<ws_listener> listener_;
    beast::flat_buffer rbuf_{};
    std::uint16_t close_code_ = 1000;
    bool writing_ = false;
    bool closing_ = false;
    bool close_started_ = false;
};

// The listener of a websocket that is accepted only to be closed at once.
class closing_listener final : public ws_listener {
  public:
    void on_ws_open(websocket_transport& t, error_code ec) override {
        if (!ec) {
            t.close(1000);
        }
    }
    void on_ws_message(websocket_transport&, std::string_view, bool) override {}
    void on_ws_written(websocket_transport&, error_code) override {}
    void on_ws_end(websocket_transport&, disconnect_reason) override {}
};
}  // namespace

std::shared_ptr<websocket_transport> websocket_transport::create(asio::io_context&, std::unique_ptr<httpd::upgrade> up,
                                                                 std::size_t max_message) {
    auto t = std::make_shared<beast_websocket>(std::move(up), max_message);
    t->bind_self();
    return t;
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
    return std::unique_ptr<httpd::upgrade>(
        new httpd::upgrade{std::move(moved), std::move(up->request), std::move(up->buffered)});
}

void websocket_transport::accept_and_close(asio::io_context& ctx, std::unique_ptr<httpd::upgrade> up) {
    auto t = create(ctx, std::move(up), 1024);
    t->accept(std::make_shared<closing_listener>());
}
}  // namespace pusher::engineio
