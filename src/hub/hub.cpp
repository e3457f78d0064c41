#include "hub/hub.hpp"

#include "engineio/session.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace pusher::hub {
namespace {
const auto empty_list = std::make_shared<session_list const>();
}  // namespace

hub::hub(std::size_t shards) {
    std::size_t const n = std::bit_ceil(std::max<std::size_t>(shards, 1));
    shards_ = std::make_unique<shard[]>(n);
    shard_mask_ = n - 1;
    shard_shift_ = static_cast<unsigned>(64 - std::countr_zero(n));
}

hub::~hub() = default;

hub::shard& hub::shard_for(std::string_view user) const {
    if (shard_mask_ == 0) {
        return shards_[0];
    }
    // Fibonacci hashing: the shard comes from the high bits of a multiplied hash, so it does not correlate with the
    // map's own bucket choice (the low bits modulo a prime) inside the shard.
    auto const h = static_cast<std::uint64_t>(string_hash{}(user)) * 0x9E3779B97F4A7C15ull;
    return shards_[static_cast<std::size_t>(h >> shard_shift_) & shard_mask_];
}

bool hub::attach(std::string_view user, session_ptr s) {
    if (!s) {
        return false;
    }
    auto& sh = shard_for(user);
    {
        std::lock_guard lock(sh.mutex);
        auto it = sh.users.find(user);
        if (it == sh.users.end()) {
            sh.users.emplace(std::string(user), std::make_shared<session_list const>(session_list{std::move(s)}));
            users_.fetch_add(1, std::memory_order_relaxed);
        } else {
            auto const& old = *it->second;
            if (std::any_of(old.begin(), old.end(), [&](session_ptr const& p) { return p == s; })) {
                return false;
            }
            auto next = std::make_shared<session_list>();
            next->reserve(old.size() + 1);
            next->insert(next->end(), old.begin(), old.end());
            next->push_back(std::move(s));
            it->second = std::move(next);
        }
    }
    sessions_.fetch_add(1, std::memory_order_relaxed);
    attaches_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool hub::detach(std::string_view user, engineio::session const& s) {
    auto& sh = shard_for(user);
    std::shared_ptr<session_list const> retired;  // released after the lock: may hold the last session reference
    {
        std::lock_guard lock(sh.mutex);
        auto it = sh.users.find(user);
        if (it == sh.users.end()) {
            return false;
        }
        auto const& old = *it->second;
        auto const pos = std::find_if(old.begin(), old.end(), [&](session_ptr const& p) { return p.get() == &s; });
        if (pos == old.end()) {
            return false;
        }
        if (old.size() == 1) {
            retired = std::move(it->second);
            sh.users.erase(it);
            users_.fetch_sub(1, std::memory_order_relaxed);
        } else {
            auto next = std::make_shared<session_list>();
            next->reserve(old.size() - 1);
            next->insert(next->end(), old.begin(), pos);
            next->insert(next->end(), pos + 1, old.end());
            retired = std::exchange(it->second, std::move(next));
        }
    }
    sessions_.fetch_sub(1, std::memory_order_relaxed);
    detaches_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

std::size_t hub::deliver(std::string_view user, frame const& f) const {
    std::shared_ptr<session_list const> list;
    {
        auto& sh = shard_for(user);
        std::lock_guard lock(sh.mutex);
        auto it = sh.users.find(user);
        if (it == sh.users.end()) {
            return 0;
        }
        list = it->second;
    }
    // Outside the lock (see the class comment): per session one frame refcount and a send, which from another thread
    // takes the session's inbox lock (and the worker's mailbox lock when the inbox was empty); no post per session.
    for (auto const& s : *list) {
        s->send(f);
    }
    return list->size();
}

std::size_t hub::deliver_all(frame const& f) const {
    std::size_t sent = 0;
    std::vector<std::shared_ptr<session_list const>> lists;
    for (std::size_t i = 0; i <= shard_mask_; ++i) {
        auto& sh = shards_[i];
        lists.clear();
        {
            std::lock_guard lock(sh.mutex);
            lists.reserve(sh.users.size());
            for (auto const& [user, list] : sh.users) {
                lists.push_back(list);
            }
        }
        for (auto const& list : lists) {
            for (auto const& s : *list) {
                s->send(f);
            }
            sent += list->size();
        }
    }
    return sent;
}

std::shared_ptr<session_list const> hub::sessions_of(std::string_view user) const {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    auto it = sh.users.find(user);
    return it == sh.users.end() ? empty_list : it->second;
}

bool hub::has(std::string_view user) const {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    return sh.users.find(user) != sh.users.end();
}

hub_stats hub::stats() const {
    hub_stats s;
    s.attaches = attaches_.load(std::memory_order_relaxed);
    s.detaches = detaches_.load(std::memory_order_relaxed);
    s.users = users_.load(std::memory_order_relaxed);
    s.sessions = sessions_.load(std::memory_order_relaxed);
    return s;
}
}  // namespace pusher::hub
