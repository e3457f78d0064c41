#pragma once
// In-memory stand-ins for the Socket.IO server's collaborators: an engineio::session that records what is sent and
// runs dispatched work inline on its own thread (queued from other threads until run_pending), and a scheduler on a
// hand-driven clock.
#include "engineio/handler.hpp"
#include "engineio/session.hpp"
#include "socketio/scheduler.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace pusher::socketio::fakes {
class fake_session final : public engineio::session, public std::enable_shared_from_this<fake_session> {
  public:
    // One recorded outgoing message: text packets as sent (`40{...}`), binary ones prefixed with "bin:".
    std::vector<std::string> sent;
    std::optional<engineio::disconnect_reason> closed;
    std::unique_ptr<engineio::session_handler> handler;

    void open(engineio::handler& h) { handler = h.on_open(shared_from_this()); }

    // Feeds a text message / binary message to the handler, as the Engine.IO server would.
    void message(std::string_view text) {
        if (handler) {
            handler->on_message(text);
        }
    }
    void binary(std::string_view bytes) {
        if (handler) {
            handler->on_binary(bytes);
        }
    }
    // The transport went away.
    void drop(engineio::disconnect_reason why = engineio::disconnect_reason::transport_close) { close(why); }

    std::vector<std::string> take() {
        std::vector<std::string> out = std::move(sent);
        sent.clear();
        return out;
    }
    // Runs the work other threads dispatched to this session.
    std::size_t run_pending() {
        std::vector<std::function<void()>> work;
        {
            std::lock_guard lock(mutex_);
            work.swap(queued_);
        }
        for (auto& fn : work) {
            fn();
        }
        return work.size();
    }

    void send(frame packet) override {
        if (!closed) {
            sent.push_back(*packet);
        }
    }
    void send_binary(frame bytes) override {
        if (!closed) {
            sent.push_back("bin:" + *bytes);
        }
    }
    void close(engineio::disconnect_reason why) override {
        if (closed) {
            return;
        }
        closed = why;
        // Like the real session: on_close once, then the handler is dropped (which breaks ownership cycles).
        auto h = std::move(handler);
        if (h) {
            h->on_close(why);
        }
    }
    void dispatch(std::function<void()> fn) override {
        if (std::this_thread::get_id() == thread_) {
            fn();
            return;
        }
        std::lock_guard lock(mutex_);
        queued_.push_back(std::move(fn));
    }
    std::string_view id() const override { return "fake-sid"; }
    engineio::transport_kind transport() const override { return engineio::transport_kind::websocket; }
    std::string_view remote_address() const override { return "127.0.0.1:1"; }

  private:
    std::thread::id thread_ = std::this_thread::get_id();
    std::mutex mutex_;
    std::vector<std::function<void()>> queued_;
};

class manual_scheduler final : public scheduler {
  public:
    void call_after(std::chrono::milliseconds delay, std::function<void()> fn) override {
        std::lock_guard lock(mutex_);
        pending_.push_back({now_ + delay, seq_++, std::move(fn)});
    }
    // Moves the clock forward, running every call that falls due, in due order.
    void advance(std::chrono::milliseconds d) {
        auto const until = now_ + d;
        for (;;) {
            std::function<void()> fn;
            {
                std::lock_guard lock(mutex_);
                auto it = std::min_element(pending_.begin(), pending_.end(), [](auto const& a, auto const& b) {
                    return a.due != b.due ? a.due < b.due : a.seq < b.seq;
                });
                if (it == pending_.end() || it->due > until) {
                    break;
                }
                now_ = it->due;
                fn = std::move(it->fn);
                pending_.erase(it);
            }
            fn();
        }
        now_ = until;
    }
    std::size_t pending() const {
        std::lock_guard lock(mutex_);
        return pending_.size();
    }

  private:
    struct call {
        std::chrono::milliseconds due;
        std::uint64_t seq;
        std::function<void()> fn;
    };
    mutable std::mutex mutex_;
    std::chrono::milliseconds now_{0};
    std::uint64_t seq_ = 0;
    std::vector<call> pending_;
};
}  // namespace pusher::socketio::fakes
