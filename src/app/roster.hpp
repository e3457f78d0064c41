#pragma once
// app::roster: who is here, by name, for the cluster queries (GET /api/presence, POST /api/disconnect): each user's
// sockets on this node, and each channel's members by user. The hub knows sessions, not names; the roster is kept by
// the gate beside it (connect, leave, subscribe, unsubscribe: never on the delivery path). Thread-safe: 16 shards,
// one mutex each.
#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pusher::socketio {
class socket;
}

namespace pusher::app {
class roster {
  public:
    void add(std::string const& user, std::shared_ptr<socketio::socket> const& s);
    void remove(std::string const& user, socketio::socket const* s);
    // The user's sockets here (live, or waiting for their admission).
    std::vector<std::shared_ptr<socketio::socket>> sockets_of(std::string const& user);

    // One more (or one fewer) membership of `user` in `channel` (a held session's memberships count until it ends).
    void joined(std::string const& channel, std::string const& user);
    void left(std::string const& channel, std::string const& user);
    // The channel's members by user, sorted.
    std::vector<std::string> members(std::string const& channel);

  private:
    struct shard {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<std::weak_ptr<socketio::socket>>> sockets;
        std::unordered_map<std::string, std::unordered_map<std::string, std::size_t>> channels;
    };
    shard& shard_for(std::string_view key);
    std::array<shard, 16> shards_;
};
}  // namespace pusher::app
