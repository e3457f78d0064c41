#pragma once
// hub::hub: the user -> sessions registry of this node. A user may hold several sessions (tabs, devices); a
// notification for the user is one shared frame handed to each of them (session::send queues the pointer; the
// session's transport copies the bytes when it writes them). Owns shared pointers to the attached sessions (released
// on detach), nothing else. Thread-safe: any thread may attach, detach and deliver at any time.
//
// Layout: 64 shards by hash of the user, one mutex each. A user's sessions are an immutable list, replaced on each
// attach/detach (copy on write), so deliver() holds its shard lock only to copy one pointer (one refcount) and sends
// after releasing it. A send from another thread takes the session's inbox lock and, when that inbox was empty, its
// worker's mailbox lock, which posts at most one handler per worker per burst (engineio/session_mailbox.hpp).
// Sending under the lock would be unsafe, not only slower: session::send on the session's own thread enqueues at
// once and may close the session (slow consumer), whose on_close detaches from this hub again.
//
// The hub does not talk to the broker: subscriptions are counted by the broker itself (broker::subscribe), once per
// Socket.IO connection, by the app's gate. A frame sent to a session that is detaching concurrently is harmless (a
// closed session drops it).
#include "common/frame.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pusher::engineio {
class session;
}

namespace pusher::hub {
using session_ptr = std::shared_ptr<engineio::session>;
// One user's sessions at one moment; never modified once published.
using session_list = std::vector<session_ptr>;

// Counters for metrics (relaxed; attach/detach only, nothing on the delivery path).
struct hub_stats {
    std::uint64_t attaches = 0;  // attach() calls that added a session
    std::uint64_t detaches = 0;  // detach() calls that removed one
    std::uint64_t users = 0;     // gauge: users with at least one session
    std::uint64_t sessions = 0;  // gauge: attached sessions
};

class hub {
  public:
    static constexpr std::size_t default_shards = 64;
    // `shards` is rounded up to a power of two (at least 1).
    explicit hub(std::size_t shards = default_shards);
    ~hub();
    hub(hub const&) = delete;
    hub& operator=(hub const&) = delete;

    // Adds `s` to the user's sessions. False (and no change) when it is already attached to this user, or null.
    bool attach(std::string_view user, session_ptr s);
    // Removes the session from the user's sessions. False when it was not attached to this user.
    bool detach(std::string_view user, engineio::session const& s);

    // Sends `f` to every session of `user`; returns how many (0 when the user has no session on this node).
    std::size_t deliver(std::string_view user, frame const& f) const;
    // Sends `f` to every attached session (a broadcast); returns how many. Locks one shard at a time.
    std::size_t deliver_all(frame const& f) const;

    // The user's sessions at this moment (empty list when none). For admin pages and tests.
    std::shared_ptr<session_list const> sessions_of(std::string_view user) const;
    bool has(std::string_view user) const;

    std::size_t users() const { return users_.load(std::memory_order_relaxed); }
    std::size_t sessions() const { return sessions_.load(std::memory_order_relaxed); }
    hub_stats stats() const;
    std::size_t shard_count() const { return shard_mask_ + 1; }

  private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using user_map = std::unordered_map<std::string, std::shared_ptr<session_list const>, string_hash, std::equal_to<>>;
    struct alignas(64) shard {
        mutable std::mutex mutex;
        user_map users;
    };

    shard& shard_for(std::string_view user) const;

    std::unique_ptr<shard[]> shards_;
    std::size_t shard_mask_;
    unsigned shard_shift_;
    std::atomic<std::size_t> users_{0};
    std::atomic<std::size_t> sessions_{0};
    std::atomic<std::uint64_t> attaches_{0};
    std::atomic<std::uint64_t> detaches_{0};
};
}  // namespace pusher::hub
