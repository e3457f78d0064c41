#include "app/fanout.hpp"

#include "api/publish.hpp"
#include "broker/memory_broker.hpp"
#include "hub/hub.hpp"
#include "metrics/registry.hpp"
#include "unit/hub/fake_session.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pusher::app {
namespace {
using hub::testing::fake_session;

constexpr std::int64_t now = 1'700'000'000'000;  // the test clock, ms since the epoch

struct fixture : ::testing::Test {
    hub::hub h;
    metrics::registry reg;
    std::int64_t clock_ms = now;
    fanout fan{h, reg, [this] { return clock_ms; }};
    std::shared_ptr<fake_session> alice1 = std::make_shared<fake_session>("a1");
    std::shared_ptr<fake_session> alice2 = std::make_shared<fake_session>("a2");
    std::shared_ptr<fake_session> bob = std::make_shared<fake_session>("b1");

    fixture() {
        h.attach("alice", alice1);
        h.attach("alice", alice2);
        h.attach("bob", bob);
    }

    static broker::message to(std::string_view user, std::string_view event, std::string_view payload) {
        broker::message m;
        m.user = user;
        m.event = event;
        m.payload = payload;
        return m;
    }

    // What one message for alice becomes on the wire.
    std::string frame_for(std::string_view event, std::string_view payload, bool content_is_json = true) {
        auto m = to("alice", event, payload);
        m.content_is_json = content_is_json;
        fan.on_message(m);
        auto const texts = alice1->texts();
        return texts.empty() ? std::string("<nothing>") : texts.back();
    }

    bool has_line(std::string const& line) const { return reg.expose().find(line + "\n") != std::string::npos; }
};

TEST_F(fixture, encodes_once_and_delivers_to_every_session_of_the_user) {
    fan.on_message(to("alice", "mail.new", R"({"subject":"hi","n":1.0})"));
    ASSERT_EQ(alice1->frames().size(), 1u);
    ASSERT_EQ(alice2->frames().size(), 1u);
    EXPECT_EQ(*alice1->frames()[0], R"(42["mail.new",{"subject":"hi","n":1.0}])");
    EXPECT_EQ(alice1->frames()[0].get(), alice2->frames()[0].get());  // one frame, shared
    EXPECT_EQ(bob->count(), 0u);
    auto const st = fan.stats();
    EXPECT_EQ(st.received, 1u);
    EXPECT_EQ(st.delivered, 2u);
    EXPECT_EQ(st.as_string, 0u);
    EXPECT_TRUE(has_line("pusher_messages_received_total{kind=\"user\"} 1"));
    EXPECT_TRUE(has_line("pusher_messages_delivered_total 2"));
}

TEST_F(fixture, json_payloads_are_spliced_byte_for_byte) {
    EXPECT_EQ(frame_for("e", "12345678901234567890123"), R"(42["e",12345678901234567890123])");
    EXPECT_EQ(frame_for("e", "[1, 2 ,3]"), R"(42["e",[1, 2 ,3]])");
    EXPECT_EQ(frame_for("e", "null"), R"(42["e",null])");
    EXPECT_EQ(frame_for("e", R"("a string")"), R"(42["e","a string"])");
    EXPECT_EQ(frame_for("e", " \r\n\t{\"a\": 1}\n"), R"(42["e",{"a": 1}])");  // outer white space trimmed
    EXPECT_EQ(fan.stats().as_string, 0u);
}

TEST_F(fixture, non_json_payloads_become_json_strings) {
    EXPECT_EQ(frame_for("e", "hello"), R"(42["e","hello"])");
    EXPECT_EQ(frame_for("e", R"({"a":)"), R"(42["e","{\"a\":"])");
    EXPECT_EQ(frame_for("e", "{} {}"), R"(42["e","{} {}"])");
    EXPECT_EQ(frame_for("e", "line\nbreak\ttab\x01"), R"(42["e","line\nbreak\ttab\u0001"])");
    EXPECT_EQ(fan.stats().as_string, 4u);
    EXPECT_TRUE(has_line("pusher_messages_non_json_total 4"));
}

TEST_F(fixture, content_type_not_json_wins_over_valid_json) {
    EXPECT_EQ(frame_for("e", "123", false), R"(42["e","123"])");
    EXPECT_EQ(frame_for("e", R"({"a":1})", false), R"(42["e","{\"a\":1}"])");
}

TEST_F(fixture, empty_payload_is_an_empty_string) {
    EXPECT_EQ(frame_for("e", ""), R"(42["e",""])");
    EXPECT_EQ(frame_for("e", "  "), R"(42["e","  "])");
}

TEST_F(fixture, bytes_that_are_not_utf8_become_replacement_characters) {
    std::string const fffd = "\xEF\xBF\xBD";
    EXPECT_EQ(frame_for("e",
                        "a\xff"
                        "b"),
              "42[\"e\",\"a" + fffd + "b\"]");
    EXPECT_EQ(frame_for("e", "x\xE2\x82"), "42[\"e\",\"x" + fffd + "\"]");  // truncated: one maximal subpart
    EXPECT_EQ(frame_for("e", "\xED\xA0\x80"), "42[\"e\",\"" + fffd + fffd + fffd + "\"]");             // a surrogate
    EXPECT_EQ(frame_for("e", "\xC0\xAF"), "42[\"e\",\"" + fffd + fffd + "\"]");                        // overlong
    EXPECT_EQ(frame_for("e", "\xF4\x90\x80\x80"), "42[\"e\",\"" + fffd + fffd + fffd + fffd + "\"]");  // > U+10FFFF
    // Well-formed multi-byte text is kept, and so is JSON carrying it.
    EXPECT_EQ(frame_for("e", "caf\xC3\xA9 \xF0\x9F\x98\x80"), "42[\"e\",\"caf\xC3\xA9 \xF0\x9F\x98\x80\"]");
    EXPECT_EQ(frame_for("e", "\"caf\xC3\xA9\""), "42[\"e\",\"caf\xC3\xA9\"]");
}

TEST_F(fixture, event_names_are_escaped) {
    EXPECT_EQ(frame_for("a\"b\\c", "1"), R"(42["a\"b\\c",1])");
}

TEST_F(fixture, reserved_events_are_dropped_and_counted) {
    for (auto e : {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}) {
        fan.on_message(to("alice", e, "{}"));
    }
    EXPECT_EQ(alice1->count(), 0u);
    auto const st = fan.stats();
    EXPECT_EQ(st.received, 6u);
    EXPECT_EQ(st.dropped_reserved_event, 6u);
    EXPECT_EQ(st.delivered, 0u);
    EXPECT_TRUE(has_line("pusher_messages_dropped_total{reason=\"reserved_event\"} 6"));
}

TEST_F(fixture, empty_or_non_utf8_event_names_are_dropped) {
    fan.on_message(to("alice", "", "{}"));
    fan.on_message(to("alice", "bad\xff", "{}"));
    EXPECT_EQ(alice1->count(), 0u);
    EXPECT_EQ(fan.stats().dropped_invalid_event, 2u);
    EXPECT_TRUE(has_line("pusher_messages_dropped_total{reason=\"invalid_event\"} 2"));
}

TEST_F(fixture, user_without_session_is_a_counted_drop) {
    fan.on_message(to("carol", "e", "1"));
    fan.on_message(to("", "e", "1"));
    auto const st = fan.stats();
    EXPECT_EQ(st.dropped_no_session, 2u);
    EXPECT_EQ(st.delivered, 0u);
    EXPECT_TRUE(has_line("pusher_messages_dropped_total{reason=\"no_session\"} 2"));
}

TEST(fanout_undeliver, a_user_without_session_goes_to_the_undeliver_hook_not_dropped) {
    hub::hub h;
    metrics::registry reg;
    std::vector<broker::undelivered> handed;
    fanout fan{h, reg, [] { return now; }, [&](broker::undelivered u) { handed.push_back(std::move(u)); }};
    auto s = std::make_shared<fake_session>("a1");
    h.attach("alice", s);

    broker::message m;
    m.user = "carol";
    m.event = "mail.new";
    m.payload = "not json";
    m.content_is_json = false;
    m.message_id = "m-1";
    m.timestamp_ms = 1234;
    fan.on_message(m);
    m.user = "alice";  // delivered: not handed over
    fan.on_message(m);
    broker::message all;
    all.broadcast = true;  // a broadcast that finds nobody goes nowhere
    all.event = "e";
    all.payload = "1";
    hub::hub empty;
    metrics::registry reg2;
    fanout lonely{empty, reg2, [] { return now; }, [&](broker::undelivered u) { handed.push_back(std::move(u)); }};
    lonely.on_message(all);

    ASSERT_EQ(handed.size(), 1u);
    EXPECT_EQ(handed[0].user, "carol");
    EXPECT_EQ(handed[0].event, "mail.new");
    EXPECT_EQ(handed[0].payload, "not json");  // the original bytes, not the JSON string sent to sessions
    EXPECT_FALSE(handed[0].content_is_json);
    EXPECT_EQ(handed[0].message_id, "m-1");
    EXPECT_EQ(handed[0].timestamp_ms, 1234);
    EXPECT_EQ(handed[0].reason, broker::undelivered_reason::no_session);
    auto const st = fan.stats();
    EXPECT_EQ(st.dropped_no_session, 0u);
    EXPECT_EQ(st.undelivered_no_session, 1u);
    EXPECT_EQ(st.delivered, 1u);
    EXPECT_EQ(s->count(), 1u);
    EXPECT_TRUE(reg.expose().find("pusher_messages_dropped_total{reason=\"no_session\"} 0\n") != std::string::npos);
}

TEST(fanout_undeliver, the_memory_broker_counts_what_is_handed_to_it) {
    hub::hub h;
    metrics::registry reg;
    broker::memory_broker b;
    fanout fan{h, reg, [] { return now; }, [&](broker::undelivered u) { b.undeliver(std::move(u)); }};
    broker::message m;
    m.user = "carol";
    m.event = "e";
    m.payload = "1";
    fan.on_message(m);
    fan.on_message(m);
    b.undeliver({"x", "e", "1", true, "", std::nullopt, broker::undelivered_reason::recovery_overflow});
    auto const st = b.stats();
    EXPECT_EQ(st.undelivered[static_cast<std::size_t>(broker::undelivered_reason::no_session)], 2u);
    EXPECT_EQ(st.undelivered[static_cast<std::size_t>(broker::undelivered_reason::recovery_expired)], 0u);
    EXPECT_EQ(st.undelivered[static_cast<std::size_t>(broker::undelivered_reason::recovery_overflow)], 1u);
    EXPECT_EQ(fan.stats().dropped_no_session, 0u);
}

TEST_F(fixture, drops_in_a_burst_are_all_counted) {
    // The log is throttled (one line per reason per 10 s of the clock); the counters are not.
    for (int i = 0; i < 1000; ++i) {
        fan.on_message(to("nobody", "e", "1"));
        clock_ms += 1;
    }
    EXPECT_EQ(fan.stats().dropped_no_session, 1000u);
}

TEST_F(fixture, broadcast_reaches_every_session) {
    broker::message m;
    m.broadcast = true;
    m.event = "news";
    m.payload = R"({"t":"x"})";
    fan.on_message(m);
    EXPECT_EQ(alice1->count(), 1u);
    EXPECT_EQ(alice2->count(), 1u);
    ASSERT_EQ(bob->count(), 1u);
    EXPECT_EQ(*bob->frames()[0], R"(42["news",{"t":"x"}])");
    auto const st = fan.stats();
    EXPECT_EQ(st.received, 1u);
    EXPECT_EQ(st.received_broadcast, 1u);
    EXPECT_EQ(st.delivered, 3u);
    EXPECT_TRUE(has_line("pusher_messages_received_total{kind=\"broadcast\"} 1"));
}

TEST(fanout_alone, broadcast_to_nobody_is_not_a_drop) {
    hub::hub h;
    metrics::registry reg;
    fanout fan{h, reg, [] { return now; }};
    broker::message m;
    m.broadcast = true;
    m.event = "news";
    m.payload = "1";
    fan.on_message(m);
    EXPECT_EQ(fan.stats().dropped_no_session, 0u);
    EXPECT_EQ(fan.stats().delivered, 0u);
}

TEST_F(fixture, latency_from_the_publish_timestamp) {
    auto m = to("alice", "e", "1");
    m.timestamp_ms = now - 40;  // 0.04 s: in le="0.05"
    fan.on_message(m);
    m.timestamp_ms = now - 3000;  // 3 s: in le="5"
    fan.on_message(m);
    m.timestamp_ms = now + 500;  // the publisher's clock is ahead: counted as 0
    fan.on_message(m);
    m.timestamp_ms.reset();  // no timestamp: not observed
    fan.on_message(m);
    m.timestamp_ms = 0;  // unset: not observed
    fan.on_message(m);
    auto nobody = to("carol", "e", "1");
    nobody.timestamp_ms = now - 10;  // dropped: not observed
    fan.on_message(nobody);

    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_bucket{le=\"0.001\"} 1"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_bucket{le=\"0.025\"} 1"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_bucket{le=\"0.05\"} 2"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_bucket{le=\"2.5\"} 2"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_bucket{le=\"5\"} 3"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_bucket{le=\"+Inf\"} 3"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_sum 3.04"));
    EXPECT_TRUE(has_line("pusher_delivery_latency_seconds_count 3"));
}

TEST(fanout_alone, system_clock_is_milliseconds_since_the_epoch) {
    auto const ms = fanout::system_clock_ms();
    EXPECT_GT(ms, 1'600'000'000'000);  // after 2020
    EXPECT_LT(ms, 4'000'000'000'000);  // and in milliseconds, not microseconds
}

// The whole path in one process: /api/publish body -> publication -> memory broker -> fanout -> hub -> session.
TEST(fanout_pipeline, api_publish_through_the_memory_broker) {
    hub::hub h;
    metrics::registry reg;
    fanout fan{h, reg};
    broker::memory_broker b{broker::memory_broker::options{std::chrono::milliseconds{0}}};
    b.start(fan);

    auto session = std::make_shared<fake_session>("s1");
    std::promise<boost::system::error_code> bound;
    b.subscribe("alice", [&](boost::system::error_code ec) { bound.set_value(ec); });
    auto bound_future = bound.get_future();
    ASSERT_EQ(bound_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    ASSERT_FALSE(bound_future.get());
    h.attach("alice", session);

    api::request req;
    req.method = "POST";
    req.path = "/api/publish";
    req.body = R"({"user":"alice","event":"mail.new","data":{"from":"bob","n":1.50}})";
    auto parsed = api::parse_publish(req, api::publish_settings{});
    ASSERT_TRUE(std::holds_alternative<broker::publication>(parsed));
    auto pub = std::get<broker::publication>(std::move(parsed));
    EXPECT_EQ(api::accepted_count(pub), 1u);

    std::promise<boost::system::error_code> published;
    b.publish(std::move(pub), [&](boost::system::error_code ec) { published.set_value(ec); });
    auto published_future = published.get_future();
    ASSERT_EQ(published_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_FALSE(published_future.get());

    // Delivery happens on the broker's thread; wait for it with a deadline.
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (session->count() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    b.unsubscribe("alice");
    b.stop();
    ASSERT_EQ(session->count(), 1u);
    EXPECT_EQ(session->texts()[0], R"(42["mail.new",{"from":"bob","n":1.50}])");
    EXPECT_EQ(fan.stats().delivered, 1u);
}

}  // namespace
}  // namespace pusher::app
