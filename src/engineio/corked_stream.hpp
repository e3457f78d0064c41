#pragma once
// corked_stream: the layer under websocket::stream that turns many small websocket writes into one socket write
// (STACK.md §3: one syscall per frame caps fan-out near 110k frames/s; batching reaches ~1M/s).
//
// async_write_some copies the bytes into `pending_` and completes at once (through post). While corked, nothing
// is sent; uncork() flushes everything in ONE async_write and reports through flush_listener when the bytes are on
// the socket. When not corked, bytes written (Beast's own pong or close frames) are flushed right away. One flush
// in flight at a time; bytes written meanwhile go out in the next one. Reads pass through (after any bytes the
// HTTP layer had already read). Owned by one websocket::stream, on its thread; Asio/Beast header, include it only
// from websocket_transport.cpp.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace pusher::engineio {
class flush_listener {
  public:
    virtual ~flush_listener() = default;
    // After uncork(): everything written so far is on the socket (or the write failed).
    virtual void on_flushed(error_code ec) = 0;
};

class corked_stream {
  public:
    using executor_type = tcp::socket::executor_type;
    using next_layer_type = tcp::socket;

    corked_stream(tcp::socket socket, std::string prefix) : socket_(std::move(socket)), prefix_(std::move(prefix)) {}

    // `owner` is kept alive by every socket write in flight (the flush completion touches this object);
    // `listener` hears about uncork() completions. Both are the owning transport.
    void bind(std::weak_ptr<void> owner, flush_listener* listener) {
        owner_ = std::move(owner);
        listener_ = listener;
    }

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    tcp::socket& next_layer() noexcept { return socket_; }
    tcp::socket const& next_layer() const noexcept { return socket_; }

    void cork() { corked_ = true; }
    // Sends everything written while corked in one socket write; on_flushed() follows (never inline).
    void uncork() {
        corked_ = false;
        uncork_waiting_ = true;
        if (!flushing_) {
            if (pending_.empty()) {
                finish_uncork({});
            } else {
                flush();
            }
        }
    }
    std::size_t pending_bytes() const { return pending_.size() + inflight_.size(); }
    // Appends bytes that form whole websocket frames (see websocket_transport.cpp), as one write would. Every write
    // lands in this one buffer whole, so frames of ours and Beast's control frames never interleave mid-frame.
    void append(std::string_view bytes) { pending_.append(bytes); }
    bool failed() const { return static_cast<bool>(error_); }

    template <class MutableBuffers, class Token>
    auto async_read_some(MutableBuffers const& buffers, Token&& token) {
        if (prefix_.empty()) {
            return socket_.async_read_some(buffers, std::forward<Token>(token));
        }
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, MutableBuffers const& b) {
                std::size_t const n = asio::buffer_copy(b, asio::buffer(prefix_));
                prefix_.erase(0, n);
                asio::post(socket_.get_executor(), beast::bind_front_handler(std::move(handler), error_code{}, n));
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(ConstBuffers const& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, ConstBuffers const& b) {
                error_code ec = error_;
                std::size_t n = 0;
                if (!ec) {
                    n = asio::buffer_size(b);
                    std::size_t const at = pending_.size();
                    pending_.resize(at + n);
                    asio::buffer_copy(asio::buffer(pending_.data() + at, n), b);
                    if (!corked_ && !flushing_) {
                        flush();
                    }
                }
                asio::post(socket_.get_executor(), beast::bind_front_handler(std::move(handler), ec, n));
            },
            token, buffers);
    }

    // Runs `done` once nothing is pending or in flight (for the websocket teardown: the close frame first).
    template <class Handler>
    void async_drain(Handler&& done) {
        if (!flushing_ && pending_.empty()) {
            asio::post(socket_.get_executor(), beast::bind_front_handler(std::forward<Handler>(done), error_));
            return;
        }
        struct waiter final : drain_waiter {
            explicit waiter(Handler&& h) : h(std::move(h)) {}
            void complete(executor_type ex, error_code ec) override {
                asio::post(ex, beast::bind_front_handler(std::move(h), ec));
            }
            std::decay_t<Handler> h;
        };
        drain_ = std::make_unique<waiter>(std::forward<Handler>(done));
        if (!flushing_) {
            flush();
        }
    }

  private:
    struct drain_waiter {
        virtual ~drain_waiter() = default;
        virtual void complete(executor_type ex, error_code ec) = 0;
    };

    void flush() {
        flushing_ = true;
        inflight_.swap(pending_);
        asio::async_write(socket_, asio::buffer(inflight_),
                          [this, keep = owner_.lock()](error_code ec, std::size_t) { on_write(ec); });
    }

    void on_write(error_code ec) {
        flushing_ = false;
        inflight_.clear();
        // Idle sessions must stay small: do not keep a burst's buffer around.
        if (inflight_.capacity() > 2048) {
            std::string().swap(inflight_);
        }
        if (ec) {
            error_ = ec;
            pending_.clear();
        } else if (!pending_.empty() && (!corked_ || drain_)) {
            flush();
            return;
        }
        if (drain_) {
            auto d = std::move(drain_);
            d->complete(socket_.get_executor(), error_);
        }
        if (uncork_waiting_ && !corked_) {
            finish_uncork(error_);
        }
    }

    void finish_uncork(error_code ec) {
        uncork_waiting_ = false;
        if (listener_ == nullptr) {
            return;
        }
        asio::post(socket_.get_executor(), [l = listener_, keep = owner_.lock(), ec] { l->on_flushed(ec); });
    }

    tcp::socket socket_;
    std::string prefix_;    // bytes read by the HTTP layer past the upgrade request
    std::string pending_;   // written, not yet sent
    std::string inflight_;  // being sent
    std::weak_ptr<void> owner_;
    flush_listener* listener_ = nullptr;
    std::unique_ptr<drain_waiter> drain_;
    error_code error_;  // the first write error: every later write fails with it
    bool corked_ = false;
    bool flushing_ = false;
    bool uncork_waiting_ = false;
};

// Beast tears the connection down after the closing handshake: send what is still buffered (the close frame)
// before shutting the socket down. Found by argument-dependent lookup from websocket::stream.
template <class Handler>
void async_teardown(beast::role_type role, corked_stream& stream, Handler&& handler) {
    stream.async_drain([role, &stream, h = std::forward<Handler>(handler)](error_code) mutable {
        websocket::async_teardown(role, stream.next_layer(), std::move(h));
    });
}
}  // namespace pusher::engineio
