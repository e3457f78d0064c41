// asio_scheduler: one timer for every pending call; calls run on the context's thread, earliest deadline first
// (equal deadlines in call order), whichever thread scheduled them; an earlier call re-arms the timer.
#include "socketio/asio_scheduler.hpp"

#include "support/wait.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace pusher::socketio {
namespace {
using namespace std::chrono_literals;

class AsioSchedulerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        thread_ = std::thread([this] { ctx_.run(); });
    }
    void TearDown() override {
        guard_.reset();
        ctx_.stop();
        thread_.join();
    }

    // Waits (with a deadline) until `n` calls have run.
    bool wait_for_calls(std::size_t n, std::chrono::milliseconds timeout = 5s) {
        return ::pusher::test::wait_until(
            [&] {
                std::lock_guard lock(mutex_);
                return order_.size() >= n;
            },
            timeout);
    }

    std::function<void()> record(int id) {
        return [this, id] {
            std::lock_guard lock(mutex_);
            order_.push_back(id);
            threads_.push_back(std::this_thread::get_id());
        };
    }

    boost::asio::io_context ctx_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{ctx_.get_executor()};
    std::thread thread_;
    std::mutex mutex_;
    std::vector<int> order_;
    std::vector<std::thread::id> threads_;
};

TEST_F(AsioSchedulerTest, RunsCallsByDeadlineOnTheContextThread) {
    asio_scheduler s(ctx_);
    s.call_after(60ms, record(3));
    s.call_after(20ms, record(1));  // earlier than the armed deadline: re-arms
    s.call_after(40ms, record(2));
    s.call_after(20ms, record(11));  // same deadline as 1 (or later): after it
    EXPECT_EQ(s.pending(), 4u);
    ASSERT_TRUE(wait_for_calls(4));
    std::lock_guard lock(mutex_);
    EXPECT_EQ(order_, (std::vector<int>{1, 11, 2, 3}));
    for (auto const& t : threads_) {
        EXPECT_EQ(t, thread_.get_id());
    }
    EXPECT_EQ(s.pending(), 0u);
}

TEST_F(AsioSchedulerTest, CallsFromManyThreadsAllRunOnce) {
    asio_scheduler s(ctx_);
    std::atomic<int> ran{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
        callers.emplace_back([&, t] {
            for (int i = 0; i < 250; ++i) {
                s.call_after(std::chrono::milliseconds((i * 7 + t) % 30), [&] { ran.fetch_add(1); });
            }
        });
    }
    for (auto& c : callers) {
        c.join();
    }
    EXPECT_TRUE(::pusher::test::wait_until([&] { return ran.load() == 1000; }));
    EXPECT_EQ(ran.load(), 1000);
    EXPECT_EQ(s.pending(), 0u);
}

TEST_F(AsioSchedulerTest, ACallbackMayScheduleAnother) {
    asio_scheduler s(ctx_);
    s.call_after(5ms, [&] {
        record(1)();
        s.call_after(5ms, record(2));
    });
    ASSERT_TRUE(wait_for_calls(2));
    std::lock_guard lock(mutex_);
    EXPECT_EQ(order_, (std::vector<int>{1, 2}));
}

TEST(AsioSchedulerLifetime, PendingCallsDieWithTheScheduler) {
    boost::asio::io_context ctx;
    std::atomic<bool> ran{false};
    {
        asio_scheduler s(ctx);
        s.call_after(1ms, [&] { ran = true; });
        ctx.run_for(0ms);  // arms the timer; the call is not due yet
    }
    ctx.run_for(20ms);  // the timer's wait ends (cancelled): nothing runs
    EXPECT_FALSE(ran.load());
}
}  // namespace
}  // namespace pusher::socketio
