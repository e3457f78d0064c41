// Engine.IO v4 over HTTP long-polling, against the in-process echo server (docs/conformance.md §5).
#include "integration/engineio/fixture.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <future>

namespace pusher::test {
namespace {
using namespace std::string_literals;

TEST_F(EngineIoTest, PollingHandshakeHasExactlyTheFiveKeys) {
    engineio::options o = quiet_options();
    o.ping_interval = 300ms;
    o.ping_timeout = 200ms;
    o.max_payload = 1'000'000;
    start(o);
    http_client c(port_);
    auto r = c.get(path("EIO=4&transport=polling&t=abc"));  // unknown parameters are ignored
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=UTF-8");
    ASSERT_EQ(r.body[0], '0');
    auto const obj = boost::json::parse(r.body.substr(1)).as_object();
    ASSERT_EQ(obj.size(), 5u);
    auto const sid = std::string(obj.at("sid").as_string());
    EXPECT_EQ(sid.size(), 20u);
    // Exact text, keys in the reference server's order.
    EXPECT_EQ(r.body, "0{\"sid\":\"" + sid +
                          "\",\"upgrades\":[\"websocket\"],\"pingInterval\":300,\"pingTimeout\":200,"
                          "\"maxPayload\":1000000}");
    EXPECT_EQ(handler_.opens(), 1);
    EXPECT_EQ(eio_->session_count(), 1u);
    EXPECT_EQ(eio_->stats().open_polling.load(), 1);
}

TEST_F(EngineIoTest, SidsAreUnique) {
    start();
    http_client c(port_);
    std::set<std::string> sids;
    for (int i = 0; i < 50; ++i) {
        sids.insert(handshake(c));
    }
    EXPECT_EQ(sids.size(), 50u);
}

TEST_F(EngineIoTest, PollingEchoesInOrderInOneGet) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    auto p = c.post(polling(sid),
                    "4hello\x1e"
                    "4world\x1e"
                    "4!");
    EXPECT_EQ(p.status, 200u);
    EXPECT_EQ(p.body, "ok");
    auto g = c.get(polling(sid));
    EXPECT_EQ(g.status, 200u);
    EXPECT_EQ(g.body,
              "4hello\x1e"
              "4world\x1e"
              "4!");
}

TEST_F(EngineIoTest, HeldGetIsAnsweredByThePostsEchoes) {
    start();
    http_client c(port_), c2(port_);
    auto const sid = handshake(c);
    auto held = std::async(std::launch::async, [&] { return c.get(polling(sid)); });
    // The GET is held: nothing is queued yet.
    ASSERT_EQ(held.wait_for(100ms), std::future_status::timeout);
    auto p = c2.post(polling(sid),
                     "4a\x1e"
                     "4b");
    EXPECT_EQ(p.body, "ok");
    ASSERT_EQ(held.wait_for(2s), std::future_status::ready);
    auto g = held.get();
    EXPECT_EQ(g.status, 200u);
    EXPECT_EQ(g.body,
              "4a\x1e"
              "4b");  // both replies of one POST come back in one GET
}

TEST_F(EngineIoTest, BinaryOverPollingIsBase64) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    EXPECT_EQ(c.post(polling(sid),
                     "bAQIDBA==\x1e"
                     "4txt")
                  .body,
              "ok");
    EXPECT_EQ(c.get(polling(sid)).body,
              "bAQIDBA==\x1e"
              "4txt");
}

TEST_F(EngineIoTest, ServerSendFromAnotherThreadAnswersHeldGet) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    auto held = std::async(std::launch::async, [&] { return c.get(polling(sid)); });
    ASSERT_EQ(held.wait_for(50ms), std::future_status::timeout);
    auto s = eio_->find(sid);
    ASSERT_TRUE(s);
    s->send(make_frame("42[\"n\",1]"));
    s->send_binary(make_frame("\xff"s));
    ASSERT_EQ(held.wait_for(2s), std::future_status::ready);
    auto body = held.get().body;
    if (body == "42[\"n\",1]") {  // the two sends may straddle two responses
        body += "\x1e" + c.get(polling(sid)).body;
    }
    EXPECT_EQ(body,
              "42[\"n\",1]\x1e"
              "b/w==");
}

TEST_F(EngineIoTest, BadRequestsGetEngineIoErrors) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    struct row {
        http::verb method;
        std::string query;
        unsigned status;
        std::string body;
    };
    std::string const unknown_transport = R"({"code":0,"message":"Transport unknown"})";
    std::string const unknown_sid = R"({"code":1,"message":"Session ID unknown"})";
    std::string const bad_method = R"({"code":2,"message":"Bad handshake method"})";
    std::string const bad_request = R"({"code":3,"message":"Bad request"})";
    std::string const bad_version = R"({"code":5,"message":"Unsupported protocol version"})";
    for (auto const& r : std::vector<row>{
             {http::verb::get, "transport=polling", 400, bad_version},
             {http::verb::get, "EIO=3&transport=polling", 400, bad_version},
             {http::verb::get, "EIO=abc&transport=polling", 400, bad_version},
             {http::verb::get, "EIO=4", 400, unknown_transport},
             {http::verb::get, "EIO=4&transport=carrier-pigeon", 400, unknown_transport},
             {http::verb::post, "EIO=4&transport=polling", 400, bad_method},
             {http::verb::put, "EIO=4&transport=polling", 400, bad_method},
             {http::verb::get, "EIO=4&transport=polling&sid=nope", 400, unknown_sid},
             {http::verb::post, "EIO=4&transport=polling&sid=nope", 400, unknown_sid},
             {http::verb::get, "EIO=4&transport=websocket", 400, bad_request},  // websocket without an upgrade
             {http::verb::put, "EIO=4&transport=polling&sid=" + sid, 400, bad_request},
         }) {
        auto res = c.request(r.method, path(r.query), r.method == http::verb::get ? "" : "4x");
        EXPECT_EQ(res.status, r.status) << r.query;
        EXPECT_EQ(res.body, r.body) << r.query;
        EXPECT_EQ(res.header("Content-Type"), "application/json") << r.query;
    }
    // Without the trailing slash the path also works.
    EXPECT_EQ(c.get("/engine.io?EIO=4&transport=polling").status, 200u);
    EXPECT_EQ(c.get("/elsewhere").status, 404u);
}

TEST_F(EngineIoTest, SecondConcurrentGetClosesTheSession) {
    start();
    http_client c1(port_), c2(port_), c3(port_);
    auto const sid = handshake(c1);
    auto held = std::async(std::launch::async, [&] { return c1.get(polling(sid)); });
    ASSERT_EQ(held.wait_for(100ms), std::future_status::timeout);
    auto second = c2.get(polling(sid));
    EXPECT_EQ(second.status, 400u);
    ASSERT_EQ(held.wait_for(2s), std::future_status::ready);
    auto h = held.get();
    EXPECT_EQ(h.status, 200u);
    EXPECT_EQ(h.body, "1");
    EXPECT_EQ(c3.get(polling(sid)).status, 400u);
    EXPECT_EQ(c3.post(polling(sid), "4x").status, 400u);
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::transport_error);
}

TEST_F(EngineIoTest, ClosePacketOverPostAnswersHeldGetWithNoop) {
    start();
    http_client c1(port_), c2(port_);
    auto const sid = handshake(c1);
    auto held = std::async(std::launch::async, [&] { return c1.get(polling(sid)); });
    ASSERT_EQ(held.wait_for(100ms), std::future_status::timeout);
    EXPECT_EQ(c2.post(polling(sid), "1").body, "ok");
    ASSERT_EQ(held.wait_for(2s), std::future_status::ready);
    auto h = held.get();
    EXPECT_EQ(h.status, 200u);
    EXPECT_EQ(h.body, "6");
    EXPECT_EQ(c2.get(polling(sid)).status, 400u);
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::client_close);
    EXPECT_EQ(eio_->stats().closed(disconnect_reason::client_close), 1u);
}

TEST_F(EngineIoTest, MalformedPostIs400AndClosesTheSession) {
    start();
    for (std::string const bad : {"x", "",
                                  "4ok\x1e"
                                  "z",
                                  "4a\x1e\x1e"
                                  "4b",
                                  "b%%%"}) {
        http_client c(port_);
        auto const sid = handshake(c);
        auto p = c.post(polling(sid), bad);
        EXPECT_EQ(p.status, 400u) << bad;
        EXPECT_EQ(p.body, R"({"code":3,"message":"Bad request"})");
        EXPECT_EQ(c.get(polling(sid)).status, 400u) << bad;
        EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::parse_error) << bad;
    }
}

TEST_F(EngineIoTest, OversizedPostIs413AndClosesTheSession) {
    start();  // max_payload 100000
    http_client c(port_), c2(port_);
    auto const sid = handshake(c);
    auto held = std::async(std::launch::async, [&] { return c2.get(polling(sid)); });
    ASSERT_EQ(held.wait_for(50ms), std::future_status::timeout);
    auto p = c.post(polling(sid), "4" + std::string(100'000, 'x'));
    EXPECT_EQ(p.status, 413u);
    ASSERT_EQ(held.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(held.get().body, "1");
    EXPECT_EQ(c.get(polling(sid)).status, 400u);  // the connection survived the 413
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::payload_too_large);

    // Exactly max_payload is fine.
    auto const sid2 = handshake(c);
    EXPECT_EQ(c.post(polling(sid2), "4" + std::string(99'999, 'y')).body, "ok");
    EXPECT_EQ(c.get(polling(sid2)).body.size(), 100'000u);
}

TEST_F(EngineIoTest, CorsHeadersAndPreflight) {
    start();
    http_client c(port_);
    auto r = c.request(http::verb::get, path("EIO=4&transport=polling"), {}, {{"Origin", "http://example.com"}});
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "http://example.com");
    EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
    auto pre = c.request(http::verb::options, path("EIO=4&transport=polling"), {},
                         {{"Origin", "http://example.com"}, {"Access-Control-Request-Headers", "content-type"}});
    EXPECT_EQ(pre.status, 204u);
    EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "http://example.com");
    EXPECT_EQ(pre.header("Access-Control-Allow-Headers"), "content-type");
    EXPECT_NE(pre.header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
    // No Origin: no CORS headers.
    EXPECT_EQ(c.get(path("EIO=4&transport=polling")).header("Access-Control-Allow-Origin"), "");
}

TEST_F(EngineIoTest, DisallowedOriginIsRefused) {
    engineio::options o = quiet_options();
    o.allowed_origins = {"http://good.example"};
    start(o);
    http_client c(port_);
    auto bad = c.request(http::verb::get, path("EIO=4&transport=polling"), {}, {{"Origin", "http://evil.example"}});
    EXPECT_EQ(bad.status, 403u);
    EXPECT_EQ(bad.body, R"({"code":4,"message":"Forbidden"})");
    auto good = c.request(http::verb::get, path("EIO=4&transport=polling"), {}, {{"Origin", "http://good.example"}});
    EXPECT_EQ(good.status, 200u);
    EXPECT_EQ(good.header("Access-Control-Allow-Origin"), "http://good.example");
    EXPECT_EQ(c.get(path("EIO=4&transport=polling")).status, 200u);  // no Origin: not a browser, allowed

    ws_client ws(port_, ws_target(), {{"Origin", "http://evil.example"}});
    EXPECT_FALSE(ws.ok());
    EXPECT_EQ(ws.response.result_int(), 403u);
    ws_client ok(port_, ws_target(), {{"Origin", "http://good.example"}});
    EXPECT_TRUE(ok.ok());
}

TEST_F(EngineIoTest, PollingHeartbeatTimesOutAtTheDeadline) {
    engineio::options o = quiet_options();
    o.ping_interval = 300ms;
    o.ping_timeout = 200ms;
    start(o);
    http_client c(port_);
    // Measured against the server's own events, not a clock of ours started before the handshake: the server queued
    // its ping 300 ms after it answered the handshake (between t0 and t1), and the ping reached us at t_ping, so the
    // server's deadline (its ping + 200 ms) is at most t_ping + 200 ms, however late either side ran.
    auto const t0 = std::chrono::steady_clock::now();
    auto const sid = handshake(c);
    auto const t1 = std::chrono::steady_clock::now();
    auto g = c.get(polling(sid));  // held until the ping
    auto const t_ping = std::chrono::steady_clock::now();
    EXPECT_EQ(g.body, "2");
    EXPECT_GE(t_ping - t0, 300ms);
    EXPECT_LT(t_ping - t1, 300ms + 150ms);  // late timers (a loaded machine, a sanitizer) get 150 ms
    // No pong: dead once the deadline has passed, whatever the timer does.
    std::this_thread::sleep_until(t_ping + 205ms);
    EXPECT_EQ(c.get(polling(sid)).status, 400u);
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::ping_timeout);
}

TEST_F(EngineIoTest, PollingPongKeepsAlive) {
    engineio::options o = quiet_options();
    o.ping_interval = 100ms;
    o.ping_timeout = 80ms;
    start(o);
    http_client c(port_);
    auto const sid = handshake(c);
    auto const until = std::chrono::steady_clock::now() + 700ms;
    int pings = 0;
    while (std::chrono::steady_clock::now() < until) {
        auto g = c.get(polling(sid));
        ASSERT_EQ(g.status, 200u);
        ASSERT_EQ(g.body, "2");
        ++pings;
        ASSERT_EQ(c.post(polling(sid), "3").body, "ok");
    }
    EXPECT_GE(pings, 5);
    EXPECT_FALSE(handler_.close_reason(sid).has_value());
    EXPECT_EQ(eio_->session_count(), 1u);
}

TEST_F(EngineIoTest, CloseAllAnswersHeldGetWithClose) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    auto held = std::async(std::launch::async, [&] { return c.get(polling(sid)); });
    ASSERT_EQ(held.wait_for(50ms), std::future_status::timeout);
    eio_->close_all(disconnect_reason::server_shutdown);
    ASSERT_EQ(held.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(held.get().body, "1");
    EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::server_shutdown);
    // A node that is shutting down opens no new session (a proxy then tries another node): 503.
    http_client late(port_);
    auto const r = late.get(path("EIO=4&transport=polling"));
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.body, R"({"code":6,"message":"Server shutting down"})");
    EXPECT_EQ(eio_->session_count(), 0u);
}

TEST_F(EngineIoTest, SidsStartWithTheConfiguredPrefix) {
    engineio::options o = quiet_options();
    o.sid_prefix = "node-7.";
    start(o);
    http_client c(port_);
    auto const sid = handshake(c);
    ASSERT_EQ(sid.size(), 7u + 20u);
    EXPECT_TRUE(sid.starts_with("node-7."));
    EXPECT_EQ(sid.find('.', 7), std::string::npos);        // the random part is base64url: the prefix is unambiguous
    EXPECT_EQ(c.post(polling(sid), "4hello").body, "ok");  // and the sid works as any other
}

TEST_F(EngineIoTest, AbandonedSessionsDoNotLeak) {
    engineio::options o = quiet_options();
    o.ping_interval = 100ms;
    o.ping_timeout = 80ms;
    start(o);
    {
        std::vector<std::unique_ptr<ws_client>> sockets;
        http_client c(port_);
        for (int i = 0; i < 100; ++i) {
            handshake(c);
        }
        for (int i = 0; i < 50; ++i) {
            auto ws = std::make_unique<ws_client>(port_, ws_target());
            ws_open(*ws);
            sockets.push_back(std::move(ws));
        }
        for (auto& ws : sockets) {
            ws->drop();  // half of them vanish without a word, the others just stop answering
        }
    }
    EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }, 5s)) << eio_->session_count();
    EXPECT_TRUE(wait_until([&] { return eio_->stats().session_objects.load() == 0; }, 5s))
        << eio_->stats().session_objects.load();
    EXPECT_EQ(handler_.opens(), 150);
    EXPECT_EQ(handler_.close_calls(), 150);  // exactly once each
    EXPECT_EQ(eio_->stats().open_polling.load(), 0);
    EXPECT_EQ(eio_->stats().open_websocket.load(), 0);
}
}  // namespace
}  // namespace pusher::test
