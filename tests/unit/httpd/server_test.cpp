// httpd::server over real sockets on 127.0.0.1 port 0: routing, keep-alive, limits, asynchronous replies,
// websocket hand-over, idle close and shutdown.
#include "httpd/server.hpp"

#include "common/io_pool.hpp"
#include "httpd/upgrade.hpp"
#include "integration/engineio/client.hpp"
#include "support/wait.hpp"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <thread>

namespace pusher::test {
namespace {
using namespace std::string_literals;

// A route that keeps its replies for the test to answer later, from the test's thread.
class parked_route final : public httpd::route {
  public:
    void handle(httpd::request req, httpd::reply rep) override {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(req));
        replies_.push_back(std::move(rep));
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return replies_.size();
    }
    httpd::reply take(std::size_t i) {
        std::lock_guard lock(mutex_);
        return std::move(replies_.at(i));
    }
    void clear() {
        std::lock_guard lock(mutex_);
        replies_.clear();
    }

  private:
    std::mutex mutex_;
    std::vector<httpd::request> requests_;
    std::vector<httpd::reply> replies_;
};

class HttpdTest : public ::testing::Test {
  protected:
    void start(httpd::options o = {}) {
        pool_ = std::make_unique<io_pool>(2);
        o.port = 0;
        server_ = std::make_unique<httpd::server>(*pool_, o);
        server_->add_handler("/hello", [](httpd::request const&) { return httpd::response::text(200, "hi\n"); });
        server_->add_handler("/echo", [](httpd::request const& r) {
            std::string out = r.method + " " + std::string(r.path()) + " " + std::string(r.query()) + " " +
                              std::string(r.header("x-test")) + " " + r.remote_ip + " " + r.body;
            return httpd::response::text(200, out).with_header("X-Reply", "yes");
        });
        server_->add_handler("/a/", [](httpd::request const&) { return httpd::response::text(200, "a"); });
        server_->add_handler("/a/b/", [](httpd::request const&) { return httpd::response::text(200, "ab"); });
        server_->add_handler(
            "/small", [](httpd::request const& r) { return httpd::response::text(200, std::to_string(r.body.size())); },
            1000);
        server_->add_handler("/throw",
                             [](httpd::request const&) -> httpd::response { throw std::runtime_error("boom"); });
        server_->add_route("/park", parked_);
        auto ep = server_->start();
        port_ = ep.port;
        pool_->start();
    }

    void TearDown() override {
        if (parked_) {
            parked_->clear();
        }
        if (server_) {
            server_->stop();
        }
        if (pool_) {
            pool_->stop();
        }
    }

    std::shared_ptr<parked_route> parked_ = std::make_shared<parked_route>();
    std::unique_ptr<io_pool> pool_;
    std::unique_ptr<httpd::server> server_;
    std::uint16_t port_ = 0;
};

TEST_F(HttpdTest, ServesManyRequestsOnOneKeepAliveConnection) {
    start();
    http_client c(port_);
    for (int i = 0; i < 20; ++i) {
        auto r = c.get("/hello");
        ASSERT_FALSE(r.ec) << r.ec.message();
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(r.body, "hi\n");
        EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=UTF-8");
        EXPECT_EQ(r.header("Content-Length"), "3");
        EXPECT_TRUE(r.keep_alive);
    }
    EXPECT_EQ(server_->connection_count(), 1u);
}

TEST_F(HttpdTest, RequestFieldsReachTheRoute) {
    start();
    http_client c(port_);
    auto r = c.request(http::verb::post, "/echo/x?k=v&w=%20", "body!", {{"X-Test", "value"}});
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "POST /echo/x k=v&w=%20 value 127.0.0.1 body!");
    EXPECT_EQ(r.header("X-Reply"), "yes");
}

TEST_F(HttpdTest, RoutesByLongestPrefixAnd404) {
    start();
    http_client c(port_);
    EXPECT_EQ(c.get("/a/x").body, "a");
    EXPECT_EQ(c.get("/a/b/x").body, "ab");
    EXPECT_EQ(c.get("/a/b").body, "ab");  // a prefix ending in '/' also matches the path without it
    EXPECT_EQ(c.get("/a").body, "a");
    EXPECT_EQ(c.get("/nothing").status, 404u);
    EXPECT_EQ(c.get("/hello").status, 200u);  // still usable after a 404
}

TEST_F(HttpdTest, BodyOverLimitIs413AndTheConnectionGoesOn) {
    start();
    http_client c(port_);
    EXPECT_EQ(c.post("/small", std::string(1000, 'x')).body, "1000");
    auto r = c.post("/small", std::string(1001, 'x'));
    EXPECT_EQ(r.status, 413u);
    auto big = c.post("/small", std::string(2'000'000, 'x'));  // read and discarded, not buffered
    EXPECT_EQ(big.status, 413u);
    EXPECT_EQ(c.get("/hello").body, "hi\n");
}

TEST_F(HttpdTest, HandlerExceptionIs500) {
    start();
    http_client c(port_);
    EXPECT_EQ(c.get("/throw").status, 500u);
    EXPECT_EQ(c.get("/hello").status, 200u);
}

TEST_F(HttpdTest, AsyncReplyFromAnotherThreadWhileOthersAreServed) {
    start();
    http_client held(port_), other(port_);
    auto pending = std::async(std::launch::async, [&] { return held.get("/park/1"); });
    ASSERT_TRUE(wait_until([&] { return parked_->count() == 1; }));
    // A held request blocks nobody else.
    EXPECT_EQ(other.get("/hello").body, "hi\n");
    EXPECT_EQ(pending.wait_for(20ms), std::future_status::timeout);
    std::thread([rep = parked_->take(0)]() mutable { rep.send(httpd::response::text(202, "later")); }).join();
    ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
    auto r = pending.get();
    EXPECT_EQ(r.status, 202u);
    EXPECT_EQ(r.body, "later");
    EXPECT_EQ(held.get("/hello").body, "hi\n");  // and the connection goes on
}

TEST_F(HttpdTest, PipelinedRequestWaitsForTheHeldReply) {
    start();
    http_client c(port_);
    // Two requests in one write: the second must not be answered before the first.
    std::string const two = "GET /park/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    auto first = std::async(std::launch::async, [&] { return c.raw(two); });
    ASSERT_TRUE(wait_until([&] { return parked_->count() == 1; }));
    EXPECT_EQ(first.wait_for(50ms), std::future_status::timeout);
    parked_->take(0).send(httpd::response::text(200, "first"));
    ASSERT_EQ(first.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(first.get().body, "first");
    EXPECT_EQ(c.raw("").body, "hi\n");  // the pipelined second response follows
}

TEST_F(HttpdTest, DroppedReplyAnswers500) {
    start();
    http_client c(port_);
    auto pending = std::async(std::launch::async, [&] { return c.get("/park"); });
    ASSERT_TRUE(wait_until([&] { return parked_->count() == 1; }));
    { auto dropped = parked_->take(0); }
    ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(pending.get().status, 500u);
}

TEST_F(HttpdTest, ExpectContinueIsAnswered) {
    start();
    http_client c(port_);
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    std::string const head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    asio::write(s, asio::buffer(head));
    std::string got(25, '\0');
    asio::read(s, asio::buffer(got));
    EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
    asio::write(s, asio::buffer("data"s));
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "POST /echo   127.0.0.1 data");
}

TEST_F(HttpdTest, OversizedHeaderIs431) {
    httpd::options o;
    o.header_limit = 1024;
    start(o);
    http_client c(port_);
    auto r = c.request(http::verb::get, "/hello", {}, {{"X-Big", std::string(2000, 'h')}});
    EXPECT_EQ(r.status, 431u);
    EXPECT_FALSE(r.keep_alive);
}

TEST_F(HttpdTest, GarbageIs400) {
    start();
    http_client c(port_);
    auto r = c.raw("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(r.status, 400u);
    EXPECT_TRUE(c.closed_by_server());
}

TEST_F(HttpdTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
    httpd::options o;
    o.header_timeout = 100ms;
    start(o);
    http_client c(port_);
    auto const t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_by_server(3s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

TEST_F(HttpdTest, CloseIdleClosesKeepAliveConnectionsOnly) {
    start();
    http_client idle(port_), busy(port_);
    EXPECT_EQ(idle.get("/hello").status, 200u);
    auto pending = std::async(std::launch::async, [&] { return busy.get("/park"); });
    ASSERT_TRUE(wait_until([&] { return parked_->count() == 1; }));
    ASSERT_TRUE(wait_until([&] { return server_->connection_count() == 2; }));
    server_->close_idle();
    EXPECT_TRUE(idle.closed_by_server());
    EXPECT_EQ(pending.wait_for(50ms), std::future_status::timeout);  // the busy one is untouched
    parked_->take(0).send(httpd::response::text(200, "done"));
    EXPECT_EQ(pending.get().body, "done");
    EXPECT_TRUE(wait_until([&] { return server_->connection_count() == 1; }));
}

TEST_F(HttpdTest, StopRefusesNewConnectionsAndClosesAfterTheCurrentResponse) {
    start();
    http_client before(port_);
    EXPECT_EQ(before.get("/hello").status, 200u);
    server_->stop();
    auto r = before.get("/hello");
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.keep_alive);  // draining: Connection: close
    ASSERT_TRUE(wait_until([&] {
        asio::io_context ioc;
        tcp::socket s(ioc);
        error_code ec;
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
        return static_cast<bool>(ec);
    }));
}

TEST_F(HttpdTest, UpgradeHandsOverTheSocketAndBufferedBytes) {
    start();
    struct taker final : httpd::route {
        void handle(httpd::request req, httpd::reply rep) override {
            EXPECT_TRUE(req.websocket_upgrade);
            auto up = rep.take_upgrade();
            ASSERT_TRUE(up);
            EXPECT_FALSE(rep);
            EXPECT_EQ(up->request.target(), "/up");
            // Blocking writes are fine in a test: answer with what was buffered past the request.
            std::string out = "taken:" + up->buffered;
            asio::write(up->socket, asio::buffer(out));
            error_code ec;
            up->socket.shutdown(tcp::socket::shutdown_send, ec);
        }
    };
    // Routes are added before start(): rebuild the server (the server goes before its pool).
    pool_->stop();
    server_.reset();
    pool_ = std::make_unique<io_pool>(1);
    server_ = std::make_unique<httpd::server>(*pool_, httpd::options{});
    server_->add_route("/up", std::make_shared<taker>());
    port_ = server_->start().port;
    pool_->start();

    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    std::string const req = "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nEXTRA";
    asio::write(s, asio::buffer(req));
    std::string got;
    error_code ec;
    asio::read(s, asio::dynamic_buffer(got), ec);
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_EQ(got, "taken:EXTRA");
    EXPECT_EQ(server_->connection_count(), 0u);  // no longer an HTTP connection
}

TEST_F(HttpdTest, PortInUseThrowsAClearError) {
    start();
    httpd::options o;
    o.port = port_;
    httpd::server second(*pool_, o);
    try {
        second.start();
        FAIL() << "expected an exception";
    } catch (std::system_error const& e) {
        EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(port_)), std::string::npos)
            << e.what();
    }
}

TEST_F(HttpdTest, LocalhostListensOnBothLoopbacks) {
    httpd::options o;
    o.host = "localhost";
    start(o);
    auto const eps = server_->endpoints();
    ASSERT_GE(eps.size(), 1u);
    EXPECT_EQ(eps[0].to_string(), "127.0.0.1:" + std::to_string(port_));
    EXPECT_EQ(http_client(port_, "127.0.0.1").get("/hello").status, 200u);
    if (eps.size() == 2) {
        EXPECT_EQ(eps[1].to_string(), "[::1]:" + std::to_string(port_));
        http_client v6(port_, "::1");
        auto r = v6.get("/echo");
        EXPECT_EQ(r.status, 200u);
        EXPECT_NE(r.body.find(" ::1 "), std::string::npos) << r.body;
    }
}

TEST(HttpdRequest, Accessors) {
    httpd::request r;
    r.target = "/p/q?x=1&y";
    r.headers = {{"Content-Type", "a"}, {"X-Dup", "1"}, {"x-dup", "2"}};
    EXPECT_EQ(r.path(), "/p/q");
    EXPECT_EQ(r.query(), "x=1&y");
    EXPECT_EQ(r.header("content-type"), "a");
    EXPECT_EQ(r.header("X-DUP"), "1");
    EXPECT_TRUE(r.has_header("x-dup"));
    EXPECT_FALSE(r.has_header("missing"));
    EXPECT_EQ(r.header("missing"), "");
    r.target = "/plain";
    EXPECT_EQ(r.path(), "/plain");
    EXPECT_EQ(r.query(), "");
}

TEST(HttpdRequest, ResponseHelpers) {
    auto j = httpd::response::json(400, "{}");
    EXPECT_EQ(j.status, 400u);
    EXPECT_EQ(j.content_type, "application/json");
    auto t = httpd::response::text(200, "x").with_header("A", "b");
    EXPECT_EQ(t.content_type, "text/plain; charset=UTF-8");
    ASSERT_EQ(t.headers.size(), 1u);
    EXPECT_EQ(t.headers[0].name, "A");
    httpd::reply empty;
    EXPECT_FALSE(empty);
    empty.send(httpd::response{});  // no-op, no crash
    EXPECT_EQ(empty.take_upgrade(), nullptr);
}
}  // namespace
}  // namespace pusher::test
