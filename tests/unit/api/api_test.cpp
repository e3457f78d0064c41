#include "api/cluster_api.hpp"
#include "api/endpoints.hpp"
#include "api/json_members.hpp"
#include "api/publish.hpp"
#include "metrics/registry.hpp"
#include "socketio/reserved_events.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pusher::api {
namespace {

request post(std::string_view body, std::string_view authorization = {}) {
    request r;
    r.method = "POST";
    r.path = "/api/publish";
    r.body = body;
    r.authorization = authorization;
    r.content_type = "application/json";
    r.remote_address = "127.0.0.1:5000";
    return r;
}

request get(std::string_view path) {
    request r;
    r.method = "GET";
    r.path = path;
    return r;
}

broker::publication ok(publish_result r) {
    if (auto* err = std::get_if<response>(&r)) {
        ADD_FAILURE() << "expected a publication, got " << err->status << " " << err->body;
        return {};
    }
    return std::get<broker::publication>(std::move(r));
}

response err(publish_result r) {
    if (std::holds_alternative<broker::publication>(r)) {
        ADD_FAILURE() << "expected an error response, got a publication";
        return {};
    }
    return std::get<response>(std::move(r));
}

std::string header(response const& r, std::string_view name) {
    for (auto const& [n, v] : r.headers) {
        if (n == name) {
            return v;
        }
    }
    return "<none>";
}

publish_settings const defaults{};

// ---- json_members ----

TEST(api_json_members, raw_values_in_order) {
    auto m = object_members(R"( { "a" : {"x": [1, "}", "\"]"]} , "b":1.0,"c":"s\"t",
        "d" : true, "e":null , "f":[ ], "g":-12e3 } )");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->size(), 7u);
    EXPECT_EQ((*m)[0].key, "a");
    EXPECT_EQ((*m)[0].raw_value, R"({"x": [1, "}", "\"]"]})");
    EXPECT_EQ((*m)[1].raw_value, "1.0");
    EXPECT_EQ((*m)[2].raw_value, R"("s\"t")");
    EXPECT_EQ((*m)[3].raw_value, "true");
    EXPECT_EQ((*m)[4].raw_value, "null");
    EXPECT_EQ((*m)[5].raw_value, "[ ]");
    EXPECT_EQ((*m)[6].key, "g");
    EXPECT_EQ((*m)[6].raw_value, "-12e3");
}

TEST(api_json_members, escaped_keys_are_decoded_and_duplicates_kept) {
    auto m = object_members(R"({"d\u0061ta":1,"data":2})");
    ASSERT_TRUE(m);
    ASSERT_EQ(m->size(), 2u);
    EXPECT_EQ((*m)[0].key, "data");
    EXPECT_EQ((*m)[1].key, "data");
}

TEST(api_json_members, empty_object_and_non_objects) {
    auto m = object_members(" {} ");
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->empty());
    EXPECT_FALSE(object_members("[]"));
    EXPECT_FALSE(object_members("\"x\""));
    EXPECT_FALSE(object_members("1"));
    EXPECT_FALSE(object_members(""));
    // Not valid JSON: the scanner fails rather than overruns.
    EXPECT_FALSE(object_members("{\"a\":"));
    EXPECT_FALSE(object_members("{\"a\":1"));
    EXPECT_FALSE(object_members("{\"a\":[1,2}"));
    EXPECT_FALSE(object_members("{\"a"));
    EXPECT_FALSE(object_members("{\"a\":1} x"));
    EXPECT_FALSE(object_members("{\"a\" 1}"));
}

TEST(api_json_members, decode_string) {
    EXPECT_EQ(decode_string(R"("alice")"), "alice");
    EXPECT_EQ(decode_string(R"("a\nb\u00e9\ud83d\ude00")"), "a\nb\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_EQ(decode_string(R"("")"), "");
    EXPECT_FALSE(decode_string("12"));
    EXPECT_FALSE(decode_string("\""));
    EXPECT_FALSE(decode_string("null"));
}

// ---- publish: success ----

TEST(api_publish, one_user_keeps_the_exact_data_bytes) {
    // Spacing, 1.0 and a 23-digit integer survive: the data is never re-serialised.
    auto p = ok(parse_publish(
        post(R"({"user":"alice","event":"mail.new","data":{"n": 1.0, "big": 12345678901234567890123},"id":"m-1"})"),
        defaults));
    EXPECT_FALSE(p.broadcast);
    EXPECT_EQ(p.users, std::vector<std::string>{"alice"});
    EXPECT_EQ(p.event, "mail.new");
    EXPECT_EQ(p.payload, R"({"n": 1.0, "big": 12345678901234567890123})");
    EXPECT_EQ(p.message_id, "m-1");
    EXPECT_EQ(p.timestamp_ms, 0);  // stamped by the broker
    EXPECT_EQ(accepted_count(p), 1u);
}

TEST(api_publish, defaults_event_notification_and_data_null) {
    auto p = ok(parse_publish(post(R"({"user":"alice"})"), defaults));
    EXPECT_EQ(p.event, "notification");
    EXPECT_EQ(p.payload, "null");
    EXPECT_TRUE(p.message_id.empty());
}

TEST(api_publish, scalar_and_string_data) {
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a","data":"hi \"you\""})"), defaults)).payload, R"("hi \"you\"")");
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a","data":-0.5e-3})"), defaults)).payload, "-0.5e-3");
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a","data":[]})"), defaults)).payload, "[]");
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a","data":null})"), defaults)).payload, "null");
}

request get(std::string_view path, std::string_view query) {
    request r;
    r.method = "GET";
    r.path = path;
    r.query = query;
    return r;
}

cluster::query asked(query_result r) {
    if (auto* e = std::get_if<response>(&r)) {
        ADD_FAILURE() << "expected a query, got " << e->status << " " << e->body;
        return {};
    }
    return std::get<cluster::query>(std::move(r));
}

TEST(api_cluster, presence_queries_are_read_from_the_query_string) {
    EXPECT_EQ(asked(parse_presence(get("/api/presence", ""), defaults)).kind, cluster::query_kind::totals);
    auto u = asked(parse_presence(get("/api/presence", "user=alice&user=b%C3%A9a&user=alice"), defaults));
    EXPECT_EQ(u.kind, cluster::query_kind::users);
    EXPECT_EQ(u.users, (std::vector<std::string>{"alice", "b\u00e9a"}));
    auto c = asked(parse_presence(get("/api/presence", "channel=chat%3A1"), defaults));
    EXPECT_EQ(c.kind, cluster::query_kind::channel);
    EXPECT_EQ(c.channel, "chat:1");
    EXPECT_EQ(std::get<response>(parse_presence(get("/api/presence", "channel=bad%20name"), defaults)).status, 400u);
    EXPECT_EQ(std::get<response>(parse_presence(get("/api/presence", "user=a&channel=b"), defaults)).status, 400u);
    EXPECT_EQ(std::get<response>(parse_presence(get("/api/presence", "usr=a"), defaults)).status, 400u);
    auto post_req = get("/api/presence", "");
    post_req.method = "POST";
    EXPECT_EQ(std::get<response>(parse_presence(post_req, defaults)).status, 405u);
    publish_settings keyed;
    keyed.api_keys = {"k"};
    EXPECT_EQ(std::get<response>(parse_presence(get("/api/presence", ""), keyed)).status, 401u);
}

TEST(api_cluster, a_disconnect_names_one_user_or_several) {
    auto one = asked(parse_disconnect(post(R"({"user":"alice"})"), defaults));
    EXPECT_EQ(one.kind, cluster::query_kind::disconnect);
    EXPECT_EQ(one.users, std::vector<std::string>{"alice"});
    EXPECT_EQ(asked(parse_disconnect(post(R"({"users":["b","a","b"]})"), defaults)).users,
              (std::vector<std::string>{"a", "b"}));
    for (auto body : {R"([])", R"({})", R"({"user":1})", R"({"users":[]})", R"({"user":"a","users":["b"]})",
                      R"({"who":"a"})", "nope"}) {
        EXPECT_EQ(std::get<response>(parse_disconnect(post(body), defaults)).status, 400u) << body;
    }
}

TEST(api_cluster, answers_are_summed_over_the_nodes) {
    cluster::query q;
    q.kind = cluster::query_kind::users;
    q.users = {"alice", "carol"};
    cluster::answer a{"1", "na", {{"alice", 2}, {"carol", 0}}, {}, 0, 0, 0};
    cluster::answer b{"1", "nb", {{"alice", 1}, {"carol", 0}}, {}, 0, 0, 0};
    EXPECT_EQ(cluster_response(q, {a, b}, 2).body,
              R"({"users":{"alice":{"online":true,"sessions":3},"carol":{"online":false,"sessions":0}},"answered":2})");
    q.kind = cluster::query_kind::channel;
    q.channel = "chat:1";
    a.members = {"bob", "alice"};
    b.members = {"alice", "dave"};
    EXPECT_EQ(cluster_response(q, {a, b}, 2).body,
              R"({"channel":"chat:1","users":["alice","bob","dave"],"answered":2})");
    q.kind = cluster::query_kind::totals;
    a.users = 5;
    a.total_sessions = 7;
    EXPECT_EQ(cluster_response(q, {a}, 1).body, R"({"nodes":[{"node":"na","users":5,"sessions":7}],"answered":1})");
    q.kind = cluster::query_kind::disconnect;
    a.disconnected = 2;
    b.disconnected = 1;
    EXPECT_EQ(cluster_response(q, {a, b}, 2).body, R"({"disconnected":3,"answered":2})");
}

TEST(api_publish, a_channel_or_channels_are_targets_with_checked_names) {
    auto one = ok(parse_publish(post(R"({"channel":"chat:42","event":"chat.message","data":{"t":1}})"), defaults));
    EXPECT_EQ(one.channels, std::vector<std::string>{"chat:42"});
    EXPECT_TRUE(one.users.empty());
    EXPECT_EQ(accepted_count(one), 1u);
    auto two = ok(parse_publish(post(R"({"channels":["a","b","a"],"data":1})"), defaults));
    EXPECT_EQ(two.channels, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(accepted_count(two), 2u);
    EXPECT_EQ(err(parse_publish(post(R"({"channel":"bad name","data":1})"), defaults)).body,
              R"({"error":"\"channel\" must be a channel name: 1-200 of A-Z a-z 0-9 _ - : . @ /"})");
    EXPECT_EQ(err(parse_publish(post(R"({"channels":["ok","no way"],"data":1})"), defaults)).body,
              R"({"error":"\"channels\"[1] must be a channel name: 1-200 of A-Z a-z 0-9 _ - : . @ /"})");
    EXPECT_EQ(err(parse_publish(post(R"({"channels":[],"data":1})"), defaults)).body,
              R"({"error":"\"channels\" must not be empty"})");
    EXPECT_NE(err(parse_publish(post(R"({"channel":"a","user":"alice","data":1})"), defaults)).body.find("several"),
              std::string::npos);
}

TEST(api_publish, users_are_deduplicated_in_first_seen_order) {
    auto p = ok(parse_publish(post(R"({"users":["bob","alice","bob","carol","alice"],"data":1})"), defaults));
    EXPECT_EQ(p.users, (std::vector<std::string>{"bob", "alice", "carol"}));
    EXPECT_FALSE(p.broadcast);
    EXPECT_EQ(accepted_count(p), 3u);
}

TEST(api_publish, escaped_user_ids_are_decoded) {
    auto p = ok(parse_publish(post(R"({"user":"al\u0069ce \"x\""})"), defaults));
    EXPECT_EQ(p.users, std::vector<std::string>{"alice \"x\""});
}

TEST(api_publish, broadcast) {
    auto p = ok(parse_publish(post(R"({"broadcast":true,"event":"news","data":{"t":"hi"}})"), defaults));
    EXPECT_TRUE(p.broadcast);
    EXPECT_TRUE(p.users.empty());
    EXPECT_EQ(p.event, "news");
    EXPECT_EQ(accepted_count(p), 1u);
    // broadcast:false is not a target, so another one may be given.
    auto q = ok(parse_publish(post(R"({"broadcast":false,"user":"alice"})"), defaults));
    EXPECT_FALSE(q.broadcast);
    EXPECT_EQ(q.users, std::vector<std::string>{"alice"});
}

TEST(api_publish, user_of_255_bytes_is_accepted) {
    std::string const user(255, 'u');
    auto p = ok(parse_publish(post("{\"user\":\"" + user + "\"}"), defaults));
    EXPECT_EQ(p.users, std::vector<std::string>{user});
}

TEST(api_publish, api_key) {
    publish_settings s;
    s.api_keys = {"s3cret"};
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a"})", "Bearer s3cret"), s)).users.size(), 1u);
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a"})", "bearer   s3cret  "), s)).users.size(), 1u);
    for (std::string_view bad :
         {"", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer S3CRET"}) {
        auto r = err(parse_publish(post(R"({"user":"a"})", bad), s));
        EXPECT_EQ(r.status, 401u) << bad;
        EXPECT_EQ(r.body, R"({"error":"unauthorized"})");
        EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer");
    }
    // Several keys (a rotation in progress): each is accepted, nothing else is.
    s.api_keys = {"old-key", "s3cret"};
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a"})", "Bearer old-key"), s)).users.size(), 1u);
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a"})", "Bearer s3cret"), s)).users.size(), 1u);
    EXPECT_EQ(err(parse_publish(post(R"({"user":"a"})", "Bearer old-keys3cret"), s)).status, 401u);
    EXPECT_EQ(err(parse_publish(post(R"({"user":"a"})", "Bearer old-key,s3cret"), s)).status, 401u);
    // No key configured: any or no Authorization header passes.
    EXPECT_EQ(ok(parse_publish(post(R"({"user":"a"})", "Bearer whatever"), defaults)).users.size(), 1u);
}

TEST(api_publish, constant_time_equal) {
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_TRUE(constant_time_equal("", ""));
    EXPECT_FALSE(constant_time_equal("abd", "abc"));
    EXPECT_FALSE(constant_time_equal("ab", "abc"));
    EXPECT_FALSE(constant_time_equal("abcd", "abc"));
    EXPECT_FALSE(constant_time_equal("", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", ""));
    EXPECT_FALSE(constant_time_equal(std::string_view("ab\0", 3), "ab"));
    EXPECT_TRUE(authorized("", {}));
    EXPECT_TRUE(authorized("Bearer k", {"k"}));
    EXPECT_FALSE(authorized("Bearer k", {"K"}));
    EXPECT_FALSE(authorized("Bearer ", {""}));
    // White space around the credentials and the token is the one set common/text trims (the fuzz oracle once
    // trimmed only SP and HTAB and disagreed on "Bearer \vkey\v": fuzz/corpus/api_publish/regress-vertical-tab-*).
    EXPECT_TRUE(authorized(" \tBearer \vk\f\r\n", {"k"}));
    EXPECT_TRUE(authorized("bEARER   k", {"k"}));
    EXPECT_FALSE(authorized("Bearer\tk", {"k"}));
    EXPECT_FALSE(authorized("Bearer k x", {"k"}));
}

// ---- publish: refusals ----

TEST(api_publish, wrong_method_is_405) {
    auto req = post(R"({"user":"a"})");
    req.method = "GET";
    auto r = err(parse_publish(req, defaults));
    EXPECT_EQ(r.status, 405u);
    EXPECT_EQ(header(r, "Allow"), "POST");
    EXPECT_EQ(r.body, R"({"error":"method not allowed"})");
}

TEST(api_publish, body_over_the_limit_is_413) {
    auto req = post("");
    req.body_too_large = true;  // the HTTP server did not read it
    auto r = err(parse_publish(req, defaults));
    EXPECT_EQ(r.status, 413u);
    EXPECT_EQ(r.content_type, "application/json");
    publish_settings small;
    small.max_body = 10;
    r = err(parse_publish(post(R"({"user":"alice"})"), small));
    EXPECT_EQ(r.status, 413u);
    EXPECT_EQ(r.body, R"x({"error":"body too large (limit 10 bytes)"})x");
}

struct bad_case {
    std::string body;
    std::string error;
};

class api_publish_bad : public ::testing::TestWithParam<bad_case> {};

TEST_P(api_publish_bad, is_400_with_a_clear_message) {
    auto r = err(parse_publish(post(GetParam().body), defaults));
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, "{\"error\":" + GetParam().error + "}");
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
        }
        out.push_back(c);
    }
    return out + "\"";
}

INSTANTIATE_TEST_SUITE_P(
    cases, api_publish_bad,
    ::testing::Values(
        bad_case{"", quoted("empty body: expected a JSON object")},
        bad_case{"{\"user\":", quoted("body is not valid JSON")},
        bad_case{"{\"user\":\"a\"} {}", quoted("body is not valid JSON")},
        bad_case{"{\"user\":\"a\",}", quoted("body is not valid JSON")},
        bad_case{"user=alice&event=x", quoted("body is not valid JSON")},
        bad_case{"{\"user\":\"\xff\"}", quoted("body is not valid JSON")},  // invalid UTF-8
        bad_case{"[{\"user\":\"a\"}]", quoted("body must be a JSON object")},
        bad_case{"\"alice\"", quoted("body must be a JSON object")},
        bad_case{"{}", quoted(R"(no target: give "user", "users", "channel", "channels" or "broadcast":true)")},
        bad_case{R"({"data":1,"broadcast":false})",
                 quoted(R"(no target: give "user", "users", "channel", "channels" or "broadcast":true)")},
        bad_case{
            R"({"user":"a","users":["b"]})",
            quoted(R"(several targets: give only one of "user", "users", "channel", "channels" or "broadcast":true)")},
        bad_case{
            R"({"user":"a","broadcast":true})",
            quoted(R"(several targets: give only one of "user", "users", "channel", "channels" or "broadcast":true)")},
        bad_case{
            R"({"users":["a"],"broadcast":true})",
            quoted(R"(several targets: give only one of "user", "users", "channel", "channels" or "broadcast":true)")},
        bad_case{R"({"broadcast":"yes"})", quoted(R"("broadcast" must be a boolean)")},
        bad_case{R"({"broadcast":1})", quoted(R"("broadcast" must be a boolean)")},
        bad_case{R"({"user":42})", quoted(R"("user" must be a string)")},
        bad_case{R"({"user":null})", quoted(R"("user" must be a string)")},
        bad_case{R"({"user":""})", quoted(R"("user" must be 1 to 255 bytes)")},
        bad_case{"{\"user\":\"" + std::string(256, 'u') + "\"}", quoted(R"("user" must be 1 to 255 bytes)")},
        bad_case{R"({"users":"alice"})", quoted(R"("users" must be an array of strings)")},
        bad_case{R"({"users":[]})", quoted(R"("users" must not be empty)")},
        bad_case{R"({"users":["a",7]})", quoted(R"("users"[1] must be a string)")},
        bad_case{R"({"users":["a",""]})", quoted(R"("users"[1] must be 1 to 255 bytes)")},
        bad_case{R"({"user":"a","event":3})", quoted(R"("event" must be a string)")},
        bad_case{R"({"user":"a","event":""})", quoted(R"("event" must be 1 to 255 bytes)")},
        bad_case{R"({"user":"a","event":"connect"})", quoted(R"("event" "connect" is reserved by Socket.IO)")},
        bad_case{R"({"user":"a","event":"connect_error"})",
                 quoted(R"("event" "connect_error" is reserved by Socket.IO)")},
        bad_case{R"({"user":"a","event":"disconnect"})", quoted(R"("event" "disconnect" is reserved by Socket.IO)")},
        bad_case{R"({"user":"a","event":"disconnecting"})",
                 quoted(R"("event" "disconnecting" is reserved by Socket.IO)")},
        bad_case{R"({"user":"a","event":"newListener"})", quoted(R"("event" "newListener" is reserved by Socket.IO)")},
        bad_case{R"({"user":"a","event":"removeListener"})",
                 quoted(R"("event" "removeListener" is reserved by Socket.IO)")},
        bad_case{R"({"user":"a","id":5})", quoted(R"("id" must be a string)")},
        bad_case{R"({"user":"a","id":""})", quoted(R"("id" must be 1 to 255 bytes)")},
        bad_case{
            R"({"usr":"a"})",
            quoted(R"x(unknown field "usr" (expected user, users, channel, channels, broadcast, event, data, id))x")},
        bad_case{R"({"user":"a","user":"b"})", quoted(R"(duplicate field "user")")},
        bad_case{R"({"user":"a","data":1,"d\u0061ta":2})", quoted(R"(duplicate field "data")")}));

TEST(api_publish, too_many_users) {
    publish_settings s;
    s.max_users = 3;
    auto r = err(parse_publish(post(R"({"users":["a","b","c","d"]})"), s));
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(r.body, R"({"error":"\"users\" has 4 entries; at most 3 per request"})");
    // The limit counts entries as sent, before deduplication, so it bounds the work.
    EXPECT_EQ(std::get<response>(parse_publish(post(R"({"users":["a","a","a","a"]})"), s)).status, 400u);
    EXPECT_EQ(ok(parse_publish(post(R"({"users":["a","b","c"]})"), s)).users.size(), 3u);
}

TEST(api_publish, reserved_event_names) {
    for (auto e : {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}) {
        EXPECT_TRUE(socketio::is_reserved_event(e)) << e;
    }
    for (auto e : {"notification", "Connect", "connect ", "message", "error", "ping"}) {
        EXPECT_FALSE(socketio::is_reserved_event(e)) << e;
    }
}

TEST(api_publish, responses) {
    auto a = publish_accepted(3);
    EXPECT_EQ(a.status, 202u);
    EXPECT_EQ(a.content_type, "application/json");
    EXPECT_EQ(a.body, R"({"accepted":3})");
    auto f = publish_failed();
    EXPECT_EQ(f.status, 503u);
    EXPECT_EQ(f.body, R"({"error":"broker unavailable"})");
    auto n = not_found();
    EXPECT_EQ(n.status, 404u);
    EXPECT_EQ(n.body, R"({"error":"not found"})");
    EXPECT_EQ(error_response(400, "a \"quoted\"\nline").body, R"({"error":"a \"quoted\"\nline"})");
}

// ---- health, readiness, metrics ----

TEST(api_endpoints, healthz) {
    auto r = healthz(get("/healthz"));
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, R"({"status":"ok"})");
    auto head = get("/healthz");
    head.method = "HEAD";
    EXPECT_EQ(healthz(head).status, 200u);
    auto bad = get("/healthz");
    bad.method = "POST";
    auto r405 = healthz(bad);
    EXPECT_EQ(r405.status, 405u);
    EXPECT_EQ(header(r405, "Allow"), "GET, HEAD");
}

TEST(api_endpoints, readyz) {
    auto r = readyz(get("/readyz"), true);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, R"({"status":"ready"})");
    r = readyz(get("/readyz"), false, "broker \"amqp\" not connected");
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.body, R"({"status":"not ready","reason":"broker \"amqp\" not connected"})");
    r = readyz(get("/readyz"), false);
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.body, R"({"status":"not ready"})");
    auto del = get("/readyz");
    del.method = "DELETE";
    EXPECT_EQ(readyz(del, true).status, 405u);
}

TEST(api_endpoints, metrics) {
    metrics::registry reg;
    reg.add_counter("pusher_test_total", "Test.").inc(2);
    auto r = metrics_page(get("/metrics"), reg);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(r.body, "# HELP pusher_test_total Test.\n# TYPE pusher_test_total counter\npusher_test_total 2\n");
    auto post_req = get("/metrics");
    post_req.method = "POST";
    EXPECT_EQ(metrics_page(post_req, reg).status, 405u);
}

}  // namespace
}  // namespace pusher::api
