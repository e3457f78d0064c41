// Engine.IO v4 over websocket, the polling -> websocket upgrade, heartbeat and slow consumers, against the
// in-process echo server (docs/conformance.md §5).
#include "integration/engineio/fixture.hpp"

#include <boost/json/parse.hpp>

#include <future>

namespace pusher::test {
namespace {
using namespace std::string_literals;

TEST_F(EngineIoTest, WebsocketHandshakeAndEcho) {
    start();
    ws_client ws(port_, ws_target());
    ASSERT_TRUE(ws.ok());
    auto open = ws.read();
    ASSERT_TRUE(open);
    EXPECT_FALSE(open->binary);
    auto const obj = boost::json::parse(open->data.substr(1)).as_object();
    auto const sid = std::string(obj.at("sid").as_string());
    EXPECT_EQ(open->data, "0{\"sid\":\"" + sid +
                              "\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":100000}");
    EXPECT_EQ(eio_->stats().open_websocket.load(), 1);

    ASSERT_FALSE(ws.write("4hello"));
    auto m = ws.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, "4hello");
    EXPECT_FALSE(m->binary);

    std::string const bytes = "\x00\x01\xfe\xff"s;
    ASSERT_FALSE(ws.write(bytes, true));
    m = ws.read();
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->binary);
    EXPECT_EQ(m->data, bytes);  // raw bytes, no type prefix

    // Many messages in a row come back in order.
    for (int i = 0; i < 200; ++i) {
        ASSERT_FALSE(ws.write("4m" + std::to_string(i)));
    }
    for (int i = 0; i < 200; ++i) {
        m = ws.read();
        ASSERT_TRUE(m);
        ASSERT_EQ(m->data, "4m" + std::to_string(i));
    }
}

TEST_F(EngineIoTest, WebsocketFrameLengthsAtEveryBoundary) {
    start();  // the server frames data messages itself: 7-bit, 16-bit and 64-bit payload lengths
    ws_client ws(port_, ws_target());
    ws_open(ws);
    for (std::size_t n : {0u, 1u, 124u, 125u, 126u, 127u, 65'534u, 65'535u, 65'536u, 65'537u, 99'999u}) {
        std::string const text = "4" + std::string(n, 't');
        ASSERT_FALSE(ws.write(text));
        auto m = ws.read();
        ASSERT_TRUE(m) << n;
        EXPECT_FALSE(m->binary);
        EXPECT_EQ(m->data, text) << n;
        std::string bytes(n + 1, '\0');
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<char>(i * 7);
        }
        ASSERT_FALSE(ws.write(bytes, true));
        m = ws.read();
        ASSERT_TRUE(m) << n;
        EXPECT_TRUE(m->binary);
        EXPECT_EQ(m->data, bytes) << n;
    }
}

TEST_F(EngineIoTest, WebsocketControlFramesAndFragments) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    ASSERT_FALSE(ws.ping("are you there"));
    ASSERT_FALSE(ws.write_fragments({"4frag", "men", "ted"}));
    auto m = ws.read();  // the pong is seen while reading, before the echo
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, "4fragmented");
    EXPECT_EQ(ws.pongs, std::vector<std::string>{"are you there"});
    // The client's close handshake is answered with its code.
    ws.close();
    EXPECT_EQ(ws.close_reason().code, 1000);
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::client_close);
}

TEST_F(EngineIoTest, WebsocketInvalidUtf8ClosesWith1007) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    ASSERT_FALSE(ws.write("4\xc3\x28"));
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_EQ(ws.close_reason().code, 1007);
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::parse_error);
}

TEST_F(EngineIoTest, WebsocketClosePacketClosesSession) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    ASSERT_FALSE(ws.write("1"));
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::client_close);
    EXPECT_EQ(eio_->session_count(), 0u);
}

TEST_F(EngineIoTest, WebsocketMalformedPacketClosesSession) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    ASSERT_FALSE(ws.write("x"));
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::parse_error);
}

TEST_F(EngineIoTest, WebsocketMessageOverMaxPayloadCloses) {
    start();  // max_payload 100000
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    ASSERT_FALSE(ws.write("4" + std::string(99'999, 'a')));
    auto m = ws.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data.size(), 100'000u);
    (void)ws.write("4" + std::string(100'000, 'a'));
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::payload_too_large);
}

TEST_F(EngineIoTest, WebsocketCloseCodeReachesAClientStillSendingAHugeMessage) {
    start();  // max_payload 100000
    ws_client ws(port_, ws_target());
    ws_open(ws);
    // The server refuses the message from its frame header and closes, while 8 MiB are still on their way: the
    // close frame must reach the client intact (a plain close would reset the connection and lose it).
    EXPECT_FALSE(ws.write("4" + std::string(8u << 20, 'a')));
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_EQ(ws.close_reason().code, 1009);
}

TEST_F(EngineIoTest, WebsocketClientDisconnectIsTransportClose) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    ws.drop();
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::transport_close);
}

TEST_F(EngineIoTest, WebsocketBadQueryIsRefused) {
    start();
    ws_client bad_version(port_, path("EIO=3&transport=websocket"));
    EXPECT_FALSE(bad_version.ok());
    EXPECT_EQ(bad_version.response.result_int(), 400u);
    ws_client bad_sid(port_, ws_target("doesnotexist"));
    EXPECT_FALSE(bad_sid.ok());
    EXPECT_EQ(bad_sid.response.result_int(), 400u);
}

TEST_F(EngineIoTest, WebsocketHandshakeIsValidated) {
    start();
    std::string const head =
        "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\n";
    http_client c(port_);
    auto old = c.raw(head + "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    EXPECT_EQ(old.status, 426u);
    EXPECT_EQ(old.header("Sec-WebSocket-Version"), "13");
    http_client c2(port_);
    auto no_key = c2.raw(head + "Sec-WebSocket-Version: 13\r\n\r\n");
    EXPECT_EQ(no_key.status, 400u);
    http_client c3(port_);
    auto ok = c3.raw(head +
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
    EXPECT_EQ(ok.status, 101u);
    EXPECT_EQ(ok.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_EQ(ok.header("Sec-WebSocket-Extensions"), "");                 // permessage-deflate declined
    EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 1; }));  // only the good one opened a session
}

TEST_F(EngineIoTest, UpgradeWithProbeNoopAndSwitch) {
    start();
    http_client c(port_), c2(port_);
    auto const sid = handshake(c);
    auto held = std::async(std::launch::async, [&] { return c.get(polling(sid)); });
    ASSERT_EQ(held.wait_for(50ms), std::future_status::timeout);

    ws_client ws(port_, ws_target(sid));
    ASSERT_TRUE(ws.ok());
    ASSERT_FALSE(ws.write("2probe"));
    auto const t_probe = std::chrono::steady_clock::now();
    auto pong = ws.read();
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->data, "3probe");  // and no open packet before it
    // The held GET is released with a noop promptly.
    ASSERT_EQ(held.wait_for(1s), std::future_status::ready);
    EXPECT_LT(std::chrono::steady_clock::now() - t_probe, 500ms);  // at once, not at the next ping (25 s)
    auto h = held.get();
    EXPECT_EQ(h.status, 200u);
    EXPECT_EQ(h.body, "6");
    // A GET arriving while upgrading is answered with a noop at once too.
    EXPECT_EQ(c.get(polling(sid)).body, "6");

    // Something queued before the switch goes out over the websocket after it.
    ASSERT_FALSE(ws.write("5"));
    ASSERT_TRUE(wait_until([&] { return eio_->stats().upgrades_total.load() == 1; }));
    ASSERT_FALSE(ws.write("4after"));
    auto m = ws.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, "4after");
    EXPECT_EQ(eio_->stats().open_polling.load(), 0);
    EXPECT_EQ(eio_->stats().open_websocket.load(), 1);

    // Polling is over for this sid.
    EXPECT_EQ(c2.get(polling(sid)).status, 400u);
    EXPECT_EQ(c2.post(polling(sid), "4x").status, 400u);
    // And the session is still fine.
    ASSERT_FALSE(ws.write("4still"));
    m = ws.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, "4still");
}

TEST_F(EngineIoTest, UpgradeProbeAndUpgradeBackToBack) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    EXPECT_EQ(c.post(polling(sid), "4queued").body, "ok");  // its echo waits for a GET that never comes
    ws_client ws(port_, ws_target(sid));
    ASSERT_TRUE(ws.ok());
    ASSERT_FALSE(ws.write("2probe"));
    ASSERT_FALSE(ws.write("5"));
    ASSERT_FALSE(ws.write("4ws"));
    std::vector<std::string> got;
    for (int i = 0; i < 3; ++i) {
        auto m = ws.read();
        ASSERT_TRUE(m) << i;
        got.push_back(m->data);
    }
    EXPECT_EQ(got, (std::vector<std::string>{"3probe", "4queued", "4ws"}));
}

TEST_F(EngineIoTest, FurtherWebsocketForUpgradedSidIsAcceptedThenClosed) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    ws_client ws(port_, ws_target(sid));
    ASSERT_FALSE(ws.write("2probe"));
    ASSERT_EQ(ws.read()->data, "3probe");
    // While upgrading:
    ws_client during(port_, ws_target(sid));
    EXPECT_TRUE(during.ok());  // 101
    EXPECT_TRUE(during.closed_by_server());
    ASSERT_FALSE(ws.write("5"));
    // After the upgrade:
    ws_client after(port_, ws_target(sid));
    EXPECT_TRUE(after.ok());
    EXPECT_TRUE(after.closed_by_server());
    // The session's own websocket keeps working.
    ASSERT_FALSE(ws.write("4ok"));
    auto m = ws.read();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data, "4ok");
    // And a websocket session (no polling) refuses a second websocket the same way.
    ws_client other(port_, ws_target());
    auto const sid2 = ws_open(other);
    ws_client again(port_, ws_target(sid2));
    EXPECT_TRUE(again.ok());
    EXPECT_TRUE(again.closed_by_server());
}

TEST_F(EngineIoTest, FailedProbeLeavesPollingWorking) {
    start();
    http_client c(port_);
    auto const sid = handshake(c);
    {
        ws_client ws(port_, ws_target(sid));
        ASSERT_TRUE(ws.ok());
        ASSERT_FALSE(ws.write("4not-a-probe"));
        EXPECT_TRUE(ws.closed_by_server());
    }
    EXPECT_EQ(c.post(polling(sid), "4poll").body, "ok");
    EXPECT_EQ(c.get(polling(sid)).body, "4poll");
    // A new probe after the failed one works.
    ws_client ws(port_, ws_target(sid));
    ASSERT_FALSE(ws.write("2probe"));
    EXPECT_EQ(ws.read()->data, "3probe");
    ASSERT_FALSE(ws.write("5"));
    ASSERT_FALSE(ws.write("4up"));
    EXPECT_EQ(ws.read()->data, "4up");
}

TEST_F(EngineIoTest, ProbeThatNeverUpgradesIsClosedAfterTheUpgradeTimeout) {
    engineio::options o = quiet_options();
    o.upgrade_timeout = 150ms;
    start(o);
    http_client c(port_);
    auto const sid = handshake(c);
    ws_client ws(port_, ws_target(sid));
    ASSERT_FALSE(ws.write("2probe"));
    EXPECT_EQ(ws.read()->data, "3probe");
    EXPECT_EQ(c.get(polling(sid)).body, "6");  // upgrading
    auto const t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(ws.closed_by_server(2s));  // no `5` within the upgrade timeout: the probe is dropped
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    // The session goes on over polling, and may try again.
    EXPECT_EQ(c.post(polling(sid), "4still polling").body, "ok");
    EXPECT_EQ(c.get(polling(sid)).body, "4still polling");
    EXPECT_FALSE(handler_.close_reason(sid).has_value());
    ws_client again(port_, ws_target(sid));
    ASSERT_FALSE(again.write("2probe"));
    EXPECT_EQ(again.read()->data, "3probe");
    ASSERT_FALSE(again.write("5"));
    ASSERT_FALSE(again.write("4upgraded"));
    EXPECT_EQ(again.read()->data, "4upgraded");
    // The session object is reachable from any thread while open, and gone from the table once closed.
    auto s = eio_->find(sid);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->id(), sid);
    EXPECT_EQ(s->remote_address().substr(0, 10), "127.0.0.1:");
    std::promise<engineio::transport_kind> kind;
    s->dispatch([&] { kind.set_value(s->transport()); });
    EXPECT_EQ(kind.get_future().get(), engineio::transport_kind::websocket);
    s->close(disconnect_reason::server_close);
    EXPECT_TRUE(again.closed_by_server());
    EXPECT_TRUE(wait_until([&] { return eio_->find(sid) == nullptr; }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::server_close);
}

TEST_F(EngineIoTest, WebsocketHeartbeatPingThenTimeout) {
    engineio::options o = quiet_options();
    o.ping_interval = 100ms;
    o.ping_timeout = 80ms;
    start(o);
    // Bounds from the server's own events: it opened the session between t0 and t1 and pinged 100 ms later; the ping
    // reached us at t_ping, so its deadline (ping + 80 ms) is at most t_ping + 80 ms. Late timers get 150 ms.
    auto const t0 = std::chrono::steady_clock::now();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    auto const t1 = std::chrono::steady_clock::now();
    auto ping = ws.read(1s);
    auto const t_ping = std::chrono::steady_clock::now();
    ASSERT_TRUE(ping);
    EXPECT_EQ(ping->data, "2");
    EXPECT_GE(t_ping - t0, 100ms);
    EXPECT_LT(t_ping - t1, 100ms + 150ms);
    // No pong: closed at ping + 80 ms.
    EXPECT_TRUE(ws.closed_by_server(1s));
    auto const t_close = std::chrono::steady_clock::now();
    EXPECT_GE(t_close - t0, 180ms);
    EXPECT_LT(t_close - t_ping, 80ms + 150ms);
    EXPECT_TRUE(wait_until([&] { return handler_.close_reason(sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::ping_timeout);
}

TEST_F(EngineIoTest, WebsocketPongKeepsAlive) {
    engineio::options o = quiet_options();
    o.ping_interval = 100ms;
    o.ping_timeout = 80ms;
    start(o);
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    auto const until = std::chrono::steady_clock::now() + 800ms;
    int pings = 0;
    auto last = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() < until) {
        auto m = ws.read(1s);
        ASSERT_TRUE(m) << ws.last_error.message();
        ASSERT_EQ(m->data, "2");
        auto const now = std::chrono::steady_clock::now();
        if (pings > 0) {
            EXPECT_GE(now - last, 95ms);  // one interval after the previous pong
        }
        last = now;
        ++pings;
        ASSERT_FALSE(ws.write("3"));
    }
    EXPECT_GE(pings, 6);
    EXPECT_FALSE(handler_.close_reason(sid).has_value());
}

TEST_F(EngineIoTest, CloseAllClosesWebsockets) {
    start();
    ws_client ws(port_, ws_target());
    auto const sid = ws_open(ws);
    eio_->close_all(disconnect_reason::server_shutdown);
    EXPECT_TRUE(ws.closed_by_server());
    EXPECT_EQ(ws.close_reason().code, 1001);  // going away
    EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }));
    EXPECT_EQ(handler_.close_reason(sid), disconnect_reason::server_shutdown);
}

TEST_F(EngineIoTest, SlowConsumerIsClosedWhileOthersKeepReceiving) {
    engineio::options o = quiet_options();
    o.max_outbox_frames = 100'000;
    o.max_outbox_bytes = 1u << 20;
    start(o);
    ws_client slow(port_, ws_target());
    auto const slow_sid = ws_open(slow);
    // Make the kernel buffers small so that the backlog shows up in the outbox quickly.
    slow.socket().set_option(asio::socket_base::receive_buffer_size(4096));
    ws_client fast(port_, ws_target());
    auto const fast_sid = ws_open(fast);
    auto slow_s = eio_->find(slow_sid);
    auto fast_s = eio_->find(fast_sid);
    ASSERT_TRUE(slow_s && fast_s);
    auto const payload = make_frame("42[\"n\",\"" + std::string(1000, 'x') + "\"]");
    // Push to both; the slow one never reads. Stop once it is closed (at most ~64 MB).
    int sent = 0;
    int received = 0;
    for (; sent < 64'000 && !handler_.close_reason(slow_sid); ++sent) {
        slow_s->send(payload);
        fast_s->send(payload);
        if (sent % 16 == 15) {
            while (received < sent - 64) {
                auto m = fast.read(2s);
                ASSERT_TRUE(m) << fast.last_error.message();
                ASSERT_EQ(m->data.size(), payload->size());
                ++received;
            }
        }
    }
    ASSERT_TRUE(wait_until([&] { return handler_.close_reason(slow_sid).has_value(); }));
    EXPECT_EQ(handler_.close_reason(slow_sid), disconnect_reason::slow_consumer);
    EXPECT_EQ(eio_->stats().slow_consumers(), 1u);
    // The fast one got everything, in order, and is still open.
    while (received < sent) {
        auto m = fast.read(2s);
        ASSERT_TRUE(m);
        ++received;
    }
    EXPECT_FALSE(handler_.close_reason(fast_sid).has_value());
    ASSERT_FALSE(fast.write("4alive"));
    EXPECT_EQ(fast.read()->data, "4alive");
}

TEST_F(EngineIoTest, ManyWebsocketSessionsInParallel) {
    start();
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                ws_client ws(port_, ws_target());
                if (!ws.ok() || !ws.read()) {
                    continue;
                }
                if (ws.write("4ping") || !ws.read()) {
                    continue;
                }
                ws.close();
                ++ok;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(ok.load(), 80);
    EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }));
    EXPECT_TRUE(wait_until([&] { return eio_->stats().session_objects.load() == 0; }));
}
}  // namespace
}  // namespace pusher::test
