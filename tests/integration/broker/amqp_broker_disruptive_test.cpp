// amqp_broker when the broker goes away: `rabbitmqctl stop_app` / `start_app` (the broker restarts inside the live
// node) and `close_all_connections`. ready() drops, the broker reconnects, re-binds every subscribed user, and
// delivery resumes; a subscribe made while it is down completes after the reconnect. These tests disturb every
// client of the node, so CMake marks them RUN_SERIAL.
#include "amqp_test_support.hpp"
#include "broker/amqp_broker.hpp"
#include "broker/error.hpp"

#include <future>
#include <memory>
#include <string>

namespace pusher::broker {
namespace {
using namespace std::chrono_literals;
using namespace test;
using outcome = raw_client::outcome;

class amqp_broker_disruptive_test : public ::testing::Test {
  protected:
    void SetUp() override {
        PUSHER_REQUIRE_RABBITMQ();
        exchange_ = unique_name("direct");
        broadcast_ = unique_name("fanout");
        undelivered_ = unique_name("undelivered");
        o_.url = amqp_url();
        o_.exchange = exchange_;
        o_.broadcast_exchange = broadcast_;
        o_.undelivered_exchange = undelivered_;
        o_.unbind_grace = 0ms;
        o_.reconnect_min = 100ms;
        o_.reconnect_max = 1000ms;
        o_.subscribe_timeout = 30s;
        broker_ = std::make_unique<amqp_broker>(o_);
        broker_->start(sink_);
        ASSERT_TRUE(eventually([&] { return broker_->ready(); }));
        ASSERT_FALSE(subscribe("alice"));
        ASSERT_FALSE(subscribe("bob"));
        broker_->unsubscribe("bob");  // bob has come and gone: he must not come back after the reconnect
    }
    void TearDown() override {
        if (broker_) {
            broker_->stop();
        }
        // Make sure the node is up for whoever runs next, and tidy our exchanges.
        ctl("start_app");
        try {
            raw_client r(amqp_url());
            r.delete_exchange(exchange_);
            r.delete_exchange(broadcast_);
            r.delete_exchange(undelivered_);
        } catch (std::exception const&) {
        }
    }
    boost::system::error_code subscribe(std::string const& user) {
        return call_and_wait([&](auto done) { broker_->subscribe(user, done); });
    }
    // The bindings are back and delivery works, through a fresh raw connection (the old one died too).
    void expect_service_restored() {
        raw_client r(amqp_url());
        EXPECT_EQ(r.publish(exchange_, "alice", R"("after")"), outcome::routed);
        EXPECT_EQ(r.publish(exchange_, "bob", R"("not bob")"), outcome::returned);
        EXPECT_EQ(r.publish(broadcast_, "", R"("all")"), outcome::routed);
        auto got = sink_.wait_for(2);
        ASSERT_EQ(got.size(), 2u);
        EXPECT_EQ(got[0].user, "alice");
        EXPECT_EQ(got[0].payload, R"("after")");
        EXPECT_TRUE(got[1].broadcast);
        publication p;
        p.users = {"alice"};
        p.payload = R"("via publish")";
        EXPECT_FALSE(call_and_wait([&](auto done) { broker_->publish(p, done); }));
        EXPECT_EQ(sink_.wait_for(3).size(), 3u);
    }

    std::string exchange_, broadcast_, undelivered_;
    amqp_broker::options o_;
    recording_sink sink_;
    std::unique_ptr<amqp_broker> broker_;
};

TEST_F(amqp_broker_disruptive_test, broker_restart_restores_bindings) {
    auto [stop_status, stop_out] = ctl("stop_app");
    ASSERT_EQ(stop_status, 0) << stop_out;
    EXPECT_TRUE(eventually([&] { return !broker_->ready(); }, 10s));

    // While the broker is away: a new user's subscribe waits for the reconnect; a publish fails fast.
    auto carol = std::make_shared<std::promise<boost::system::error_code>>();
    broker_->subscribe("carol", [carol](boost::system::error_code ec) { carol->set_value(ec); });
    publication p;
    p.users = {"alice"};
    p.payload = "{}";
    EXPECT_EQ(call_and_wait([&](auto done) { broker_->publish(p, done); }), error::not_connected);

    auto [start_status, start_out] = ctl("start_app");
    ASSERT_EQ(start_status, 0) << start_out;
    auto const t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return broker_->ready(); }, 30s));
    std::printf("[ measure ] ready again %.0f ms after start_app returned\n",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    auto f = carol->get_future();
    ASSERT_EQ(f.wait_for(15s), std::future_status::ready);
    EXPECT_FALSE(f.get());

    expect_service_restored();
    raw_client r(amqp_url());
    EXPECT_EQ(r.publish(exchange_, "carol", R"("hi carol")"), outcome::routed);
    auto st = broker_->stats();
    EXPECT_GE(st.reconnects, 2u);   // consumer and publisher
    EXPECT_EQ(st.bound_users, 2u);  // alice and carol
}

TEST_F(amqp_broker_disruptive_test, close_all_connections_reconnects) {
    auto const before = broker_->stats();
    auto [status, out] = ctl("close_all_connections \"pusher test\"");
    ASSERT_EQ(status, 0) << out;
    ASSERT_TRUE(eventually([&] { return broker_->stats().reconnects >= before.reconnects + 2; }, 30s));
    ASSERT_TRUE(eventually([&] { return broker_->ready(); }, 30s));
    expect_service_restored();
    EXPECT_GE(broker_->stats().connection_failures, before.connection_failures + 2);
}

TEST_F(amqp_broker_disruptive_test, deleted_queue_is_recreated) {
    // Deleting our queue cancels the consumer (basic.cancel): the broker starts over on a new connection.
    auto [lstatus, queues] = ctl("list_queues -q name");
    ASSERT_EQ(lstatus, 0) << queues;
    auto const before = broker_->stats();
    std::size_t deleted = 0;
    for (std::size_t pos = 0; (pos = queues.find("amq.gen-", pos)) != std::string::npos;) {
        auto end = queues.find_first_of("\r\n", pos);
        auto name = queues.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        pos = end == std::string::npos ? queues.size() : end;
        // Only ours is bound to our exchange.
        auto [bstatus, bindings] = ctl("list_bindings -q source_name destination_name");
        if (bindings.find(exchange_ + "\t" + name) == std::string::npos) {
            continue;
        }
        auto [dstatus, dout] = ctl("delete_queue " + name);
        EXPECT_EQ(dstatus, 0) << dout;
        ++deleted;
    }
    ASSERT_EQ(deleted, 1u);
    ASSERT_TRUE(eventually([&] { return broker_->stats().reconnects >= before.reconnects + 1; }, 30s));
    ASSERT_TRUE(eventually([&] { return broker_->ready(); }, 30s));
    expect_service_restored();
}
TEST_F(amqp_broker_disruptive_test, silent_broker_is_detected_by_heartbeats) {
    auto const dir = env("PUSHER_TEST_RABBITMQ_DIR");
    PUSHER_SKIP_UNLESS(!dir.empty(), "PUSHER_TEST_RABBITMQ_DIR not set (scripts/rabbitmq-test-node.sh exports it)");
    // Restart with a 1 s heartbeat, then freeze the broker's VM: the TCP connection stays up, only heartbeats tell.
    broker_->stop();
    sink_.clear();
    o_.heartbeat = 1s;
    broker_ = std::make_unique<amqp_broker>(o_);
    broker_->start(sink_);
    ASSERT_TRUE(eventually([&] { return broker_->ready(); }));
    ASSERT_FALSE(subscribe("alice"));
    auto [status, pid] = ctl_shell("cat '" + dir + "/rabbit.pid'");
    ASSERT_EQ(status, 0);
    ASSERT_EQ(ctl_shell("kill -STOP " + pid).first, 0);
    auto const frozen = std::chrono::steady_clock::now();
    bool const noticed = eventually(
        [&] {
            auto st = broker_->stats();
            return !broker_->ready() && !st.consumer_connected && !st.publisher_connected;
        },
        10s);
    auto const after = std::chrono::steady_clock::now() - frozen;
    ctl_shell("kill -CONT " + pid);
    ASSERT_TRUE(noticed);
    std::printf("[ measure ] silent broker noticed after %.0f ms (heartbeat 1 s)\n",
                std::chrono::duration<double, std::milli>(after).count());
    EXPECT_LT(after, 5s);
    ASSERT_TRUE(eventually([&] { return broker_->ready(); }, 30s));
    expect_service_restored();
}

}  // namespace
}  // namespace pusher::broker
