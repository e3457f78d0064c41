#include "httpd/limiter.hpp"

#include <algorithm>
#include <cassert>

namespace pusher::httpd {
std::string_view to_string(refusal r) {
    switch (r) {
        case refusal::max_connections:
            return "max_connections";
        case refusal::max_connections_per_ip:
            return "max_connections_per_ip";
        case refusal::connection_rate_per_ip:
            return "connection_rate_per_ip";
    }
    return "unknown";
}

address_key make_address_key(std::array<std::uint8_t, 16> const& v6_bytes) {
    address_key k = v6_bytes;
    static constexpr std::uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!std::equal(std::begin(v4_mapped_prefix), std::end(v4_mapped_prefix), k.begin())) {
        std::fill(k.begin() + 8, k.end(), std::uint8_t{0});  // the /64
    }
    return k;
}

address_key make_address_key(std::array<std::uint8_t, 4> const& v4_bytes) {
    address_key k{};
    k[10] = 0xff;
    k[11] = 0xff;
    std::copy(v4_bytes.begin(), v4_bytes.end(), k.begin() + 12);
    return k;
}

void connection_ticket::reset() {
    if (auto l = std::move(limiter_)) {
        limiter_ = nullptr;
        l->release(key_, scope_);
    }
}

counters* connection_ticket::stats() const {
    return limiter_ ? &limiter_->stats() : nullptr;
}

connection_limiter::connection_limiter(connection_limits limits, std::uint64_t hash_seed)
    : limits_(limits),
      // A full bucket holds one second's worth: after a quiet second an address may open `rate` connections at once.
      burst_(static_cast<double>(std::max<std::size_t>(limits.rate_per_address, 1))),
      table_(16, key_hash{hash_seed}),
      sweep_at_(std::max<std::size_t>(limits.max_tracked_addresses, 16)) {}

bool connection_limiter::admit_total() {
    auto const before = stats_.open_connections.fetch_add(1, std::memory_order_relaxed);
    if (limits_.max_connections != 0 && before >= static_cast<std::int64_t>(limits_.max_connections)) {
        stats_.open_connections.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

connection_limiter::verdict connection_limiter::admit(address_key const& key, clock::time_point now,
                                                      admission_scope scope) {
    verdict v;
    auto refuse = [&](refusal r) {
        stats_.refused_total[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
        v.refused = r;
        return std::move(v);
    };
    bool const total = scope != admission_scope::address_only;
    if (scope == admission_scope::total_only || !per_address()) {
        if (!total) {
            return v;  // a session behind a proxy with no per-address limit: nothing to count, an empty ticket
        }
        if (!admit_total()) {
            return refuse(refusal::max_connections);
        }
    } else {
        std::lock_guard lock(mutex_);
        if (table_.size() >= sweep_at_) {
            sweep(now);
        }
        auto [it, inserted] = table_.try_emplace(key);
        entry& e = it->second;
        if (inserted) {
            e.tokens = burst_;
            e.last = now;
            stats_.tracked_addresses.store(static_cast<std::int64_t>(table_.size()), std::memory_order_relaxed);
        }
        if (limits_.rate_per_address != 0) {
            if (now > e.last) {
                std::chrono::duration<double> const elapsed = now - e.last;
                e.tokens = std::min(burst_, e.tokens + elapsed.count() * static_cast<double>(limits_.rate_per_address));
                e.last = now;
            }
            if (e.tokens < 1.0) {
                return refuse(refusal::connection_rate_per_ip);
            }
            e.tokens -= 1.0;
        }
        if (limits_.max_per_address != 0 && e.open >= limits_.max_per_address) {
            return refuse(refusal::max_connections_per_ip);
        }
        if (total && !admit_total()) {
            return refuse(refusal::max_connections);
        }
        ++e.open;
    }
    if (total) {
        stats_.accepted_total.fetch_add(1, std::memory_order_relaxed);
    }
    v.ticket = connection_ticket(shared_from_this(), key, scope);
    return v;
}

void connection_limiter::release(address_key const& key, admission_scope scope) {
    if (scope != admission_scope::address_only) {
        stats_.open_connections.fetch_sub(1, std::memory_order_relaxed);
    }
    if (scope == admission_scope::total_only || !per_address()) {
        return;
    }
    std::lock_guard lock(mutex_);
    auto it = table_.find(key);
    assert(it != table_.end() && it->second.open > 0);  // an entry with open connections is never swept
    if (it == table_.end()) {
        return;
    }
    if (--it->second.open == 0 && limits_.rate_per_address == 0) {
        table_.erase(it);  // nothing to remember about an address without a rate limit
        stats_.tracked_addresses.store(static_cast<std::int64_t>(table_.size()), std::memory_order_relaxed);
    }
}

// Under the lock. Forgets addresses with nothing open whose bucket is full again (they would be re-created exactly
// so). If that is not enough (a flood from many addresses within one second), forgets every address with nothing
// open: forgiving part of a bucket beats unbounded memory. Addresses with open connections stay (at most
// max_connections of them when that is set); the next sweep waits until the table has grown by a quarter again, so
// sweeping costs O(1) per admission amortised.
void connection_limiter::sweep(clock::time_point now) {
    auto const rate = static_cast<double>(limits_.rate_per_address);
    auto refilled = [&](entry const& e) {
        if (rate == 0) {
            return true;
        }
        std::chrono::duration<double> const elapsed = now - e.last;
        return e.tokens + elapsed.count() * rate >= burst_;
    };
    std::erase_if(table_, [&](auto const& kv) { return kv.second.open == 0 && refilled(kv.second); });
    auto const cap = std::max<std::size_t>(limits_.max_tracked_addresses, 16);
    if (table_.size() >= cap * 3 / 4) {
        std::erase_if(table_, [](auto const& kv) { return kv.second.open == 0; });
    }
    sweep_at_ = std::max(cap, table_.size() + cap / 4);
    stats_.tracked_addresses.store(static_cast<std::int64_t>(table_.size()), std::memory_order_relaxed);
}

std::size_t connection_limiter::tracked() const {
    std::lock_guard lock(mutex_);
    return table_.size();
}

std::size_t connection_limiter::open_from(address_key const& key) const {
    std::lock_guard lock(mutex_);
    auto it = table_.find(key);
    return it == table_.end() ? 0 : it->second.open;
}
}  // namespace pusher::httpd
