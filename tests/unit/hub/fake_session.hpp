#pragma once
// An in-memory engineio::session for hub and fan-out tests: it records every frame it is sent (thread-safe, so
// deliveries from several threads can be counted) and can run a hook inside send(), as a real session does when
// send() on its own thread closes it for being a slow consumer.
#include "engineio/session.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pusher::hub::testing {
class fake_session final : public engineio::session {
  public:
    explicit fake_session(std::string id = "sid") : id_(std::move(id)) {}

    void send(frame packet) override {
        count_.fetch_add(1, std::memory_order_relaxed);
        {
            std::lock_guard lock(mutex_);
            if (record_) {
                frames_.push_back(std::move(packet));
            }
        }
        if (on_send) {
            on_send();
        }
    }
    void send_binary(frame bytes) override { send(std::move(bytes)); }
    void close(engineio::disconnect_reason why) override {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            closed_ = why;
        }
    }
    void dispatch(std::function<void()> fn) override { fn(); }
    std::string_view id() const override { return id_; }
    engineio::transport_kind transport() const override { return engineio::transport_kind::websocket; }
    std::string_view remote_address() const override { return "127.0.0.1:1"; }

    // Runs inside send(), after recording (set before sharing the session with other threads).
    std::function<void()> on_send;

    std::size_t count() const { return count_.load(std::memory_order_relaxed); }
    std::vector<frame> frames() const {
        std::lock_guard lock(mutex_);
        return frames_;
    }
    std::vector<std::string> texts() const {
        std::vector<std::string> out;
        for (auto const& f : frames()) {
            out.push_back(*f);
        }
        return out;
    }
    // Stops keeping frames (counting only): for stress tests.
    void count_only() {
        std::lock_guard lock(mutex_);
        record_ = false;
    }
    std::optional<engineio::disconnect_reason> closed() const {
        std::lock_guard lock(mutex_);
        return closed_;
    }

  private:
    std::string id_;
    std::atomic<std::size_t> count_{0};
    mutable std::mutex mutex_;
    bool record_ = true;
    std::vector<frame> frames_;
    std::optional<engineio::disconnect_reason> closed_;
};
}  // namespace pusher::hub::testing
