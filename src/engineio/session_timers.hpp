#pragma once
// session_timers: one per worker io_context (an Asio service, created on first use), the one timer of every session
// on that worker: its heartbeat (a ping due, a pong overdue) and its upgrade deadline. A session asks to be woken
// at a time (`wake_at`); the service keeps the requests in a min-heap by time under one steady_timer armed for the
// earliest, and calls server_session::on_wake for each that falls due.
//
// Why: a steady_timer per session, with the wait it keeps pending, cost about 230 bytes of every idle connection;
// a heap entry is 24. A session keeps at most one entry that matters (server_session::arm_timer pushes only an
// earlier time than its queued one; a later one is re-queued when the earlier entry falls due), and an entry holds
// only a weak pointer, so a closed session is not kept alive by it.
//
// Own thread only (the io_context's), like the sessions it serves. Internal to engineio: include it from .cpp files.
#include "engineio/heartbeat.hpp"

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <vector>

namespace pusher::engineio {
class server_session;

class session_timers final : public boost::asio::execution_context::service {
  public:
    using key_type = session_timers;
    using time_point = heartbeat::time_point;
    static inline boost::asio::execution_context::id id;

    explicit session_timers(boost::asio::execution_context& ctx);

    static session_timers& of(boost::asio::io_context& ctx) { return boost::asio::use_service<session_timers>(ctx); }

    // Calls s->on_wake(at) at `at` (or soon after), unless `s` is gone by then.
    void wake_at(time_point at, std::weak_ptr<server_session> s);

  private:
    struct entry {
        time_point at;
        std::weak_ptr<server_session> s;
    };
    // Orders the heap so that its front is the earliest entry.
    static bool later(entry const& a, entry const& b) { return a.at > b.at; }
    void arm();   // the timer for the heap's front (when it is earlier than what the timer waits for)
    void fire();  // wakes every session whose time has come, then arms for the next
    void shutdown() override;

    boost::asio::steady_timer timer_;
    time_point armed_at_ = time_point::max();  // what the timer waits for (max: nothing)
    std::vector<entry> heap_;
    std::vector<entry> due_;  // fire()'s scratch list
};
}  // namespace pusher::engineio
