#include "hub/hub.hpp"

#include "engineio/session.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace pusher::hub {
namespace {
const auto empty_list = std::make_shared<session_list const>();
}  // namespace

hub::hub(std::size_t shards, recovery_options rec) : rec_(rec), broadcasts_(rec.first_seq - 1) {
    std::size_t const n = std::bit_ceil(std::max<std::size_t>(shards, 1));
    shards_ = std::make_unique<shard[]>(n);
    shard_mask_ = n - 1;
    shard_shift_ = static_cast<unsigned>(64 - std::countr_zero(n));
    shard_budget_ = std::max<std::size_t>(rec_.node_max_bytes / n, 1);
    next_seq_.store(rec_.first_seq, std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
        shards_[i].through = rec_.first_seq - 1;
        shards_[i].broadcast_through = rec_.first_seq - 1;
    }
}

hub::~hub() = default;

hub::shard& hub::shard_for(std::string_view key) const {
    if (shard_mask_ == 0) {
        return shards_[0];
    }
    // Fibonacci hashing: the shard comes from the high bits of a multiplied hash, so it does not correlate with the
    // map's own bucket choice (the low bits modulo a prime) inside the shard.
    auto const h = static_cast<std::uint64_t>(string_hash{}(key)) * 0x9E3779B97F4A7C15ull;
    return shards_[static_cast<std::size_t>(h >> shard_shift_) & shard_mask_];
}

namespace {
// `list` with `s` added (copy on write).
std::shared_ptr<session_list const> with(session_list const& list, session_ptr s) {
    auto next = std::make_shared<session_list>();
    next->reserve(list.size() + 1);
    next->insert(next->end(), list.begin(), list.end());
    next->push_back(std::move(s));
    return next;
}
}  // namespace

bool hub::attach(std::string_view user, session_ptr s, seq_t* start) {
    return add(kind::user, user, std::move(s), start);
}

bool hub::join(std::string_view channel, session_ptr s, seq_t* joined) {
    return add(kind::channel, channel, std::move(s), joined);
}

bool hub::add(kind k, std::string_view key, session_ptr s, seq_t* start) {
    if (!s) {
        return false;
    }
    auto& sh = shard_for(key);
    {
        std::lock_guard lock(sh.mutex);
        auto& rec = record_for(sh, k, key);
        if (std::any_of(rec.sessions->begin(), rec.sessions->end(), [&](session_ptr const& p) { return p == s; })) {
            return false;
        }
        add_session(rec, k, std::move(s));
        if (start != nullptr) {
            *start = sh.through;
        }
    }
    if (k == kind::user) {
        sessions_.fetch_add(1, std::memory_order_relaxed);
        attaches_.fetch_add(1, std::memory_order_relaxed);
    } else {
        members_.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

hub::user_record& hub::record_for(shard& sh, kind k, std::string_view key) {
    auto& map = map_of(sh, k);
    auto it = map.find(key);
    if (it == map.end()) {
        it = map.emplace(std::string(key), user_record{empty_list, 0, history(sh.through)}).first;
    }
    return it->second;
}

void hub::erase_if_unused(shard& sh, kind k, user_map::iterator it) {
    if (it->second.sessions->empty() && it->second.held == 0) {
        account(sh, it->second.recorded.bytes(), 0);
        map_of(sh, k).erase(it);
    }
}

void hub::account(shard& sh, std::size_t before, std::size_t after) {
    sh.bytes = sh.bytes - before + after;
    account_node(before, after);
}

void hub::account_node(std::size_t before, std::size_t after) {
    if (after >= before) {
        history_bytes_.fetch_add(after - before, std::memory_order_relaxed);
    } else {
        history_bytes_.fetch_sub(before - after, std::memory_order_relaxed);
    }
}

void hub::add_session(user_record& rec, kind k, session_ptr s) {
    if (rec.sessions->empty()) {
        (k == kind::user ? users_ : channels_).fetch_add(1, std::memory_order_relaxed);
    }
    rec.sessions = with(*rec.sessions, std::move(s));
}

bool hub::detach(std::string_view user, engineio::session const& s) {
    return remove(kind::user, user, s, false);
}

bool hub::leave(std::string_view channel, engineio::session const& s) {
    return remove(kind::channel, channel, s, false);
}

bool hub::hold(std::string_view user, engineio::session const& s, std::span<channel_point const> channels) {
    if (!remove(kind::user, user, s, true)) {
        return false;
    }
    for (auto const& c : channels) {
        remove(kind::channel, c.channel, s, true);
    }
    held_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool hub::remove(kind k, std::string_view key, engineio::session const& s, bool keep_held) {
    auto& sh = shard_for(key);
    std::shared_ptr<session_list const> retired;  // released after the lock: may hold the last session reference
    {
        std::lock_guard lock(sh.mutex);
        auto& map = map_of(sh, k);
        auto it = map.find(key);
        if (it == map.end()) {
            return false;
        }
        auto& rec = it->second;
        auto const& old = *rec.sessions;
        auto const pos = std::find_if(old.begin(), old.end(), [&](session_ptr const& p) { return p.get() == &s; });
        if (pos == old.end()) {
            return false;
        }
        if (keep_held) {
            ++rec.held;  // keeps the record (and its history) for a recovery
        }
        if (old.size() == 1) {
            (k == kind::user ? users_ : channels_).fetch_sub(1, std::memory_order_relaxed);
            retired = std::exchange(rec.sessions, empty_list);
            erase_if_unused(sh, k, it);
        } else {
            auto next = std::make_shared<session_list>();
            next->reserve(old.size() - 1);
            next->insert(next->end(), old.begin(), pos);
            next->insert(next->end(), pos + 1, old.end());
            retired = std::exchange(rec.sessions, std::move(next));
        }
    }
    if (k == kind::user) {
        sessions_.fetch_sub(1, std::memory_order_relaxed);
        detaches_.fetch_add(1, std::memory_order_relaxed);
    } else {
        members_.fetch_sub(1, std::memory_order_relaxed);
    }
    return true;
}

void hub::end_held(shard& sh, kind k, user_map::iterator it, lost_messages& lost) {
    auto& rec = it->second;
    if (--rec.held == 0) {
        std::size_t const before = rec.recorded.bytes();
        rec.recorded.take_undelivered(lost);
        account(sh, before, rec.recorded.bytes());
    }
    erase_if_unused(sh, k, it);
}

void hub::release_held(std::string_view user, lost_messages& lost, std::span<channel_point const> channels) {
    {
        auto& sh = shard_for(user);
        std::lock_guard lock(sh.mutex);
        auto it = sh.users.find(user);
        if (it == sh.users.end() || it->second.held == 0) {
            return;
        }
        held_.fetch_sub(1, std::memory_order_relaxed);
        end_held(sh, kind::user, it, lost);
    }
    release_held_channels(channels);
}

void hub::release_held_channels(std::span<channel_point const> channels) {
    lost_messages none;  // channel events are never undelivered: nothing is lost
    for (auto const& c : channels) {
        auto& sh = shard_for(c.channel);
        std::lock_guard lock(sh.mutex);
        auto it = sh.channels.find(c.channel);
        if (it != sh.channels.end() && it->second.held > 0) {
            end_held(sh, kind::channel, it, none);
        }
    }
}

seq_t hub::reserve(std::string_view user) {
    seq_t const from = reserve(kind::user, user);
    held_.fetch_add(1, std::memory_order_relaxed);  // a held session (a channel's place is not one)
    return from;
}

seq_t hub::reserve_channel(std::string_view channel) {
    return reserve(kind::channel, channel);
}

seq_t hub::reserve(kind k, std::string_view key) {
    auto& sh = shard_for(key);
    std::lock_guard lock(sh.mutex);
    ++record_for(sh, k, key).held;
    return sh.through;
}

std::optional<std::vector<replayed>> hub::recover(std::string_view user, session_ptr s, std::optional<seq_t> offset,
                                                  seq_t start, std::span<channel_point const> channels) {
    if (!s) {
        return std::nullopt;
    }
    return take_held(user, std::move(s), offset, start, channels);
}

std::optional<std::vector<replayed>> hub::hand_over(std::string_view user, std::optional<seq_t> offset, seq_t start,
                                                    std::span<channel_point const> channels) {
    return take_held(user, nullptr, offset, start, channels);
}

std::optional<std::vector<replayed>> hub::take_held(std::string_view user, session_ptr s, std::optional<seq_t> offset,
                                                    seq_t start, std::span<channel_point const> channels) {
    // Every record involved is locked at once, in shard order (every other path holds one shard lock at a time),
    // so that what each replays and what reaches `s` live from then on meet exactly.
    auto& sh = shard_for(user);
    std::vector<shard*> order{&sh};
    for (auto const& c : channels) {
        order.push_back(&shard_for(c.channel));
    }
    std::sort(order.begin(), order.end());
    order.erase(std::unique(order.begin(), order.end()), order.end());
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(order.size());
    for (shard* o : order) {
        locks.emplace_back(o->mutex);
    }

    auto it = sh.users.find(user);
    if (it == sh.users.end() || it->second.held == 0) {
        return std::nullopt;
    }
    auto& rec = it->second;
    seq_t const from = offset ? seq_max(*offset, start) : start;
    // An offset this node never issued (the client cannot have read it), or frames after it capped out.
    if (seq_after(from, next_seq_.load(std::memory_order_relaxed) - 1) || !rec.recorded.covers(from)) {
        return std::nullopt;
    }
    std::vector<user_map::iterator> joined;
    for (auto const& c : channels) {
        auto& csh = shard_for(c.channel);
        auto cit = csh.channels.find(c.channel);
        if (cit == csh.channels.end() || cit->second.held == 0 ||
            !cit->second.recorded.covers(seq_max(from, c.joined))) {
            return std::nullopt;
        }
        joined.push_back(cit);
    }
    std::vector<replayed> replay;
    {
        std::lock_guard blk(broadcast_mutex_);
        if (!broadcasts_.covers(from)) {
            return std::nullopt;
        }
        // The broadcasts that already passed this shard; later ones reach `s` live once it is attached below.
        broadcasts_.replay_after(from, replay);
        std::erase_if(replay, [&](replayed const& r) { return seq_after(r.seq, sh.broadcast_through); });
    }
    std::size_t const before = rec.recorded.bytes();
    rec.recorded.replay_after(from, replay);
    account(sh, before, rec.recorded.bytes());
    for (std::size_t i = 0; i < channels.size(); ++i) {
        auto& csh = shard_for(channels[i].channel);
        auto& crec = joined[i]->second;
        std::size_t const cbefore = crec.recorded.bytes();
        crec.recorded.replay_after(seq_max(from, channels[i].joined), replay);
        account(csh, cbefore, crec.recorded.bytes());
    }
    // One order for all of them: the node's (every offset comes from one counter, all within the window).
    std::stable_sort(replay.begin(), replay.end(),
                     [](replayed const& a, replayed const& b) { return seq_after(b.seq, a.seq); });

    bool const attach = s != nullptr;
    for (std::size_t i = 0; i < channels.size(); ++i) {
        auto& crec = joined[i]->second;
        --crec.held;
        if (attach) {
            add_session(crec, kind::channel, s);
        } else {
            erase_if_unused(shard_for(channels[i].channel), kind::channel, joined[i]);
        }
    }
    --rec.held;
    if (attach) {
        add_session(rec, kind::user, std::move(s));
    } else {
        erase_if_unused(sh, kind::user, it);
    }
    locks.clear();
    held_.fetch_sub(1, std::memory_order_relaxed);
    if (attach) {
        sessions_.fetch_add(1, std::memory_order_relaxed);
        attaches_.fetch_add(1, std::memory_order_relaxed);
        members_.fetch_add(channels.size(), std::memory_order_relaxed);
    }
    return replay;
}

std::size_t hub::deliver(std::string_view user, frame const& f) const {
    return send_to(kind::user, user, f);
}

std::size_t hub::deliver_channel(std::string_view channel, frame const& f) const {
    return send_to(kind::channel, channel, f);
}

std::size_t hub::send_to(kind k, std::string_view key, frame const& f) const {
    std::shared_ptr<session_list const> list;
    {
        auto& sh = shard_for(key);
        std::lock_guard lock(sh.mutex);
        auto& map = map_of(sh, k);
        auto it = map.find(key);
        if (it == map.end()) {
            return 0;
        }
        list = it->second.sessions;
    }
    // Outside the lock (see the class comment): per session one frame refcount and a send, which from another thread
    // takes the session's inbox lock (and the worker's mailbox lock when the inbox was empty); no post per session.
    for (auto const& s : *list) {
        s->send(f);
    }
    return list->size();
}

std::size_t hub::deliver_all(frame const& f) const {
    return send_to_all(f, std::nullopt);
}

std::size_t hub::send_to_all(frame const& f, std::optional<seq_t> seq) const {
    std::size_t sent = 0;
    std::vector<std::shared_ptr<session_list const>> lists;
    for (std::size_t i = 0; i <= shard_mask_; ++i) {
        auto& sh = shards_[i];
        lists.clear();
        {
            std::lock_guard lock(sh.mutex);
            if (seq) {
                sh.through = *seq;
                sh.broadcast_through = *seq;
            }
            lists.reserve(sh.users.size());
            for (auto const& [user, rec] : sh.users) {
                lists.push_back(rec.sessions);
            }
        }
        // Outside the lock, as in deliver().
        for (auto const& list : lists) {
            for (auto const& s : *list) {
                s->send(f);
            }
            sent += list->size();
        }
    }
    return sent;
}

delivery hub::deliver_recorded(std::string_view user, frame const& f, seq_t seq,
                               std::function<std::shared_ptr<broker::undelivered const>()> const& origin,
                               std::uint64_t key) {
    return record_and_send(kind::user, user, f, seq, key, &origin);
}

delivery hub::record_and_send(kind k, std::string_view name, frame const& f, seq_t seq, std::uint64_t key,
                              origin_fn const* origin) {
    delivery d;
    std::shared_ptr<session_list const> list;
    {
        auto& sh = shard_for(name);
        std::lock_guard lock(sh.mutex);
        sh.through = seq;
        auto& map = map_of(sh, k);
        auto it = map.find(name);
        if (it == map.end()) {
            return d;
        }
        auto& rec = it->second;
        list = rec.sessions;
        d.held = rec.held;
        // Without an origin (a channel event: for whoever is subscribed) an entry never counts as undelivered.
        history::entry e{seq, f, origin == nullptr || !list->empty(), nullptr, key};
        if (!e.delivered) {
            e.origin = (*origin)();
        }
        std::size_t const before = rec.recorded.bytes();
        rec.recorded.append(std::move(e), rec_.per_user, d.lost);
        // The node-wide budget, split over the shards: this record's oldest go first.
        while (sh.bytes - before + rec.recorded.bytes() > shard_budget_ && rec.recorded.drop_oldest(d.lost)) {
        }
        account(sh, before, rec.recorded.bytes());
    }
    for (auto const& s : *list) {
        s->send(f);
    }
    d.sessions = list->size();
    return d;
}

std::size_t hub::deliver_all_recorded(frame const& f, seq_t seq, std::uint64_t key) {
    {
        std::lock_guard lock(broadcast_mutex_);
        lost_messages none;  // broadcasts are never republished: they are for whoever is online
        std::size_t const before = broadcasts_.bytes();
        broadcasts_.append(history::entry{seq, f, true, nullptr, key}, rec_.per_user, none);
        account_node(before, broadcasts_.bytes());
    }
    return send_to_all(f, seq);
}

delivery hub::deliver_channel_recorded(std::string_view channel, frame const& f, seq_t seq, std::uint64_t key) {
    return record_and_send(kind::channel, channel, f, seq, key, nullptr);
}

std::shared_ptr<session_list const> hub::sessions_of(std::string_view user) const {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    auto it = sh.users.find(user);
    return it == sh.users.end() ? empty_list : it->second.sessions;
}

bool hub::has(std::string_view user) const {
    auto& sh = shard_for(user);
    std::lock_guard lock(sh.mutex);
    auto it = sh.users.find(user);
    return it != sh.users.end() && !it->second.sessions->empty();
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
