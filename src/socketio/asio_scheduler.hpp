#pragma once
// asio_scheduler: the scheduler on a steady_timer per call, on one io_context (whose thread runs the callbacks).
// It owns nothing but a reference to that context, which must outlive it; pending calls die with the context.
#include "socketio/scheduler.hpp"

namespace boost::asio {
class io_context;
}

namespace pusher::socketio {
class asio_scheduler final : public scheduler {
  public:
    explicit asio_scheduler(boost::asio::io_context& context) : context_(context) {}
    void call_after(std::chrono::milliseconds delay, std::function<void()> fn) override;

  private:
    boost::asio::io_context& context_;
};
}  // namespace pusher::socketio
