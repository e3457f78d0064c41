#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>

namespace pusher::load {
std::size_t histogram::bucket_of(std::uint64_t v) {
    if (v < exact_below) {
        return static_cast<std::size_t>(v);
    }
    unsigned const e = 63u - static_cast<unsigned>(std::countl_zero(v));  // >= sub_bits + 1
    unsigned const shift = e - sub_bits;
    std::uint64_t const mantissa = v >> shift;  // in [64, 128)
    return exact_below + (e - sub_bits - 1) * (std::size_t{1} << sub_bits) +
           static_cast<std::size_t>(mantissa - (std::uint64_t{1} << sub_bits));
}

std::uint64_t histogram::bucket_low(std::size_t index) {
    if (index < exact_below) {
        return index;
    }
    std::size_t const rel = index - exact_below;
    unsigned const e = static_cast<unsigned>(rel >> sub_bits) + sub_bits + 1;
    std::uint64_t const mantissa = (std::uint64_t{1} << sub_bits) + (rel & ((std::size_t{1} << sub_bits) - 1));
    return mantissa << (e - sub_bits);
}

std::uint64_t histogram::bucket_high(std::size_t index) {
    if (index < exact_below) {
        return index;
    }
    std::size_t const rel = index - exact_below;
    unsigned const e = static_cast<unsigned>(rel >> sub_bits) + sub_bits + 1;
    return bucket_low(index) + ((std::uint64_t{1} << (e - sub_bits)) - 1);
}

void histogram::record(std::uint64_t v) {
    ++buckets_[bucket_of(v)];
    ++count_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
}

void histogram::merge(histogram const& other) {
    for (std::size_t i = 0; i < bucket_count; ++i) {
        buckets_[i] += other.buckets_[i];
    }
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t histogram::quantile(double q) const {
    if (count_ == 0) {
        return 0;
    }
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    if (rank == count_) {
        return max_;
    }
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += buckets_[i];
        if (seen >= rank) {
            std::uint64_t const mid = bucket_low(i) + (bucket_high(i) - bucket_low(i)) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

std::string histogram::serialize() const {
    std::string out = std::to_string(min()) + ' ' + std::to_string(max_) + ' ' + std::to_string(sum_);
    for (std::size_t i = 0; i < bucket_count; ++i) {
        if (buckets_[i] != 0) {
            out += ' ';
            out += std::to_string(i);
            out += ':';
            out += std::to_string(buckets_[i]);
        }
    }
    return out;
}

bool histogram::deserialize(std::string_view text) {
    histogram h;
    std::uint64_t head[3] = {};
    char const* p = text.data();
    char const* const end = text.data() + text.size();
    auto skip_spaces = [&] {
        while (p < end && *p == ' ') {
            ++p;
        }
    };
    for (auto& v : head) {
        skip_spaces();
        auto [next, ec] = std::from_chars(p, end, v);
        if (ec != std::errc{}) {
            return false;
        }
        p = next;
    }
    while (true) {
        skip_spaces();
        if (p == end) {
            break;
        }
        std::size_t index = 0;
        std::uint64_t n = 0;
        auto r1 = std::from_chars(p, end, index);
        if (r1.ec != std::errc{} || r1.ptr == end || *r1.ptr != ':' || index >= bucket_count) {
            return false;
        }
        auto r2 = std::from_chars(r1.ptr + 1, end, n);
        if (r2.ec != std::errc{}) {
            return false;
        }
        p = r2.ptr;
        h.buckets_[index] += n;
        h.count_ += n;
    }
    if (h.count_ != 0) {
        h.min_ = head[0];
        h.max_ = head[1];
        h.sum_ = head[2];
    }
    *this = h;
    return true;
}
}  // namespace pusher::load
