#pragma once
// histogram: an HDR-like log-linear histogram of non-negative integers (nanoseconds here): exact below 128, then 64
// sub-buckets per power of two (relative error below 1.6 %). Fixed size, no allocation while recording; one per
// thread, merged at the end. Not thread-safe: owned by one thread at a time.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pusher::load {
class histogram {
  public:
    static constexpr unsigned sub_bits = 6;
    static constexpr std::size_t exact_below = std::size_t{2} << sub_bits;  // 128
    static constexpr std::size_t bucket_count = exact_below + (63 - sub_bits) * (std::size_t{1} << sub_bits);

    void record(std::uint64_t v);
    void merge(histogram const& other);
    void clear() { *this = histogram{}; }

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_); }
    // The value at quantile q in [0, 1]: the midpoint of the bucket holding the ceil(q * count)-th value, clamped
    // to [min, max] (so quantile(1) == max exactly). 0 when empty.
    std::uint64_t quantile(double q) const;

    static std::size_t bucket_of(std::uint64_t v);
    static std::uint64_t bucket_low(std::size_t index);   // smallest value in the bucket
    static std::uint64_t bucket_high(std::size_t index);  // largest value in the bucket

    // Sparse text form "min max sum idx:count idx:count ..." to ship a histogram between processes.
    std::string serialize() const;
    // Parses serialize()'s output; false (and *this unchanged) on malformed input.
    bool deserialize(std::string_view text);

  private:
    std::array<std::uint64_t, bucket_count> buckets_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
};
}  // namespace pusher::load
