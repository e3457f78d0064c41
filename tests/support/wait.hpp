#pragma once
// Waiting with a deadline for state a test can only poll (a counter another thread moves, a socket count): checks
// `pred` every 2 ms until it holds or `timeout` passes. Not a substitute for awaiting an event the test can see.
#include <chrono>
#include <functional>
#include <thread>

namespace pusher::test {
inline bool wait_until(std::function<bool()> const& pred,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}
}  // namespace pusher::test
