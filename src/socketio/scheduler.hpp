#pragma once
// scheduler: the only clock the Socket.IO layer uses (connect timeout, ack timeouts). An interface so that unit tests
// drive time by hand and the library stays free of Asio; asio_scheduler is the real one.
#include <chrono>
#include <functional>

namespace pusher::socketio {
class scheduler {
  public:
    virtual ~scheduler() = default;
    // Calls `fn` once, `delay` from now, on a thread of the scheduler's choosing. Thread-safe. There is no cancel:
    // callers capture weak references and check, on arrival, whether the call still matters.
    virtual void call_after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
};
}  // namespace pusher::socketio
