#pragma once
// app::held_sessions: the `pid`s of connection state recovery. A socket that may be recovered later gets a private id
// (pid) in its CONNECT reply and is `live` here; when it leaves for a reason a client recovers from (the transport
// closed or failed, a ping timed out, the server shut down) it is `held` until a CONNECT with its pid `claim`s it
// or the window ends (`expire`). A claim for a pid whose socket is still live (its network vanished, and the server
// has not noticed yet) is a take-over: the claimant is told which socket to close, and its `retry` runs once that
// socket is held (or gone). Only the user who owned a pid can claim it.
//
// Across nodes: a pid is `<node id>.<32 hex digits>`, so a node that does not know a pid knows which node issued it
// and asks that node for the session (app/handover.hpp). A node that handed a pid over to another node remembers
// where it went (`moved`) for the window, and passes later requests for it on.
//
// Thread-safe (one mutex; CONNECT and disconnect paths only, never the delivery path).
#include "hub/history.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pusher::socketio {
class socket;
}

namespace pusher::app {
class held_sessions {
  public:
    // What a recovery needs of the socket that left.
    struct held {
        std::string user;
        std::string sid;                           // its Socket.IO id, given back on recovery
        hub::seq_t start = 0;                      // it has had everything after this offset since it began
        std::uint64_t gen = 0;                     // which hold this is (a pid can be held, recovered and held again)
        std::vector<hub::channel_point> channels;  // its channels (their subscriptions are held with it)
    };
    enum class claim_result : std::uint8_t { none, claimed, wait };

    // A new private id: the node's id, a dot, and 128 random bits as 32 hex digits.
    static std::string make_pid(std::string_view node_id);
    // The id has the shape make_pid gives (so junk never reaches the table).
    static bool plausible_pid(std::string_view pid);
    // The node that issued a plausible pid.
    static std::string_view node_of(std::string_view pid);

    // The pid is live or held here.
    bool known(std::string const& pid);
    // The channels of the user's held session `pid` (nullopt when it is not held here, or not the user's).
    std::optional<std::vector<hub::channel_point>> channels_of(std::string const& pid, std::string_view user);
    // The pid (the user's) was handed over to `node`: later claims elsewhere are sent there, until forget_moved.
    void moved(std::string const& pid, std::string const& user, std::string node);
    // Where the user's pid went, if it was handed over from here.
    std::optional<std::string> moved_to(std::string const& pid, std::string_view user);
    void forget_moved(std::string const& pid);
    // The user's session was handed to another node, which is bound for the user too: until `until`, a message for
    // the user that finds nobody here also reached that node (counted as handed_over, not republished as undelivered).
    // A new session of the user here ends it (clear_handed_over).
    void handed_over(std::string const& user, std::chrono::steady_clock::time_point until);
    bool recently_handed_over(std::string_view user);
    void clear_handed_over(std::string const& user);

    void live(std::string const& pid, std::string const& user, std::weak_ptr<socketio::socket> s);
    // The live socket left for good. Returns the retry of a claim that waited for it (empty when none).
    std::function<void()> forget(std::string const& pid);
    // The live socket left recoverably: held from now on, as generation `h.gen` (see next_gen). Returns the retry of
    // a claim that waited for it.
    std::function<void()> hold(std::string const& pid, held h);
    std::uint64_t next_gen() { return gen_.fetch_add(1, std::memory_order_relaxed) + 1; }

    // A recovering CONNECT of `user` with `pid`: `claimed` (the held record in `out`, removed from here); `wait`
    // (the pid's socket is live: close `victim`; `retry` runs once it has left); `none` (unknown, or another user's).
    // A claim that arrives while an earlier one waits for the same pid (the client reconnected again meanwhile)
    // takes its place: the earlier claim's retry is handed back in `superseded`, to be run (it then connects anew).
    claim_result claim(std::string const& pid, std::string_view user, held& out, std::function<void()> retry,
                       std::shared_ptr<socketio::socket>& victim, std::function<void()>& superseded);
    // The window of hold `gen` ended: the record, if that hold is still unclaimed.
    std::optional<held> expire(std::string const& pid, std::uint64_t gen);
    // Every held record (shutdown).
    std::vector<held> take_all();
    // Every held record of `user` (a logout: POST /api/disconnect).
    std::vector<held> take_user(std::string_view user);

  private:
    struct live_entry {
        std::string user;
        std::weak_ptr<socketio::socket> sock;
        std::function<void()> waiter;
    };
    std::mutex mutex_;
    std::unordered_map<std::string, live_entry> live_;
    std::unordered_map<std::string, held> held_;
    struct moved_entry {
        std::string user;
        std::string node;
    };
    std::unordered_map<std::string, moved_entry> moved_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> handed_users_;
    std::atomic<std::uint64_t> gen_{0};
};
}  // namespace pusher::app
