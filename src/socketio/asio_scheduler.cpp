#include "socketio/asio_scheduler.hpp"

#include "common/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <exception>
#include <mutex>
#include <optional>
#include <vector>

namespace pusher::socketio {
namespace {
using clock = std::chrono::steady_clock;

struct entry {
    clock::time_point when;
    std::uint64_t seq;  // equal deadlines run in call order
    std::function<void()> fn;
};
// std::*_heap keep the greatest on top: "greater" puts the earliest there.
bool later(entry const& a, entry const& b) {
    return a.when != b.when ? a.when > b.when : a.seq > b.seq;
}
}  // namespace

struct asio_scheduler::state : std::enable_shared_from_this<state> {
    explicit state(boost::asio::io_context& c) : context(c), timer(c) {}

    // Context thread: (re)arms the timer for the earliest pending call, if any.
    void arm() {
        clock::time_point when;
        {
            std::lock_guard lock(mutex);
            if (heap.empty()) {
                armed.reset();
                return;
            }
            when = heap.front().when;
            armed = when;
        }
        timer.expires_at(when);  // a pending wait ends with operation_aborted
        timer.async_wait([w = weak_from_this()](boost::system::error_code ec) {
            if (auto self = w.lock(); self && !ec) {
                self->fire();
            }
        });
    }

    // Context thread: runs every call that is due, then re-arms.
    void fire() {
        due.clear();
        auto const now = clock::now();
        {
            std::lock_guard lock(mutex);
            while (!heap.empty() && heap.front().when <= now) {
                std::pop_heap(heap.begin(), heap.end(), later);
                due.push_back(std::move(heap.back().fn));
                heap.pop_back();
            }
        }
        for (auto& fn : due) {
            try {
                fn();
            } catch (std::exception const& e) {
                log::error("socketio: a timer callback threw: {}", e.what());
            }
        }
        due.clear();
        arm();
    }

    boost::asio::io_context& context;
    mutable std::mutex mutex;
    std::vector<entry> heap;                 // under mutex
    std::uint64_t next_seq = 0;              // under mutex
    std::optional<clock::time_point> armed;  // under mutex: the deadline the timer is (being) armed for
    boost::asio::steady_timer timer;         // context thread only
    std::vector<std::function<void()>> due;  // context thread only
};

asio_scheduler::asio_scheduler(boost::asio::io_context& context) : state_(std::make_shared<state>(context)) {}

asio_scheduler::~asio_scheduler() = default;

void asio_scheduler::call_after(std::chrono::milliseconds delay, std::function<void()> fn) {
    auto const when = clock::now() + delay;
    bool earlier = false;
    {
        std::lock_guard lock(state_->mutex);
        state_->heap.push_back(entry{when, state_->next_seq++, std::move(fn)});
        std::push_heap(state_->heap.begin(), state_->heap.end(), later);
        // Only a new earliest deadline needs the context's thread (the usual case, a 45 s timeout behind older
        // ones, does not).
        earlier = !state_->armed || when < *state_->armed;
        if (earlier) {
            state_->armed = when;
        }
    }
    if (earlier) {
        boost::asio::post(state_->context, [w = std::weak_ptr<state>(state_)] {
            if (auto self = w.lock()) {
                self->arm();
            }
        });
    }
}

std::size_t asio_scheduler::pending() const {
    std::lock_guard lock(state_->mutex);
    return state_->heap.size();
}
}  // namespace pusher::socketio
