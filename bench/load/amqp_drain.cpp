// The bare-broker baseline: a plain rabbitmq-c consumer that does what a pusher node does minus the websockets.
// It declares its exclusive queue, binds one routing key per user with pipelined queue.bind (a window of them in
// flight: the broker's own bind rate), consumes with auto-ack on one thread, and accounts for deliveries exactly as
// the websocket receiver does (one "connection" per bound user).
#include "amqp_session.hpp"
#include "error_tally.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "receiver.hpp"

#include <amqp_framing.h>

#include <atomic>
#include <charconv>
#include <thread>
#include <unordered_map>

namespace pusher::load {
namespace {
// amqp_drain: owns the AMQP session. open_wave runs on the child's main thread before consuming starts; after that
// the session belongs to the consumer thread until finish() joins it.
class amqp_drain final : public receiver {
  public:
    explicit amqp_drain(receiver_config const& cfg) : cfg_(cfg) {}
    ~amqp_drain() override { stop(); }

    wave_result open_wave(std::vector<std::uint32_t> const& users, std::uint64_t deadline_ns) override {
        wave_result r;
        if (consumer_.joinable()) {
            r.failed = users.size();
            r.errors.add("amqp-drain: one wave only (one binding per user)");
            return r;
        }
        auto const t0 = monotonic_ns();
        if (auto err = setup(); !err.empty()) {
            r.failed = users.size();
            r.errors.add(err);
            return r;
        }
        // Pipelined binds: keep up to bind_window queue.bind in flight; replies come back in order on the channel.
        std::size_t sent = 0;
        std::size_t acked = 0;
        std::size_t const window = std::max<std::size_t>(1, cfg_.bind_window);
        std::vector<std::string> keys;
        keys.reserve(users.size());
        for (auto u : users) {
            keys.push_back(cfg_.user_prefix + std::to_string(u));
        }
        std::string err;
        while (acked < users.size() && err.empty()) {
            while (sent < users.size() && sent - acked < window) {
                amqp_queue_bind_t m{};
                m.queue = amqp_bytes_t{queue_.size(), queue_.data()};
                m.exchange = amqp_cstring_bytes(cfg_.exchange.c_str());
                m.routing_key = amqp_bytes_t{keys[sent].size(), keys[sent].data()};
                m.nowait = 0;
                m.arguments = amqp_empty_table;
                if (int rc = amqp_send_method(session_.get(), 1, AMQP_QUEUE_BIND_METHOD, &m); rc != AMQP_STATUS_OK) {
                    err = std::string("amqp queue.bind send: ") + amqp_error_string2(rc);
                    break;
                }
                ++sent;
            }
            if (!err.empty()) {
                break;
            }
            auto const now = monotonic_ns();
            if (now >= deadline_ns) {
                err = "timed out waiting for queue.bind-ok";
                break;
            }
            amqp_maybe_release_buffers(session_.get());
            amqp_frame_t frame;
            timeval tv{};
            auto const left_us = (deadline_ns - now) / 1000;
            tv.tv_sec = static_cast<time_t>(left_us / 1'000'000);
            tv.tv_usec = static_cast<suseconds_t>(left_us % 1'000'000);
            int const rc = amqp_simple_wait_frame_noblock(session_.get(), &frame, &tv);
            if (rc != AMQP_STATUS_OK) {
                err = std::string("amqp waiting for queue.bind-ok: ") + amqp_error_string2(rc);
                break;
            }
            if (frame.frame_type != AMQP_FRAME_METHOD) {
                continue;
            }
            if (frame.payload.method.id == AMQP_QUEUE_BIND_OK_METHOD) {
                r.connect_latency.record(monotonic_ns() - t0);
                r.ready_users.push_back(users[acked]);
                ++acked;
            } else if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                       frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
                err = "amqp: broker closed the channel during queue.bind";
            }
        }
        r.ready = acked;
        r.failed = users.size() - acked;
        if (!err.empty()) {
            r.errors.add(err);
            return r;
        }
        // Consume with auto-ack, then hand the session to the consumer thread.
        std::uint32_t max_user = 0;
        for (auto u : users) {
            max_user = std::max(max_user, u);
        }
        slots_.assign(static_cast<std::size_t>(max_user) + 1, slot{});
        for (auto u : users) {
            slots_[u].bound = true;
        }
        amqp_basic_consume(session_.get(), 1, amqp_bytes_t{queue_.size(), queue_.data()}, amqp_empty_bytes, 0, 1, 0,
                           amqp_empty_table);
        if (auto e = amqp_session::describe(amqp_get_rpc_reply(session_.get()), "amqp basic.consume"); !e.empty()) {
            r.errors.add(e);
            r.failed += r.ready;
            r.ready = 0;
            r.ready_users.clear();
            return r;
        }
        consumer_ = std::thread([this] { consume(); });
        return r;
    }

    progress_counts progress() const override {
        return {delivered_.load(std::memory_order_relaxed), misrouted_.load(std::memory_order_relaxed)};
    }

    final_counts finish(publish_summary const& pub) override {
        stop();
        final_counts f;
        expectations const exp(pub, false);
        for (std::size_t u = 0; u < slots_.size(); ++u) {
            auto const& s = slots_[u];
            if (!s.bound) {
                continue;
            }
            auto const e = exp.for_user(u);
            f.expected += e.count;
            f.delivered += s.received;
            if (s.received < e.count) {
                f.lost += e.count - s.received;
            } else {
                f.duplicates += s.received - e.count;
                if (s.received == e.count && s.seq_sum != e.seq_sum) {
                    ++f.seq_mismatch;
                }
            }
        }
        f.misrouted = misrouted_.load();
        f.malformed = malformed_;
        f.first_recv_ns = first_recv_ns_;
        f.last_recv_ns = last_recv_ns_;
        f.latency = latency_;
        f.errors = errors_;
        session_.close();
        return f;
    }

  private:
    struct slot {
        bool bound = false;
        std::uint64_t received = 0;
        std::uint64_t seq_sum = 0;
    };

    std::string setup() {
        if (auto err = session_.open(cfg_.amqp_url); !err.empty()) {
            return err;
        }
        if (auto err = session_.declare_exchange(cfg_.exchange, "direct"); !err.empty()) {
            return err;
        }
        auto* ok = amqp_queue_declare(session_.get(), 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        if (auto err = amqp_session::describe(amqp_get_rpc_reply(session_.get()), "amqp queue.declare"); !err.empty()) {
            return err;
        }
        queue_.assign(static_cast<char const*>(ok->queue.bytes), ok->queue.len);
        return {};
    }

    void consume() {
        auto* conn = session_.get();
        while (!stopping_.load(std::memory_order_relaxed)) {
            amqp_maybe_release_buffers(conn);
            amqp_envelope_t env;
            timeval tv{0, 100'000};
            auto const r = amqp_consume_message(conn, &env, &tv, 0);
            if (r.reply_type == AMQP_RESPONSE_NORMAL) {
                on_message(env);
                amqp_destroy_envelope(&env);
                continue;
            }
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
                continue;
            }
            if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
                amqp_frame_t frame;
                if (amqp_simple_wait_frame(conn, &frame) == AMQP_STATUS_OK && frame.frame_type == AMQP_FRAME_METHOD &&
                    (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                     frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
                    errors_.add("amqp: broker closed the consumer's channel");
                    return;
                }
                continue;
            }
            errors_.add(amqp_session::describe(r, "amqp consume"));
            return;
        }
    }

    void on_message(amqp_envelope_t const& env) {
        auto const now = realtime_ns();
        std::string_view const body(static_cast<char const*>(env.message.body.bytes), env.message.body.len);
        std::string_view const key(static_cast<char const*>(env.routing_key.bytes), env.routing_key.len);
        auto f = parse_payload(body);
        if (!f) {
            ++malformed_;
            return;
        }
        std::string_view const prefix = cfg_.user_prefix;
        std::uint32_t user = 0;
        bool known = key == f->user && key.substr(0, prefix.size()) == prefix;
        if (known) {
            auto const digits = key.substr(prefix.size());
            auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), user);
            known =
                ec == std::errc{} && p == digits.data() + digits.size() && user < slots_.size() && slots_[user].bound;
        }
        if (!known) {
            misrouted_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        auto& s = slots_[user];
        ++s.received;
        s.seq_sum += f->seq;
        delivered_.fetch_add(1, std::memory_order_relaxed);
        latency_.record(now > f->t_ns ? now - f->t_ns : 0);
        if (first_recv_ns_ == 0) {
            first_recv_ns_ = now;
        }
        last_recv_ns_ = now;
    }

    void stop() {
        stopping_ = true;
        if (consumer_.joinable()) {
            consumer_.join();
        }
    }

    receiver_config cfg_;
    amqp_session session_;
    std::string queue_;
    std::thread consumer_;
    std::atomic<bool> stopping_{false};
    std::vector<slot> slots_;
    std::atomic<std::uint64_t> delivered_{0};
    std::atomic<std::uint64_t> misrouted_{0};
    std::uint64_t malformed_ = 0;
    std::uint64_t first_recv_ns_ = 0;
    std::uint64_t last_recv_ns_ = 0;
    histogram latency_;
    error_tally errors_;
};
}  // namespace

std::unique_ptr<receiver> make_amqp_drain(receiver_config const& cfg) {
    return std::make_unique<amqp_drain>(cfg);
}
}  // namespace pusher::load
