#pragma once
// session_mailbox: one per worker io_context (an Asio service, created on first use), the door through which other
// threads reach that worker's sessions. Owns the list of sessions with frames waiting in their inbox; lives on no
// thread in particular (notify from any thread, under its mutex), drains on its io_context's thread.
//
// Why: a broadcast from the broker's thread to N sessions used to post N handlers (N wake-ups, N writes of one
// frame each). Now it posts at most one per worker; the worker drains every waiting session and writes each one's
// frames in one batch, so the busier the worker, the bigger its batches (one socket write carries many frames).
// Internal to engineio: include it from .cpp files only.
#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace pusher::engineio {
class server_session;

class session_mailbox final : public boost::asio::execution_context::service {
  public:
    using key_type = session_mailbox;
    static inline boost::asio::execution_context::id id;

    explicit session_mailbox(boost::asio::execution_context& ctx) : service(ctx) {}

    static session_mailbox& of(boost::asio::io_context& ctx) { return boost::asio::use_service<session_mailbox>(ctx); }

    // `s` has frames in its inbox (it just went from empty to not empty): drain it on its thread soon. Any thread.
    // Inside a `wake_batch` (common/wake_batch.hpp) the post that wakes the worker waits for the batch's end.
    void notify(std::shared_ptr<server_session> s);

  private:
    // Sessions drained per handler: between two slices the worker reads its sockets and runs other handlers (an
    // HTTP reply, the next publish request), so a broadcast to thousands of sessions does not stall the loop for its
    // whole length, and the sessions still waiting keep collecting frames for one bigger write. Small, because one
    // session's write is a system call (5-10 us here) and a handler costs ~0.1 us: at 64 a publisher's reply waited
    // behind ~190 writes; at 4, s1 moved from 0.31-0.37M to 0.43-0.71M frames/s (docs/benchmarks.md).
    static constexpr std::size_t slice = 4;

    static void post_drain(void* self);  // queues drain() on the worker
    void drain();                        // runs while posted_ is true; re-posts itself until it finds nobody waiting
    bool refill();  // takes the sessions that registered meanwhile; false (and posted_ cleared) when there are none
    void shutdown() override;

    std::mutex mutex_;
    std::vector<std::shared_ptr<server_session>> waiting_;   // under mutex_
    bool posted_ = false;                                    // under mutex_: a drain() is queued
    std::vector<std::shared_ptr<server_session>> draining_;  // own thread only
    std::size_t next_ = 0;                                   // own thread only: draining_[next_] is drained next
};
}  // namespace pusher::engineio
