#include "hub/history.hpp"

#include <charconv>

namespace pusher::hub {
std::string format_offset(seq_t s) {
    char buf[24];
    auto const r = std::to_chars(buf, buf + sizeof buf, s);
    return {buf, r.ptr};
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

std::ptrdiff_t history::append(entry e, history_limits const& lim, lost_messages& lost) {
    std::size_t const added = e.bytes();
    std::size_t freed = 0;
    entries_.push_back(std::move(e));
    bytes_ += added;
    while (!entries_.empty() && (entries_.size() > lim.max_events || bytes_ > lim.max_bytes)) {
        freed += pop_front(lost);
    }
    return static_cast<std::ptrdiff_t>(added) - static_cast<std::ptrdiff_t>(freed);
}

bool history::drop_oldest(lost_messages& lost, std::size_t& freed) {
    if (entries_.empty()) {
        return false;
    }
    freed += pop_front(lost);
    return true;
}

std::size_t history::pop_front(lost_messages& lost) {
    entry& e = entries_.front();
    std::size_t const b = e.bytes();
    if (!e.delivered && e.origin) {
        lost.push_back(std::move(e.origin));
    }
    trimmed_through_ = seq_max(trimmed_through_, e.seq);
    bytes_ -= b;
    entries_.pop_front();
    return b;
}

void history::forget_origin(entry& e) {
    e.delivered = true;
    if (e.origin) {
        bytes_ -= e.origin->payload.size();
        e.origin.reset();
    }
}

void history::replay_after(seq_t offset, std::vector<std::pair<seq_t, frame>>& out) {
    for (auto& e : entries_) {
        if (seq_after(e.seq, offset)) {
            out.emplace_back(e.seq, e.f);
            forget_origin(e);
        }
    }
}

void history::take_undelivered(lost_messages& out) {
    for (auto& e : entries_) {
        if (!e.delivered) {
            if (e.origin) {
                out.push_back(e.origin);
            }
            forget_origin(e);
        }
    }
}
}  // namespace pusher::hub
