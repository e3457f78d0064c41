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
//
// Channels: the same records, in a second map of each shard (keyed by channel name): a channel's members are
// sessions, its events one shared frame for all of them, recorded in the channel's own history for recovery. A
// session's channel memberships are the gate's to remember; the hub takes them as `channel_point`s.
//
// Connection state recovery (recovery_options::enabled; hub/history.hpp): the *_recorded deliveries also keep each
// frame, with its offset, in the user's history (broadcasts in the node's), under the same shard lock that publishes
// the session list, so a session that `recover`s gets, under that lock, exactly what it missed, and from the next
// delivery on is a recipient: nothing twice, nothing skipped. A user's record (sessions, history) lives while the user
// has a session here, live or held for recovery (`hold` / `release_held`).
#include "common/frame.hpp"
#include "hub/history.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
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

struct recovery_options {
    bool enabled = false;
    history_limits per_user;                 // each user's history (and the node's broadcast history)
    std::size_t node_max_bytes = 256 << 20;  // every history together (split evenly over the shards)
    seq_t first_seq = 0;                     // the node's first offset (application: a random one)
};

// What a recorded delivery did.
struct delivery {
    std::size_t sessions = 0;  // live sessions sent the frame
    std::size_t held = 0;      // sessions held for recovery that will get it if they come back
    lost_messages lost;        // undelivered messages the caps pushed out (for the undelivered exchange)
};

class hub {
  public:
    static constexpr std::size_t default_shards = 64;
    // `shards` is rounded up to a power of two (at least 1).
    explicit hub(std::size_t shards = default_shards, recovery_options rec = {});
    ~hub();
    hub(hub const&) = delete;
    hub& operator=(hub const&) = delete;

    // Adds `s` to the user's sessions. False (and no change) when it is already attached to this user, or null.
    // `start` (when given) receives the offset the session starts after: everything recorded later reaches it.
    bool attach(std::string_view user, session_ptr s, seq_t* start = nullptr);
    // Removes the session from the user's sessions. False when it was not attached to this user.
    bool detach(std::string_view user, engineio::session const& s);

    // Sends `f` to every session of `user`; returns how many (0 when the user has no session on this node).
    std::size_t deliver(std::string_view user, frame const& f) const;
    // Sends `f` to every attached session (a broadcast); returns how many. Locks one shard at a time.
    std::size_t deliver_all(frame const& f) const;

    // ---- channels ----
    // `s` joins the channel. False (and no change) when it is a member already, or null. `joined` (when given)
    // receives the offset after which the channel's events reach it.
    bool join(std::string_view channel, session_ptr s, seq_t* joined = nullptr);
    // `s` leaves the channel. False when it was not a member.
    bool leave(std::string_view channel, engineio::session const& s);
    // Sends `f` to every member of the channel; returns how many.
    std::size_t deliver_channel(std::string_view channel, frame const& f) const;
    // deliver_channel() that records `f` at `seq` in the channel's history (while it has members, live or held).
    delivery deliver_channel_recorded(std::string_view channel, frame const& f, seq_t seq, std::uint64_t key = 0);
    std::size_t channels() const { return channels_.load(std::memory_order_relaxed); }  // with a live member
    std::size_t channel_members() const { return members_.load(std::memory_order_relaxed); }

    // ---- connection state recovery (only with recovery_options::enabled) ----
    // The next offset. One caller at a time (the broker's thread), in the order of the deliveries that follow.
    seq_t next_seq() { return next_seq_.fetch_add(1, std::memory_order_relaxed); }
    // deliver() that also records `f` at offset `seq` (with its dedup_key `key`) in the user's history; `origin` is
    // called (under the shard lock: keep it cheap) only when no live session got it, for the copy the undelivered
    // exchange would get.
    delivery deliver_recorded(std::string_view user, frame const& f, seq_t seq,
                              std::function<std::shared_ptr<broker::undelivered const>()> const& origin,
                              std::uint64_t key = 0);
    // deliver_all() that records `f` at `seq` in the node's broadcast history.
    std::size_t deliver_all_recorded(frame const& f, seq_t seq, std::uint64_t key = 0);
    // Detaches `s` and keeps the user's record (its history goes on growing) for a recovery, and the records of its
    // channels. False when `s` was not attached to this user.
    bool hold(std::string_view user, engineio::session const& s, std::span<channel_point const> channels = {});
    // A held session without a session: keeps (or makes) the user's record and records for it from the offset it
    // returns on, as for a held session. For a session about to be handed over from another node: what arrives here
    // meanwhile waits for it. Ends like any held session: recover() or release_held().
    seq_t reserve(std::string_view user);
    // The same for a channel the session about to be handed over is a member of (after reserve(user)): what arrives
    // for the channel here from the returned offset on waits for it. Ends with recover() or release_held(), passing
    // {channel, that offset} among their channels.
    seq_t reserve_channel(std::string_view channel);
    // One held session of the user will not come back. When it was the last one, the messages recorded for nobody
    // are appended to `lost`; when the user has no live session either, the record goes.
    void release_held(std::string_view user, lost_messages& lost, std::span<channel_point const> channels = {});
    // The channels' part of that alone: one held (or reserved) member of each will not come back.
    void release_held_channels(std::span<channel_point const> channels);
    // A held session comes back as `s`: it has read everything up to `offset` (when the client said) and started
    // after `start`. On success `s` is attached (the held count drops by one) and the result holds, oldest first,
    // every frame recorded for it after that point; nullopt (nothing changed) when that cannot be had exactly: no
    // held session, an offset from the future, or frames after it pushed out by a cap. With `channels` (those it
    // was a member of when held), the same for each channel: `s` joins them again, and their frames are merged in.
    std::optional<std::vector<replayed>> recover(std::string_view user, session_ptr s, std::optional<seq_t> offset,
                                                 seq_t start, std::span<channel_point const> channels = {});
    // The same for a held session that went to another node: nothing is attached, the held counts drop by one (the
    // records go when nothing else uses them), and the frames are for the other node to send.
    std::optional<std::vector<replayed>> hand_over(std::string_view user, std::optional<seq_t> offset, seq_t start,
                                                   std::span<channel_point const> channels = {});
    // Bytes held in histories (gauge).
    std::size_t history_bytes() const { return history_bytes_.load(std::memory_order_relaxed); }
    std::size_t held_sessions() const { return held_.load(std::memory_order_relaxed); }
    bool recovery_enabled() const { return rec_.enabled; }

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
    struct user_record {
        std::shared_ptr<session_list const> sessions;  // never null; empty while only held sessions remain
        std::size_t held = 0;
        history recorded;
    };
    using user_map = std::unordered_map<std::string, user_record, string_hash, std::equal_to<>>;
    // (Members are written under `mutex` from const methods too: the shards are behind a pointer.)
    enum class kind : std::uint8_t { user, channel };
    struct alignas(64) shard {
        mutable std::mutex mutex;
        user_map users;
        user_map channels;            // the same records, keyed by channel name
        seq_t through = 0;            // the last offset recorded or broadcast through this shard
        seq_t broadcast_through = 0;  // the last broadcast offset that passed this shard
        std::size_t bytes = 0;        // in the histories of this shard's users
    };

    shard& shard_for(std::string_view key) const;
    static user_map& map_of(shard& sh, kind k) { return k == kind::user ? sh.users : sh.channels; }
    // Under sh.mutex: the record, made (with an empty history from the shard's last offset) when missing.
    user_record& record_for(shard& sh, kind k, std::string_view key);
    // Under sh.mutex: erases `it` when it has neither live nor held sessions.
    void erase_if_unused(shard& sh, kind k, user_map::iterator it);
    // A history changed size from `before` to `after` bytes: the shard's share and the node's gauge follow.
    void account(shard& sh, std::size_t before, std::size_t after);
    void account_node(std::size_t before, std::size_t after);
    // Under the shard lock: appends `s` to the record's session list (copy on write).
    void add_session(user_record& rec, kind k, session_ptr s);
    // reserve() and reserve_channel(): one more held place in the record (made when missing); the shard's last offset.
    seq_t reserve(kind k, std::string_view key);
    // attach() and join(): adds `s` to the record (false when there already); `start` gets the shard's last offset.
    bool add(kind k, std::string_view key, session_ptr s, seq_t* start);
    // detach(), leave() and hold(): takes `s` out of the record; with keep_held, counts it as held (one lock).
    bool remove(kind k, std::string_view key, engineio::session const& s, bool keep_held);
    // Under the shard lock: one held session of the record ends (`lost` gets what reached nobody when it was the last).
    void end_held(shard& sh, kind k, user_map::iterator it, lost_messages& lost);
    // deliver_recorded() and deliver_channel_recorded(): records `f` in the record's history and sends it to its
    // sessions; `origin` (null for a channel) makes the copy for the undelivered exchange when nobody live got it.
    using origin_fn = std::function<std::shared_ptr<broker::undelivered const>()>;
    delivery record_and_send(kind k, std::string_view name, frame const& f, seq_t seq, std::uint64_t key,
                             origin_fn const* origin);
    // Sends `f` to the sessions of a record (deliver and deliver_channel).
    std::size_t send_to(kind k, std::string_view key, frame const& f) const;
    // recover() and hand_over(): under the locks of the user's and the channels' shards, what a held session gets
    // back; nullopt when it cannot be had exactly. Counts the held session as ended, and `s` (when given) as attached.
    std::optional<std::vector<replayed>> take_held(std::string_view user, session_ptr s, std::optional<seq_t> offset,
                                                   seq_t start, std::span<channel_point const> channels);
    // Sends `f` to every attached session, a shard at a time; with `seq`, marks each shard as passed by it.
    std::size_t send_to_all(frame const& f, std::optional<seq_t> seq) const;
    std::unique_ptr<shard[]> shards_;
    std::size_t shard_mask_;
    unsigned shard_shift_;
    std::atomic<std::size_t> users_{0};
    std::atomic<std::size_t> sessions_{0};
    std::atomic<std::size_t> channels_{0};
    std::atomic<std::size_t> members_{0};
    std::atomic<std::uint64_t> attaches_{0};
    std::atomic<std::uint64_t> detaches_{0};

    recovery_options rec_;
    std::size_t shard_budget_ = 0;
    std::atomic<seq_t> next_seq_{0};
    std::atomic<std::size_t> history_bytes_{0};
    std::atomic<std::size_t> held_{0};
    std::mutex broadcast_mutex_;
    history broadcasts_;  // under broadcast_mutex_
};
}  // namespace pusher::hub
