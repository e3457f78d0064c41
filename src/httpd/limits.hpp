#pragma once
// The vocabulary of httpd's connection limits, light enough for any header: why a connection was refused, the
// counters (for /metrics) and the ticket an admitted connection carries until its socket closes. The limiter that
// issues tickets is httpd/limiter.hpp.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace pusher::httpd {
enum class refusal : std::uint8_t { max_connections, max_connections_per_ip, connection_rate_per_ip };
inline constexpr std::size_t refusal_count = 3;
// "max_connections", "max_connections_per_ip", "connection_rate_per_ip" (a metric label).
std::string_view to_string(refusal r);

// Counters for metrics: relaxed atomics, read them from any thread.
struct counters {
    std::atomic<std::int64_t> open_connections{0};  // admitted and not yet closed (HTTP, and websockets handed over)
    std::atomic<std::uint64_t> accepted_total{0};   // admitted
    std::array<std::atomic<std::uint64_t>, refusal_count> refused_total{};  // index: refusal
    // Refused and closed at once without an answer (too many refusals being answered already).
    std::atomic<std::uint64_t> refused_unanswered_total{0};
    std::atomic<std::uint64_t> tls_handshake_failures_total{0};  // failed or timed out
    std::atomic<std::int64_t> tracked_addresses{0};              // entries in the per-address table
    // HTTP answers written, by status class (index: status / 100 - 1, 1xx to 5xx). The websocket layer counts the
    // 101s and refusals it writes itself here too.
    std::array<std::atomic<std::uint64_t>, 5> responses_total{};

    void count_response(unsigned status) {
        if (status >= 100 && status < 600) {
            responses_total[status / 100 - 1].fetch_add(1, std::memory_order_relaxed);
        }
    }

    std::uint64_t refused(refusal r) const {
        return refused_total[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
    }
};

// A client address as the limits see it: an IPv4 address (v4-mapped) or an IPv6 /64 (one host, one /64: a per-address
// limit on full IPv6 addresses would be bypassed by any client with a /64 of its own).
using address_key = std::array<std::uint8_t, 16>;
address_key make_address_key(std::array<std::uint8_t, 16> const& v6_bytes);  // v4-mapped bytes stay whole
address_key make_address_key(std::array<std::uint8_t, 4> const& v4_bytes);

class connection_limiter;

// What an admission counts against (connection_limiter::admit).
enum class admission_scope : std::uint8_t {
    connection,    // a TCP connection from a client: the total and its address
    total_only,    // a TCP connection from a trusted proxy: the total (it carries many clients)
    address_only,  // a session opened through a trusted proxy: the forwarded client's address
};

// Closed connections whose socket is still in a lingering close (httpd/lingering_close.hpp), all threads.
std::size_t lingering_sockets();

// One admitted connection, counted against the limits until the ticket is destroyed or reset(). Move-only; any
// thread. The HTTP connection holds it, and hands it over with the socket on a websocket upgrade.
class connection_ticket {
  public:
    connection_ticket() = default;
    connection_ticket(std::shared_ptr<connection_limiter> limiter, address_key const& key,
                      admission_scope scope = admission_scope::connection)
        : limiter_(std::move(limiter)), key_(key), scope_(scope) {}
    connection_ticket(connection_ticket&& o) noexcept = default;
    connection_ticket& operator=(connection_ticket&& o) noexcept {
        if (this != &o) {
            reset();
            limiter_ = std::move(o.limiter_);
            key_ = o.key_;
            scope_ = o.scope_;
        }
        return *this;
    }
    connection_ticket(connection_ticket const&) = delete;
    connection_ticket& operator=(connection_ticket const&) = delete;
    ~connection_ticket() { reset(); }

    // Releases the connection's place (idempotent).
    void reset();
    explicit operator bool() const { return limiter_ != nullptr; }
    // The counters of the limiter that issued the ticket (null for an empty ticket).
    counters* stats() const;

  private:
    std::shared_ptr<connection_limiter> limiter_;
    address_key key_{};
    admission_scope scope_ = admission_scope::connection;
};
}  // namespace pusher::httpd
