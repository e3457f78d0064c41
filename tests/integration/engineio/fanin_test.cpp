// Sends from other threads (the hub and the broker call session::send there): they reach the session's thread
// through its worker's mailbox, keep their order, and what piles up while the worker is busy leaves in one
// websocket write; options::max_frames_per_write (the benchmark's one-write-per-frame baseline) still delivers all.
#include "integration/engineio/fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <thread>

namespace pusher::test {
namespace {
// Blocks the session's worker thread until the returned promise is set (so that sends pile up in the mailbox).
std::promise<void> block_worker(engineio::session& s) {
    std::promise<void> release;
    auto gate = release.get_future().share();
    std::promise<void> blocked;
    auto running = blocked.get_future();
    s.dispatch([gate, &blocked] {
        blocked.set_value();
        gate.wait();
    });
    running.wait();
    return release;
}

// The same for a whole worker: blocks `ctx`'s thread until the returned promise is set.
std::promise<void> block_context(boost::asio::io_context& ctx) {
    std::promise<void> release;
    auto gate = release.get_future().share();
    std::promise<void> blocked;
    auto running = blocked.get_future();
    boost::asio::post(ctx, [gate, &blocked] {
        blocked.set_value();
        gate.wait();
    });
    running.wait();
    return release;
}

TEST_F(EngineIoTest, FramesSentFromAnotherThreadWhileTheWorkerIsBusyLeaveInOneWrite) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    auto s = eio_->find(sid);
    ASSERT_TRUE(s);
    auto const writes_before = eio_->stats().ws_writes_total.load();
    auto release = block_worker(*s);
    constexpr int n = 1000;
    for (int i = 0; i < n; ++i) {
        s->send(make_frame("4m" + std::to_string(i)));  // this thread is not the session's: the mailbox path
    }
    release.set_value();
    for (int i = 0; i < n; ++i) {
        auto m = ws.read();
        ASSERT_TRUE(m) << i << ": " << ws.last_error.message();
        ASSERT_EQ(m->data, "4m" + std::to_string(i));
    }
    EXPECT_EQ(eio_->stats().ws_writes_total.load() - writes_before, 1u);
}

TEST_F(EngineIoTest, ABroadcastFromAnotherThreadReachesManySessionsInOrder) {
    start();
    // Many more sessions than the mailbox drains per handler, on both workers.
    constexpr int sessions = 150;
    constexpr int frames = 20;
    std::vector<std::unique_ptr<ws_client>> clients;
    std::vector<std::shared_ptr<engineio::session>> targets;
    for (int c = 0; c < sessions; ++c) {
        clients.push_back(std::make_unique<ws_client>(port_, ws_target()));
        auto const sid = ws_open(*clients.back());
        targets.push_back(eio_->find(sid));
        ASSERT_TRUE(targets.back());
    }
    // Both workers busy while the broadcasts arrive: each session's frames pile up in its inbox and must leave in
    // exactly one write per session (the worker drains every waiting session once it is free).
    std::vector<std::promise<void>> releases;
    for (std::size_t w = 0; w < pool_->size(); ++w) {
        releases.push_back(block_context(pool_->context(w)));
    }
    auto const writes_before = eio_->stats().ws_writes_total.load();
    auto const frames_before = eio_->stats().frames_out_total.load();
    std::thread broker([&] {
        for (int i = 0; i < frames; ++i) {
            auto const f = make_frame("4b" + std::to_string(i));  // one shared frame per broadcast
            for (auto const& t : targets) {
                t->send(f);
            }
        }
    });
    broker.join();
    for (auto& r : releases) {
        r.set_value();
    }
    for (auto& c : clients) {
        for (int i = 0; i < frames; ++i) {
            auto m = c->read();
            ASSERT_TRUE(m) << c->last_error.message();
            ASSERT_EQ(m->data, "4b" + std::to_string(i));
        }
    }
    EXPECT_EQ(eio_->stats().frames_out_total.load() - frames_before, static_cast<std::uint64_t>(sessions * frames));
    EXPECT_EQ(eio_->stats().ws_writes_total.load() - writes_before, static_cast<std::uint64_t>(sessions));
}

TEST_F(EngineIoTest, OneFramePerWriteBaselineDeliversEverythingInOrder) {
    auto o = quiet_options();
    o.max_frames_per_write = 1;
    start(o);
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    auto s = eio_->find(sid);
    ASSERT_TRUE(s);
    auto const writes_before = eio_->stats().ws_writes_total.load();
    auto release = block_worker(*s);
    constexpr int n = 300;
    for (int i = 0; i < n; ++i) {
        s->send(make_frame("4m" + std::to_string(i)));
    }
    release.set_value();
    for (int i = 0; i < n; ++i) {
        auto m = ws.read();
        ASSERT_TRUE(m) << i << ": " << ws.last_error.message();
        ASSERT_EQ(m->data, "4m" + std::to_string(i));
    }
    EXPECT_EQ(eio_->stats().ws_writes_total.load() - writes_before, static_cast<std::uint64_t>(n));
    // Closing with frames still queued sends them first (the close path writes what is left).
    release = block_worker(*s);
    for (int i = 0; i < 50; ++i) {
        s->send(make_frame("4t" + std::to_string(i)));
    }
    s->close(disconnect_reason::server_close);
    release.set_value();
    for (int i = 0; i < 50; ++i) {
        auto m = ws.read();
        ASSERT_TRUE(m) << i << ": " << ws.last_error.message();
        ASSERT_EQ(m->data, "4t" + std::to_string(i));
    }
    EXPECT_TRUE(ws.closed_by_server());
}
}  // namespace
}  // namespace pusher::test
