// httpd's connection limits over real sockets on 127.0.0.1 port 0: per-IP cap, per-IP rate, total cap (websockets
// handed over count until their socket closes), the refusal answers and the counters.
#include "httpd/server.hpp"

#include "common/io_pool.hpp"
#include "httpd/upgrade.hpp"
#include "integration/engineio/client.hpp"
#include "support/wait.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

namespace pusher::test {
namespace {
// Takes websocket upgrades and keeps their sockets (with their tickets) until the test drops them.
class parking_upgrades final : public httpd::route {
  public:
    void handle(httpd::request, httpd::reply rep) override {
        auto up = rep.take_upgrade();
        std::lock_guard lock(mutex_);
        parked_.push_back(std::move(up));
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return parked_.size();
    }
    void drop_all() {
        std::lock_guard lock(mutex_);
        parked_.clear();
    }

  private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<httpd::upgrade>> parked_;
};

class HttpdLimitsTest : public ::testing::Test {
  protected:
    void start(httpd::options o) {
        pool_ = std::make_unique<io_pool>(2);
        o.port = 0;
        server_ = std::make_unique<httpd::server>(*pool_, o);
        server_->add_handler("/hello", [](httpd::request const&) { return httpd::response::text(200, "hi\n"); });
        server_->add_route("/up", upgrades_);
        port_ = server_->start().port;
        pool_->start();
    }

    void TearDown() override {
        upgrades_->drop_all();
        if (server_) {
            server_->stop();
        }
        if (pool_) {
            pool_->stop();
        }
    }

    httpd::counters const& stats() const { return server_->stats(); }

    // The refusal's shape: status, JSON body {"error":"..."}, Connection: close, and the connection really closes.
    static void expect_refusal(http_client& c, unsigned status, std::string_view words) {
        auto r = c.get("/hello");
        ASSERT_FALSE(r.ec) << r.ec.message();
        EXPECT_EQ(r.status, status);
        EXPECT_EQ(r.header("Content-Type"), "application/json");
        EXPECT_EQ(r.header("Retry-After"), "1");
        EXPECT_FALSE(r.keep_alive);
        auto const body = boost::json::parse(r.body).as_object();
        EXPECT_NE(std::string(body.at("error").as_string()).find(words), std::string::npos) << r.body;
        EXPECT_TRUE(c.closed_by_server());
    }

    std::shared_ptr<parking_upgrades> upgrades_ = std::make_shared<parking_upgrades>();
    std::unique_ptr<io_pool> pool_;
    std::unique_ptr<httpd::server> server_;
    std::uint16_t port_ = 0;
};

TEST_F(HttpdLimitsTest, PerIpCapRefusesWith429UntilAConnectionCloses) {
    start({.max_connections_per_ip = 2});
    auto a = std::make_unique<http_client>(port_);
    http_client b(port_);
    EXPECT_EQ(a->get("/hello").status, 200u);
    EXPECT_EQ(b.get("/hello").status, 200u);
    EXPECT_EQ(stats().open_connections.load(), 2);

    http_client c(port_);
    expect_refusal(c, 429, "too many connections from your address");
    EXPECT_EQ(stats().refused(httpd::refusal::max_connections_per_ip), 1u);
    EXPECT_EQ(server_->connection_count(), 2u);  // a refused connection is not one of ours

    // The admitted connections keep working; once one closes, the address has room again.
    EXPECT_EQ(b.get("/hello").status, 200u);
    a.reset();
    ASSERT_TRUE(wait_until([&] { return stats().open_connections.load() == 1; }));
    http_client d(port_);
    EXPECT_EQ(d.get("/hello").status, 200u);
    EXPECT_EQ(stats().accepted_total.load(), 3u);
    EXPECT_EQ(stats().tracked_addresses.load(), 1);
}

TEST_F(HttpdLimitsTest, RatePerIpRefusesWith429ThenRecovers) {
    start({.connection_rate_per_ip = 3});
    // Three new connections at once are the burst; the fourth comes too soon. Each closes after its request,
    // so only the rate can refuse.
    for (int i = 0; i < 3; ++i) {
        http_client c(port_);
        EXPECT_EQ(c.get("/hello").status, 200u) << i;
    }
    {
        http_client c(port_);
        expect_refusal(c, 429, "too many new connections from your address");
    }
    EXPECT_EQ(stats().refused(httpd::refusal::connection_rate_per_ip), 1u);
    // A token comes back every third of a second; refused attempts take none.
    EXPECT_TRUE(wait_until(
        [&] {
            http_client c(port_);
            return c.get("/hello").status == 200;
        },
        3s));
}

TEST_F(HttpdLimitsTest, TotalCapRefusesWith503AndCountsWebsocketsUntilTheirSocketCloses) {
    start({.max_connections = 2});
    // A websocket upgrade taken by its route: the HTTP connection is gone, the socket (and its place) stays.
    http_client ws(port_);
    auto r = ws.raw("GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 300ms);
    EXPECT_TRUE(r.ec);  // nobody answers: the route parked the socket
    ASSERT_TRUE(wait_until([&] { return upgrades_->count() == 1; }));
    EXPECT_EQ(server_->connection_count(), 0u);
    EXPECT_EQ(stats().open_connections.load(), 1);

    http_client a(port_);
    EXPECT_EQ(a.get("/hello").status, 200u);
    http_client b(port_);
    expect_refusal(b, 503, "too many connections");
    EXPECT_EQ(stats().refused(httpd::refusal::max_connections), 1u);

    upgrades_->drop_all();  // the websocket's socket closes
    EXPECT_EQ(stats().open_connections.load(), 1);
    http_client c(port_);
    EXPECT_EQ(c.get("/hello").status, 200u);
}

TEST_F(HttpdLimitsTest, RefusedClientThatSendsNothingIsClosedAfterTheHeaderTimeout) {
    start({.header_timeout = 200ms, .max_connections_per_ip = 1});
    http_client a(port_);
    EXPECT_EQ(a.get("/hello").status, 200u);
    http_client silent(port_);
    auto const t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(silent.closed_by_server(3s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_EQ(stats().refused(httpd::refusal::max_connections_per_ip), 1u);
}

TEST_F(HttpdLimitsTest, UnlimitedCountsOpenConnectionsOnly) {
    start({});
    {
        std::vector<std::unique_ptr<http_client>> clients;
        for (int i = 0; i < 20; ++i) {
            clients.push_back(std::make_unique<http_client>(port_));
            EXPECT_EQ(clients.back()->get("/hello").status, 200u);
        }
        EXPECT_EQ(stats().open_connections.load(), 20);
    }
    EXPECT_TRUE(wait_until([&] { return stats().open_connections.load() == 0; }));
    EXPECT_EQ(stats().accepted_total.load(), 20u);
    EXPECT_EQ(stats().tracked_addresses.load(), 0);
    for (std::size_t i = 0; i < httpd::refusal_count; ++i) {
        EXPECT_EQ(stats().refused(static_cast<httpd::refusal>(i)), 0u);
    }
}
}  // namespace
}  // namespace pusher::test
