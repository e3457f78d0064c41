#include "engineio/session_timers.hpp"

#include "engineio/server_session.hpp"

#include <algorithm>

namespace pusher::engineio {
session_timers::session_timers(boost::asio::execution_context& ctx)
    : service(ctx), timer_(static_cast<boost::asio::io_context&>(ctx)) {}

void session_timers::wake_at(time_point at, std::weak_ptr<server_session> s) {
    heap_.push_back({at, std::move(s)});
    std::push_heap(heap_.begin(), heap_.end(), later);
    arm();
}

void session_timers::arm() {
    if (heap_.empty() || heap_.front().at >= armed_at_) {
        return;  // the timer already waits for an earlier (or the same) time
    }
    armed_at_ = heap_.front().at;
    timer_.expires_at(armed_at_);  // cancels the wait for the later time, if any
    timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) {
            armed_at_ = time_point::max();
            fire();
        }
    });
}

void session_timers::fire() {
    auto const now = heartbeat::clock::now();
    // Taken out first: a session woken now may ask again for a time that has already come (it runs next time).
    while (!heap_.empty() && heap_.front().at <= now) {
        std::pop_heap(heap_.begin(), heap_.end(), later);
        due_.push_back(std::move(heap_.back()));
        heap_.pop_back();
    }
    for (auto& e : due_) {
        if (auto s = e.s.lock()) {
            s->on_wake(e.at);
        }
    }
    due_.clear();
    arm();
}

void session_timers::shutdown() {
    timer_.cancel();
    heap_.clear();
    due_.clear();
}
}  // namespace pusher::engineio
