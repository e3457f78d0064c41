#pragma once
// connection_registry (private to httpd): the HTTP connections currently open, so that server::close_idle() can find
// the idle ones and server::connection_count() can count them. Nothing else reads it, yet every connection open,
// close and upgrade writes it, on whichever worker runs the connection: so it is sharded (a connection's shard is a
// hash of its address, one mutex each) and counted by an atomic, and workers opening and closing connections do not
// contend on one process-wide lock. Thread-safe; close_idle's snapshot walks the shards one at a time.
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pusher::httpd {
class connection_base;

class connection_registry {
  public:
    static constexpr std::size_t shard_count = 32;

    // `c` is not registered yet (a connection registers once, when it starts).
    void add(connection_base* c, std::weak_ptr<connection_base> w) {
        auto& s = shard_for(c);
        std::lock_guard lock(s.mutex);
        if (s.connections.emplace(c, std::move(w)).second) {
            count_.fetch_add(1, std::memory_order_relaxed);
        }
    }

    // Idempotent: an upgraded connection leaves at the hand-over, then again (a no-op) when destroyed.
    void remove(connection_base* c) {
        auto& s = shard_for(c);
        std::lock_guard lock(s.mutex);
        if (s.connections.erase(c) != 0) {
            count_.fetch_sub(1, std::memory_order_relaxed);
        }
    }

    // Connections registered now: one atomic load, no lock.
    std::size_t size() const { return count_.load(std::memory_order_relaxed); }

    // Every registered connection, shard after shard (each shard locked while it is copied).
    std::vector<std::weak_ptr<connection_base>> snapshot() const {
        std::vector<std::weak_ptr<connection_base>> all;
        all.reserve(size());
        for (auto const& s : shards_) {
            std::lock_guard lock(s.mutex);
            for (auto const& [_, w] : s.connections) {
                all.push_back(w);
            }
        }
        return all;
    }

  private:
    // A cache line each, so that two workers locking neighbouring shards do not share one.
    struct alignas(64) shard {
        mutable std::mutex mutex;
        std::unordered_map<connection_base*, std::weak_ptr<connection_base>> connections;
    };

    shard& shard_for(connection_base* c) {
        // Fibonacci hashing: the low bits of a heap address are alignment zeros; the product's top bits mix them all.
        static_assert(std::has_single_bit(shard_count));
        auto const h = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(c)) * 0x9E3779B97F4A7C15ull;
        return shards_[static_cast<std::size_t>(h >> (64 - std::countr_zero(shard_count)))];
    }

    std::array<shard, shard_count> shards_;
    std::atomic<std::size_t> count_{0};
};
}  // namespace pusher::httpd
