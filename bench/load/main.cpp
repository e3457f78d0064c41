// pusher-load: the load generator. Opens N Socket.IO connections as U users (K per user) in child processes, waits
// until every CONNECT is acknowledged, publishes M messages at rate R through AMQP or /api/publish, and prints one
// JSON object: connection set-up, delivery (lost, misrouted, duplicates), latency, throughput, and the CPU and
// memory of the server (and broker) by PID, plus its own CPU. Loopback targets only; every phase is bounded.
//
// This file is the coordinator (the parent process). It forks the children before it starts any thread.
#include "child.hpp"
#include "control.hpp"
#include "endpoint.hpp"
#include "error_tally.hpp"
#include "histogram.hpp"
#include "json_out.hpp"
#include "proc_stats.hpp"
#include "publisher.hpp"
#include "receiver.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

namespace pusher::load {
namespace {
namespace json = boost::json;

struct options {
    std::string url = "http://127.0.0.1:8080";
    std::string receiver = "socketio";
    std::uint32_t users = 100;
    std::uint32_t per_user = 1;
    std::string user_prefix = "u";
    std::string jwt_secret;
    std::size_t processes = 0;
    std::size_t threads = 1;
    std::size_t connect_concurrency = 256;
    double connect_timeout = 60;
    unsigned source_addresses = 16;
    std::string publish = "amqp";
    std::string amqp_url = "amqp://guest:guest@127.0.0.1:5672/";
    std::string exchange = "pusher";
    std::string broadcast_exchange = "pusher.broadcast";
    std::string publish_url;
    std::string api_key;
    bool broadcast = false;
    std::string channel;
    std::string channel_exchange = "pusher.channels";
    std::uint64_t messages = 0;
    double rate = 0;
    std::size_t size = 100;
    std::string event = "bench";
    std::size_t publishers = 0;
    double idle_seconds = 0;
    std::uint64_t window = 0;
    double drain_timeout = 10;
    double max_seconds = 600;
    int server_pid = 0;
    int broker_pid = 0;
    std::string label;
    std::string scenario;
    std::size_t bind_window = 1000;
    std::size_t max_per_process = 9000;
};

struct child_state {
    pid_t pid = -1;
    std::unique_ptr<line_channel> ch;
    bool closed = false;
    std::optional<json::object> ready;  // the last "ready" of the current wave
    std::uint64_t delivered = 0;
    std::uint64_t misrouted = 0;
    bool drained = false;
    std::optional<json::object> final;
};

std::uint64_t u64(json::object const& o, char const* key) {
    if (auto const* v = o.if_contains(key); v != nullptr && (v->is_uint64() || v->is_int64())) {
        return v->to_number<std::uint64_t>();
    }
    return 0;
}

double seconds(std::uint64_t ns) {
    return static_cast<double>(ns) / 1e9;
}

double round3(double v) {
    return std::round(v * 1000.0) / 1000.0;
}

void note(std::string const& text) {
    std::fprintf(stderr, "pusher-load: %s\n", text.c_str());
}

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

void raise_nofile() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// Reads whatever the children sent within `timeout_ms` and folds it into their state.
void pump(std::vector<child_state>& children, int timeout_ms) {
    std::vector<line_channel*> open;
    std::vector<std::size_t> index;
    for (std::size_t i = 0; i < children.size(); ++i) {
        if (!children[i].closed) {
            open.push_back(children[i].ch.get());
            index.push_back(i);
        }
    }
    if (open.empty()) {
        return;
    }
    for (auto k : poll_channels(open, timeout_ms)) {
        auto& c = children[index[k]];
        bool closed = false;
        for (auto const& line : c.ch->receive(0, closed)) {
            boost::system::error_code ec;
            auto v = json::parse(line, ec);
            if (ec || !v.is_object()) {
                continue;
            }
            auto& o = v.as_object();
            auto const* type = o.if_contains("type");
            if (type == nullptr || !type->is_string()) {
                continue;
            }
            auto const t = std::string_view(type->as_string());
            if (t == "ready") {
                c.ready = std::move(o);
            } else if (t == "progress") {
                c.delivered = u64(o, "delivered");
                c.misrouted = u64(o, "misrouted");
            } else if (t == "drained") {
                c.drained = true;
            } else if (t == "final") {
                c.final = std::move(o);
            }
        }
        if (closed) {
            c.closed = true;
        }
    }
}

template <class Pred>
bool pump_until(std::vector<child_state>& children, std::uint64_t deadline_ns, Pred done) {
    while (!done()) {
        auto const now = monotonic_ns();
        if (now >= deadline_ns) {
            return false;
        }
        bool any_open = false;
        for (auto const& c : children) {
            any_open = any_open || !c.closed;
        }
        if (!any_open) {
            return done();
        }
        pump(children, static_cast<int>(std::min<std::uint64_t>((deadline_ns - now) / 1'000'000 + 1, 100)));
    }
    return true;
}

void broadcast_cmd(std::vector<child_state>& children, json::object const& cmd) {
    auto const text = json::serialize(cmd);
    for (auto& c : children) {
        if (!c.closed && !c.ch->send(text)) {
            c.closed = true;
        }
    }
}

json::object latency_json(histogram const& h, double scale) {
    auto v = [&](std::uint64_t x) { return round3(static_cast<double>(x) / scale); };
    return json::object{{"count", h.count()},
                        {"p50", v(h.quantile(0.5))},
                        {"p90", v(h.quantile(0.9))},
                        {"p99", v(h.quantile(0.99))},
                        {"p999", v(h.quantile(0.999))},
                        {"max", v(h.max())},
                        {"mean", round3(h.mean() / scale)}};
}

json::value sample_json(std::optional<proc_sample> const& s) {
    if (!s) {
        return nullptr;
    }
    return json::object{{"cpu_us", s->cpu_us}, {"rss_kb", s->rss_kb}};
}

// CPU microseconds between two samples, or nothing when either is missing.
std::optional<double> cpu_delta(std::optional<proc_sample> const& a, std::optional<proc_sample> const& b) {
    if (!a || !b) {
        return std::nullopt;
    }
    return static_cast<double>(b->cpu_us) - static_cast<double>(a->cpu_us);
}

void add_errors(error_tally& tally, json::value const* v) {
    if (v == nullptr || !v->is_array()) {
        return;
    }
    for (auto const& e : v->as_array()) {
        if (e.is_array() && e.as_array().size() == 2 && e.as_array()[0].is_string()) {
            auto const& n = e.as_array()[1];
            tally.add(std::string(e.as_array()[0].as_string()), n.is_number() ? n.to_number<std::uint64_t>() : 1);
        }
    }
}

json::array to_json(error_tally const& tally) {
    json::array a;
    for (auto const& line : tally.lines()) {
        a.emplace_back(line);
    }
    return a;
}

json::value opt(std::optional<double> v) {
    if (!v) {
        return nullptr;
    }
    return round3(*v);
}

int run(options const& o) {
    // ---- validate: loopback targets only
    auto const target = parse_url(o.url);
    bool const drain = o.receiver == "amqp-drain";
    if (!drain && (!target || target->scheme != "http")) {
        note("--url must be http://HOST:PORT");
        return 2;
    }
    if (!drain && !is_loopback_host(target->host)) {
        note("refusing a non-loopback target: " + target->host);
        return 2;
    }
    auto const amqp = parse_url(o.amqp_url);
    if (!amqp || amqp->scheme != "amqp" || !is_loopback_host(amqp->host)) {
        note("--amqp-url must be amqp://...@<loopback host>...");
        return 2;
    }
    auto const pub_target = parse_url(o.publish_url.empty() ? o.url : o.publish_url);
    bool const publishing = o.messages > 0 && o.publish != "none";
    if (publishing && o.publish == "http" && (!pub_target || !is_loopback_host(pub_target->host))) {
        note("--publish-url must be http://<loopback host>:PORT");
        return 2;
    }
    if (drain && (o.per_user != 1 || (publishing && o.publish != "amqp") || o.broadcast || !o.channel.empty())) {
        note("--receiver amqp-drain needs --per-user 1, --publish amqp, no --broadcast or --channel");
        return 2;
    }
    if (!o.channel.empty() && o.broadcast) {
        note("--channel and --broadcast: one or the other");
        return 2;
    }
    // A channel reaches every connection, as a broadcast does: the same expectations and payload ("u" is "*").
    bool const everyone = o.broadcast || !o.channel.empty();
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    // ---- plan: users are dealt to processes (u % P), so a user's K connections share a process
    std::uint64_t const connections = static_cast<std::uint64_t>(o.users) * o.per_user;
    std::size_t const procs =
        drain
            ? 1
            : (o.processes != 0 ? o.processes
                                : std::max<std::size_t>(1, (connections + o.max_per_process - 1) / o.max_per_process));
    receiver_config rc;
    if (target) {
        rc.host = target->host;
        rc.port = target->port;
    }
    rc.source_addresses = o.source_addresses;
    rc.jwt_secret = o.jwt_secret;
    rc.threads = o.threads;
    rc.connect_concurrency = std::max<std::size_t>(1, o.connect_concurrency / procs);
    rc.amqp_url = o.amqp_url;
    rc.exchange = o.exchange;
    rc.bind_window = o.bind_window;
    rc.user_prefix = o.user_prefix;
    rc.event = o.event;
    rc.broadcast = everyone;
    rc.channel = o.channel;
    std::size_t const waves = o.per_user > 1 ? 2 : 1;

    std::vector<child_state> children(procs);
    for (std::size_t c = 0; c < procs; ++c) {
        child_plan plan;
        plan.cfg = rc;
        plan.amqp_drain = drain;
        plan.waves.resize(waves);
        for (std::uint32_t u = static_cast<std::uint32_t>(c); u < o.users; u += static_cast<std::uint32_t>(procs)) {
            plan.waves[0].push_back(u);
        }
        for (std::uint32_t k = 1; k < o.per_user; ++k) {
            for (std::uint32_t u = static_cast<std::uint32_t>(c); u < o.users; u += static_cast<std::uint32_t>(procs)) {
                plan.waves[1].push_back(u);
            }
        }
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            note("socketpair failed");
            return 1;
        }
        std::fflush(nullptr);
        pid_t const pid = fork();
        if (pid < 0) {
            note("fork failed");
            return 1;
        }
        if (pid == 0) {
            ::close(sv[0]);
            for (std::size_t k = 0; k < c; ++k) {
                children[k].ch.reset();  // the coordinator's ends of earlier children
            }
            line_channel ch(sv[1]);
            int const rc_child = child_main(plan, ch);
            std::fflush(nullptr);
            _exit(rc_child);
        }
        ::close(sv[1]);
        children[c].pid = pid;
        children[c].ch = std::make_unique<line_channel>(sv[0]);
    }

    auto const run_start = monotonic_ns();
    auto const hard_deadline = run_start + static_cast<std::uint64_t>(o.max_seconds * 1e9);
    std::uint64_t const self_cpu_start = self_cpu_us();
    auto const server0 = sample_process(o.server_pid);
    auto const broker0 = sample_process(o.broker_pid);
    if (o.server_pid != 0 && !server0) {
        note("cannot read /proc/" + std::to_string(o.server_pid) + " (server stats will be null)");
    }
    json::object out;
    out["label"] = o.label;
    out["scenario"] = o.scenario;
    out["receiver"] = o.receiver;
    out["publish_via"] = publishing ? o.publish : "none";
    out["params"] = json::object{{"users", o.users},
                                 {"per_user", o.per_user},
                                 {"connections", connections},
                                 {"processes", procs},
                                 {"threads_per_process", o.threads},
                                 {"messages", o.messages},
                                 {"rate", o.rate},
                                 {"size", o.size},
                                 {"broadcast", o.broadcast},
                                 {"channel", o.channel},
                                 {"publishers", o.publishers != 0 ? o.publishers : (o.publish == "http" ? 4 : 1)},
                                 {"window", o.window},
                                 {"jwt", !o.jwt_secret.empty()}};
    json::array problems;

    // ---- connection waves
    json::array wave_reports;
    std::uint64_t total_ready = 0;
    std::uint64_t total_failed = 0;
    histogram connect_all;
    auto server_before = server0;
    auto broker_before = broker0;
    std::vector<std::uint64_t> child_cpu_before(children.size(), 0);  // each child's CPU (µs) at its last report
    auto const connect_timeout_ms = static_cast<std::uint64_t>(o.connect_timeout * 1000);
    for (std::size_t w = 1; w <= waves; ++w) {
        for (auto& c : children) {
            c.ready.reset();
        }
        auto const t0 = monotonic_ns();
        broadcast_cmd(children, json::object{{"cmd", "wave"}, {"n", w}, {"timeout_ms", connect_timeout_ms}});
        pump_until(children, std::min<std::uint64_t>(hard_deadline, t0 + (connect_timeout_ms + 20'000) * 1'000'000ull),
                   [&] {
                       for (auto const& c : children) {
                           if (!c.ready && !c.closed) {
                               return false;
                           }
                       }
                       return true;
                   });
        auto const t1 = monotonic_ns();
        auto const server_after = sample_process(o.server_pid);
        auto const broker_after = sample_process(o.broker_pid);
        std::uint64_t loadgen_cpu = 0;  // the client processes' CPU during this wave (µs)
        for (std::size_t i = 0; i < children.size(); ++i) {
            if (children[i].ready) {
                auto const now_cpu = u64(*children[i].ready, "cpu_us");
                loadgen_cpu += now_cpu > child_cpu_before[i] ? now_cpu - child_cpu_before[i] : 0;
                child_cpu_before[i] = now_cpu;
            }
        }
        std::uint64_t ready = 0;
        std::uint64_t failed = 0;
        histogram lat;
        error_tally errors;
        std::uint64_t requested = 0;
        for (auto& c : children) {
            if (!c.ready) {
                problems.emplace_back("a child process did not report wave " + std::to_string(w));
                continue;
            }
            ready += u64(*c.ready, "ready");
            failed += u64(*c.ready, "failed");
            histogram h;
            if (auto const* s = c.ready->if_contains("connect_latency"); s != nullptr && s->is_string()) {
                h.deserialize(s->as_string());
            }
            lat.merge(h);
            add_errors(errors, c.ready->if_contains("errors"));
        }
        requested = w == 1 ? o.users : connections - o.users;
        failed = requested > ready ? requested - ready : 0;
        total_ready += ready;
        total_failed += failed;
        connect_all.merge(lat);
        auto const cpu = cpu_delta(server_before, server_after);
        auto const bcpu = cpu_delta(broker_before, broker_after);
        auto const per_conn = [&](std::optional<double> v) {
            return opt(v && ready > 0 ? std::optional<double>(*v / static_cast<double>(ready)) : std::nullopt);
        };
        json::object wr{{"wave", w},
                        {"kind", w == 1 ? "first connection of each user" : "more connections of bound users"},
                        {"requested", requested},
                        {"ready", ready},
                        {"failed", failed},
                        {"seconds", round3(seconds(t1 - t0))},
                        {"per_second", round3(static_cast<double>(ready) / std::max(1e-9, seconds(t1 - t0)))},
                        {"latency_ms", latency_json(lat, 1e6)},
                        {"server_cpu_us_per_connection", per_conn(cpu)},
                        // Where the rest of the machine went: the broker's CPU (binds) and the load generator's own.
                        {"broker_cpu_us_per_connection", per_conn(bcpu)},
                        {"loadgen_cpu_us_per_connection", per_conn(static_cast<double>(loadgen_cpu))},
                        {"errors", to_json(errors)}};
        note("wave " + std::to_string(w) + ": " + std::to_string(ready) + "/" + std::to_string(requested) +
             " ready in " + num(seconds(t1 - t0)) + " s");
        wave_reports.push_back(std::move(wr));
        server_before = server_after;
        broker_before = broker_after;
    }
    auto const server_connected = server_before;
    json::object connect{{"requested", connections},
                         {"ready", total_ready},
                         {"failed", total_failed},
                         {"latency_ms", latency_json(connect_all, 1e6)},
                         {"waves", wave_reports}};
    if (server0 && server_connected && total_ready > 0) {
        connect["server_rss_kb_before"] = server0->rss_kb;
        connect["server_rss_kb_after"] = server_connected->rss_kb;
        connect["server_rss_bytes_per_connection"] =
            round3((static_cast<double>(server_connected->rss_kb) - static_cast<double>(server0->rss_kb)) * 1024.0 /
                   static_cast<double>(total_ready));
    }
    out["connect"] = std::move(connect);

    // ---- idle
    if (o.idle_seconds > 0) {
        auto const a = sample_process(o.server_pid);
        auto const t0 = monotonic_ns();
        auto const until = std::min(hard_deadline, t0 + static_cast<std::uint64_t>(o.idle_seconds * 1e9));
        pump_until(children, until, [] { return false; });
        auto const b = sample_process(o.server_pid);
        auto const wall = seconds(monotonic_ns() - t0);
        auto const cpu = cpu_delta(a, b);
        out["idle"] =
            json::object{{"seconds", round3(wall)},
                         {"server_cpu_percent", opt(cpu ? std::optional<double>(*cpu / 1e4 / wall) : std::nullopt)},
                         {"server_rss_kb", b ? json::value(b->rss_kb) : json::value(nullptr)}};
        server_before = b;
    }

    // ---- publish and deliver
    auto const server_pre = sample_process(o.server_pid);
    auto const broker_pre = sample_process(o.broker_pid);
    std::uint64_t const self_cpu_pre = self_cpu_us();
    publish_result pres;
    std::uint64_t deliver_end_ns = 0;
    bool complete = true;
    if (publishing) {
        broadcast_cmd(children, json::object{{"cmd", "publish"}});
        publisher_config pc;
        pc.messages = o.messages;
        pc.users = o.users;
        pc.rate = o.rate;
        pc.size = o.size;
        pc.user_prefix = o.user_prefix;
        pc.event = o.event;
        pc.broadcast = o.broadcast;
        pc.channel = o.channel;
        pc.channel_exchange = o.channel_exchange;
        pc.publishers = o.publishers != 0 ? o.publishers : (o.publish == "http" ? 4 : 1);
        pc.deadline_ns = hard_deadline;
        pc.amqp_url = o.amqp_url;
        pc.exchange = o.exchange;
        pc.broadcast_exchange = o.broadcast_exchange;
        if (pub_target) {
            pc.host = pub_target->host;
            pc.port = pub_target->port;
        }
        pc.api_key = o.api_key;
        // Frames one message turns into, to convert the children's delivered frames into delivered messages.
        std::uint64_t const frames_per_message =
            std::max<std::uint64_t>(1, everyone ? total_ready : (total_ready + o.users - 1) / o.users);
        std::atomic<std::uint64_t> delivered_messages{0};
        pc.window = total_ready > 0 ? o.window : 0;  // nobody to wait for: open loop
        pc.delivered = &delivered_messages;
        std::atomic<bool> abort{false};
        std::atomic<bool> pub_done{false};
        std::thread pub_thread([&] {
            pres = o.publish == "http" ? publish_http(pc, abort) : publish_amqp(pc, abort);
            pub_done = true;
        });
        // Keep reading progress while publishing (children would block on a full pipe otherwise).
        pump_until(children, hard_deadline, [&] {
            std::uint64_t frames = 0;
            for (auto const& c : children) {
                frames += c.delivered + c.misrouted;
            }
            delivered_messages = frames / frames_per_message;
            return pub_done.load();
        });
        abort = true;
        pub_thread.join();
        note("published " + std::to_string(pres.attempted - pres.failed.size()) + " of " + std::to_string(o.messages) +
             " in " + num(pres.start_ns != 0 ? seconds(pres.end_ns - pres.start_ns) : 0) + " s");
        json::array failed;
        std::size_t const max_failed_listed = 200'000;
        for (std::size_t i = 0; i < pres.failed.size() && i < max_failed_listed; ++i) {
            failed.push_back(pres.failed[i]);
        }
        if (pres.failed.size() > max_failed_listed) {
            problems.emplace_back("too many failed publishes to account for exactly; lost is an estimate");
        }
        broadcast_cmd(
            children,
            json::object{{"cmd", "published"}, {"count", pres.attempted}, {"users", o.users}, {"failed", failed}});
        // Wait until every child has everything, or until progress stops for drain_timeout.
        std::uint64_t last_total = UINT64_MAX;
        std::uint64_t last_change = monotonic_ns();
        auto const stall_ns = static_cast<std::uint64_t>(o.drain_timeout * 1e9);
        complete = pump_until(children, hard_deadline, [&] {
            std::uint64_t total = 0;
            bool all = true;
            for (auto const& c : children) {
                total += c.delivered + c.misrouted;
                all = all && (c.drained || c.closed);
            }
            auto const now = monotonic_ns();
            if (total != last_total) {
                last_total = total;
                last_change = now;
            }
            return all || now - last_change > stall_ns;
        });
        for (auto const& c : children) {
            complete = complete && c.drained;
        }
        deliver_end_ns = monotonic_ns();
    }
    auto const server_post = sample_process(o.server_pid);
    auto const broker_post = sample_process(o.broker_pid);
    std::uint64_t const self_cpu_post = self_cpu_us();

    // ---- finish: final counts from every child
    broadcast_cmd(children, json::object{{"cmd", "finish"}});
    pump_until(children, monotonic_ns() + 60'000'000'000ull, [&] {
        for (auto const& c : children) {
            if (!c.final && !c.closed) {
                return false;
            }
        }
        return true;
    });
    for (auto& c : children) {
        c.ch.reset();
        int status = 0;
        bool reaped = false;
        for (int i = 0; i < 100 && !reaped; ++i) {
            reaped = waitpid(c.pid, &status, WNOHANG) == c.pid;
            if (!reaped) {
                usleep(50'000);
            }
        }
        if (!reaped) {
            kill(c.pid, SIGKILL);
            waitpid(c.pid, &status, 0);
            problems.emplace_back("a child process had to be killed");
        }
    }

    // ---- merge
    std::uint64_t expected = 0, delivered = 0, lost = 0, duplicates = 0, seq_mismatch = 0, misrouted = 0, malformed = 0,
                  other_events = 0, disconnects = 0, first_recv = 0, last_recv = 0, child_cpu = 0,
                  child_cpu_publish = 0;
    histogram latency;
    error_tally recv_errors;
    for (auto const& c : children) {
        if (!c.final) {
            problems.emplace_back("a child process sent no final counts");
            continue;
        }
        auto const& f = *c.final;
        expected += u64(f, "expected");
        delivered += u64(f, "delivered");
        lost += u64(f, "lost");
        duplicates += u64(f, "duplicates");
        seq_mismatch += u64(f, "seq_mismatch");
        misrouted += u64(f, "misrouted");
        malformed += u64(f, "malformed");
        other_events += u64(f, "other_events");
        disconnects += u64(f, "disconnects");
        child_cpu += u64(f, "cpu_us");
        child_cpu_publish += u64(f, "cpu_us_publish");
        auto const fr = u64(f, "first_recv_ns");
        if (fr != 0 && (first_recv == 0 || fr < first_recv)) {
            first_recv = fr;
        }
        last_recv = std::max(last_recv, u64(f, "last_recv_ns"));
        histogram h;
        if (auto const* s = f.if_contains("latency"); s != nullptr && s->is_string()) {
            h.deserialize(s->as_string());
        }
        latency.merge(h);
        add_errors(recv_errors, f.if_contains("errors"));
    }

    if (publishing) {
        double const pub_s =
            seconds(pres.start_ns != 0 && pres.end_ns > pres.start_ns ? pres.end_ns - pres.start_ns : 0);
        std::uint64_t const sent = pres.attempted - std::min<std::uint64_t>(pres.attempted, pres.failed.size());
        json::array perr;
        for (auto const& e : pres.errors) {
            perr.emplace_back(e);
        }
        out["publish"] = json::object{{"requested", o.messages},
                                      {"sent", sent},
                                      {"failed", pres.failed.size()},
                                      {"seconds", round3(pub_s)},
                                      {"per_second", round3(static_cast<double>(sent) / std::max(1e-9, pub_s))},
                                      {"skipped_slots", pres.skipped_slots},
                                      {"errors", perr}};
        // Delivery throughput: from the first send (realtime of the publish start is not kept; use the receive
        // window plus the publish start offset) to the last receive.
        double const window_s = last_recv > first_recv ? seconds(last_recv - first_recv) : 0;
        double const deliver_s = pres.start_ns != 0 ? seconds(deliver_end_ns - pres.start_ns) : 0;
        out["delivery"] =
            json::object{{"expected", expected},
                         {"delivered", delivered},
                         {"lost", lost},
                         {"duplicates", duplicates},
                         {"seq_mismatch", seq_mismatch},
                         {"misrouted", misrouted},
                         {"malformed", malformed},
                         {"other_events", other_events},
                         {"disconnects", disconnects},
                         {"complete", complete},
                         {"receive_window_seconds", round3(window_s)},
                         {"per_second", round3(window_s > 0 ? static_cast<double>(delivered) / window_s : 0)},
                         {"seconds_until_drained", round3(deliver_s)}};
        out["latency_us"] = latency_json(latency, 1e3);
        json::array curve;
        for (double q : {0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0}) {
            curve.push_back(json::array{q, round3(static_cast<double>(latency.quantile(q)) / 1e3)});
        }
        out["latency_curve_us"] = std::move(curve);
        double const phase_s = seconds(deliver_end_ns - (pres.start_ns != 0 ? pres.start_ns : deliver_end_ns));
        auto const scpu = cpu_delta(server_pre, server_post);
        auto const bcpu = cpu_delta(broker_pre, broker_post);
        out["server"] = json::object{
            {"pid", o.server_pid},
            {"cpu_us_per_message",
             opt(scpu && delivered > 0 ? std::optional<double>(*scpu / static_cast<double>(delivered)) : std::nullopt)},
            {"cpu_percent", opt(scpu && phase_s > 0 ? std::optional<double>(*scpu / 1e4 / phase_s) : std::nullopt)},
            {"start", sample_json(server0)},
            {"end", sample_json(server_post)}};
        if (o.broker_pid != 0) {
            out["broker"] = json::object{
                {"pid", o.broker_pid},
                {"cpu_us_per_message",
                 opt(bcpu && delivered > 0 ? std::optional<double>(*bcpu / static_cast<double>(delivered))
                                           : std::nullopt)},
                {"cpu_percent", opt(bcpu && phase_s > 0 ? std::optional<double>(*bcpu / 1e4 / phase_s) : std::nullopt)},
                {"rss_kb_end", broker_post ? json::value(broker_post->rss_kb) : json::value(nullptr)}};
        }
        double const own_pub = static_cast<double>(child_cpu_publish + (self_cpu_post - self_cpu_pre));
        out["receiver_cpu_us_per_message"] =
            opt(delivered > 0
                    ? std::optional<double>(static_cast<double>(child_cpu_publish) / static_cast<double>(delivered))
                    : std::nullopt);
        out["loadgen_publish_cpu_percent"] =
            opt(phase_s > 0 ? std::optional<double>(own_pub / 1e4 / phase_s) : std::nullopt);
    } else {
        out["server"] =
            json::object{{"pid", o.server_pid}, {"start", sample_json(server0)}, {"end", sample_json(server_post)}};
    }
    (void)broker0;
    out["loadgen"] =
        json::object{{"processes", procs},
                     {"threads_per_process", o.threads},
                     {"cpu_seconds", round3(static_cast<double>(child_cpu + self_cpu_us() - self_cpu_start) / 1e6)},
                     {"wall_seconds", round3(seconds(monotonic_ns() - run_start))}};
    out["receive_errors"] = to_json(recv_errors);
    bool const ok = problems.empty() && total_failed == 0 && lost == 0 && misrouted == 0 && duplicates == 0 &&
                    seq_mismatch == 0 && malformed == 0 && (!publishing || (complete && pres.failed.empty()));
    out["problems"] = problems;
    out["ok"] = ok;
    std::cout << to_json_text(out) << std::endl;
    if (publishing) {
        note(std::string(ok ? "ok" : "NOT ok") + ": delivered " + std::to_string(delivered) + "/" +
             std::to_string(expected) + ", lost " + std::to_string(lost) + ", misrouted " + std::to_string(misrouted) +
             ", latency p50 " + num(static_cast<double>(latency.quantile(0.5)) / 1e3) + " us, p99 " +
             num(static_cast<double>(latency.quantile(0.99)) / 1e3) + " us");
    } else {
        note(std::string(ok ? "ok" : "NOT ok") + ": " + std::to_string(total_ready) + "/" +
             std::to_string(connections) + " connections ready");
    }
    return ok ? 0 : 3;
}
}  // namespace
}  // namespace pusher::load

int main(int argc, char** argv) {
    pusher::load::options o;
    CLI::App app{"pusher-load: Socket.IO load generator for pusher (and any server with the same contract)"};
    app.add_option("--url", o.url, "Socket.IO server, http://HOST:PORT (loopback only)");
    app.add_option("--receiver", o.receiver, "socketio | amqp-drain (bare rabbitmq-c consumer baseline)")
        ->check(CLI::IsMember({"socketio", "amqp-drain"}));
    app.add_option("--users", o.users, "distinct users U")->check(CLI::Range(1u, 10'000'000u));
    app.add_option("--per-user", o.per_user, "connections per user K (N = U*K)")->check(CLI::Range(1u, 1000u));
    app.add_option("--user-prefix", o.user_prefix, "user ids are PREFIX<index>");
    app.add_option("--jwt-secret", o.jwt_secret, "authenticate with HS256 tokens (else dev auth {user})");
    app.add_option("--processes", o.processes, "client processes (0 = one per 9,000 connections)");
    app.add_option("--threads", o.threads, "client threads per process")->check(CLI::Range(1, 64));
    app.add_option("--connect-concurrency", o.connect_concurrency, "connection attempts in flight (all processes)");
    app.add_option("--connect-timeout", o.connect_timeout, "seconds per connection wave");
    app.add_option("--source-addresses", o.source_addresses, "spread over 127.0.1.1.. (0 = kernel's choice)");
    app.add_option("--publish", o.publish, "amqp | http | none")->check(CLI::IsMember({"amqp", "http", "none"}));
    app.add_option("--amqp-url", o.amqp_url, "RabbitMQ (loopback only)");
    app.add_option("--exchange", o.exchange, "direct exchange for per-user messages");
    app.add_option("--broadcast-exchange", o.broadcast_exchange, "fanout exchange for --broadcast over AMQP");
    app.add_option("--publish-url", o.publish_url, "server for POST /api/publish (default: --url)");
    app.add_option("--api-key", o.api_key, "Bearer key for /api/publish");
    app.add_flag("--broadcast", o.broadcast, "every message to every connection");
    app.add_option("--channel", o.channel,
                   "every connection subscribes to this channel (needs a server that allows it, e.g. --dev-auth); "
                   "every message goes to it");
    app.add_option("--channel-exchange", o.channel_exchange, "direct exchange for --channel over AMQP");
    app.add_option("--messages", o.messages, "messages M to publish (0 = connect only)");
    app.add_option("--rate", o.rate, "messages/s (0 = as fast as possible)");
    app.add_option("--size", o.size, "payload bytes");
    app.add_option("--event", o.event, "Socket.IO event name (AMQP type property)");
    app.add_option("--window", o.window,
                   "closed loop: at most this many messages published and not yet delivered everywhere (0 = open)");
    app.add_option("--publishers", o.publishers, "AMQP publisher threads or HTTP connections (0 = 1 / 4)");
    app.add_option("--idle-seconds", o.idle_seconds, "hold the connections idle this long before publishing");
    app.add_option("--drain-timeout", o.drain_timeout, "give up waiting when nothing arrives for this long (s)");
    app.add_option("--max-seconds", o.max_seconds, "hard bound on the whole run (s)");
    app.add_option("--server-pid", o.server_pid, "server process to sample in /proc (CPU, RSS)");
    app.add_option("--broker-pid", o.broker_pid, "broker process to sample in /proc");
    app.add_option("--label", o.label, "free text echoed in the JSON (e.g. pusher, peer)");
    app.add_option("--scenario", o.scenario, "free text echoed in the JSON");
    app.add_option("--bind-window", o.bind_window, "amqp-drain: queue.bind in flight");
    app.add_option("--max-per-process", o.max_per_process, "connections per client process when --processes is 0");
    CLI11_PARSE(app, argc, argv);
    return pusher::load::run(o);
}
