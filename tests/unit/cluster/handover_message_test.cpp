// cluster::handover_message: the hand-over messages round-trip, and what the network may send instead is refused.
#include "cluster/handover_message.hpp"

#include <gtest/gtest.h>

namespace cluster = pusher::cluster;

namespace {
cluster::handover_request sample_request() {
    return {"42", "node-b", "alice", "node-a.0123456789abcdef0123456789abcdef", 18446744073709551615ull, 1};
}

cluster::handover_reply sample_reply() {
    cluster::handover_reply r;
    r.id = "42";
    r.from = "node-a";
    r.ok = true;
    r.sid = "Xy_1";
    r.events.push_back({1, "mail.new", R"({"subject":"hi \"you\"","n":1.50})"});
    r.events.push_back({0xffffffffffffffffull, "caf\xc3\xa9", R"("just a string")"});
    r.events.push_back({7, "chat", R"({"text":"hi"})", "room:caf\xc3\xa9"});
    return r;
}
}  // namespace

TEST(HandoverMessage, RequestRoundTrips) {
    auto const r = sample_request();
    std::string why;
    auto back = cluster::decode_request(cluster::encode(r), why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->from, r.from);
    EXPECT_EQ(back->user, r.user);
    EXPECT_EQ(back->pid, r.pid);
    EXPECT_EQ(back->offset, r.offset);
    EXPECT_EQ(back->hops, 1u);

    auto no_offset = r;
    no_offset.offset.reset();
    back = cluster::decode_request(cluster::encode(no_offset), why);
    ASSERT_TRUE(back) << why;
    EXPECT_FALSE(back->offset);
    EXPECT_TRUE(back->channels.empty());

    // The second round of a hand-over with channels: the ones the asking node has bound.
    auto with_channels = r;
    with_channels.channels = {"room:1", "team:caf\xc3\xa9"};
    back = cluster::decode_request(cluster::encode(with_channels), why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(back->channels, with_channels.channels);
}

TEST(HandoverMessage, ReplyRoundTripsPayloadBytesExactly) {
    auto const r = sample_reply();
    std::string why;
    auto back = cluster::decode_reply(cluster::encode(r), why);
    ASSERT_TRUE(back) << why;
    ASSERT_EQ(back->events.size(), 3u);
    EXPECT_EQ(back->sid, "Xy_1");
    EXPECT_EQ(back->events[0].key, 1u);
    EXPECT_EQ(back->events[0].payload, r.events[0].payload);  // 1.50 stays 1.50: the bytes, not a re-serialisation
    EXPECT_EQ(back->events[1].key, 0xffffffffffffffffull);
    EXPECT_EQ(back->events[1].event, "caf\xc3\xa9");
    EXPECT_EQ(back->events[1].channel, "");
    EXPECT_EQ(back->events[2].channel, "room:caf\xc3\xa9");
    EXPECT_EQ(back->events[2].payload, R"({"text":"hi"})");

    cluster::handover_reply refused;
    refused.id = "9";
    refused.from = "node-a";
    refused.error = "unknown";
    back = cluster::decode_reply(cluster::encode(refused), why);
    ASSERT_TRUE(back) << why;
    EXPECT_FALSE(back->ok);
    EXPECT_EQ(back->error, "unknown");
    EXPECT_TRUE(back->channels.empty());

    // The first round of a hand-over with channels: bind these, then ask again.
    refused.error = "channels";
    refused.channels = {"room:1", "room:2"};
    back = cluster::decode_reply(cluster::encode(refused), why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(back->error, "channels");
    EXPECT_EQ(back->channels, refused.channels);
}

TEST(HandoverMessage, MalformedRequestsAreRefusedWithAReason) {
    std::string why;
    for (std::string_view body : {
             R"()",
             R"([])",
             R"({"v":2,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":0})",
             R"({"v":1,"op":"reply","id":"1","from":"b","user":"u","pid":"p","hops":0})",
             R"({"v":1,"op":"request","from":"b","user":"u","pid":"p","hops":0})",
             R"({"v":1,"op":"request","id":"1","from":"a.b","user":"u","pid":"p","hops":0})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"","pid":"p","hops":0})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":5})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":0,"offset":-1})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":0,"offset":"12"})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p"})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":0,"channels":"room"})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":0,"channels":[""]})",
             R"({"v":1,"op":"request","id":"1","from":"b","user":"u","pid":"p","hops":0,"channels":[1]})",
         }) {
        EXPECT_FALSE(cluster::decode_request(body, why)) << body;
        EXPECT_FALSE(why.empty()) << body;
    }
    std::string const huge_user(256, 'u');
    auto r = sample_request();
    r.user = huge_user;
    EXPECT_FALSE(cluster::decode_request(cluster::encode(r), why));
}

TEST(HandoverMessage, MalformedRepliesAreRefusedWithAReason) {
    std::string why;
    for (
        std::string_view body : {
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s"})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":{}})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":[1]})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":[{"k":1,"e":"m","d":"{"}]})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":[{"k":1,"e":"","d":"1"}]})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":[{"e":"m","d":"1"}]})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":"yes"})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":false})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":false,"error":"channels","channels":{}})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":[{"k":1,"e":"m","d":"1","c":""}]})",
            R"({"v":1,"op":"reply","id":"1","from":"a","ok":true,"sid":"s","events":[{"k":1,"e":"m","d":"1","c":2}]})",
        }) {
        EXPECT_FALSE(cluster::decode_reply(body, why)) << body;
        EXPECT_FALSE(why.empty()) << body;
    }
    // Caps: the body and the number of events.
    auto const body = cluster::encode(sample_reply());
    EXPECT_FALSE(cluster::decode_reply(body, why, {.max_bytes = body.size() - 1, .max_events = 10}));
    EXPECT_FALSE(cluster::decode_reply(body, why, {.max_bytes = body.size(), .max_events = 2}));
    EXPECT_TRUE(cluster::decode_reply(body, why, {.max_bytes = body.size(), .max_events = 3}));
    // ... and the number of channels.
    auto r = sample_request();
    r.channels = {"a", "b", "c"};
    EXPECT_FALSE(cluster::decode_request(cluster::encode(r), why, {.max_channels = 2}));
    EXPECT_TRUE(cluster::decode_request(cluster::encode(r), why, {.max_channels = 3}));
}

TEST(HandoverMessage, NodeIds) {
    EXPECT_TRUE(cluster::valid_node_id("node-1_A"));
    EXPECT_FALSE(cluster::valid_node_id(""));
    EXPECT_FALSE(cluster::valid_node_id("a.b"));
    EXPECT_FALSE(cluster::valid_node_id("a b"));
    EXPECT_FALSE(cluster::valid_node_id(std::string(65, 'a')));
}
