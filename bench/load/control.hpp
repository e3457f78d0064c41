#pragma once
// line_channel: newline-delimited messages over a stream file descriptor (a socketpair between the coordinating
// pusher-load process and its connection-holding children). Each message is one line of JSON. Owns the fd.
// Used by one thread at a time.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::load {
class line_channel {
  public:
    explicit line_channel(int fd) : fd_(fd) {}
    ~line_channel();
    line_channel(line_channel&& other) noexcept : fd_(other.fd_), pending_(std::move(other.pending_)) {
        other.fd_ = -1;
    }
    line_channel(line_channel const&) = delete;
    line_channel& operator=(line_channel const&) = delete;
    line_channel& operator=(line_channel&&) = delete;

    int fd() const { return fd_; }
    // Writes `line` plus '\n' (blocking until written). False when the peer is gone.
    bool send(std::string_view line);
    // Reads what is available within `timeout_ms` (-1 = wait for at least one byte) and returns the complete lines.
    // Sets `closed` when the peer closed the channel (lines read before that are still returned).
    std::vector<std::string> receive(int timeout_ms, bool& closed);
    // Splits complete lines off `pending` (the partial tail stays).
    static std::vector<std::string> take_lines(std::string& pending);

  private:
    int fd_;
    std::string pending_;
};

// Waits until one of `channels` is readable or `timeout_ms` passes; returns the indices that are readable (or closed).
std::vector<std::size_t> poll_channels(std::vector<line_channel*> const& channels, int timeout_ms);
}  // namespace pusher::load
