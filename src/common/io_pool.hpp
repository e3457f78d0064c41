#pragma once
// io_pool: N worker threads, one io_context each. A connection is pinned to one context for life, so everything a
// connection owns is touched by one thread only and needs no lock. Work crosses threads by `post`; the few locks that
// other threads take on the way (a session's inbox, its worker's mailbox...) are listed in docs/architecture.md.
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

namespace pusher {
class io_pool {
  public:
    explicit io_pool(std::size_t threads);
    ~io_pool();
    io_pool(io_pool const&) = delete;
    io_pool& operator=(io_pool const&) = delete;

    // Starts the threads (idempotent), named `io-0`, `io-1`... (what `top -H` and profilers show). Contexts keep
    // running until stop(), even with no work (a work guard each).
    void start();
    // Stops every context and joins the threads (idempotent). Pending handlers are dropped.
    void stop();

    std::size_t size() const { return contexts_.size(); }
    boost::asio::io_context& context(std::size_t i) { return *contexts_[i]; }
    // Round-robin choice for a new connection.
    boost::asio::io_context& next();

  private:
    using guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::vector<guard> guards_;
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> next_{0};
};

// Names the calling thread (at most 15 bytes are kept: the kernel's limit); nothing happens where that fails.
void name_this_thread(char const* name);
}  // namespace pusher
