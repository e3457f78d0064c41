#pragma once
// asio_scheduler: the scheduler on one io_context (whose thread runs the callbacks), with ONE steady_timer for all
// pending calls. Owns the pending calls (a heap by deadline, behind a mutex: call_after comes from every session's
// thread) and that timer (touched on the context's thread only). The context must outlive it, and must be stopped
// before it is destroyed (pending calls then never run).
//
// Why one timer: every Socket.IO connection schedules its connect timeout (45 s) and almost never needs it. A
// steady_timer per call cost a post to the context's thread, a timer and a pending wait per connection for 45 s,
// and a wake-up when it expired; now a call is a heap push under a mutex, and the context's thread is woken only
// when the earliest deadline changes.
#include "socketio/scheduler.hpp"

#include <memory>

namespace boost::asio {
class io_context;
}

namespace pusher::socketio {
class asio_scheduler final : public scheduler {
  public:
    explicit asio_scheduler(boost::asio::io_context& context);
    ~asio_scheduler() override;
    asio_scheduler(asio_scheduler const&) = delete;
    asio_scheduler& operator=(asio_scheduler const&) = delete;

    void call_after(std::chrono::milliseconds delay, std::function<void()> fn) override;

    // Calls not yet run (for tests and metrics). Any thread.
    std::size_t pending() const;

  private:
    struct state;
    std::shared_ptr<state> state_;
};
}  // namespace pusher::socketio
