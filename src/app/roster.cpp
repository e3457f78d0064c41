#include "app/roster.hpp"

#include <algorithm>
#include <functional>

namespace pusher::app {
roster::shard& roster::shard_for(std::string_view key) {
    return shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

void roster::add(std::string const& user, std::shared_ptr<socketio::socket> const& s) {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    sh.sockets[user].push_back(s);
}

void roster::remove(std::string const& user, socketio::socket const* s) {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    auto it = sh.sockets.find(user);
    if (it == sh.sockets.end()) {
        return;
    }
    std::erase_if(it->second, [s](std::weak_ptr<socketio::socket> const& w) {
        auto p = w.lock();
        return !p || p.get() == s;
    });
    if (it->second.empty()) {
        sh.sockets.erase(it);
    }
}

std::vector<std::shared_ptr<socketio::socket>> roster::sockets_of(std::string const& user) {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    std::vector<std::shared_ptr<socketio::socket>> out;
    if (auto it = sh.sockets.find(user); it != sh.sockets.end()) {
        for (auto const& w : it->second) {
            if (auto p = w.lock()) {
                out.push_back(std::move(p));
            }
        }
    }
    return out;
}

void roster::joined(std::string const& channel, std::string const& user) {
    auto& sh = shard_for(channel);
    std::lock_guard lock(sh.mutex);
    ++sh.channels[channel][user];
}

void roster::left(std::string const& channel, std::string const& user) {
    auto& sh = shard_for(channel);
    std::lock_guard lock(sh.mutex);
    auto it = sh.channels.find(channel);
    if (it == sh.channels.end()) {
        return;
    }
    auto u = it->second.find(user);
    if (u != it->second.end() && --u->second == 0) {
        it->second.erase(u);
    }
    if (it->second.empty()) {
        sh.channels.erase(it);
    }
}

std::vector<std::string> roster::members(std::string const& channel) {
    auto& sh = shard_for(channel);
    std::lock_guard lock(sh.mutex);
    std::vector<std::string> out;
    if (auto it = sh.channels.find(channel); it != sh.channels.end()) {
        for (auto const& [user, n] : it->second) {
            out.push_back(user);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}
}  // namespace pusher::app
