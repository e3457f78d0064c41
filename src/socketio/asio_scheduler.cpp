#include "socketio/asio_scheduler.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace pusher::socketio {
void asio_scheduler::call_after(std::chrono::milliseconds delay, std::function<void()> fn) {
    // The timer is created on the context's own thread: an Asio I/O object must not be touched by two threads.
    auto const deadline = std::chrono::steady_clock::now() + delay;
    boost::asio::post(context_, [&ctx = context_, deadline, fn = std::move(fn)]() mutable {
        auto timer = std::make_shared<boost::asio::steady_timer>(ctx, deadline);
        timer->async_wait([timer, fn = std::move(fn)](boost::system::error_code ec) {
            if (!ec) {
                fn();
            }
        });
    });
}
}  // namespace pusher::socketio
