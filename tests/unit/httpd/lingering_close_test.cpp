// httpd::lingering_close over real sockets on 127.0.0.1: the last answer reaches a peer that is still sending (a
// plain close would reset the connection under it), and a peer that never stops is dropped at the deadline or the
// byte budget. Also end to end through httpd: a 431 reaches a client still sending its huge header.
#include "httpd/lingering_close.hpp"

#include "common/io_pool.hpp"
#include "httpd/server.hpp"
#include "integration/engineio/client.hpp"
#include "support/wait.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace pusher::test {
namespace {
using namespace std::chrono_literals;

// One accepted connection on a thread of its own: reads `first` bytes, writes `answer`, closes the lingering way.
class one_shot_server {
  public:
    one_shot_server(std::string answer, httpd::linger_limits limits)
        : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        acceptor_.async_accept([this, answer = std::move(answer), limits](error_code ec, tcp::socket s) {
            if (ec) {
                return;
            }
            socket_ = std::move(s);
            asio::async_read(socket_, asio::buffer(first_), [this, answer, limits](error_code e, std::size_t) {
                if (e) {
                    return;
                }
                asio::write(socket_, asio::buffer(answer), e);
                httpd::lingering_close(std::move(socket_), limits);
            });
        });
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~one_shot_server() {
        ioc_.stop();
        thread_.join();
    }
    tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

  private:
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    tcp::socket socket_{ioc_};
    std::array<char, 1024> first_{};
    std::thread thread_;
};

struct peer_result {
    error_code write_error;
    std::string received;
    std::chrono::milliseconds closed_after{};
};

// Connects, writes `bytes` (blocking, on its own thread) and reads until EOF. Then, with `finish`, shuts its side
// down; without, goes on writing a byte every few milliseconds until a write fails (the server closed the socket),
// and closed_after is when that happened.
peer_result send_then_read(tcp::endpoint to, std::size_t bytes, bool finish) {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(to);
    auto const start = std::chrono::steady_clock::now();
    peer_result r;
    auto writer = std::async(std::launch::async, [&] {
        std::string const data(bytes, 'x');
        error_code ec;
        asio::write(s, asio::buffer(data), ec);
        if (!ec && finish) {
            s.shutdown(tcp::socket::shutdown_send, ec);
        }
        return ec;
    });
    if (!finish) {
        r.write_error = writer.get();
        auto const deadline = std::chrono::steady_clock::now() + 10s;
        while (!r.write_error && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);  // polls the only sign of the close a writing peer gets
            asio::write(s, asio::buffer("x", 1), r.write_error);
        }
        r.closed_after =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        std::array<char, 64> buf{};
        error_code ec;
        r.received.append(buf.data(), s.read_some(asio::buffer(buf), ec));
        return r;
    }
    std::array<char, 4096> buf{};
    for (;;) {
        error_code ec;
        std::size_t const n = s.read_some(asio::buffer(buf), ec);
        r.received.append(buf.data(), n);
        if (ec) {
            break;
        }
    }
    r.closed_after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    r.write_error = writer.get();
    return r;
}

TEST(LingeringClose, TheLastAnswerReachesAPeerThatIsStillSending) {
    one_shot_server server("bye", {});
    // 8 MiB is far more than the socket buffers hold: a plain close after the first KiB would reset the connection
    // while the peer is writing, and its write would fail with the answer lost.
    auto const r = send_then_read(server.endpoint(), 8u << 20, true);
    EXPECT_FALSE(r.write_error) << r.write_error.message();
    EXPECT_EQ(r.received, "bye");
}

TEST(LingeringClose, APeerThatNeverFinishesIsDroppedAtTheDeadline) {
    one_shot_server server("bye", {.deadline = 300ms});
    auto const r = send_then_read(server.endpoint(), 4096, false);
    EXPECT_EQ(r.received, "bye");
    // The peer read our FIN at once but went on writing: its writes were taken until the deadline closed the socket.
    EXPECT_TRUE(r.write_error);
    EXPECT_GE(r.closed_after, 250ms);
    EXPECT_LT(r.closed_after, 3s);
    EXPECT_TRUE(wait_until([] { return httpd::lingering_sockets() == 0; }));  // the lingerer is gone
}

TEST(LingeringClose, TheBudgetBoundsWhatIsReadAndDropped) {
    one_shot_server server("bye", {.deadline = 30s, .budget = 64u << 10});
    auto const r = send_then_read(server.endpoint(), 64u << 20, true);
    EXPECT_TRUE(r.write_error);  // closed once the budget was spent, long before the 64 MiB or the deadline
    EXPECT_LT(r.closed_after, 10s);
}

TEST(LingeringClose, OverTheCapASocketIsClosedAtOnce) {
    one_shot_server server("bye", {.deadline = 30s, .max_lingering = 0});
    auto const r = send_then_read(server.endpoint(), 4096, false);
    EXPECT_TRUE(r.write_error);
    EXPECT_LT(r.closed_after, 2s);  // not the 30 s deadline
    EXPECT_EQ(httpd::lingering_sockets(), 0u);
}

TEST(LingeringClose, HttpdAnswers431ToAClientStillSendingItsHeader) {
    io_pool pool(1);
    httpd::options o;
    o.port = 0;
    o.header_limit = 1024;
    httpd::server server(pool, o);
    server.add_handler("/hello", [](httpd::request const&) { return httpd::response::text(200, "hi\n"); });
    auto const port = server.start().port;
    pool.start();
    http_client c(port);
    auto const r = c.raw("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8u << 20, 'a') + "\r\n\r\n", 10s);
    EXPECT_FALSE(r.ec) << r.ec.message();
    EXPECT_EQ(r.status, 431u);
    server.stop();
    pool.stop();
}
}  // namespace
}  // namespace pusher::test
