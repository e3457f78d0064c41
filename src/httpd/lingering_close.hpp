#pragma once
// Closing a TCP connection the peer may still be writing to. A close() with unread bytes in the receive queue (or
// with more arriving) makes the kernel answer with a reset, and the reset can overtake the last thing we wrote: the
// peer's stack drops the 413 or 431, or the websocket close frame with its code, and the client sees only
// "connection reset". So: send our FIN, read and drop whatever the peer still sends until its FIN, within a deadline
// and a byte budget, then close (RFC 9112 §9.6, RFC 6455 §7.1.1).
// Includes Asio's socket: include it only where a connection is closed.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"

#include <chrono>
#include <cstddef>

namespace pusher::httpd {
struct linger_limits {
    std::chrono::milliseconds deadline{2000};
    std::size_t budget = std::size_t{16} << 20;  // bytes read and dropped at most
    // Sockets lingering at once in the process, at most; beyond it a socket is closed at once. The lingering sockets
    // are outside the connection limits, so this bounds the descriptors a flood of refused clients can hold.
    std::size_t max_lingering = 1024;
};

// Takes the socket (with no operation pending on it). The caller releases the connection's place in the limits now:
// for the client the connection is over, and the lingering is bounded by `limits`.
void lingering_close(tcp::socket socket, linger_limits limits = {});
}  // namespace pusher::httpd
