#include "common/io_pool.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <pthread.h>

#include <cstring>
#include <string>

namespace pusher {
io_pool::io_pool(std::size_t threads) {
    if (threads == 0) {
        threads = 1;
    }
    for (std::size_t i = 0; i < threads; ++i) {
        contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    }
}

io_pool::~io_pool() {
    stop();
}

void io_pool::start() {
    if (!threads_.empty()) {
        return;
    }
    for (std::size_t i = 0; i < contexts_.size(); ++i) {
        auto* c = contexts_[i].get();
        c->restart();
        guards_.emplace_back(c->get_executor());
        threads_.emplace_back([c, i] {
            name_this_thread(("io-" + std::to_string(i)).c_str());
            c->run();
        });
    }
}

void io_pool::stop() {
    guards_.clear();
    for (auto& ctx : contexts_) {
        ctx->stop();
    }
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
    threads_.clear();
}

boost::asio::io_context& io_pool::next() {
    return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()];
}

void name_this_thread(char const* name) {
    char buf[16];
    std::strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    pthread_setname_np(pthread_self(), buf);
}
}  // namespace pusher
