// Reading rabbitmq-c deliveries as broker messages (the AMQP contract), reconnect backoff, message ids.
#include "broker/amqp_message.hpp"
#include "broker/backoff.hpp"
#include "broker/message_id.hpp"

#include <amqp_framing.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

namespace pusher::broker {
namespace {
using namespace std::chrono_literals;

// An envelope as rabbitmq-c fills it in, pointing into strings the test owns.
struct envelope_builder {
    std::string exchange = "pusher", key = "alice", body = R"({"n":1})";
    std::string type, content_type, message_id;
    amqp_envelope_t env{};
    amqp_table_entry_t header{};

    amqp_envelope_t const& build() {
        env.exchange = bytes(exchange);
        env.routing_key = bytes(key);
        env.message.body = bytes(body);
        auto& p = env.message.properties;
        if (!type.empty()) {
            p._flags |= AMQP_BASIC_TYPE_FLAG;
            p.type = bytes(type);
        }
        if (!content_type.empty()) {
            p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
            p.content_type = bytes(content_type);
        }
        if (!message_id.empty()) {
            p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
            p.message_id = bytes(message_id);
        }
        return env;
    }
    void timestamp(std::uint64_t t) {
        env.message.properties._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
        env.message.properties.timestamp = t;
    }
    void header_i64(std::int64_t v) {
        header.key = amqp_cstring_bytes("timestamp_ms");
        header.value.kind = AMQP_FIELD_KIND_I64;
        header.value.value.i64 = v;
        env.message.properties._flags |= AMQP_BASIC_HEADERS_FLAG;
        env.message.properties.headers = amqp_table_t{1, &header};
    }
};

TEST(amqp_message, direct_delivery_with_every_property) {
    envelope_builder b;
    b.type = "mail.new";
    b.content_type = "application/json; charset=utf-8";
    b.message_id = "m-1";
    b.header_i64(1700000000123);
    b.timestamp(1600000000);  // the header wins
    auto m = to_message(b.build(), "pusher", "pusher.broadcast");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->user, "alice");
    EXPECT_FALSE(m->broadcast);
    EXPECT_EQ(m->event, "mail.new");
    EXPECT_EQ(m->payload, R"({"n":1})");
    EXPECT_TRUE(m->content_is_json);
    EXPECT_EQ(m->message_id, "m-1");
    EXPECT_EQ(m->timestamp_ms, 1700000000123);
}

TEST(amqp_message, defaults_when_properties_are_absent) {
    envelope_builder b;
    auto m = to_message(b.build(), "pusher", "pusher.broadcast");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->event, "notification");
    EXPECT_TRUE(m->content_is_json);
    EXPECT_TRUE(m->message_id.empty());
    EXPECT_FALSE(m->timestamp_ms.has_value());
}

TEST(amqp_message, timestamp_property_in_seconds_or_milliseconds) {
    envelope_builder b;
    b.build();
    b.timestamp(1700000000);
    EXPECT_EQ(to_message(b.env, "pusher", "b")->timestamp_ms, 1700000000000);
    b.timestamp(1700000000123);
    EXPECT_EQ(to_message(b.env, "pusher", "b")->timestamp_ms, 1700000000123);
    EXPECT_EQ(timestamp_to_ms(99'999'999'999), 99'999'999'999'000);
    EXPECT_EQ(timestamp_to_ms(100'000'000'000), 100'000'000'000);
    EXPECT_EQ(timestamp_to_ms(0), 0);
}

TEST(amqp_message, broadcast_and_foreign_exchanges) {
    envelope_builder b;
    b.exchange = "pusher.broadcast";
    b.key = "";
    auto m = to_message(b.build(), "pusher", "pusher.broadcast");
    ASSERT_TRUE(m.has_value());
    EXPECT_TRUE(m->broadcast);
    EXPECT_TRUE(m->user.empty());

    envelope_builder d;
    d.exchange = "";  // the default exchange, straight to our queue: not part of the contract
    EXPECT_FALSE(to_message(d.build(), "pusher", "pusher.broadcast").has_value());

    envelope_builder e;
    e.key = "";  // a direct message with no user
    EXPECT_FALSE(to_message(e.build(), "pusher", "pusher.broadcast").has_value());
}

TEST(amqp_message, content_types) {
    EXPECT_TRUE(is_json_content_type(""));
    EXPECT_TRUE(is_json_content_type("application/json"));
    EXPECT_TRUE(is_json_content_type(" Application/JSON ; charset=utf-8"));
    EXPECT_TRUE(is_json_content_type("application/vnd.api+json"));
    EXPECT_TRUE(is_json_content_type("text/json"));
    EXPECT_FALSE(is_json_content_type("text/plain"));
    EXPECT_FALSE(is_json_content_type("application/octet-stream"));
    EXPECT_FALSE(is_json_content_type("json"));
}

TEST(amqp_message, header_timestamp_kinds) {
    amqp_table_entry_t e{};
    e.key = amqp_cstring_bytes("timestamp_ms");
    amqp_table_t t{1, &e};
    e.value.kind = AMQP_FIELD_KIND_U64;
    e.value.value.u64 = 1700000000123;
    EXPECT_EQ(header_timestamp_ms(t), 1700000000123);
    e.value.kind = AMQP_FIELD_KIND_I32;
    e.value.value.i32 = 42;
    EXPECT_EQ(header_timestamp_ms(t), 42);
    e.value.kind = AMQP_FIELD_KIND_F64;
    e.value.value.f64 = 1700000000123.0;
    EXPECT_EQ(header_timestamp_ms(t), 1700000000123);
    std::string text = "1700000000999";
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = bytes(text);
    EXPECT_EQ(header_timestamp_ms(t), 1700000000999);
    text = "soon";
    e.value.value.bytes = bytes(text);
    EXPECT_FALSE(header_timestamp_ms(t).has_value());
    e.value.kind = AMQP_FIELD_KIND_U64;
    e.value.value.u64 = UINT64_MAX;
    EXPECT_FALSE(header_timestamp_ms(t).has_value());
    e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    EXPECT_FALSE(header_timestamp_ms(t).has_value());
    e.key = amqp_cstring_bytes("other");
    e.value.kind = AMQP_FIELD_KIND_I64;
    EXPECT_FALSE(header_timestamp_ms(t).has_value());
}

TEST(amqp_message, outgoing_properties_follow_the_contract) {
    outgoing_properties out("mail.new", "m-9", 1700000000123);
    amqp_basic_properties_t const& p = *out.get();
    EXPECT_EQ(view(p.type), "mail.new");
    EXPECT_EQ(view(p.content_type), "application/json");
    EXPECT_EQ(view(p.message_id), "m-9");
    EXPECT_EQ(p.delivery_mode, 1);
    EXPECT_EQ(p.timestamp, 1700000000u);
    EXPECT_EQ(header_timestamp_ms(p.headers), 1700000000123);
    // Read back as a delivery: the same message.
    amqp_envelope_t env{};
    std::string ex = "pusher", key = "alice";
    env.exchange = bytes(ex);
    env.routing_key = bytes(key);
    env.message.properties = p;
    auto m = to_message(env, "pusher", "pusher.broadcast");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->event, "mail.new");
    EXPECT_EQ(m->timestamp_ms, 1700000000123);
    EXPECT_TRUE(m->content_is_json);
    outgoing_properties unnamed("", "x", 0);
    EXPECT_EQ(view(unnamed.get()->type), "notification");
}

TEST(backoff, doubles_up_to_the_cap_with_jitter_and_resets) {
    backoff b(500ms, 10s, 42);
    std::vector<std::chrono::milliseconds> got;
    for (int i = 0; i < 8; ++i) {
        got.push_back(b.next());
    }
    auto base = 500ms;
    for (auto d : got) {
        EXPECT_GE(d, base * 3 / 4);
        EXPECT_LE(d, base);
        base = std::min(base * 2, std::chrono::milliseconds(10s));
    }
    b.reset();
    auto d = b.next();
    EXPECT_GE(d, 375ms);
    EXPECT_LE(d, 500ms);
}

TEST(message_id_generator, unique_and_prefixed) {
    message_id_generator a(1), b(2);
    std::set<std::string> ids;
    for (int i = 0; i < 1000; ++i) {
        ids.insert(a.next());
        ids.insert(b.next());
    }
    EXPECT_EQ(ids.size(), 2000u);
    EXPECT_EQ(message_id_generator(7).next(), message_id_generator(7).next());  // seeded: reproducible
}
}  // namespace
}  // namespace pusher::broker
