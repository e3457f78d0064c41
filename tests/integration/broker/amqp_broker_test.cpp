// amqp_broker against a real RabbitMQ node (scripts/rabbitmq-test-node.sh): routing by user, properties, the unbind
// grace, broadcast, publisher confirms, heartbeats, a burst of binds, an unreachable broker. Tests that disturb the
// whole node (restart, close_all_connections) are in amqp_broker_disruptive_test.cpp and run serially.
#include "broker/amqp_broker.hpp"
#include "amqp_test_support.hpp"
#include "broker/amqp_connection.hpp"
#include "broker/error.hpp"

#include <gmock/gmock.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace pusher::broker {
namespace {
using namespace std::chrono_literals;
using namespace test;
using outcome = raw_client::outcome;

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class amqp_broker_test : public ::testing::Test {
  protected:
    void SetUp() override {
        PUSHER_REQUIRE_RABBITMQ();
        exchange_ = unique_name("direct");
        broadcast_ = unique_name("fanout");
        undelivered_ = unique_name("undelivered");
        raw_ = std::make_unique<raw_client>(amqp_url());
    }
    void TearDown() override {
        if (broker_) {
            broker_->stop();
        }
        if (raw_) {
            try {
                raw_->delete_exchange(exchange_);
                raw_->delete_exchange(broadcast_);
                raw_->delete_exchange(undelivered_);
            } catch (std::exception const&) {
            }
        }
    }
    amqp_broker::options options(std::chrono::milliseconds grace = 0ms) {
        amqp_broker::options o;
        o.url = amqp_url();
        o.exchange = exchange_;
        o.broadcast_exchange = broadcast_;
        o.undelivered_exchange = undelivered_;
        o.unbind_grace = grace;
        o.reconnect_min = 100ms;
        o.reconnect_max = 1000ms;
        o.connection_name = "pusher-test";
        return o;
    }
    amqp_broker& start(amqp_broker::options o) {
        EXPECT_EQ(amqp_broker::validate(o), "");
        broker_ = std::make_unique<amqp_broker>(o);
        broker_->start(sink_);
        EXPECT_TRUE(eventually([&] { return broker_->ready(); })) << "the broker never became ready";
        return *broker_;
    }
    boost::system::error_code subscribe(std::string const& user) {
        return call_and_wait([&](auto done) { broker_->subscribe(user, done); });
    }
    outcome send(std::string const& user, std::string const& body = R"({"n":1})", raw_client::props const& p = {}) {
        return raw_->publish(exchange_, user, body, p);
    }

    std::string exchange_, broadcast_, undelivered_;
    std::unique_ptr<raw_client> raw_;
    recording_sink sink_;
    std::unique_ptr<amqp_broker> broker_;
};

TEST_F(amqp_broker_test, subscribe_then_publish_delivers_with_properties) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    raw_client::props p;
    p.type = "mail.new";
    p.message_id = "msg-1";
    p.timestamp_ms = 1700000000123;
    p.timestamp = 1600000000;  // the header wins
    ASSERT_EQ(send("alice", R"({"subject":"hi"})", p), outcome::routed);

    raw_client::props q;  // no type: the default event; timestamp property in seconds
    q.timestamp = 1700000001;
    q.content_type = "text/plain";
    ASSERT_EQ(send("alice", "plain text", q), outcome::routed);

    auto got = sink_.wait_for(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].user, "alice");
    EXPECT_FALSE(got[0].broadcast);
    EXPECT_EQ(got[0].event, "mail.new");
    EXPECT_EQ(got[0].id, "msg-1");
    EXPECT_EQ(got[0].payload, R"({"subject":"hi"})");
    EXPECT_TRUE(got[0].json);
    EXPECT_EQ(got[0].ts, 1700000000123);
    EXPECT_EQ(got[1].event, "notification");
    EXPECT_EQ(got[1].ts, 1700000001000);
    EXPECT_FALSE(got[1].json);
    EXPECT_EQ(got[1].payload, "plain text");
    EXPECT_TRUE(got[1].id.empty());

    auto st = broker_->stats();
    EXPECT_EQ(st.messages_received, 2u);
    EXPECT_EQ(st.binds, 1u);
    EXPECT_EQ(st.bound_users, 1u);
    EXPECT_EQ(st.bind_latency.count, 1u);
    EXPECT_TRUE(st.consumer_connected);
    EXPECT_TRUE(st.publisher_connected);
}

TEST_F(amqp_broker_test, users_are_routed_apart) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    ASSERT_FALSE(subscribe("bob"));
    EXPECT_EQ(send("alice", R"("for alice")"), outcome::routed);
    EXPECT_EQ(send("bob", R"("for bob")"), outcome::routed);
    EXPECT_EQ(send("carol", R"("for carol")"), outcome::returned);  // nobody bound carol
    auto got = sink_.wait_for(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].user, "alice");
    EXPECT_EQ(got[0].payload, R"("for alice")");
    EXPECT_EQ(got[1].user, "bob");
    EXPECT_EQ(got[1].payload, R"("for bob")");
}

TEST_F(amqp_broker_test, unsubscribe_unbinds_after_the_grace) {
    start(options(300ms));
    ASSERT_FALSE(subscribe("alice"));
    ASSERT_FALSE(subscribe("alice"));
    broker_->unsubscribe("alice");
    broker_->unsubscribe("alice");
    auto const left = std::chrono::steady_clock::now();
    EXPECT_EQ(send("alice"), outcome::routed);  // inside the grace
    EXPECT_TRUE(eventually([&] { return send("alice") == outcome::returned; }, 5s));
    auto const waited = std::chrono::steady_clock::now() - left;
    EXPECT_GE(waited, 300ms);
    auto [status, out] = ctl("list_bindings -q source_name routing_key");
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(out.find(exchange_ + "\talice"), std::string::npos) << out;
    auto st = broker_->stats();
    EXPECT_EQ(st.binds, 1u);
    EXPECT_EQ(st.unbinds, 1u);
    EXPECT_EQ(st.bound_users, 0u);
}

TEST_F(amqp_broker_test, resubscribe_inside_the_grace_keeps_the_binding) {
    start(options(500ms));
    ASSERT_FALSE(subscribe("alice"));
    broker_->unsubscribe("alice");
    ASSERT_FALSE(subscribe("alice"));  // a page reload
    // The grace that would have ended 500 ms after the unsubscribe has passed: still bound, never unbound. (This
    // wait is the point of the test, not a synchronisation.)
    std::this_thread::sleep_for(800ms);
    EXPECT_EQ(send("alice"), outcome::routed);
    auto st = broker_->stats();
    EXPECT_EQ(st.binds, 1u);
    EXPECT_EQ(st.unbinds, 0u);
    auto [status, out] = ctl("list_bindings -q source_name routing_key");
    EXPECT_NE(out.find(exchange_ + "\talice"), std::string::npos) << out;
}

TEST_F(amqp_broker_test, quick_unbind_then_bind_ends_bound) {
    start(options(0ms));
    ASSERT_FALSE(subscribe("alice"));
    for (int i = 0; i < 20; ++i) {
        broker_->unsubscribe("alice");
        broker_->subscribe("alice", {});
    }
    ASSERT_FALSE(subscribe("alice"));  // ordered after the churn on the broker thread
    EXPECT_EQ(send("alice"), outcome::routed);
    broker_->unsubscribe("alice");
    broker_->unsubscribe("alice");
    EXPECT_TRUE(eventually([&] { return send("alice") == outcome::returned; }, 5s));
}

TEST_F(amqp_broker_test, broadcast_reaches_every_node) {
    start(options());
    // A second broker instance stands for a second node.
    recording_sink other_sink;
    amqp_broker other(options());
    other.start(other_sink);
    ASSERT_TRUE(eventually([&] { return other.ready(); }));
    ASSERT_EQ(raw_->publish(broadcast_, "", R"({"all":true})"), outcome::routed);
    for (auto* s : {&sink_, &other_sink}) {
        auto got = s->wait_for(1);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_TRUE(got[0].broadcast);
        EXPECT_TRUE(got[0].user.empty());
        EXPECT_EQ(got[0].payload, R"({"all":true})");
    }
    other.stop();
}

TEST_F(amqp_broker_test, publish_is_confirmed_and_delivered) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    publication p;
    p.users = {"alice", "bob"};  // bob is bound nowhere: RabbitMQ drops it, still confirms it
    p.event = "order.shipped";
    p.payload = R"({"order":42})";
    p.message_id = "order-42";
    auto const before = now_ms();
    ASSERT_FALSE(call_and_wait([&](auto done) { broker_->publish(p, done); }));
    auto got = sink_.wait_for(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].user, "alice");
    EXPECT_EQ(got[0].event, "order.shipped");
    EXPECT_EQ(got[0].payload, R"({"order":42})");
    EXPECT_EQ(got[0].id, "order-42");
    ASSERT_TRUE(got[0].ts.has_value());
    EXPECT_GE(*got[0].ts, before);
    EXPECT_LE(*got[0].ts, now_ms());

    publication b;
    b.broadcast = true;
    b.payload = R"("everyone")";
    ASSERT_FALSE(call_and_wait([&](auto done) { broker_->publish(b, done); }));
    got = sink_.wait_for(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(got[1].broadcast);
    EXPECT_EQ(got[1].event, "notification");
    EXPECT_FALSE(got[1].id.empty());  // generated

    auto st = broker_->stats();
    EXPECT_EQ(st.messages_published, 3u);
    EXPECT_EQ(st.messages_confirmed, 3u);
    EXPECT_EQ(st.messages_failed, 0u);

    publication bad;  // no users, not a broadcast
    EXPECT_EQ(call_and_wait([&](auto done) { broker_->publish(bad, done); }), error::invalid_publication);
}

TEST_F(amqp_broker_test, publish_once_for_the_command_line) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    publication p;
    p.users = {"alice", "nobody"};
    p.event = "cli.test";
    p.payload = R"({"from":"cli"})";
    auto const to = [&](std::string url) {
        auto o = options();
        o.url = std::move(url);
        return o;
    };
    EXPECT_EQ(publish_once(to(amqp_url()), p), 0);
    auto got = sink_.wait_for(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].user, "alice");
    EXPECT_EQ(got[0].event, "cli.test");
    EXPECT_EQ(got[0].payload, R"({"from":"cli"})");
    EXPECT_FALSE(got[0].id.empty());
    EXPECT_TRUE(got[0].ts.has_value());
    publication b;
    b.broadcast = true;
    b.payload = "1";
    EXPECT_EQ(publish_once(to(amqp_url()), b), 0);
    EXPECT_EQ(sink_.wait_for(2).size(), 2u);
    EXPECT_EQ(publish_once(to("amqp://guest:guest@127.0.0.1:1/"), p), 1);
    EXPECT_EQ(publish_once(to("nonsense"), p), 1);
    publication none;
    EXPECT_EQ(publish_once(to(amqp_url()), none), 1);
}

TEST_F(amqp_broker_test, publish_throughput_with_confirms) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    constexpr int n = 10000;
    std::atomic<int> ok{0}, failed{0};
    auto const t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        publication p;
        p.users = {"alice"};
        p.payload = R"({"i":)" + std::to_string(i) + "}";
        broker_->publish(std::move(p), [&](boost::system::error_code ec) { (ec ? failed : ok)++; });
    }
    ASSERT_TRUE(eventually([&] { return ok + failed == n; }, 60s));
    auto const confirmed_after = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(failed, 0);
    ASSERT_EQ(sink_.wait_for(n, 60s).size(), static_cast<std::size_t>(n));
    auto const delivered_after = std::chrono::steady_clock::now() - t0;
    auto const ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf(
        "[ measure ] publish(): %d messages confirmed in %.0f ms (%.0f msg/s), all delivered in %.0f ms "
        "(%.0f msg/s)\n",
        n, ms(confirmed_after), n / ms(confirmed_after) * 1000, ms(delivered_after), n / ms(delivered_after) * 1000);
    auto got = sink_.snapshot();
    for (int i = 0; i < n; ++i) {  // in order
        ASSERT_EQ(got[i].payload, R"({"i":)" + std::to_string(i) + "}");
    }
}

TEST_F(amqp_broker_test, a_thousand_users_bound_in_a_burst) {
    start(options());
    constexpr int n = 1000;
    std::atomic<int> ok{0}, failed{0};
    auto const t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        broker_->subscribe("user-" + std::to_string(i), [&](boost::system::error_code ec) { (ec ? failed : ok)++; });
    }
    ASSERT_TRUE(eventually([&] { return ok + failed == n; }, 60s));
    auto const took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(failed, 0);
    auto st = broker_->stats();
    std::printf("[ measure ] %d users bound in %.0f ms: %.0f binds/s; mean bind latency %.1f ms\n", n, took,
                n / took * 1000, st.bind_latency.us_sum / 1000.0 / std::max<std::uint64_t>(1, st.bind_latency.count));
    EXPECT_EQ(st.bound_users, static_cast<std::uint64_t>(n));
    auto [status, out] = ctl("list_bindings -q source_name routing_key");
    std::size_t lines = 0;
    for (std::size_t pos = 0; (pos = out.find(exchange_ + "\tuser-", pos)) != std::string::npos; ++pos) {
        ++lines;
    }
    EXPECT_EQ(lines, static_cast<std::size_t>(n));
    EXPECT_EQ(send("user-0"), outcome::routed);
    EXPECT_EQ(send("user-999"), outcome::routed);
}

TEST_F(amqp_broker_test, delivery_throughput) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    constexpr int n = 20000;
    std::string const body = R"({"text":")" + std::string(80, 'x') + R"("})";  // ~100 bytes
    // A second raw connection floods without waiting for confirms per message.
    auto const t0 = std::chrono::steady_clock::now();
    std::atomic<double> flood_ms{0};
    std::thread flood([&] {
        raw_client r(amqp_url());
        for (int i = 0; i < n; ++i) {
            if (i % 1000 == 999) {
                r.publish(exchange_, "alice", body);  // waits for this confirm: bounds the broker's backlog
            } else {
                r.publish_no_wait(exchange_, "alice", body);
            }
        }
        flood_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    });
    auto got = sink_.wait_for(n, 60s);
    auto const took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    flood.join();
    ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
    std::printf("[ measure ] %d deliveries of %zu bytes in %.0f ms: %.0f msg/s (the publisher needed %.0f ms)\n", n,
                body.size(), took, n / took * 1000, flood_ms.load());
}

TEST_F(amqp_broker_test, heartbeats_keep_an_idle_connection) {
    auto o = options();
    o.heartbeat = 1s;
    start(o);
    ASSERT_FALSE(subscribe("alice"));
    // Idle for 3.5 heartbeat periods: the broker drops a client that misses two. (The idle time is the test.)
    std::this_thread::sleep_for(3500ms);
    auto st = broker_->stats();
    EXPECT_EQ(st.connection_failures, 0u);
    EXPECT_EQ(st.reconnects, 0u);
    EXPECT_TRUE(broker_->ready());
    EXPECT_EQ(send("alice"), outcome::routed);
    EXPECT_EQ(sink_.wait_for(1).size(), 1u);
}

TEST_F(amqp_broker_test, user_ids_that_cannot_be_routing_keys_are_refused_without_harm) {
    start(options());
    EXPECT_EQ(subscribe(std::string(256, 'x')), error::invalid_user);
    EXPECT_EQ(subscribe(""), error::invalid_user);
    std::string const longest(255, 'y');
    EXPECT_FALSE(subscribe(longest));
    EXPECT_EQ(send(longest), outcome::routed);
    publication p;
    p.users = {"alice", std::string(300, 'z')};
    p.payload = "{}";
    EXPECT_EQ(call_and_wait([&](auto done) { broker_->publish(p, done); }), error::invalid_publication);
    EXPECT_EQ(broker_->stats().connection_failures, 0u);
    EXPECT_TRUE(broker_->ready());
}

TEST_F(amqp_broker_test, deliveries_not_for_us_are_counted_not_fatal) {
    auto o = options();
    o.queue = unique_name("queue");  // a named queue, so the test can reach it through the default exchange
    start(o);
    ASSERT_FALSE(subscribe("alice"));
    EXPECT_EQ(raw_->publish("", o.queue, R"("via the default exchange")"), outcome::routed);
    EXPECT_TRUE(eventually([&] { return broker_->stats().messages_invalid == 1; }));
    EXPECT_EQ(send("alice", ""), outcome::routed);  // an empty body is delivered as is
    auto got = sink_.wait_for(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, "");
    EXPECT_TRUE(broker_->ready());
    EXPECT_EQ(broker_->stats().connection_failures, 0u);
}

TEST_F(amqp_broker_test, tls_with_a_ca_file) {
    auto const url = env("PUSHER_TEST_AMQPS_URL"), ca = env("PUSHER_TEST_TLS_CA_FILE");
    PUSHER_SKIP_UNLESS(!url.empty() && !ca.empty(),
                       "PUSHER_TEST_AMQPS_URL / PUSHER_TEST_TLS_CA_FILE not set (the test node has no TLS listener)");
    auto o = options();
    o.url = url;
    o.tls_ca_file = ca;
    start(o);
    ASSERT_FALSE(subscribe("alice"));
    EXPECT_EQ(send("alice", R"("over tls")"), outcome::routed);
    publication p;
    p.users = {"alice"};
    p.payload = R"("published over tls")";
    EXPECT_FALSE(call_and_wait([&](auto done) { broker_->publish(p, done); }));
    auto got = sink_.wait_for(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, R"("over tls")");
    EXPECT_EQ(got[1].payload, R"("published over tls")");
}

TEST_F(amqp_broker_test, tls_refuses_a_server_it_cannot_verify) {
    auto const url = env("PUSHER_TEST_AMQPS_URL");
    PUSHER_SKIP_UNLESS(!url.empty(), "PUSHER_TEST_AMQPS_URL not set (the test node has no TLS listener)");
    auto o = options();
    o.url = url;  // no CA file: the system store does not know the test CA
    amqp_broker b(o);
    recording_sink s;
    b.start(s);
    EXPECT_TRUE(eventually([&] { return b.stats().connection_failures >= 2; }));
    EXPECT_FALSE(b.ready());
    b.stop();

    o.tls_verify_peer = false;  // an operator's explicit choice: then it connects
    o.tls_verify_hostname = false;
    amqp_broker unverified(o);
    unverified.start(s);
    EXPECT_TRUE(eventually([&] { return unverified.ready(); }));
    unverified.stop();
}

// No RabbitMQ needed: nothing listens on port 1.
TEST(amqp_broker_unreachable, retries_and_fails_subscribers_after_the_timeout) {
    amqp_broker::options o;
    o.url = "amqp://guest:guest@127.0.0.1:1/";
    o.exchange = "x";
    o.broadcast_exchange = "y";
    o.subscribe_timeout = 300ms;
    o.reconnect_min = 50ms;
    o.reconnect_max = 100ms;
    amqp_broker b(o);
    recording_sink s;
    b.start(s);
    EXPECT_FALSE(b.ready());
    auto const t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(call_and_wait([&](auto done) { b.subscribe("alice", done); }), error::subscribe_timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
    publication p;
    p.users = {"alice"};
    p.payload = "{}";
    EXPECT_EQ(call_and_wait([&](auto done) { b.publish(p, done); }), error::not_connected);
    EXPECT_TRUE(eventually([&] { return b.stats().connection_failures >= 4; }, 5s));
    auto st = b.stats();
    EXPECT_EQ(st.subscribe_timeouts, 1u);
    EXPECT_EQ(st.subscriptions, 1u);  // still counted: bound when the broker comes back
    EXPECT_FALSE(b.ready());
    b.stop();
    EXPECT_EQ(call_and_wait([&](auto done) { b.subscribe("bob", done); }), error::stopped);
}

// ---- the undelivered exchange (docs/amqp-contract.md) ----

TEST_F(amqp_broker_test, the_alternate_exchange_takes_events_for_users_bound_nowhere) {
    start(options());
    auto const q = raw_->bind_new_queue(undelivered_);
    raw_client::props p;
    p.type = "mail.new";
    p.message_id = "m-nobody";
    EXPECT_EQ(send("nobody", R"({"n":1})", p), outcome::routed);  // routed: by the alternate exchange, to q
    auto got = raw_->get(q);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->routing_key, "nobody");
    EXPECT_EQ(got->type, "mail.new");
    EXPECT_EQ(got->message_id, "m-nobody");
    EXPECT_EQ(got->body, R"({"n":1})");
    EXPECT_FALSE(got->has_reason);  // RabbitMQ's doing: untouched
    EXPECT_TRUE(sink_.snapshot().empty());
}

TEST_F(amqp_broker_test, undeliver_republishes_with_the_reason_and_the_original_properties) {
    auto& b = start(options());
    auto const q = raw_->bind_new_queue(undelivered_);
    b.undeliver(
        {"alice", "mail.new", R"({"subject":"hi"})", true, "m-1", 1700000000123, undelivered_reason::no_session});
    std::string const raw_bytes = std::string("not json \xff", 10);
    b.undeliver({"bob", "notification", raw_bytes, false, "", std::nullopt, undelivered_reason::recovery_expired});
    b.undeliver({"carol", "x", "{}", true, "m-3", 5, undelivered_reason::recovery_overflow});

    auto a = raw_->get(q);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->exchange, undelivered_);
    EXPECT_EQ(a->routing_key, "alice");
    EXPECT_EQ(a->type, "mail.new");
    EXPECT_EQ(a->body, R"({"subject":"hi"})");
    EXPECT_EQ(a->message_id, "m-1");
    EXPECT_EQ(a->content_type, "application/json");
    EXPECT_EQ(a->reason, "no_session");
    EXPECT_EQ(a->timestamp_ms, 1700000000123);
    EXPECT_EQ(a->timestamp, 1700000000u);
    EXPECT_EQ(a->delivery_mode, 2);

    auto o = raw_->get(q);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->routing_key, "bob");
    EXPECT_EQ(o->type, "notification");
    EXPECT_EQ(o->body, raw_bytes);  // the original bytes
    EXPECT_EQ(o->content_type, "application/octet-stream");
    EXPECT_EQ(o->reason, "recovery_expired");
    EXPECT_FALSE(o->message_id.empty());  // a new id when it had none
    ASSERT_TRUE(o->timestamp_ms);
    EXPECT_GT(*o->timestamp_ms, now_ms() - 60'000);  // now when it had none

    auto c = raw_->get(q);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->reason, "recovery_overflow");
    EXPECT_FALSE(raw_->get(q, 300ms));  // each exactly once

    auto st = b.stats();
    EXPECT_EQ(st.undelivered[static_cast<std::size_t>(undelivered_reason::no_session)], 1u);
    EXPECT_EQ(st.undelivered[static_cast<std::size_t>(undelivered_reason::recovery_expired)], 1u);
    EXPECT_EQ(st.undelivered[static_cast<std::size_t>(undelivered_reason::recovery_overflow)], 1u);
    EXPECT_EQ(st.undelivered_failed, 0u);
    EXPECT_EQ(st.messages_published, 0u);   // not /api/publish's
    EXPECT_TRUE(sink_.snapshot().empty());  // our queue is not bound there
}

TEST_F(amqp_broker_test, undeliver_while_the_publisher_is_down_is_counted_as_failed) {
    auto o = options();
    o.url = "amqp://guest:guest@127.0.0.1:1/";  // nothing listens there
    amqp_broker b(o);
    b.start(sink_);
    b.undeliver({"alice", "e", "{}", true, "", std::nullopt, undelivered_reason::no_session});
    EXPECT_TRUE(eventually([&] { return b.stats().undelivered_failed == 1; }, 5s));
    EXPECT_EQ(b.stats().undelivered[0], 1u);
    b.stop();
    b.undeliver({"alice", "e", "{}", true, "", std::nullopt, undelivered_reason::no_session});
    EXPECT_EQ(b.stats().undelivered_failed, 2u);  // after stop: at once, never blocks
}

TEST_F(amqp_broker_test, an_exchange_declared_without_the_alternate_exchange_is_used_with_one_warning) {
    raw_->declare_exchange(exchange_, "direct");  // as an older version declared it
    auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
    spdlog::default_logger()->sinks().push_back(ring);
    auto o = options();
    o.routing_check = 200ms;  // the check still works here (no alternate exchange routes the probe elsewhere)
    auto& b = start(o);
    ASSERT_FALSE(subscribe("alice"));
    auto const q = raw_->bind_new_queue(undelivered_);
    EXPECT_EQ(send("alice", R"("hello")"), outcome::routed);
    EXPECT_EQ(sink_.wait_for(1).size(), 1u);
    EXPECT_EQ(send("nobody"), outcome::returned);  // no alternate exchange on it
    b.undeliver({"alice", "e", R"("late")", true, "m-9", std::nullopt, undelivered_reason::no_session});
    auto got = raw_->get(q);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->reason, "no_session");
    EXPECT_EQ(got->message_id, "m-9");

    std::this_thread::sleep_for(600ms);  // a few routing checks: no false alarm
    EXPECT_EQ(b.stats().routing_check_failures, 0u);

    auto const command = undelivered_policy_command(o);
    auto lines = ring->last_formatted();
    spdlog::default_logger()->sinks().pop_back();
    int warnings = 0;
    for (auto const& l : lines) {
        if (l.find("set_policy") != std::string::npos) {
            ++warnings;
            EXPECT_NE(l.find(command), std::string::npos) << l;
            EXPECT_NE(l.find("warn"), std::string::npos) << l;
        }
    }
    EXPECT_EQ(warnings, 1);
    std::string escaped = exchange_;
    for (std::size_t i = 0; (i = escaped.find('.', i)) != std::string::npos; i += 2) {
        escaped.insert(i, "\\");
    }
    EXPECT_EQ(command, "rabbitmqctl set_policy " + exchange_ + "-undelivered '^" + escaped +
                           "$' '{\"alternate-exchange\":\"" + undelivered_ + "\"}' --apply-to exchanges");

    // The logged command does what it says: with it, RabbitMQ routes events for users bound nowhere there too.
    auto const [rc, out] = ctl(command.substr(std::string("rabbitmqctl ").size()));
    ASSERT_EQ(rc, 0) << out;
    EXPECT_TRUE(eventually([&] { return send("nobody") == outcome::routed; }, 5s));
    ctl("clear_policy " + exchange_ + "-undelivered");
    auto n = raw_->get(q);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->routing_key, "nobody");
    EXPECT_FALSE(n->has_reason);
}

TEST_F(amqp_broker_test, undelivered_off_declares_the_exchange_without_the_argument) {
    auto o = options();
    o.undelivered_exchange.clear();
    auto& b = start(o);
    raw_->declare_exchange(exchange_, "direct");  // equivalent: no alternate-exchange argument (else 406, a throw)
    EXPECT_EQ(send("nobody"), outcome::returned);
    b.undeliver({"alice", "e", "{}", true, "", std::nullopt, undelivered_reason::no_session});  // nothing to do
    auto const st = b.stats();
    EXPECT_EQ(st.undelivered[0], 0u);
    EXPECT_EQ(st.undelivered_failed, 0u);
}

TEST_F(amqp_broker_test, undelivered_off_uses_an_exchange_that_has_an_alternate_exchange) {
    raw_->declare_exchange(undelivered_, "fanout");
    raw_->declare_exchange_with_ae(exchange_, "direct", undelivered_);
    auto o = options();
    o.undelivered_exchange.clear();
    start(o);
    ASSERT_FALSE(subscribe("alice"));
    EXPECT_EQ(send("alice"), outcome::routed);
    EXPECT_EQ(sink_.wait_for(1).size(), 1u);
}

TEST_F(amqp_broker_test, the_routing_check_sees_lost_bindings_through_the_alternate_exchange) {
    auto o = options();
    o.routing_check = 200ms;
    auto& b = start(o);
    ASSERT_FALSE(subscribe("alice"));
    auto const q = raw_->bind_new_queue(undelivered_);  // so the probe is routed (there) even without our bindings
    std::this_thread::sleep_for(700ms);
    EXPECT_EQ(b.stats().routing_check_failures, 0u);  // the probes come back to us: no false alarm
    // Our bindings vanish: the exchange is deleted and declared again as we declare it.
    raw_->delete_exchange(exchange_);
    raw_->declare_exchange_with_ae(exchange_, "direct", undelivered_);
    EXPECT_TRUE(eventually([&] { return b.stats().routing_check_failures >= 1; }, 10s));
    // "routed" proves nothing now (the alternate exchange takes it): it must reach us again.
    EXPECT_TRUE(eventually(
        [&] {
            send("alice", R"("back")");
            std::this_thread::sleep_for(50ms);
            for (auto const& m : sink_.snapshot()) {
                if (m.payload == R"("back")") {
                    return true;
                }
            }
            return false;
        },
        10s));
    EXPECT_TRUE(b.ready());
    (void)q;
}

TEST(amqp_broker_options, validate) {
    amqp_broker::options o;
    EXPECT_EQ(amqp_broker::validate(o), "");
    o.url = "http://example.com/";
    EXPECT_NE(amqp_broker::validate(o), "");
    o.url = "amqps://u:p@rabbit.example.com/vh";
    EXPECT_EQ(amqp_broker::validate(o), "");
    o.exchange = "";
    EXPECT_NE(amqp_broker::validate(o), "");
    o.exchange = o.broadcast_exchange;
    EXPECT_NE(amqp_broker::validate(o), "");
    o.exchange = "pusher";
    o.undelivered_exchange = "pusher";
    EXPECT_NE(amqp_broker::validate(o), "");
    o.undelivered_exchange = o.broadcast_exchange;
    EXPECT_NE(amqp_broker::validate(o), "");
    o.undelivered_exchange = "";  // off
    EXPECT_EQ(amqp_broker::validate(o), "");
}

TEST(amqp_broker_options, a_list_of_urls_is_checked_entry_by_entry) {
    EXPECT_EQ(amqp_urls("amqp://a/"), (std::vector<std::string>{"amqp://a/"}));
    EXPECT_EQ(amqp_urls(" amqp://a:5701/ ,amqp://b:5702/"),
              (std::vector<std::string>{"amqp://a:5701/", "amqp://b:5702/"}));
    EXPECT_EQ(amqp_urls("amqp://a/,"), (std::vector<std::string>{"amqp://a/", ""}));
    amqp_broker::options o;
    o.url = "amqp://u:p@a:5701/, amqps://u:p@b:5702/";
    EXPECT_EQ(amqp_broker::validate(o), "");
    o.url = "amqp://u:p@a:5701/,,amqp://u:p@b:5702/";
    EXPECT_THAT(amqp_broker::validate(o), ::testing::HasSubstr("--amqp-url entry 2 of 3: invalid AMQP URL"));
}

// The nodes of a cluster are tried in order within one round, without the reconnect backoff between them: a first
// node that does not answer costs one refused connect, not a backoff.
TEST_F(amqp_broker_test, a_node_that_does_not_answer_is_skipped_for_the_next_url_at_once) {
    auto o = options();
    o.url = "amqp://guest:guest@127.0.0.1:1/," + amqp_url();
    o.reconnect_min = 30s;  // a backoff would show as a 30-s wait
    o.reconnect_max = 30s;
    auto const t0 = std::chrono::steady_clock::now();
    auto& b = start(o);
    EXPECT_TRUE(eventually([&] { return b.ready(); }, 10s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    ASSERT_FALSE(subscribe("alice"));
    EXPECT_EQ(send("alice", R"("via the second node")"), outcome::routed);
    EXPECT_EQ(sink_.wait_for(1).size(), 1u);
    EXPECT_GE(b.stats().connection_failures, 2u);  // the consumer's and the publisher's first try
}

TEST_F(amqp_broker_test, publish_once_takes_the_first_node_that_answers) {
    start(options());
    ASSERT_FALSE(subscribe("alice"));
    publication p;
    p.users = {"alice"};
    p.event = "cli.test";
    p.payload = "1";
    auto o = options();
    o.url = "amqp://guest:guest@127.0.0.1:1/," + amqp_url();
    EXPECT_EQ(publish_once(o, p), 0);
    EXPECT_EQ(sink_.wait_for(1).size(), 1u);
    o.url = "amqp://guest:guest@127.0.0.1:1/,amqp://guest:guest@127.0.0.1:2/";
    EXPECT_EQ(publish_once(o, p), 1);
}

TEST(amqp_broker_options, the_policy_command_names_the_vhost_and_escapes_the_exchange) {
    amqp_broker::options o;
    EXPECT_EQ(undelivered_policy_command(o),
              R"(rabbitmqctl set_policy pusher-undelivered '^pusher$' '{"alternate-exchange":"pusher.undelivered"}' )"
              R"(--apply-to exchanges)");
    o.url = "amqp://u:p@rabbit:5672/notify";
    o.exchange = "events.user";
    o.undelivered_exchange = "events.lost";
    EXPECT_EQ(undelivered_policy_command(o),
              R"(rabbitmqctl set_policy -p 'notify' events.user-undelivered '^events\.user$' )"
              R"('{"alternate-exchange":"events.lost"}' --apply-to exchanges)");
}
}  // namespace
}  // namespace pusher::broker
