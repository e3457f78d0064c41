// The Socket.IO websocket receiver: N websocket connections over T threads (one io_context each), speaking
// Engine.IO v4 + Socket.IO v5 by hand (open, CONNECT with auth, ping/pong, events). The websocket layer is the
// sans-IO ws_frame.hpp over a raw Asio socket: one read takes whatever the kernel has (up to 64 KiB) and every frame
// in it is handled in place, so a burst of frames costs one syscall, not one composed operation per message.
#include "endpoint.hpp"
#include "error_tally.hpp"
#include "jwt_mint.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "receiver.hpp"
#include "ws_frame.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include "common/aliases.hpp"  // after the Asio headers: it names asio::ip::tcp

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace pusher::load {
namespace {
constexpr std::int64_t token_lifetime_s = 24 * 3600;
constexpr std::size_t initial_read_buffer = 2048;  // grows while reads fill it, up to max_read_buffer
constexpr std::size_t max_read_buffer = 64 * 1024;
constexpr std::size_t max_frame_payload = 1 << 20;
constexpr std::size_t max_response_head = 16 * 1024;

struct thread_ctx;

// ws_connection: one Socket.IO client over a websocket. Owned by its thread_ctx and touched only on that thread;
// its async operations capture `this`, which is safe because connections are destroyed only after the thread's
// io_context has stopped.
class ws_connection {
  public:
    ws_connection(thread_ctx& t, std::uint32_t user_index, unsigned ordinal);
    void start();
    void abort();  // closes with RST (SO_LINGER 0): fast teardown, no TIME_WAIT on the client side

    std::uint32_t user_index() const { return user_index_; }
    bool was_ready() const { return was_ready_; }
    std::uint64_t received() const { return received_; }
    std::uint64_t seq_sum() const { return seq_sum_; }
    bool in_wave() const { return st_ != state::ready && st_ != state::failed && st_ != state::closed; }

    void fail(std::string const& why);

  private:
    enum class state { idle, connecting, handshaking, opening, authenticating, subscribing, ready, failed, closed };

    void on_connect(error_code ec);
    void became_ready();  // CONNECT accepted (and, with a channel, the subscribe acknowledged)
    void read();
    void on_read(error_code ec, std::size_t n);
    bool on_upgrade_response();
    bool parse_frames();
    bool on_frame(ws_frame const& f);
    void handle(std::string_view packet);
    void on_event(std::string_view packet);
    void send(std::string_view text);
    void send_frame(std::uint8_t opcode, std::string_view payload);
    void write_raw(std::string bytes);
    void write_next();
    void lost_connection(std::string const& why);
    bool alive() const { return st_ != state::failed && st_ != state::closed; }

    thread_ctx& t_;
    tcp::socket sock_;
    std::vector<char> rbuf_;
    std::size_t rlen_ = 0;
    std::string fragments_;
    bool in_fragment_ = false;
    std::string key_;
    std::uint32_t mask_;
    std::string user_;
    std::uint32_t user_index_;
    unsigned ordinal_;
    state st_ = state::idle;
    bool was_ready_ = false;
    bool closing_ = false;
    bool writing_ = false;
    std::deque<std::string> outq_;
    std::uint64_t started_ns_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t seq_sum_ = 0;
};

// thread_ctx: one client thread: its io_context, its connections, its counters and histograms. Everything but the
// atomics is touched only on this thread, or by the main thread while this one is known to be idle for it (after a
// wave is done, after the thread has been joined).
struct thread_ctx {
    using guard_type = asio::executor_work_guard<asio::io_context::executor_type>;

    thread_ctx(receiver_config const& c, tcp::endpoint s, std::string host_header, std::vector<asio::ip::address> src)
        : cfg(c), server(std::move(s)), host(std::move(host_header)), sources(std::move(src)) {}

    receiver_config const& cfg;
    tcp::endpoint server;
    std::string host;
    std::vector<asio::ip::address> sources;
    asio::io_context ioc{1};
    std::optional<guard_type> guard{std::in_place, ioc.get_executor()};
    std::thread thread;
    std::vector<std::unique_ptr<ws_connection>> conns;

    // The current wave.
    std::vector<ws_connection*> to_open;
    std::size_t next_open = 0;
    std::size_t in_flight = 0;
    std::size_t wave_pending = 0;
    bool wave_signalled = true;
    std::uint64_t wave_ready = 0;
    std::uint64_t wave_failed = 0;
    std::vector<std::uint32_t> wave_ready_users;
    histogram wave_connect;
    error_tally wave_errors;
    std::function<void()> on_wave_done;

    // Delivery.
    alignas(64) std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> misrouted{0};
    std::uint64_t malformed = 0;
    std::uint64_t other_events = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t first_recv_ns = 0;
    std::uint64_t last_recv_ns = 0;
    histogram latency;
    error_tally errors;

    void open_more() {
        std::size_t const limit = std::max<std::size_t>(1, cfg.connect_concurrency);
        while (in_flight < limit && next_open < to_open.size()) {
            ++in_flight;
            to_open[next_open++]->start();
        }
        signal_if_done();
    }
    void settled(bool ok, std::uint32_t user, std::uint64_t latency_ns) {
        --in_flight;
        --wave_pending;
        if (ok) {
            ++wave_ready;
            wave_ready_users.push_back(user);
            wave_connect.record(latency_ns);
        } else {
            ++wave_failed;
        }
        open_more();
    }
    void signal_if_done() {
        if (wave_pending == 0 && !wave_signalled) {
            wave_signalled = true;
            on_wave_done();
        }
    }
};

ws_connection::ws_connection(thread_ctx& t, std::uint32_t user_index, unsigned ordinal)
    : t_(t),
      sock_(t.ioc),
      mask_(0x9E3779B9u * (ordinal + 1) ^ static_cast<std::uint32_t>(monotonic_ns())),
      user_(t.cfg.user_prefix + std::to_string(user_index)),
      user_index_(user_index),
      ordinal_(ordinal) {}

void ws_connection::start() {
    started_ns_ = monotonic_ns();
    st_ = state::connecting;
    error_code ec;
    sock_.open(t_.server.protocol(), ec);
    if (ec) {
        fail("socket: " + ec.message());
        return;
    }
    if (!t_.sources.empty()) {
        // Bind only the address; the port is chosen at connect time, per destination, so that the ephemeral range
        // is not shared across all source addresses (Linux >= 4.2).
        int one = 1;
        ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sock_.bind(tcp::endpoint(t_.sources[ordinal_ % t_.sources.size()], 0), ec);
        if (ec) {
            fail("bind source address: " + ec.message());
            return;
        }
    }
    sock_.set_option(tcp::no_delay(true), ec);
    sock_.async_connect(t_.server, [this](error_code e) { on_connect(e); });
}

void ws_connection::on_connect(error_code ec) {
    if (st_ != state::connecting) {
        return;
    }
    if (ec) {
        fail("connect: " + ec.message());
        return;
    }
    st_ = state::handshaking;
    key_ = ws_key_from(started_ns_ ^ (std::uint64_t{ordinal_} << 32), std::uint64_t{mask_} * 0x9E3779B97F4A7C15ull);
    write_raw(upgrade_request(t_.host, t_.cfg.path, key_));
    rbuf_.resize(initial_read_buffer);
    read();
}

void ws_connection::read() {
    sock_.async_read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_),
                          [this](error_code ec, std::size_t n) { on_read(ec, n); });
}

void ws_connection::on_read(error_code ec, std::size_t n) {
    if (closing_ || !alive()) {
        return;
    }
    if (ec) {
        if (st_ == state::ready) {
            lost_connection("read: " + ec.message());
        } else {
            fail("read: " + ec.message());
        }
        return;
    }
    bool const filled = rlen_ + n == rbuf_.size();
    rlen_ += n;
    if (st_ == state::handshaking && !on_upgrade_response()) {
        return;
    }
    if (st_ != state::handshaking && !parse_frames()) {
        return;
    }
    // Grow while the kernel has more than the buffer holds (bursts), or when one frame does not fit.
    if ((filled && rbuf_.size() < max_read_buffer) || rlen_ == rbuf_.size()) {
        rbuf_.resize(rbuf_.size() * 2);
    }
    read();
}

bool ws_connection::on_upgrade_response() {
    std::string_view const data(rbuf_.data(), rlen_);
    auto const end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        if (rlen_ >= max_response_head) {
            fail("websocket handshake: response head too large");
            return false;
        }
        return true;  // read more
    }
    if (auto err = check_upgrade_response(data.substr(0, end + 4), key_)) {
        fail("websocket handshake: " + *err);
        return false;
    }
    std::size_t const head = end + 4;
    std::memmove(rbuf_.data(), rbuf_.data() + head, rlen_ - head);
    rlen_ -= head;
    st_ = state::opening;
    return true;
}

bool ws_connection::parse_frames() {
    std::size_t off = 0;
    while (alive()) {
        ws_frame f;
        std::size_t consumed = 0;
        char const* err = nullptr;
        auto const r =
            parse_server_frame(std::string_view(rbuf_.data() + off, rlen_ - off), max_frame_payload, f, consumed, err);
        if (r == ws_parse::need_more) {
            break;
        }
        if (r == ws_parse::error) {
            if (st_ == state::ready) {
                lost_connection(std::string("websocket: ") + err);
            } else {
                fail(std::string("websocket: ") + err);
            }
            return false;
        }
        off += consumed;
        if (!on_frame(f)) {
            return false;
        }
    }
    if (!alive()) {
        return false;
    }
    if (off != 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + off, rlen_ - off);
        rlen_ -= off;
    }
    return true;
}

bool ws_connection::on_frame(ws_frame const& f) {
    switch (f.opcode) {
        case ws_opcode::text:
            if (!f.fin) {
                fragments_.assign(f.payload);
                in_fragment_ = true;
                return true;
            }
            handle(f.payload);
            return alive();
        case ws_opcode::continuation:
            if (!in_fragment_) {
                return true;  // a continuation of a binary message
            }
            fragments_.append(f.payload);
            if (f.fin) {
                in_fragment_ = false;
                handle(fragments_);
                fragments_.clear();
            }
            return alive();
        case ws_opcode::ping:
            send_frame(ws_opcode::pong, f.payload);
            return true;
        case ws_opcode::close:
            if (st_ == state::ready) {
                lost_connection("server sent a websocket close");
            } else {
                fail("server sent a websocket close before CONNECT");
            }
            return false;
        default:
            return true;  // binary, pong
    }
}

void ws_connection::handle(std::string_view packet) {
    switch (classify(packet)) {
        case packet_kind::sio_event:
            on_event(packet);
            return;
        case packet_kind::ping:
            send("3");  // engine.io v4: the server pings, the client answers
            return;
        case packet_kind::open:
            if (st_ == state::opening) {
                st_ = state::authenticating;
                send(t_.cfg.jwt_secret.empty()
                         ? connect_packet_user(user_)
                         : connect_packet_token(
                               mint_hs256(t_.cfg.jwt_secret, user_,
                                          static_cast<std::int64_t>(std::time(nullptr)) + token_lifetime_s)));
            }
            return;
        case packet_kind::sio_connect:
            if (st_ == state::authenticating) {
                if (!t_.cfg.channel.empty()) {
                    // Channel names of the benchmark need no escaping ([A-Za-z0-9:_.-]).
                    st_ = state::subscribing;
                    send(R"(421["subscribe",{"channel":")" + t_.cfg.channel + R"("}])");
                    return;
                }
                became_ready();
            }
            return;
        case packet_kind::sio_ack:
            if (st_ == state::subscribing) {
                if (packet.starts_with(R"(431[{"ok":true)")) {
                    became_ready();
                } else {
                    fail("subscribe refused: " + std::string(packet.substr(0, 120)));
                }
            }
            return;
        case packet_kind::sio_error:
            fail("CONNECT_ERROR " + std::string(packet.substr(2, 120)));
            return;
        case packet_kind::close:
        case packet_kind::sio_disconnect:
            if (st_ == state::ready) {
                lost_connection("server closed a ready connection");
            } else {
                fail("server closed the connection before CONNECT");
            }
            return;
        case packet_kind::noop:
        case packet_kind::other:
            return;
    }
}

void ws_connection::became_ready() {
    st_ = state::ready;
    was_ready_ = true;
    t_.settled(true, user_index_, monotonic_ns() - started_ns_);
}

void ws_connection::on_event(std::string_view packet) {
    auto const now = realtime_ns();
    auto ev = parse_event(packet);
    if (!ev) {
        ++t_.malformed;
        return;
    }
    if (ev->name != t_.cfg.event) {
        ++t_.other_events;
        return;
    }
    auto f = parse_payload(ev->data);
    if (!f) {
        ++t_.malformed;
        return;
    }
    std::string_view const want = t_.cfg.broadcast ? std::string_view("*") : std::string_view(user_);
    if (f->user != want) {
        t_.misrouted.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    ++received_;
    seq_sum_ += f->seq;
    t_.delivered.fetch_add(1, std::memory_order_relaxed);
    t_.latency.record(now > f->t_ns ? now - f->t_ns : 0);
    if (t_.first_recv_ns == 0) {
        t_.first_recv_ns = now;
    }
    t_.last_recv_ns = now;
}

void ws_connection::send(std::string_view text) {
    send_frame(ws_opcode::text, text);
}

void ws_connection::send_frame(std::uint8_t opcode, std::string_view payload) {
    std::string frame;
    frame.reserve(payload.size() + 14);
    mask_ = mask_ * 1664525u + 1013904223u;  // a fresh masking key per frame (RFC 6455 §5.3)
    append_client_frame(frame, opcode, payload, mask_);
    write_raw(std::move(frame));
}

void ws_connection::write_raw(std::string bytes) {
    outq_.push_back(std::move(bytes));
    if (!writing_) {
        write_next();
    }
}

void ws_connection::write_next() {
    writing_ = true;
    asio::async_write(sock_, asio::buffer(outq_.front()), [this](error_code ec, std::size_t) {
        writing_ = false;
        if (ec) {
            return;  // the read side reports the failure
        }
        outq_.pop_front();
        if (!outq_.empty() && !closing_) {
            write_next();
        }
    });
}

void ws_connection::fail(std::string const& why) {
    if (!in_wave()) {
        return;
    }
    bool const started = st_ != state::idle;
    st_ = state::failed;
    t_.wave_errors.add(why);
    abort();
    if (started) {
        t_.settled(false, user_index_, 0);
    } else {
        --t_.wave_pending;
        ++t_.wave_failed;
    }
}

void ws_connection::lost_connection(std::string const& why) {
    st_ = state::closed;
    ++t_.disconnects;
    t_.errors.add(why);
    abort();
}

void ws_connection::abort() {
    closing_ = true;
    if (sock_.is_open()) {
        linger lg{1, 0};
        ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        error_code ec;
        sock_.close(ec);
    }
}

// ws_receiver: the receiver interface over a set of client threads. Its methods run on the child's main thread.
class ws_receiver final : public receiver {
  public:
    explicit ws_receiver(receiver_config const& cfg) : cfg_(cfg) {
        std::string host = cfg_.host == "localhost" ? std::string("127.0.0.1") : cfg_.host;
        tcp::endpoint server(asio::ip::make_address(host), cfg_.port);
        std::vector<asio::ip::address> sources;
        if (server.address().is_v4()) {
            for (unsigned i = 0; i < cfg_.source_addresses; ++i) {
                sources.push_back(asio::ip::make_address(source_address(i)));
            }
        }
        std::string const host_header = cfg_.host + ":" + std::to_string(cfg_.port);
        for (std::size_t i = 0; i < std::max<std::size_t>(1, cfg_.threads); ++i) {
            auto t = std::make_unique<thread_ctx>(cfg_, server, host_header, sources);
            t->on_wave_done = [this] {
                std::lock_guard lock(mu_);
                ++done_;
                cv_.notify_all();
            };
            threads_.push_back(std::move(t));
        }
        for (auto& t : threads_) {
            t->thread = std::thread([ctx = t.get()] { ctx->ioc.run(); });
        }
    }

    ~ws_receiver() override { stop_threads(); }

    wave_result open_wave(std::vector<std::uint32_t> const& users, std::uint64_t deadline_ns) override {
        std::size_t const n_threads = threads_.size();
        std::vector<std::vector<std::pair<std::uint32_t, unsigned>>> per_thread(n_threads);
        for (std::size_t i = 0; i < users.size(); ++i) {
            per_thread[i % n_threads].emplace_back(users[i], ordinal_++);
        }
        {
            std::lock_guard lock(mu_);
            done_ = 0;
        }
        for (std::size_t i = 0; i < n_threads; ++i) {
            auto* t = threads_[i].get();
            asio::post(t->ioc, [t, specs = std::move(per_thread[i])] {
                t->to_open.clear();
                t->next_open = 0;
                t->in_flight = 0;
                t->wave_pending = specs.size();
                t->wave_signalled = false;
                for (auto const& [user, ordinal] : specs) {
                    t->conns.push_back(std::make_unique<ws_connection>(*t, user, ordinal));
                    t->to_open.push_back(t->conns.back().get());
                }
                t->open_more();
            });
        }
        if (!wait_done(deadline_ns)) {
            // Deadline: whatever is still opening counts as failed.
            for (auto& t : threads_) {
                asio::post(t->ioc, [ctx = t.get()] {
                    ctx->next_open = ctx->to_open.size();  // start nothing more
                    for (std::size_t i = 0; i < ctx->to_open.size(); ++i) {
                        auto* c = ctx->to_open[i];
                        if (c->in_wave()) {
                            c->fail("timed out before CONNECT");
                        }
                    }
                    ctx->signal_if_done();
                });
            }
            wait_done(monotonic_ns() + 10'000'000'000ull);
        }
        wave_result r;
        for (auto& t : threads_) {
            r.ready += t->wave_ready;
            r.failed += t->wave_failed;
            r.ready_users.insert(r.ready_users.end(), t->wave_ready_users.begin(), t->wave_ready_users.end());
            r.connect_latency.merge(t->wave_connect);
            errors_.merge(t->wave_errors);
            r.errors.merge(t->wave_errors);
            t->wave_ready = 0;
            t->wave_failed = 0;
            t->wave_ready_users.clear();
            t->wave_connect.clear();
            t->wave_errors = error_tally{};
        }
        return r;
    }

    progress_counts progress() const override {
        progress_counts p;
        for (auto const& t : threads_) {
            p.delivered += t->delivered.load(std::memory_order_relaxed);
            p.misrouted += t->misrouted.load(std::memory_order_relaxed);
        }
        return p;
    }

    final_counts finish(publish_summary const& pub) override {
        // Stop and join the threads, then reset every connection (nothing else touches them any more).
        stop_threads();
        for (auto& t : threads_) {
            for (auto& c : t->conns) {
                c->abort();
            }
        }
        final_counts f;
        expectations const exp(pub, cfg_.broadcast);
        error_tally errors = errors_;
        for (auto& t : threads_) {
            for (auto const& c : t->conns) {
                if (!c->was_ready()) {
                    continue;
                }
                auto const e = exp.for_user(c->user_index());
                f.expected += e.count;
                f.delivered += c->received();
                if (c->received() < e.count) {
                    f.lost += e.count - c->received();
                } else {
                    f.duplicates += c->received() - e.count;
                    if (c->received() == e.count && c->seq_sum() != e.seq_sum) {
                        ++f.seq_mismatch;
                    }
                }
            }
            f.misrouted += t->misrouted.load();
            f.malformed += t->malformed;
            f.other_events += t->other_events;
            f.disconnects += t->disconnects;
            if (t->first_recv_ns != 0 && (f.first_recv_ns == 0 || t->first_recv_ns < f.first_recv_ns)) {
                f.first_recv_ns = t->first_recv_ns;
            }
            f.last_recv_ns = std::max(f.last_recv_ns, t->last_recv_ns);
            f.latency.merge(t->latency);
            errors.merge(t->errors);
        }
        f.errors = errors;
        // Connections must go before their io_context.
        for (auto& t : threads_) {
            t->conns.clear();
        }
        return f;
    }

  private:
    bool wait_done(std::uint64_t deadline_ns) {
        std::unique_lock lock(mu_);
        while (done_ < threads_.size()) {
            auto const now = monotonic_ns();
            if (now >= deadline_ns) {
                return false;
            }
            cv_.wait_for(lock, std::chrono::nanoseconds(std::min<std::uint64_t>(deadline_ns - now, 100'000'000)));
        }
        return true;
    }

    void stop_threads() {
        for (auto& t : threads_) {
            t->guard.reset();
            t->ioc.stop();
        }
        for (auto& t : threads_) {
            if (t->thread.joinable()) {
                t->thread.join();
            }
        }
    }

    receiver_config cfg_;
    std::vector<std::unique_ptr<thread_ctx>> threads_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t done_ = 0;
    unsigned ordinal_ = 0;
    error_tally errors_;
};
}  // namespace

std::unique_ptr<receiver> make_ws_receiver(receiver_config const& cfg) {
    return std::make_unique<ws_receiver>(cfg);
}
}  // namespace pusher::load
