#include "broker/loop_thread.hpp"

#include "common/io_pool.hpp"
#include "common/log.hpp"

#include <exception>

namespace pusher::broker {
loop_thread::~loop_thread() {
    if (thread_.joinable()) {
        stop({});
    }
}

void loop_thread::start(std::function<void()> first, char const* name) {
    std::lock_guard lock(lifecycle_);
    if (started_ || stopped_) {
        return;
    }
    guard_.emplace(ioc_.get_executor());
    if (first) {
        boost::asio::post(ioc_, std::move(first));
    }
    thread_ = std::thread([this, name = std::string(name)] {
        name_this_thread(name.c_str());
        ioc_.run();
    });
    started_ = true;
}

void loop_thread::stop(std::function<void()> last) {
    std::lock_guard lock(lifecycle_);
    if (stopped_.exchange(true, std::memory_order_acq_rel) || !thread_.joinable()) {
        return;
    }
    boost::asio::post(ioc_, [this, last = std::move(last)] {
        if (last) {
            last();
        }
        guard_.reset();  // run() returns once the handlers already queued have run
    });
    thread_.join();
}

void complete(broker::done_fn& done, boost::system::error_code ec, std::string_view who) {
    if (!done) {
        return;
    }
    try {
        done(ec);
    } catch (std::exception const& e) {
        log::error("{}: a done callback threw: {}", who, e.what());
    } catch (...) {
        log::error("{}: a done callback threw", who);
    }
}

void hand_to(sink& out, message const& m, std::string_view who) {
    try {
        out.on_message(m);
    } catch (std::exception const& e) {
        log::error("{}: the sink threw: {}", who, e.what());
    } catch (...) {
        log::error("{}: the sink threw", who);
    }
}
}  // namespace pusher::broker
