#pragma once
// connection_limiter: admission of new connections: a cap on open connections in total and per client address,
// and a token bucket of new connections per second per address. Owns the per-address table (bounded: addresses with
// nothing open and a full bucket are forgotten) and the counters. Thread-safe: one atomic per admission and release,
// plus one small lock when a per-address limit is on. No Asio: time is passed in.
#include "httpd/limits.hpp"

#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace pusher::httpd {
struct connection_limits {
    std::size_t max_connections = 0;             // 0 = unlimited
    std::size_t max_per_address = 0;             // 0 = unlimited
    std::size_t rate_per_address = 0;            // new connections per second (burst: as many at once); 0 = unlimited
    std::size_t max_tracked_addresses = 65'536;  // the table is swept when it reaches this size
};

class connection_limiter : public std::enable_shared_from_this<connection_limiter> {
  public:
    using clock = std::chrono::steady_clock;

    // `hash_seed`: random per process in production (the table is keyed by client-chosen addresses).
    connection_limiter(connection_limits limits, std::uint64_t hash_seed);

    struct verdict {
        connection_ticket ticket;        // set when admitted
        std::optional<refusal> refused;  // set when not
    };
    // Decides about one new connection from `key` at `now`, and counts it (accepted_total or refused_total).
    // The rate is checked first (every attempt takes a token, refused or not), then the per-address cap, then the
    // total. Create the limiter with std::make_shared (tickets keep it alive). `scope`: behind a trusted proxy the
    // TCP connection counts only against the total, and each session it opens against its client's address.
    verdict admit(address_key const& key, clock::time_point now, admission_scope scope = admission_scope::connection);

    counters& stats() { return stats_; }
    counters const& stats() const { return stats_; }
    connection_limits const& limits() const { return limits_; }
    std::size_t tracked() const;
    // Open connections from `key` as the table sees them (tests).
    std::size_t open_from(address_key const& key) const;

  private:
    friend class connection_ticket;
    void release(address_key const& key, admission_scope scope);

    struct entry {
        double tokens = 0;
        clock::time_point last{};
        std::uint32_t open = 0;
    };
    struct key_hash {
        std::uint64_t seed;
        std::size_t operator()(address_key const& k) const noexcept {
            std::uint64_t a = 0;
            std::uint64_t b = 0;
            std::memcpy(&a, k.data(), 8);
            std::memcpy(&b, k.data() + 8, 8);
            return static_cast<std::size_t>(mix(a ^ seed) ^ mix(b + seed));
        }
        static std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
            x ^= x >> 30;
            x *= 0xbf58476d1ce4e5b9ULL;
            x ^= x >> 27;
            x *= 0x94d049bb133111ebULL;
            return x ^ (x >> 31);
        }
    };

    bool per_address() const { return limits_.max_per_address != 0 || limits_.rate_per_address != 0; }
    bool admit_total();
    void sweep(clock::time_point now);

    connection_limits const limits_;
    double const burst_;
    counters stats_;
    mutable std::mutex mutex_;
    std::unordered_map<address_key, entry, key_hash> table_;
    std::size_t sweep_at_;
};
}  // namespace pusher::httpd
