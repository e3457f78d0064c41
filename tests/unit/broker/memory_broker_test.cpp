// memory_broker: subscribe/publish routing, broadcast, unroutable counting, the unbind grace, callbacks on the
// broker's own thread, stop.
#include "broker/memory_broker.hpp"
#include "broker/error.hpp"

#include "support/wait.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pusher::broker {
namespace {
using namespace std::chrono_literals;

// spdlog's registry, created on the main thread before any broker thread logs (ThreadSanitizer, see the AMQP tests).
spdlog::logger* const logger_ready = spdlog::default_logger_raw();

struct received {
    std::string user, event, payload, id, channel;
    bool broadcast;
    std::optional<std::int64_t> ts;
    std::thread::id thread;
};

// A sink that copies what it gets and lets the test wait for a count, with a deadline.
class collecting_sink : public sink {
  public:
    void on_message(message const& m) override {
        std::lock_guard lock(mutex_);
        got_.push_back({std::string(m.user), std::string(m.event), std::string(m.payload), std::string(m.message_id),
                        std::string(m.channel), m.broadcast, m.timestamp_ms, std::this_thread::get_id()});
        cv_.notify_all();
    }
    std::vector<received> wait_for(std::size_t n, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
        return got_;
    }
    std::vector<received> snapshot() {
        std::lock_guard lock(mutex_);
        return got_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<received> got_;
};

boost::system::error_code subscribe_and_wait(broker& b, std::string const& user) {
    auto p = std::make_shared<std::promise<boost::system::error_code>>();  // outlives a timed-out wait
    b.subscribe(user, [p](boost::system::error_code ec) { p->set_value(ec); });
    auto f = p->get_future();
    if (f.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "done was not called";
        return make_error_code(boost::system::errc::timed_out);
    }
    return f.get();
}

boost::system::error_code publish_and_wait(broker& b, publication pub) {
    auto p = std::make_shared<std::promise<boost::system::error_code>>();
    b.publish(std::move(pub), [p](boost::system::error_code ec) { p->set_value(ec); });
    auto f = p->get_future();
    if (f.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "done was not called";
        return make_error_code(boost::system::errc::timed_out);
    }
    return f.get();
}

publication to(std::vector<std::string> users, std::string payload = R"({"n":1})") {
    publication p;
    p.users = std::move(users);
    p.event = "mail.new";
    p.payload = std::move(payload);
    return p;
}

using ::pusher::test::wait_until;
// Waits (with a deadline) until `pred` holds.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
    return wait_until(pred, timeout);
}

TEST(memory_broker, channels_are_counted_and_routed_like_users_but_apart_from_them) {
    memory_broker b(memory_broker::options{.unbind_grace = 0ms});
    collecting_sink s;
    b.start(s);
    auto p = std::make_shared<std::promise<boost::system::error_code>>();
    b.subscribe_channel("chat:1", [p](boost::system::error_code ec) { p->set_value(ec); });
    EXPECT_FALSE(p->get_future().get());
    EXPECT_FALSE(subscribe_and_wait(b, "chat:2")) << "a user named like a channel";

    publication pub;
    pub.channels = {"chat:1", "chat:2"};
    pub.users = {"chat:1"};
    pub.event = "chat.message";
    pub.payload = "1";
    EXPECT_FALSE(publish_and_wait(b, pub));
    auto got = s.wait_for(1);
    ASSERT_EQ(got.size(), 1u) << "chat:2 has no channel subscriber, and no user chat:1 is subscribed";
    EXPECT_EQ(got[0].channel, "chat:1");
    EXPECT_EQ(got[0].user, "");
    EXPECT_EQ(got[0].event, "chat.message");
    auto st = b.stats();
    EXPECT_EQ(st.bound_channels, 1u);
    EXPECT_EQ(st.channel_subscriptions, 1u);
    EXPECT_EQ(st.bound_users, 1u);
    EXPECT_EQ(st.messages_published, 3u);

    b.unsubscribe_channel("chat:1");
    EXPECT_TRUE(eventually([&] { return b.stats().bound_channels == 0; }));
    EXPECT_FALSE(publish_and_wait(b, pub));
    EXPECT_EQ(s.snapshot().size(), 1u);
}

TEST(memory_broker, routes_only_to_subscribed_users) {
    memory_broker b(memory_broker::options{.unbind_grace = 0ms});
    collecting_sink s;
    b.start(s);
    EXPECT_TRUE(b.ready());
    EXPECT_FALSE(subscribe_and_wait(b, "alice"));

    auto pub = to({"alice", "bob"});
    pub.message_id = "m-1";
    pub.timestamp_ms = 1700000000123;
    EXPECT_FALSE(publish_and_wait(b, pub));
    auto got = s.wait_for(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].user, "alice");
    EXPECT_EQ(got[0].event, "mail.new");
    EXPECT_EQ(got[0].payload, R"({"n":1})");
    EXPECT_EQ(got[0].id, "m-1");
    EXPECT_EQ(got[0].ts, 1700000000123);
    EXPECT_FALSE(got[0].broadcast);
    EXPECT_NE(got[0].thread, std::this_thread::get_id());  // never inside the caller's stack

    auto st = b.stats();
    EXPECT_EQ(st.messages_published, 2u);
    EXPECT_EQ(st.messages_received, 1u);
    EXPECT_EQ(st.messages_unroutable, 1u);
    EXPECT_EQ(st.bound_users, 1u);
    EXPECT_EQ(st.subscriptions, 1u);
    b.stop();
}

TEST(memory_broker, fills_in_defaults) {
    memory_broker b;
    collecting_sink s;
    b.start(s);
    subscribe_and_wait(b, "alice");
    publication pub;
    pub.users = {"alice"};
    pub.event = "";
    pub.payload = "{}";
    auto const before =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    publish_and_wait(b, pub);
    publish_and_wait(b, pub);
    auto got = s.wait_for(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].event, "notification");
    EXPECT_FALSE(got[0].id.empty());
    EXPECT_NE(got[0].id, got[1].id);
    ASSERT_TRUE(got[0].ts.has_value());
    EXPECT_GE(*got[0].ts, before);
}

TEST(memory_broker, broadcast_reaches_the_sink_once) {
    memory_broker b;
    collecting_sink s;
    b.start(s);
    publication pub;
    pub.broadcast = true;
    pub.users = {"ignored"};
    pub.payload = R"("hello")";
    EXPECT_FALSE(publish_and_wait(b, pub));
    auto got = s.wait_for(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].broadcast);
    EXPECT_TRUE(got[0].user.empty());
    EXPECT_EQ(got[0].payload, R"("hello")");
    EXPECT_EQ(b.stats().messages_unroutable, 0u);
}

TEST(memory_broker, rejects_invalid_publications) {
    memory_broker b;
    collecting_sink s;
    b.start(s);
    EXPECT_EQ(publish_and_wait(b, to({})), error::invalid_publication);
    EXPECT_EQ(publish_and_wait(b, to({"alice", ""})), error::invalid_publication);
}

TEST(memory_broker, rejects_user_ids_that_cannot_be_routing_keys) {
    memory_broker b;
    collecting_sink s;
    b.start(s);
    EXPECT_EQ(subscribe_and_wait(b, ""), error::invalid_user);
    EXPECT_EQ(subscribe_and_wait(b, std::string(256, 'x')), error::invalid_user);
    EXPECT_FALSE(subscribe_and_wait(b, std::string(255, 'x')));
    EXPECT_EQ(publish_and_wait(b, to({std::string(256, 'x')})), error::invalid_publication);
    EXPECT_EQ(b.stats().subscriptions, 1u);
}

TEST(memory_broker, last_unsubscribe_unbinds_after_the_grace) {
    memory_broker b(memory_broker::options{.unbind_grace = 100ms});
    collecting_sink s;
    b.start(s);
    subscribe_and_wait(b, "alice");
    subscribe_and_wait(b, "alice");
    b.unsubscribe("alice");
    b.unsubscribe("alice");
    // Inside the grace the user still routes here. (Publishes are ordered after the unsubscribes on the broker's
    // thread; 100 ms is far longer than this takes.)
    publish_and_wait(b, to({"alice"}));
    EXPECT_EQ(s.wait_for(1).size(), 1u);
    EXPECT_TRUE(eventually([&] { return b.stats().bound_users == 0; }));
    EXPECT_EQ(b.stats().unbinds, 1u);
    publish_and_wait(b, to({"alice"}));
    EXPECT_EQ(s.snapshot().size(), 1u);
    EXPECT_EQ(b.stats().messages_unroutable, 1u);
}

TEST(memory_broker, resubscribe_inside_the_grace_keeps_the_binding) {
    memory_broker b(memory_broker::options{.unbind_grace = 60s});
    collecting_sink s;
    b.start(s);
    subscribe_and_wait(b, "alice");
    b.unsubscribe("alice");
    subscribe_and_wait(b, "alice");
    auto st = b.stats();
    EXPECT_EQ(st.binds, 1u);
    EXPECT_EQ(st.unbinds, 0u);
    EXPECT_EQ(st.bound_users, 1u);
    publish_and_wait(b, to({"alice"}));
    EXPECT_EQ(s.wait_for(1).size(), 1u);
}

TEST(memory_broker, zero_grace_unbinds_at_once) {
    memory_broker b(memory_broker::options{.unbind_grace = 0ms});
    collecting_sink s;
    b.start(s);
    subscribe_and_wait(b, "alice");
    b.unsubscribe("alice");
    publish_and_wait(b, to({"alice"}));  // ordered after the unsubscribe
    EXPECT_EQ(s.snapshot().size(), 0u);
    EXPECT_EQ(b.stats().messages_unroutable, 1u);
}

TEST(memory_broker, calls_before_start_run_once_started) {
    memory_broker b;
    collecting_sink s;
    std::promise<boost::system::error_code> p;
    b.subscribe("alice", [&](boost::system::error_code ec) { p.set_value(ec); });
    EXPECT_FALSE(b.ready());
    b.start(s);
    auto f = p.get_future();
    ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(f.get());
}

TEST(memory_broker, stop_is_idempotent_and_later_calls_fail) {
    memory_broker b;
    collecting_sink s;
    b.start(s);
    subscribe_and_wait(b, "alice");
    b.stop();
    b.stop();
    EXPECT_FALSE(b.ready());
    boost::system::error_code got;
    b.subscribe("bob", [&](boost::system::error_code ec) { got = ec; });
    EXPECT_EQ(got, error::stopped);
    b.publish(to({"alice"}), [&](boost::system::error_code ec) { got = ec; });
    EXPECT_EQ(got, error::stopped);
    b.unsubscribe("alice");  // harmless
}

TEST(memory_broker, many_users_many_messages) {
    memory_broker b(memory_broker::options{.unbind_grace = 0ms});
    collecting_sink s;
    b.start(s);
    std::vector<std::string> users;
    for (int i = 0; i < 100; ++i) {
        users.push_back("user-" + std::to_string(i));
        b.subscribe(users.back(), {});
    }
    for (int i = 0; i < 10; ++i) {
        b.publish(to(users), {});
    }
    EXPECT_EQ(s.wait_for(1000).size(), 1000u);
    EXPECT_EQ(b.stats().messages_unroutable, 0u);
}
}  // namespace
}  // namespace pusher::broker
