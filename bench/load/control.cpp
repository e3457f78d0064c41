#include "control.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace pusher::load {
line_channel::~line_channel() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool line_channel::send(std::string_view line) {
    std::string buf(line);
    buf += '\n';
    std::size_t off = 0;
    while (off < buf.size()) {
        ssize_t const n = ::write(fd_, buf.data() + off, buf.size() - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

std::vector<std::string> line_channel::take_lines(std::string& pending) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (true) {
        auto const nl = pending.find('\n', start);
        if (nl == std::string::npos) {
            break;
        }
        lines.emplace_back(pending.substr(start, nl - start));
        start = nl + 1;
    }
    pending.erase(0, start);
    return lines;
}

std::vector<std::string> line_channel::receive(int timeout_ms, bool& closed) {
    closed = false;
    pollfd p{fd_, POLLIN, 0};
    int const r = ::poll(&p, 1, timeout_ms);
    if (r > 0) {
        char buf[65536];
        ssize_t const n = ::read(fd_, buf, sizeof buf);
        if (n > 0) {
            pending_.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            closed = true;
        }
    }
    return take_lines(pending_);
}

std::vector<std::size_t> poll_channels(std::vector<line_channel*> const& channels, int timeout_ms) {
    std::vector<pollfd> fds;
    fds.reserve(channels.size());
    for (auto* c : channels) {
        fds.push_back(pollfd{c->fd(), POLLIN, 0});
    }
    std::vector<std::size_t> ready;
    if (::poll(fds.data(), fds.size(), timeout_ms) > 0) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents != 0) {
                ready.push_back(i);
            }
        }
    }
    return ready;
}
}  // namespace pusher::load
