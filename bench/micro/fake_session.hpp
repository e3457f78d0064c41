#pragma once
// micro::counting_session: an engineio::session for the micro-benchmarks that does what a real websocket session
// does with a frame on its own thread, minus the socket: it frames the packet (RFC 6455 header + payload) into its
// pending write buffer, and clears the buffer every `flush_every` frames (a write). Owns that buffer only; one
// thread (the benchmark's).
#include "engineio/session.hpp"
#include "engineio/websocket_frame.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace pusher::micro {
class counting_session final : public engineio::session {
  public:
    explicit counting_session(std::size_t flush_every = 64) : flush_every_(flush_every) {}

    void send(frame packet) override { frame_it(*packet, false); }
    void send_binary(frame bytes) override { frame_it(*bytes, true); }
    void close(engineio::disconnect_reason) override {}
    void dispatch(std::function<void()> fn) override { fn(); }
    std::string_view id() const override { return "bench"; }
    engineio::transport_kind transport() const override { return engineio::transport_kind::websocket; }
    std::string_view remote_address() const override { return "127.0.0.1:1"; }

    std::size_t frames() const { return frames_; }
    std::size_t bytes() const { return bytes_; }

  private:
    void frame_it(std::string const& data, bool binary) {
        engineio::append_data_frame(pending_, data, binary);
        ++frames_;
        if (++queued_ >= flush_every_) {
            bytes_ += pending_.size();
            pending_.clear();
            queued_ = 0;
        }
    }

    std::size_t flush_every_;
    std::size_t queued_ = 0;
    std::size_t frames_ = 0;
    std::size_t bytes_ = 0;
    std::string pending_;
};
}  // namespace pusher::micro
