#include "app/held_sessions.hpp"

#include "cluster/handover_message.hpp"
#include "common/random_bytes.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <utility>

namespace pusher::app {
std::string held_sessions::make_pid(std::string_view node_id) {
    std::array<std::uint8_t, 16> bytes{};
    random_bytes(bytes.data(), bytes.size());
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(node_id);
    out.reserve(node_id.size() + 1 + bytes.size() * 2);
    out.push_back('.');
    for (unsigned char b : bytes) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 15]);
    }
    return out;
}

bool held_sessions::plausible_pid(std::string_view pid) {
    auto const dot = pid.rfind('.');
    if (dot == std::string_view::npos || !cluster::valid_node_id(pid.substr(0, dot))) {
        return false;
    }
    auto const random = pid.substr(dot + 1);
    return random.size() == 32 &&
           std::ranges::all_of(random, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string_view held_sessions::node_of(std::string_view pid) {
    return pid.substr(0, pid.rfind('.'));
}

bool held_sessions::known(std::string const& pid) {
    std::lock_guard lock(mutex_);
    return live_.contains(pid) || held_.contains(pid);
}

std::optional<std::vector<hub::channel_point>> held_sessions::channels_of(std::string const& pid,
                                                                          std::string_view user) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(pid);
    if (it == held_.end() || it->second.user != user) {
        return std::nullopt;
    }
    return it->second.channels;
}

void held_sessions::moved(std::string const& pid, std::string const& user, std::string node) {
    std::lock_guard lock(mutex_);
    moved_[pid] = moved_entry{user, std::move(node)};
}

std::optional<std::string> held_sessions::moved_to(std::string const& pid, std::string_view user) {
    std::lock_guard lock(mutex_);
    auto it = moved_.find(pid);
    if (it == moved_.end() || it->second.user != user) {
        return std::nullopt;
    }
    return it->second.node;
}

void held_sessions::handed_over(std::string const& user, std::chrono::steady_clock::time_point until) {
    std::lock_guard lock(mutex_);
    auto const now = std::chrono::steady_clock::now();
    std::erase_if(handed_users_, [now](auto const& e) { return e.second <= now; });  // bounded by recent hand-overs
    handed_users_[user] = until;
}

bool held_sessions::recently_handed_over(std::string_view user) {
    std::lock_guard lock(mutex_);
    if (handed_users_.empty()) {
        return false;
    }
    auto const now = std::chrono::steady_clock::now();
    std::erase_if(handed_users_, [now](auto const& e) { return e.second <= now; });
    return handed_users_.contains(std::string(user));
}

void held_sessions::clear_handed_over(std::string const& user) {
    std::lock_guard lock(mutex_);
    handed_users_.erase(user);
}

void held_sessions::forget_moved(std::string const& pid) {
    std::lock_guard lock(mutex_);
    moved_.erase(pid);
}

void held_sessions::live(std::string const& pid, std::string const& user, std::weak_ptr<socketio::socket> s) {
    std::lock_guard lock(mutex_);
    live_[pid] = live_entry{user, std::move(s), {}};
}

std::function<void()> held_sessions::forget(std::string const& pid) {
    std::lock_guard lock(mutex_);
    auto it = live_.find(pid);
    if (it == live_.end()) {
        return {};
    }
    auto waiter = std::move(it->second.waiter);
    live_.erase(it);
    return waiter;
}

std::function<void()> held_sessions::hold(std::string const& pid, held h) {
    std::lock_guard lock(mutex_);
    std::function<void()> waiter;
    if (auto it = live_.find(pid); it != live_.end()) {
        waiter = std::move(it->second.waiter);
        live_.erase(it);
    }
    held_[pid] = std::move(h);
    return waiter;
}

held_sessions::claim_result held_sessions::claim(std::string const& pid, std::string_view user, held& out,
                                                 std::function<void()> retry, std::shared_ptr<socketio::socket>& victim,
                                                 std::function<void()>& superseded) {
    std::lock_guard lock(mutex_);
    if (auto it = held_.find(pid); it != held_.end()) {
        if (it->second.user != user) {
            return claim_result::none;
        }
        out = std::move(it->second);
        held_.erase(it);
        return claim_result::claimed;
    }
    auto it = live_.find(pid);
    if (it == live_.end() || it->second.user != user || !retry) {
        return claim_result::none;  // unknown, another user's, or a retry that found the socket still open
    }
    victim = it->second.sock.lock();
    if (!victim) {
        return claim_result::none;
    }
    superseded = std::exchange(it->second.waiter, std::move(retry));
    return claim_result::wait;
}

std::optional<held_sessions::held> held_sessions::expire(std::string const& pid, std::uint64_t gen) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(pid);
    if (it == held_.end() || it->second.gen != gen) {
        return std::nullopt;
    }
    held h = std::move(it->second);
    held_.erase(it);
    return h;
}

std::vector<held_sessions::held> held_sessions::take_all() {
    std::lock_guard lock(mutex_);
    std::vector<held> out;
    out.reserve(held_.size());
    for (auto& [pid, h] : held_) {
        out.push_back(std::move(h));
    }
    held_.clear();
    return out;
}

std::vector<held_sessions::held> held_sessions::take_user(std::string_view user) {
    std::lock_guard lock(mutex_);
    std::vector<held> out;
    for (auto it = held_.begin(); it != held_.end();) {
        if (it->second.user == user) {
            out.push_back(std::move(it->second));
            it = held_.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}
}  // namespace pusher::app
