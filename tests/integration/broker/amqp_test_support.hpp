#pragma once
// Test support for the broker integration tests: the node's address from the environment (set by
// scripts/rabbitmq-test-node.sh), a raw rabbitmq-c publisher independent of the code under test (confirm mode,
// `mandatory` so an unroutable message comes back as basic.return), rabbitmqctl, and a sink that records.
#include "broker/broker.hpp"
#include "support/wait.hpp"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pusher::broker::test {
using namespace std::chrono_literals;

// Creates spdlog's registry on the main thread, before any broker thread logs: its lazy creation inside the
// (uninstrumented) shared library is otherwise reported by ThreadSanitizer as a race between the first loggers.
inline spdlog::logger* const logger_ready = spdlog::default_logger_raw();

inline std::string env(char const* name) {
    char const* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
}
inline std::string amqp_url() {
    return env("PUSHER_TEST_AMQP_URL");
}
inline std::string rabbitmqctl() {
    auto c = env("PUSHER_TEST_RABBITMQCTL");
    return c.empty() ? env("PUSHER_TEST_RABBITMQ_CTL") : c;
}

// Under `make test` (scripts/test.sh exports PUSHER_REQUIRE_AMQP=1) a missing RabbitMQ node fails the test: a node
// that did not start must not turn every AMQP test into a skip and the run green. Elsewhere it is a skip.
inline bool amqp_required() {
    return env("PUSHER_REQUIRE_AMQP") == "1";
}
#define PUSHER_SKIP_UNLESS(condition, why)                             \
    do {                                                               \
        if (!(condition)) {                                            \
            if (::pusher::broker::test::amqp_required()) {             \
                GTEST_FAIL() << why << " (and PUSHER_REQUIRE_AMQP=1)"; \
            }                                                          \
            GTEST_SKIP() << why;                                       \
        }                                                              \
    } while (0)

#define PUSHER_REQUIRE_RABBITMQ()                                                                                     \
    PUSHER_SKIP_UNLESS(!::pusher::broker::test::amqp_url().empty() && !::pusher::broker::test::rabbitmqctl().empty(), \
                       "PUSHER_TEST_AMQP_URL / PUSHER_TEST_RABBITMQCTL not set: run "                                 \
                       "eval \"$(scripts/rabbitmq-test-node.sh start)\" first (scripts/test.sh does)")

// Names unique to this process and call, so tests never see each other's exchanges.
inline std::string unique_name(std::string const& what) {
    static int n = 0;
    return "pusher.test." + std::to_string(::getpid()) + "." + std::to_string(++n) + "." + what;
}

// Runs a shell command; returns the exit status and the output (stdout and stderr), trailing newlines removed.
inline std::pair<int, std::string> ctl_shell(std::string const& command) {
    std::string cmd = command + " 2>&1";
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) {
        return {-1, "popen failed"};
    }
    std::string out;
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, p.get())) {
        out.append(buf, n);
    }
    int const status = ::pclose(p.release());
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs rabbitmqctl against the test node.
inline std::pair<int, std::string> ctl(std::string const& args) {
    return ctl_shell(rabbitmqctl() + " " + args);
}

// tests/support/wait.hpp's wait_until, with the longer deadline a broker round trip may need.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
    return ::pusher::test::wait_until(pred, timeout);
}

struct received {
    std::string user, event, payload, id;
    bool broadcast = false;
    bool json = true;
    std::optional<std::int64_t> ts;
};

class recording_sink : public sink {
  public:
    void on_message(message const& m) override {
        std::lock_guard lock(mutex_);
        got_.push_back({std::string(m.user), std::string(m.event), std::string(m.payload), std::string(m.message_id),
                        m.broadcast, m.content_is_json, m.timestamp_ms});
        cv_.notify_all();
    }
    std::vector<received> wait_for(std::size_t n, std::chrono::milliseconds timeout = 10s) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
        return got_;
    }
    std::vector<received> snapshot() {
        std::lock_guard lock(mutex_);
        return got_;
    }
    void clear() {
        std::lock_guard lock(mutex_);
        got_.clear();
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<received> got_;
};

// Calls f(done) and waits for done's error code (a failure if it does not come in time).
template <class F>
boost::system::error_code call_and_wait(F&& f, std::chrono::milliseconds timeout = 15s) {
    auto p = std::make_shared<std::promise<boost::system::error_code>>();
    f([p](boost::system::error_code ec) { p->set_value(ec); });
    auto fut = p->get_future();
    if (fut.wait_for(timeout) != std::future_status::ready) {
        ADD_FAILURE() << "done was not called within " << timeout.count() << " ms";
        return make_error_code(boost::system::errc::timed_out);
    }
    return fut.get();
}

// Message properties for raw_client::publish.
struct raw_props {
    std::optional<std::string> type;
    std::optional<std::string> content_type = std::string("application/json");
    std::optional<std::string> message_id;
    std::optional<std::uint64_t> timestamp;    // the AMQP property
    std::optional<std::int64_t> timestamp_ms;  // the header
};

// A plain rabbitmq-c client in confirm mode: publishes one message at a time and waits for its confirm, telling
// whether the broker routed it (mandatory: an unroutable message comes back as basic.return before the ack).
class raw_client {
  public:
    using props = raw_props;
    enum class outcome { routed, returned, failed };

    explicit raw_client(std::string const& url) {
        std::vector<char> text(url.begin(), url.end());
        text.push_back('\0');
        amqp_connection_info ci{};
        if (amqp_parse_url(text.data(), &ci) != AMQP_STATUS_OK) {
            throw std::runtime_error("bad url");
        }
        conn_ = amqp_new_connection();
        auto* sock = amqp_tcp_socket_new(conn_);
        if (amqp_socket_open(sock, ci.host, ci.port) != AMQP_STATUS_OK) {
            throw std::runtime_error("raw_client: cannot connect");
        }
        char const* vhost = (ci.vhost == nullptr || ci.vhost[0] == '\0') ? "/" : ci.vhost;
        auto r = amqp_login(conn_, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            throw std::runtime_error("raw_client: login failed");
        }
        amqp_channel_open(conn_, 1);
        check("channel.open");
        amqp_confirm_select(conn_, 1);
        check("confirm.select");
    }
    ~raw_client() {
        amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conn_);
    }
    raw_client(raw_client const&) = delete;
    raw_client& operator=(raw_client const&) = delete;

    void declare_exchange(std::string const& name, char const* type) {
        amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type), 0, 1, 0, 0,
                              amqp_empty_table);
        check("exchange.declare");
    }
    void delete_exchange(std::string const& name) {
        amqp_exchange_delete(conn_, 1, amqp_cstring_bytes(name.c_str()), 0);
        check("exchange.delete");
    }

    // exchange.declare with alternate-exchange = `ae`.
    void declare_exchange_with_ae(std::string const& name, char const* type, std::string const& ae) {
        amqp_table_entry_t e;
        e.key = amqp_cstring_bytes("alternate-exchange");
        e.value.kind = AMQP_FIELD_KIND_UTF8;
        e.value.value.bytes = amqp_cstring_bytes(ae.c_str());
        amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type), 0, 1, 0, 0,
                              amqp_table_t{1, &e});
        check("exchange.declare");
    }
    // A fresh server-named queue (auto-delete, not exclusive: basic.get from this connection) bound to `exchange`.
    std::string bind_new_queue(std::string const& exchange, std::string const& key = "") {
        auto* ok = amqp_queue_declare(conn_, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        check("queue.declare");
        std::string q(static_cast<char const*>(ok->queue.bytes), ok->queue.len);
        amqp_queue_bind(conn_, 1, amqp_cstring_bytes(q.c_str()), amqp_cstring_bytes(exchange.c_str()),
                        amqp_cstring_bytes(key.c_str()), amqp_empty_table);
        check("queue.bind");
        return q;
    }

    // One message taken with basic.get, its properties as text.
    struct got_message {
        std::string exchange, routing_key, type, body, message_id, content_type, reason;
        bool has_reason = false;
        std::optional<std::int64_t> timestamp_ms;
        std::uint64_t timestamp = 0;
        std::uint8_t delivery_mode = 0;
    };
    // basic.get until a message comes or `timeout` passes (must not run between publish and its confirm).
    std::optional<got_message> get(std::string const& queue, std::chrono::milliseconds timeout = 10s) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            amqp_maybe_release_buffers(conn_);
            auto r = amqp_basic_get(conn_, 1, amqp_cstring_bytes(queue.c_str()), /*no_ack*/ 1);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                throw std::runtime_error("raw_client: basic.get failed");
            }
            if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
                auto const* ok = static_cast<amqp_basic_get_ok_t const*>(r.reply.decoded);
                got_message g;
                g.exchange = text(ok->exchange);
                g.routing_key = text(ok->routing_key);
                amqp_message_t m;
                if (amqp_read_message(conn_, 1, &m, 0).reply_type != AMQP_RESPONSE_NORMAL) {
                    throw std::runtime_error("raw_client: reading a message failed");
                }
                auto const& p = m.properties;
                g.body = text(m.body);
                if (p._flags & AMQP_BASIC_TYPE_FLAG)
                    g.type = text(p.type);
                if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
                    g.message_id = text(p.message_id);
                if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
                    g.content_type = text(p.content_type);
                if (p._flags & AMQP_BASIC_TIMESTAMP_FLAG)
                    g.timestamp = p.timestamp;
                if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
                    g.delivery_mode = p.delivery_mode;
                if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
                    for (int i = 0; i < p.headers.num_entries; ++i) {
                        auto const& e = p.headers.entries[i];
                        if (text(e.key) == "x-pusher-reason" && e.value.kind == AMQP_FIELD_KIND_UTF8) {
                            g.reason = text(e.value.value.bytes);
                            g.has_reason = true;
                        } else if (text(e.key) == "timestamp_ms" && e.value.kind == AMQP_FIELD_KIND_I64) {
                            g.timestamp_ms = e.value.value.i64;
                        }
                    }
                }
                amqp_destroy_message(&m);
                return g;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(20ms);
        }
    }

    // Publishes with `mandatory` and waits for this message's confirm.
    outcome publish(std::string const& exchange, std::string const& key, std::string const& body, props const& p = {}) {
        if (!send(exchange, key, body, p, true)) {
            return outcome::failed;
        }
        std::uint64_t const mine = tag_;
        bool returned = false;
        for (;;) {
            amqp_maybe_release_buffers(conn_);
            amqp_frame_t f;
            timeval tv{10, 0};
            if (amqp_simple_wait_frame_noblock(conn_, &f, &tv) != AMQP_STATUS_OK) {
                return outcome::failed;
            }
            if (f.frame_type != AMQP_FRAME_METHOD) {
                continue;
            }
            switch (f.payload.method.id) {
                case AMQP_BASIC_RETURN_METHOD: {  // precedes the ack of the same message
                    amqp_message_t m;
                    amqp_read_message(conn_, f.channel, &m, 0);
                    amqp_destroy_message(&m);
                    returned = true;
                    break;
                }
                case AMQP_BASIC_ACK_METHOD: {
                    auto const* ack = static_cast<amqp_basic_ack_t const*>(f.payload.method.decoded);
                    if (ack->delivery_tag >= mine) {
                        return returned ? outcome::returned : outcome::routed;
                    }
                    break;  // an earlier publish_no_wait's confirm
                }
                default:
                    return outcome::failed;
            }
        }
    }

    // Publishes (not mandatory) without waiting; a later publish() collects the confirms.
    bool publish_no_wait(std::string const& exchange, std::string const& key, std::string const& body) {
        return send(exchange, key, body, {}, false);
    }

  private:
    bool send(std::string const& exchange, std::string const& key, std::string const& body, props const& p,
              bool mandatory) {
        amqp_basic_properties_t bp{};
        amqp_table_entry_t header;
        if (p.type) {
            bp._flags |= AMQP_BASIC_TYPE_FLAG;
            bp.type = amqp_cstring_bytes(p.type->c_str());
        }
        if (p.content_type) {
            bp._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
            bp.content_type = amqp_cstring_bytes(p.content_type->c_str());
        }
        if (p.message_id) {
            bp._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
            bp.message_id = amqp_cstring_bytes(p.message_id->c_str());
        }
        if (p.timestamp) {
            bp._flags |= AMQP_BASIC_TIMESTAMP_FLAG;
            bp.timestamp = *p.timestamp;
        }
        if (p.timestamp_ms) {
            header.key = amqp_cstring_bytes("timestamp_ms");
            header.value.kind = AMQP_FIELD_KIND_I64;
            header.value.value.i64 = *p.timestamp_ms;
            bp._flags |= AMQP_BASIC_HEADERS_FLAG;
            bp.headers = amqp_table_t{1, &header};
        }
        amqp_bytes_t b{body.size(), const_cast<char*>(body.data())};
        if (amqp_basic_publish(conn_, 1, amqp_cstring_bytes(exchange.c_str()), amqp_cstring_bytes(key.c_str()),
                               mandatory ? 1 : 0, 0, &bp, b) != AMQP_STATUS_OK) {
            return false;
        }
        ++tag_;
        return true;
    }

    static std::string text(amqp_bytes_t b) {
        return b.len == 0 ? std::string() : std::string(static_cast<char const*>(b.bytes), b.len);
    }
    void check(char const* what) {
        if (amqp_get_rpc_reply(conn_).reply_type != AMQP_RESPONSE_NORMAL) {
            throw std::runtime_error(std::string("raw_client: ") + what + " failed");
        }
    }
    amqp_connection_state_t conn_ = nullptr;
    std::uint64_t tag_ = 0;  // delivery tag of the last publish (confirm mode counts from 1)
};
}  // namespace pusher::broker::test
