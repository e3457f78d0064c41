#pragma once
// pacer: open-loop rate control for a publisher. Message n is due at start + n / rate; a sender that falls more than
// `max_burst` messages behind skips ahead (and counts it) instead of bursting to catch up, so a stall shows up as
// latency and as `skipped_slots`, not as a flood afterwards. rate == 0 means as fast as possible.
// Time is passed in (nanoseconds on any monotonic clock). Owned by one publisher thread.
#include <algorithm>
#include <cstdint>

namespace pusher::load {
class pacer {
  public:
    pacer(double rate_per_s, std::uint64_t start_ns, std::uint64_t max_burst = 0)
        : rate_(rate_per_s), start_ns_(start_ns), max_burst_(max_burst != 0 ? max_burst : default_burst(rate_per_s)) {}

    // Nanoseconds to wait before the next message may go (0 = send now). Call again after waiting.
    std::uint64_t wait_ns(std::uint64_t now_ns) {
        if (rate_ <= 0) {
            return 0;
        }
        std::uint64_t const due = due_ns(next_);
        if (now_ns < due) {
            return due - now_ns;
        }
        // Behind schedule: allow a burst of at most max_burst_ messages, drop the older slots.
        auto const elapsed = static_cast<double>(now_ns - start_ns_);
        auto const slots_due = static_cast<std::uint64_t>(elapsed * rate_ / 1e9);
        if (slots_due > next_ + max_burst_) {
            skipped_ += slots_due - max_burst_ - next_;
            next_ = slots_due - max_burst_;
        }
        return 0;
    }
    // Records that one message went out.
    void sent() { ++next_; }

    std::uint64_t skipped_slots() const { return skipped_; }

    static std::uint64_t default_burst(double rate) {
        // 5 ms worth of messages, at least 1.
        return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rate / 200.0));
    }

  private:
    std::uint64_t due_ns(std::uint64_t n) const {
        return start_ns_ + static_cast<std::uint64_t>(static_cast<double>(n) * 1e9 / rate_);
    }

    double rate_;
    std::uint64_t start_ns_;
    std::uint64_t max_burst_;
    std::uint64_t next_ = 0;
    std::uint64_t skipped_ = 0;
};
}  // namespace pusher::load
