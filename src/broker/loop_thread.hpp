#pragma once
// loop_thread: a single-thread io_context on a thread of its own, with an idempotent start / stop. Each broker
// thread is one: memory_broker's, and the one of each AMQP connection (amqp_link). Also the two helpers every broker
// thread needs to call out safely: a done callback or a sink that throws is logged, never unwinds the loop.
// Internal to the broker module: include it from .cpp files only (it pulls in Asio).
#include "broker/broker.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

namespace pusher::broker {
class loop_thread {
  public:
    loop_thread() = default;
    ~loop_thread();  // joins a thread that stop() did not (the owner should have called stop())
    loop_thread(loop_thread const&) = delete;
    loop_thread& operator=(loop_thread const&) = delete;

    boost::asio::io_context& context() { return ioc_; }

    // Starts the thread, named `name` (at most 15 bytes: "amqp-consumer"); `first` is its first handler. At most
    // once, and never after stop().
    void start(std::function<void()> first, char const* name);
    // Runs `last` on the thread (it cancels whatever keeps the loop busy: timers, socket waits), lets the handlers
    // already queued run, and joins. Idempotent; before start() it only marks the loop stopped.
    void stop(std::function<void()> last);
    // True once stop() began (any thread): callers complete at once instead of posting to a loop that will not run.
    bool stopped() const { return stopped_.load(std::memory_order_acquire); }
    // Started and not stopped.
    bool running() const { return started_.load(std::memory_order_acquire) && !stopped(); }

    template <class F>
    void post(F&& f) {
        boost::asio::post(ioc_, std::forward<F>(f));
    }

  private:
    boost::asio::io_context ioc_{1};
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    std::thread thread_;
    std::mutex lifecycle_;
    std::atomic<bool> started_{false};
    std::atomic<bool> stopped_{false};
};

// Runs `done(ec)` if set; an exception from it is logged with `who` ("amqp publisher") and goes no further.
void complete(broker::done_fn& done, boost::system::error_code ec, std::string_view who);
// Hands `m` to the sink; an exception from it is logged with `who` and goes no further.
void hand_to(sink& out, message const& m, std::string_view who);
}  // namespace pusher::broker
