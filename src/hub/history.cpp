#include "hub/history.hpp"

#include <charconv>
#include <string>

namespace pusher::hub {
offset_text::offset_text(seq_t s) {
    auto const r = std::to_chars(buf_, buf_ + sizeof buf_, s);  // 2^64 - 1 has 20 digits: always fits
    len_ = static_cast<std::size_t>(r.ptr - buf_);
}

std::uint64_t dedup_key(std::string_view message_id, std::string_view event, std::string_view payload,
                        std::optional<std::int64_t> timestamp_ms) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto const mix = [&h](std::string_view bytes) {
        for (unsigned char c : bytes) {
            h = (h ^ c) * 0x100000001b3ull;
        }
        h = (h ^ 0xff) * 0x100000001b3ull;  // a separator no UTF-8 text contains: ("ab","c") differs from ("a","bc")
    };
    if (!message_id.empty()) {
        mix("id");
        mix(message_id);
        return h;
    }
    mix(event);
    mix(payload);
    mix(timestamp_ms ? std::to_string(*timestamp_ms) : std::string());
    return h;
}

std::optional<seq_t> parse_offset(std::string_view text) {
    if (text.empty() || text.size() > 20) {
        return std::nullopt;
    }
    seq_t v = 0;
    auto const r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

void history::append(entry e, history_limits const& lim, lost_messages& lost) {
    bytes_ += e.bytes();
    if (!entries_) {
        entries_ = std::make_unique<std::deque<entry>>();
    }
    entries_->push_back(std::move(e));
    while (!empty() && (size() > lim.max_events || bytes_ > lim.max_bytes)) {
        pop_front(lost);
    }
}

bool history::drop_oldest(lost_messages& lost) {
    if (empty()) {
        return false;
    }
    pop_front(lost);
    return true;
}

void history::pop_front(lost_messages& lost) {
    entry& e = entries_->front();
    bytes_ -= e.bytes();  // before the origin moves out: it counts in bytes()
    if (!e.delivered && e.origin) {
        lost.push_back(std::move(e.origin));
    }
    trimmed_through_ = seq_max(trimmed_through_, e.seq);
    entries_->pop_front();
    if (entries_->empty()) {
        entries_.reset();
    }
}

void history::forget_origin(entry& e) {
    e.delivered = true;
    if (e.origin) {
        bytes_ -= e.origin->payload.size();
        e.origin.reset();
    }
}

void history::replay_after(seq_t offset, std::vector<replayed>& out) {
    if (!entries_) {
        return;
    }
    for (auto& e : *entries_) {
        if (seq_after(e.seq, offset)) {
            out.push_back({e.seq, e.key, e.f});
            forget_origin(e);
        }
    }
}

void history::take_undelivered(lost_messages& out) {
    if (!entries_) {
        return;
    }
    for (auto& e : *entries_) {
        if (!e.delivered) {
            if (e.origin) {
                out.push_back(e.origin);
            }
            forget_origin(e);
        }
    }
}
}  // namespace pusher::hub
