#pragma once
// The hand-over from the accept loop (accept.cpp) to a connection (private to httpd): the admission decided on the
// listener's thread (a ticket in the limits, or a refusal and its place among the refusals being answered), and
// start_connection(), run on the socket's own io_context. The connection<Stream> template is in connection.cpp, its
// only instantiations.
//
// Before common/aliases.hpp, whose `using tcp = boost::asio::ip::tcp` needs the declaration.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"
#include "httpd/limits.hpp"
#include "httpd/server.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace pusher::httpd {
// Returns a refused connection's place among the refusals being answered (max_refusing) when destroyed.
class refusal_slot {
  public:
    refusal_slot() = default;
    explicit refusal_slot(std::atomic<std::int64_t>* count) : count_(count) {}
    refusal_slot(refusal_slot&& o) noexcept : count_(std::exchange(o.count_, nullptr)) {}
    refusal_slot& operator=(refusal_slot&& o) noexcept {
        if (this != &o) {
            reset();
            count_ = std::exchange(o.count_, nullptr);
        }
        return *this;
    }
    ~refusal_slot() { reset(); }
    void reset() {
        if (auto* c = std::exchange(count_, nullptr)) {
            c->fetch_sub(1, std::memory_order_relaxed);
        }
    }

  private:
    std::atomic<std::int64_t>* count_ = nullptr;
};

// What the accept loop decided about a connection: admitted (with its ticket) or refused (and why).
struct admission {
    connection_ticket ticket;
    std::optional<refusal> refused;
    refusal_slot slot;  // refused: its place among the refusals being answered
    tcp::endpoint peer;
    bool via_proxy = false;  // the peer is a trusted proxy (options::trusted_proxies)
};

// On the socket's own io_context: wraps it in the listener's stream type and starts the connection.
void start_connection(std::shared_ptr<server::state> const& st, tcp::socket socket, admission adm);
}  // namespace pusher::httpd
