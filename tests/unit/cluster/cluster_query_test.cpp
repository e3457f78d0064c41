// The cluster queries between nodes: what encodes decodes to the same, and what is malformed is refused with a
// reason.
#include "cluster/cluster_query.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pusher::cluster {
namespace {
TEST(cluster_query, a_query_of_each_kind_round_trips) {
    for (auto kind : {query_kind::users, query_kind::channel, query_kind::totals, query_kind::disconnect}) {
        query q;
        q.id = "node-a-7";
        q.from = "node-a";
        q.kind = kind;
        if (kind == query_kind::users || kind == query_kind::disconnect) {
            q.users = {"alice", "\u00e9l\u00e8ve"};
        }
        if (kind == query_kind::channel) {
            q.channel = "chat:1";
        }
        std::string why;
        auto back = decode_query(encode(q), why);
        ASSERT_TRUE(back) << to_string(kind) << ": " << why;
        EXPECT_EQ(back->id, q.id);
        EXPECT_EQ(back->from, q.from);
        EXPECT_EQ(back->kind, kind);
        EXPECT_EQ(back->users, q.users);
        EXPECT_EQ(back->channel, q.channel);
    }
}

TEST(cluster_query, an_answer_and_a_hello_round_trip) {
    answer a;
    a.id = "x";
    a.from = "node-b";
    a.sessions = {{"alice", 2}, {"bob", 0}};
    a.members = {"alice"};
    a.users = 3;
    a.total_sessions = 18446744073709551615ull;
    a.disconnected = 1;
    std::string why;
    auto back = decode_answer(encode(a), why);
    ASSERT_TRUE(back) << why;
    EXPECT_EQ(back->sessions, a.sessions);
    EXPECT_EQ(back->members, a.members);
    EXPECT_EQ(back->users, 3u);
    EXPECT_EQ(back->total_sessions, a.total_sessions);
    EXPECT_EQ(back->disconnected, 1u);
    EXPECT_EQ(decode_hello(encode_hello("node-c"), why), "node-c");
}

TEST(cluster_query, malformed_messages_are_refused_with_a_reason) {
    std::string why;
    EXPECT_FALSE(decode_query("not json", why));
    EXPECT_EQ(why, "not JSON");
    EXPECT_FALSE(decode_query(R"({"v":2,"op":"query","id":"1","from":"a","kind":"totals"})", why));
    EXPECT_EQ(why, "unknown version");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"answer","id":"1","from":"a","kind":"totals"})", why));
    EXPECT_EQ(why, "unexpected op");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"query","id":"1","from":"a.b","kind":"totals"})", why));
    EXPECT_EQ(why, "invalid from");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"query","id":"","from":"a","kind":"totals"})", why));
    EXPECT_EQ(why, "invalid id");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"query","id":"1","from":"a","kind":"everything"})", why));
    EXPECT_EQ(why, "unknown kind");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"query","id":"1","from":"a","kind":"users","users":[]})", why));
    EXPECT_EQ(why, "invalid users");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"query","id":"1","from":"a","kind":"disconnect","users":[""]})", why));
    EXPECT_EQ(why, "invalid users");
    EXPECT_FALSE(decode_query(R"({"v":1,"op":"query","id":"1","from":"a","kind":"channel"})", why));
    EXPECT_EQ(why, "invalid channel");
    EXPECT_FALSE(decode_answer(R"({"v":1,"op":"answer","id":"1","from":"a","users":-1})", why));
    EXPECT_EQ(why, "invalid counts");
    EXPECT_FALSE(decode_answer(R"({"v":1,"op":"answer","id":"1","from":"a","sessions":{"x":"2"}})", why));
    EXPECT_EQ(why, "invalid sessions");
    EXPECT_FALSE(decode_answer(R"({"v":1,"op":"answer","id":"1","from":"a","members":[1]})", why));
    EXPECT_EQ(why, "invalid members");
    EXPECT_FALSE(decode_hello(R"({"v":1,"op":"hello"})", why));
    EXPECT_EQ(why, "invalid from");
}
}  // namespace
}  // namespace pusher::cluster
