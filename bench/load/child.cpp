#include "child.hpp"

#include "proc_stats.hpp"

#include <boost/json.hpp>

#include <optional>

namespace pusher::load {
namespace {
std::uint64_t get_u64(boost::json::object const& o, char const* key) {
    if (auto const* v = o.if_contains(key)) {
        if (v->is_uint64()) {
            return v->as_uint64();
        }
        if (v->is_int64() && v->as_int64() >= 0) {
            return static_cast<std::uint64_t>(v->as_int64());
        }
    }
    return 0;
}

// Errors travel as [[text, count], ...] so that the coordinator can add up the same error across processes.
boost::json::array to_json(error_tally const& errors) {
    boost::json::array a;
    for (auto const& [text, n] : errors.counts()) {
        a.emplace_back(boost::json::array{boost::json::value(text), boost::json::value(n)});
    }
    return a;
}
}  // namespace

int child_main(child_plan const& plan, line_channel& ch) {
    auto rx = plan.amqp_drain ? make_amqp_drain(plan.cfg) : make_ws_receiver(plan.cfg);
    std::vector<std::uint32_t> ready_users;
    publish_summary pub;
    bool reporting = false;
    std::optional<std::uint64_t> expected_total;
    bool drained_sent = false;
    progress_counts last_progress{};
    std::uint64_t cpu_at_publish = 0;

    while (true) {
        bool closed = false;
        // While messages flow, progress goes to the coordinator every millisecond: the closed loop (--window)
        // waits on it, so a coarser tick would cap the publish rate (10 in flight per 20 ms = 500 messages/s).
        auto lines = ch.receive(reporting ? 1 : 1000, closed);
        for (auto const& line : lines) {
            boost::system::error_code ec;
            auto v = boost::json::parse(line, ec);
            if (ec || !v.is_object()) {
                continue;
            }
            auto const& o = v.as_object();
            auto const* cmd = o.if_contains("cmd");
            if (cmd == nullptr || !cmd->is_string()) {
                continue;
            }
            auto const name = std::string_view(cmd->as_string());
            if (name == "wave") {
                auto const n = get_u64(o, "n");
                auto const timeout_ms = get_u64(o, "timeout_ms");
                boost::json::object out{{"type", "ready"}, {"wave", n}};
                if (n >= 1 && n <= plan.waves.size()) {
                    auto r = rx->open_wave(plan.waves[n - 1], monotonic_ns() + timeout_ms * 1'000'000ull);
                    ready_users.insert(ready_users.end(), r.ready_users.begin(), r.ready_users.end());
                    out["ready"] = r.ready;
                    out["failed"] = r.failed;
                    out["errors"] = to_json(r.errors);
                    out["connect_latency"] = r.connect_latency.serialize();
                } else {
                    out["ready"] = 0;
                    out["failed"] = 0;
                }
                out["cpu_us"] = self_cpu_us();
                ch.send(boost::json::serialize(out));
            } else if (name == "publish") {
                reporting = true;
                cpu_at_publish = self_cpu_us();
            } else if (name == "published") {
                pub.count = get_u64(o, "count");
                pub.users = std::max<std::uint64_t>(1, get_u64(o, "users"));
                pub.failed.clear();
                if (auto const* f = o.if_contains("failed"); f != nullptr && f->is_array()) {
                    for (auto const& x : f->as_array()) {
                        if (x.is_uint64() || x.is_int64()) {
                            pub.failed.push_back(x.to_number<std::uint64_t>());
                        }
                    }
                }
                expectations const exp(pub, plan.cfg.broadcast);
                std::uint64_t total = 0;
                for (auto u : ready_users) {
                    total += exp.for_user(u).count;
                }
                expected_total = total;
            } else if (name == "finish") {
                auto const cpu_before_finish = self_cpu_us();
                auto f = rx->finish(pub);
                boost::json::object out{
                    {"type", "final"},
                    {"expected", f.expected},
                    {"delivered", f.delivered},
                    {"lost", f.lost},
                    {"duplicates", f.duplicates},
                    {"seq_mismatch", f.seq_mismatch},
                    {"misrouted", f.misrouted},
                    {"malformed", f.malformed},
                    {"other_events", f.other_events},
                    {"disconnects", f.disconnects},
                    {"first_recv_ns", f.first_recv_ns},
                    {"last_recv_ns", f.last_recv_ns},
                    {"latency", f.latency.serialize()},
                    {"errors", to_json(f.errors)},
                    {"cpu_us", cpu_before_finish},
                    {"cpu_us_publish", reporting ? cpu_before_finish - cpu_at_publish : 0},
                };
                ch.send(boost::json::serialize(out));
                return 0;
            }
        }
        if (closed) {
            rx->finish(pub);
            return 1;
        }
        if (reporting) {
            auto const p = rx->progress();
            if (p.delivered != last_progress.delivered || p.misrouted != last_progress.misrouted) {
                last_progress = p;  // a line only when something changed
                ch.send(boost::json::serialize(
                    boost::json::object{{"type", "progress"}, {"delivered", p.delivered}, {"misrouted", p.misrouted}}));
            }
            if (expected_total && !drained_sent && p.delivered + p.misrouted >= *expected_total) {
                drained_sent = true;
                ch.send(R"({"type":"drained"})");
            }
        }
    }
}
}  // namespace pusher::load
