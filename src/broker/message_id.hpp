#pragma once
// message_id_generator: ids for published messages that have none: a random per-process prefix and a counter
// ("5f0c2a9be3d1c7a4-1f"). Unique enough across nodes, cheap (no random draw per message). One owner thread.
#include <cstdint>
#include <random>
#include <string>

#include <fmt/format.h>

namespace pusher::broker {
class message_id_generator {
  public:
    message_id_generator() : message_id_generator(std::random_device{}()) {}
    explicit message_id_generator(std::uint64_t seed) : prefix_(std::mt19937_64(seed)()) {}

    std::string next() { return fmt::format("{:016x}-{:x}", prefix_, ++counter_); }

  private:
    std::uint64_t prefix_;
    std::uint64_t counter_ = 0;
};
}  // namespace pusher::broker
