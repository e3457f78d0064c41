// httpd with TLS over real sockets, a certificate made at test time: HTTPS keep-alive, large bodies both ways, the
// handshake deadline, plain HTTP on a TLS port, certificate and key errors, limits answered over TLS, and Engine.IO
// over wss:// (a websocket session, and the polling -> websocket upgrade across io_contexts).
#include "httpd/server.hpp"

#include "common/io_pool.hpp"
#include "engineio/server.hpp"
#include "httpd/tls_socket.hpp"
#include "httpd/upgrade.hpp"
#include "integration/engineio/fixture.hpp"
#include "support/wait.hpp"
#include "unit/httpd/tls_client.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

namespace pusher::test {
namespace {
using namespace std::string_literals;

test_certificate& certificate() {
    static test_certificate c;  // one per test program: the openssl CLI takes a moment
    return c;
}

class HttpdTlsTest : public ::testing::Test {
  protected:
    httpd::options tls_options() {
        httpd::options o;
        o.tls_cert_file = certificate().cert;
        o.tls_key_file = certificate().key;
        return o;
    }

    static engineio::options quiet() {
        engineio::options o;
        o.ping_interval = 25s;  // no heartbeat traffic
        o.max_payload = 100'000;
        return o;
    }

    void start(httpd::options o, engineio::options e = quiet()) {
        pool_ = std::make_unique<io_pool>(2);
        o.host = "127.0.0.1";
        o.port = 0;
        server_ = std::make_unique<httpd::server>(*pool_, o);
        server_->add_handler("/hello", [](httpd::request const&) { return httpd::response::text(200, "hi\n"); });
        server_->add_handler(
            "/size", [](httpd::request const& r) { return httpd::response::text(200, std::to_string(r.body.size())); },
            4u << 20);
        server_->add_handler("/big", [](httpd::request const&) {
            std::string body(1u << 20, 'x');
            for (std::size_t i = 0; i < body.size(); i += 997) {
                body[i] = static_cast<char>('a' + i % 26);
            }
            return httpd::response::text(200, std::move(body));
        });
        eio_ = std::make_shared<engineio::server>(std::move(e), handler_);
        server_->add_route("/engine.io/", eio_);
        port_ = server_->start().port;
        pool_->start();
    }

    void TearDown() override {
        if (!pool_) {
            return;
        }
        eio_->close_all(engineio::disconnect_reason::server_shutdown);
        EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }));
        server_->stop();
        pool_->stop();
        server_.reset();
        eio_.reset();
        pool_.reset();
    }

    httpd::counters const& stats() const { return server_->stats(); }
    std::string const& ca() const { return certificate().cert; }

    echo_handler handler_;
    std::unique_ptr<io_pool> pool_;
    std::unique_ptr<httpd::server> server_;
    std::shared_ptr<engineio::server> eio_;
    std::uint16_t port_ = 0;
};

TEST_F(HttpdTlsTest, HttpsRequestsOnOneKeepAliveConnection) {
    start(tls_options());
    EXPECT_TRUE(server_->tls());
    https_client c(port_, ca());
    ASSERT_TRUE(c.ok()) << c.handshake_error.message();
    for (int i = 0; i < 20; ++i) {
        auto r = c.get("/hello");
        ASSERT_FALSE(r.ec) << r.ec.message();
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.body, "hi\n");
        EXPECT_TRUE(r.keep_alive);
    }
    EXPECT_EQ(server_->connection_count(), 1u);
    EXPECT_EQ(stats().open_connections.load(), 1);
    EXPECT_EQ(stats().tls_handshake_failures_total.load(), 0u);
}

TEST_F(HttpdTlsTest, LargeBodiesBothWays) {
    start(tls_options());
    https_client c(port_, ca());
    ASSERT_TRUE(c.ok());
    std::string body(3'000'000, 'b');
    auto r = c.request(http::verb::post, "/size", body);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.body, "3000000");
    for (int i = 0; i < 3; ++i) {
        r = c.get("/big");
        ASSERT_FALSE(r.ec) << r.ec.message();
        ASSERT_EQ(r.body.size(), 1u << 20);
        EXPECT_EQ(r.body[997 * 5], static_cast<char>('a' + (997 * 5) % 26));
        EXPECT_EQ(r.body[1], 'x');
    }
}

TEST_F(HttpdTlsTest, An431ReachesAClientStillSendingItsHeader) {
    auto o = tls_options();
    o.header_limit = 1024;
    start(o);
    https_client c(port_, ca());
    ASSERT_TRUE(c.ok());
    // The server answers after the first KiB and closes while 8 MiB of header are still on their way: a plain close
    // would reset the connection under the client (lingering_close, with close_notify first).
    std::vector<std::pair<std::string, std::string>> big;  // 8 MiB in 256 fields (Beast caps one field's value)
    for (int i = 0; i < 256; ++i) {
        big.emplace_back("X-Big-" + std::to_string(i), std::string(32u << 10, 'h'));
    }
    auto r = c.request(http::verb::get, "/hello", {}, 10s, big);
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 431u);
}

TEST_F(HttpdTlsTest, PlainHttpOnTheTlsPortFailsTheHandshake) {
    start(tls_options());
    http_client plain(port_);
    auto r = plain.get("/hello", 2s);
    EXPECT_TRUE(r.ec);  // no HTTP answer to bytes that are not a ClientHello
    EXPECT_TRUE(wait_until([&] { return stats().tls_handshake_failures_total.load() == 1; }));
    EXPECT_TRUE(wait_until([&] { return stats().open_connections.load() == 0; }));
    https_client good(port_, ca());
    EXPECT_EQ(good.get("/hello").status, 200u);  // the listener is unharmed
}

TEST_F(HttpdTlsTest, HandshakeMustCompleteWithinTheHeaderTimeout) {
    auto o = tls_options();
    o.header_timeout = 200ms;
    start(o);
    http_client silent(port_);  // TCP only: never sends a ClientHello
    auto const t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(silent.closed_by_server(3s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_TRUE(wait_until([&] { return stats().tls_handshake_failures_total.load() == 1; }));
}

TEST_F(HttpdTlsTest, UnusableCertificateOrKeyThrowsOneClearLine) {
    auto const& c = certificate();
    auto start_with = [&](std::string cert, std::string key) -> std::string {
        io_pool pool(1);
        httpd::server s(pool, httpd::options{.tls_cert_file = std::move(cert), .tls_key_file = std::move(key)});
        try {
            s.start();
        } catch (std::runtime_error const& e) {
            return e.what();
        }
        return "no exception";
    };
    auto const missing = (c.dir / "missing.pem").string();
    std::string m = start_with(missing, c.key);
    EXPECT_EQ(m, "cannot read TLS certificate " + missing + ": No such file or directory");
    m = start_with(c.cert, missing);
    EXPECT_EQ(m, "cannot read TLS key " + missing + ": No such file or directory");
    m = start_with(c.garbage, c.key);
    EXPECT_TRUE(m.starts_with("cannot use TLS certificate " + c.garbage + ": ")) << m;
    std::cout << "garbage certificate: " << m << "\n";
    EXPECT_EQ(m.find('\n'), std::string::npos);
    m = start_with(c.cert, c.garbage);
    EXPECT_TRUE(m.starts_with("cannot use TLS key " + c.garbage + ": ")) << m;
    std::cout << "garbage key: " << m << "\n";
    EXPECT_EQ(m.find('\n'), std::string::npos);
    m = start_with(c.cert, c.other_key);
    EXPECT_EQ(m, "cannot use TLS key " + c.other_key + ": it does not match the certificate " + c.cert);
    m = start_with(c.cert, "");
    EXPECT_EQ(m, "TLS needs both tls_cert_file and tls_key_file");
}

TEST_F(HttpdTlsTest, LimitsAreAnsweredOverTls) {
    auto o = tls_options();
    o.max_connections_per_ip = 1;
    start(o);
    https_client a(port_, ca());
    EXPECT_EQ(a.get("/hello").status, 200u);
    https_client b(port_, ca());
    ASSERT_TRUE(b.ok()) << b.handshake_error.message();
    auto r = b.get("/hello");
    ASSERT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 429u);
    EXPECT_NE(r.body.find("\"error\""), std::string::npos);
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(b.closed_by_server());
}

TEST_F(HttpdTlsTest, EngineIoWebsocketOverWss) {
    start(tls_options());
    wss_client ws(port_, "/engine.io/?EIO=4&transport=websocket", ca());
    ASSERT_TRUE(ws.ok()) << ws.handshake_error.message();
    auto open = ws.read();
    ASSERT_TRUE(open);
    ASSERT_EQ(open->data[0], '0');
    EXPECT_EQ(eio_->stats().open_websocket.load(), 1);
    // Small and large messages (several TLS records), in order.
    for (std::size_t n : {1u, 100u, 20'000u, 99'000u}) {
        std::string const text = "4" + std::string(n, 'w');
        ASSERT_FALSE(ws.write(text));
        auto m = ws.read();
        ASSERT_TRUE(m) << n << ": " << ws.last_error.message();
        EXPECT_EQ(m->data, text);
    }
    for (int i = 0; i < 100; ++i) {
        ASSERT_FALSE(ws.write("4m" + std::to_string(i)));
    }
    for (int i = 0; i < 100; ++i) {
        auto m = ws.read();
        ASSERT_TRUE(m);
        ASSERT_EQ(m->data, "4m" + std::to_string(i));
    }
    // The websocket holds its place in the limits until its socket closes.
    EXPECT_EQ(server_->connection_count(), 0u);
    EXPECT_EQ(stats().open_connections.load(), 1);
    ws.close();
    EXPECT_TRUE(wait_until([&] { return stats().open_connections.load() == 0; }));
    EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }));
}

TEST_F(HttpdTlsTest, PollingUpgradesToWssAcrossThreads) {
    start(tls_options());
    // Several sessions, so that (round robin over 2 threads) some upgrades arrive on another thread than the
    // session's: their TLS socket moves to the session's io_context with its descriptor.
    for (int round = 0; round < 4; ++round) {
        https_client poll(port_, ca());
        auto hs = poll.get("/engine.io/?EIO=4&transport=polling");
        ASSERT_EQ(hs.status, 200u);
        auto const sid = std::string(boost::json::parse(hs.body.substr(1)).as_object().at("sid").as_string());
        wss_client ws(port_, "/engine.io/?EIO=4&transport=websocket&sid=" + sid, ca());
        ASSERT_TRUE(ws.ok()) << ws.handshake_error.message();
        ASSERT_FALSE(ws.write("2probe"));
        auto m = ws.read();
        ASSERT_TRUE(m);
        EXPECT_EQ(m->data, "3probe");
        auto noop = poll.get("/engine.io/?EIO=4&transport=polling&sid=" + sid);
        EXPECT_EQ(noop.body, "6");
        ASSERT_FALSE(ws.write("5"));
        ASSERT_FALSE(ws.write("4after upgrade " + std::to_string(round)));
        m = ws.read();
        ASSERT_TRUE(m) << ws.last_error.message();
        EXPECT_EQ(m->data, "4after upgrade " + std::to_string(round));
        ws.close();
    }
    EXPECT_EQ(eio_->stats().upgrades_total.load(), 4u);
}

TEST_F(HttpdTlsTest, ServerCloseAllReachesWssClients) {
    start(tls_options());
    wss_client ws(port_, "/engine.io/?EIO=4&transport=websocket", ca());
    ASSERT_TRUE(ws.ok());
    ASSERT_TRUE(ws.read());
    eio_->close_all(engineio::disconnect_reason::server_shutdown);
    // The websocket closes (the close frame, then close_notify and FIN): the client sees the end.
    while (ws.read(3s)) {
    }
    EXPECT_NE(ws.last_error, beast::error::timeout);
    EXPECT_TRUE(wait_until([&] { return stats().open_connections.load() == 0; }));
}
}  // namespace
}  // namespace pusher::test
