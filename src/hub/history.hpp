#pragma once
// hub::history: what connection state recovery needs to replay, sans I/O. Each message this node hands to the hub
// gets an offset (a `seq`, from one counter per node, in delivery order); the frame it becomes carries that offset as
// its last argument (`42["event",payload,"<offset>"]`), so every recipient still shares one frame. A user's history
// keeps the user's recent frames with their offsets while the user has a session here, live or held for recovery; the
// broadcasts are kept once, in one history for the whole node. A client that comes back says the last offset it read,
// and gets every frame after it, in order.
//
// Offsets are compared in serial-number arithmetic (RFC 1982 on 64 bits): `a` is after `b` when a - b, as a signed
// number, is positive. The counter starts at a random point, so offsets do not say how long a node has run, and the
// arithmetic is right across the wrap from 2^64 - 1 to 0.
//
// Caps: a history keeps at most `max_events` frames and `max_bytes` bytes (the frame bytes plus a fixed overhead per
// entry); past a cap the oldest go. Once a frame after some offset has gone, a client at that offset cannot be
// recovered (`covers`); the frames that had reached no session (`delivered` false: kept for a held session only) are
// handed back to be republished on the undelivered exchange.
#include "broker/broker.hpp"
#include "common/frame.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::hub {
using seq_t = std::uint64_t;

// `a` comes after `b` (serial-number arithmetic).
constexpr bool seq_after(seq_t a, seq_t b) {
    return static_cast<std::int64_t>(a - b) > 0;
}
// The later of two offsets.
constexpr seq_t seq_max(seq_t a, seq_t b) {
    return seq_after(a, b) ? a : b;
}

// The offset as the client sees it: decimal text, formatted without allocating (the fan-out does it per message).
class offset_text {
  public:
    explicit offset_text(seq_t s);
    std::string_view view() const { return {buf_, len_}; }

  private:
    char buf_[20];
    std::size_t len_;
};
inline std::string format_offset(seq_t s) {
    return std::string(offset_text(s).view());
}
// Parses what a client sent back: 1 to 20 decimal digits that fit 64 bits, nothing else.
std::optional<seq_t> parse_offset(std::string_view text);

// What identifies a message across nodes, to drop the copies a session would get twice when it is handed from one
// node to another (both nodes were bound while the hand-over ran): the AMQP message_id when the publisher set one
// (/api/publish and `pusher send` always do), else the event, the body and the timestamp. 64 bits of FNV-1a: the
// same on every node and every build.
std::uint64_t dedup_key(std::string_view message_id, std::string_view event, std::string_view payload,
                        std::optional<std::int64_t> timestamp_ms);

// One frame of a replay: its offset, its dedup key, the frame.
struct replayed {
    seq_t seq = 0;
    std::uint64_t key = 0;
    frame f;
};

// A session's membership of a channel: the channel, and the offset after which its events reached the session (its
// replay of the channel starts there, not earlier).
struct channel_point {
    std::string channel;
    seq_t joined = 0;
};

// Messages that reached nobody here and will not be replayed: for the undelivered exchange.
using lost_messages = std::vector<std::shared_ptr<broker::undelivered const>>;

struct history_limits {
    std::size_t max_events = 1000;
    std::size_t max_bytes = 1 << 20;
};

class history {
  public:
    // Bytes an entry counts for besides its frame (the entry, the deque's share, the frame's control block).
    static constexpr std::size_t entry_overhead = 64;

    struct entry {
        seq_t seq = 0;
        frame f;
        bool delivered = false;  // reached a live session (or was replayed to one)
        // The message as it came, kept only while `delivered` is false: what the undelivered exchange gets.
        std::shared_ptr<broker::undelivered const> origin;
        std::uint64_t key = 0;  // dedup_key of the message
        std::size_t bytes() const {
            return (f ? f->size() : 0) + entry_overhead + (origin ? origin->payload.size() : 0);
        }
    };

    // Nothing after `start` was ever lost: a client that began at `start` or later can be recovered.
    explicit history(seq_t start = 0) : trimmed_through_(start) {}

    // Appends (offsets must grow), then drops the oldest entries past `lim`; entries dropped undelivered are
    // appended to `lost`.
    void append(entry e, history_limits const& lim, lost_messages& lost);
    // Drops the oldest entry; false when empty. For a node-wide budget.
    bool drop_oldest(lost_messages& lost);

    // Every entry after `offset` is still here.
    bool covers(seq_t offset) const { return !seq_after(trimmed_through_, offset); }
    // Appends each entry after `offset` to `out`, oldest first; each counts as delivered from then on (it was replayed
    // to a session, or handed to another node).
    void replay_after(seq_t offset, std::vector<replayed>& out);
    // Takes the undelivered entries' messages out (they are handed to the undelivered exchange): each entry counts
    // as delivered from then on.
    void take_undelivered(lost_messages& out);

    std::size_t size() const { return entries_ ? entries_->size() : 0; }
    std::size_t bytes() const { return bytes_; }
    bool empty() const { return size() == 0; }

  private:
    void forget_origin(entry& e);
    void pop_front(lost_messages& lost);

    // Made on the first append and freed when it empties again: an empty std::deque allocates its map and a first
    // 512-byte block, and every user with a session here has a history (most of them empty).
    std::unique_ptr<std::deque<entry>> entries_;
    std::size_t bytes_ = 0;
    seq_t trimmed_through_;
};
}  // namespace pusher::hub
