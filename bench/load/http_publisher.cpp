// HTTP publishing: POST /api/publish over `publishers` keep-alive connections on one io_context (the calling
// thread), one request in flight per connection, paced by one shared pacer. Body:
// {"user":"u7","event":"bench","data":<payload>} or {"broadcast":true,...} (docs/amqp-contract.md, HTTP endpoints).
#include "pacer.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "publisher.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/aliases.hpp"  // after the Asio headers: it names asio::ip::tcp

#include <algorithm>
#include <chrono>
#include <memory>

namespace pusher::load {
namespace {
// shared_state: what the connections of one publish_http call share; touched on the io_context's thread only.
struct shared_state {
    publisher_config const& cfg;
    std::atomic<bool> const& abort;
    pacer pace;
    std::uint64_t next_seq = 0;
    std::uint64_t last_done_ns = 0;
    std::vector<std::uint64_t> failed;
    std::vector<std::string> errors;
    std::size_t error_texts = 0;

    void error(std::string text) {
        if (error_texts++ < 8) {
            errors.push_back(std::move(text));
        }
    }
};

// http_conn: one keep-alive HTTP/1.1 connection to the server, sending one POST at a time.
class http_conn {
  public:
    http_conn(asio::io_context& ioc, shared_state& st, tcp::endpoint server)
        : st_(st), sock_(ioc), timer_(ioc), server_(std::move(server)) {}

    void start() {
        sock_.async_connect(server_, [this](error_code ec) {
            if (ec) {
                st_.error("connect: " + ec.message());
                return;
            }
            error_code ignored;
            sock_.set_option(tcp::no_delay(true), ignored);
            next();
        });
    }

  private:
    void next() {
        auto const& cfg = st_.cfg;
        if (st_.next_seq >= cfg.messages || st_.abort.load(std::memory_order_relaxed)) {
            return;
        }
        auto const now = monotonic_ns();
        if (cfg.deadline_ns != 0 && now >= cfg.deadline_ns) {
            return;
        }
        if (!window_open(cfg, st_.next_seq)) {
            timer_.expires_after(std::chrono::microseconds(200));
            timer_.async_wait([this](error_code ec) {
                if (!ec) {
                    next();
                }
            });
            return;
        }
        if (auto const wait = st_.pace.wait_ns(now); wait > 0) {
            timer_.expires_after(std::chrono::nanoseconds(wait));
            timer_.async_wait([this](error_code ec) {
                if (!ec) {
                    next();
                }
            });
            return;
        }
        seq_ = st_.next_seq++;
        st_.pace.sent();
        std::string body;
        body.reserve(cfg.size + 96);
        if (cfg.broadcast) {
            body = R"({"broadcast":true,"event":")" + cfg.event + R"(","data":)";
            append_payload(body, realtime_ns(), "*", seq_, cfg.size);
        } else if (!cfg.channel.empty()) {
            body = R"({"channel":")" + cfg.channel + R"(","event":")" + cfg.event + R"(","data":)";
            append_payload(body, realtime_ns(), "*", seq_, cfg.size);
        } else {
            std::string const user = cfg.user_prefix + std::to_string(seq_ % cfg.users);
            body = R"({"user":")" + user + R"(","event":")" + cfg.event + R"(","data":)";
            append_payload(body, realtime_ns(), user, seq_, cfg.size);
        }
        body += '}';
        req_ = {};
        req_.method(http::verb::post);
        req_.target("/api/publish");
        req_.version(11);
        req_.set(http::field::host, cfg.host + ":" + std::to_string(cfg.port));
        req_.set(http::field::content_type, "application/json");
        if (!cfg.api_key.empty()) {
            req_.set(http::field::authorization, "Bearer " + cfg.api_key);
        }
        req_.keep_alive(true);
        req_.body() = std::move(body);
        req_.prepare_payload();
        http::async_write(sock_, req_, [this](error_code ec, std::size_t) {
            if (ec) {
                broken("write: " + ec.message());
                return;
            }
            res_ = {};
            http::async_read(sock_, buf_, res_, [this](error_code e, std::size_t) { on_response(e); });
        });
    }

    void on_response(error_code ec) {
        if (ec) {
            broken("read: " + ec.message());
            return;
        }
        if (res_.result_int() / 100 != 2) {
            st_.failed.push_back(seq_);
            st_.error("HTTP " + std::to_string(res_.result_int()) + ": " + res_.body().substr(0, 200));
        }
        st_.last_done_ns = monotonic_ns();
        if (!res_.keep_alive()) {
            st_.error("server closed the keep-alive connection");
            error_code ignored;
            sock_.close(ignored);
            return;
        }
        next();
    }

    void broken(std::string why) {
        // The request in flight is lost; this connection stops (the others carry on).
        st_.failed.push_back(seq_);
        st_.error(std::move(why));
        error_code ignored;
        sock_.close(ignored);
    }

    shared_state& st_;
    tcp::socket sock_;
    asio::steady_timer timer_;
    tcp::endpoint server_;
    beast::flat_buffer buf_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
    std::uint64_t seq_ = 0;
};
}  // namespace

publish_result publish_http(publisher_config const& cfg, std::atomic<bool> const& abort) {
    publish_result res;
    asio::io_context ioc{1};
    std::string const host = cfg.host == "localhost" ? std::string("127.0.0.1") : cfg.host;
    error_code ec;
    auto const addr = asio::ip::make_address(host, ec);
    if (ec) {
        res.errors.push_back("bad publish host: " + cfg.host);
        return res;
    }
    res.start_ns = monotonic_ns();
    shared_state st{cfg, abort, pacer(cfg.rate, res.start_ns)};
    std::vector<std::unique_ptr<http_conn>> conns;
    for (std::size_t i = 0; i < std::max<std::size_t>(1, cfg.publishers); ++i) {
        conns.push_back(std::make_unique<http_conn>(ioc, st, tcp::endpoint(addr, cfg.port)));
        conns.back()->start();
    }
    ioc.run();
    res.end_ns = st.last_done_ns != 0 ? st.last_done_ns : monotonic_ns();
    res.attempted = st.next_seq;
    res.failed = std::move(st.failed);
    std::sort(res.failed.begin(), res.failed.end());
    res.failed.erase(std::unique(res.failed.begin(), res.failed.end()), res.failed.end());
    res.skipped_slots = st.pace.skipped_slots();
    res.errors = std::move(st.errors);
    if (st.error_texts > res.errors.size()) {
        res.errors.push_back("... " + std::to_string(st.error_texts - res.errors.size()) + " more errors");
    }
    return res;
}
}  // namespace pusher::load
