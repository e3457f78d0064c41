#pragma once
// backoff: reconnect delays, capped exponential with jitter: min, 2*min, 4*min ... max, each scaled by a random
// factor in [0.75, 1] so that many nodes that lost the same broker do not come back in lockstep. Randomness is
// seeded by the caller (tests pass a fixed seed). One owner thread.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace pusher::broker {
class backoff {
  public:
    backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::uint64_t seed)
        : min_(std::max(min, std::chrono::milliseconds(1))), max_(std::max(max, min_)), next_(min_), rng_(seed) {}

    std::chrono::milliseconds next() {
        auto const base = next_;
        next_ = std::min(next_ * 2, max_);
        auto const factor = std::uniform_real_distribution<double>(0.75, 1.0)(rng_);
        return std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * factor));
    }
    void reset() { next_ = min_; }

  private:
    std::chrono::milliseconds min_, max_, next_;
    std::mt19937_64 rng_;
};
}  // namespace pusher::broker
