// AMQP publishing: `publishers` threads, one rabbitmq-c connection each (rabbitmq-c is not thread-safe); thread j
// sends messages j, j + P, j + 2P, ... at rate/P with its own pacer. basic.publish to the direct exchange with
// routing key = user (or to the fanout exchange), `type` = event, content_type application/json and header
// `timestamp_ms` (docs/amqp-contract.md). No publisher confirms: the closing channel.close round trip tells
// that the broker has taken everything sent before it.
#include "amqp_session.hpp"
#include "pacer.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "publisher.hpp"

#include <amqp_framing.h>
#include <time.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace pusher::load {
namespace {
struct thread_outcome {
    std::uint64_t next_seq = 0;  // the first sequence number of this thread that was not sent
    bool failed_at_next = false;
    std::uint64_t skipped = 0;
    std::uint64_t start_ns = 0;
    std::string error;
};

void sleep_ns(std::uint64_t ns) {
    timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
    nanosleep(&ts, nullptr);
}

thread_outcome publish_thread(publisher_config const& cfg, std::size_t index, std::atomic<bool> const& abort,
                              std::atomic<bool>& stop_all) {
    thread_outcome out;
    out.next_seq = index;
    std::size_t const stride = std::max<std::size_t>(1, cfg.publishers);
    amqp_session s;
    if (out.error = s.open(cfg.amqp_url); !out.error.empty()) {
        stop_all = true;
        return out;
    }
    bool const channel = !cfg.channel.empty();
    std::string const& exchange =
        cfg.broadcast ? cfg.broadcast_exchange : (channel ? cfg.channel_exchange : cfg.exchange);
    if (out.error = s.declare_exchange(exchange, cfg.broadcast ? "fanout" : "direct"); !out.error.empty()) {
        stop_all = true;
        return out;
    }
    amqp_basic_properties_t props{};
    amqp_table_entry_t header{};
    header.key = amqp_cstring_bytes("timestamp_ms");
    header.value.kind = AMQP_FIELD_KIND_I64;
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.type = amqp_cstring_bytes(cfg.event.c_str());
    props.headers.num_entries = 1;
    props.headers.entries = &header;

    std::string body;
    std::string key;
    pacer pace(cfg.rate / static_cast<double>(stride), monotonic_ns());
    out.start_ns = monotonic_ns();
    auto* conn = s.get();
    for (std::uint64_t seq = index; seq < cfg.messages; seq += stride) {
        out.next_seq = seq;
        if (abort.load(std::memory_order_relaxed) || stop_all.load(std::memory_order_relaxed)) {
            break;
        }
        while (!window_open(cfg, seq) && !abort.load(std::memory_order_relaxed)) {
            if (cfg.deadline_ns != 0 && monotonic_ns() > cfg.deadline_ns) {
                stop_all = true;
                break;
            }
            sleep_ns(100'000);
        }
        while (true) {
            auto const now = monotonic_ns();
            auto const wait = pace.wait_ns(now);
            if (wait == 0) {
                break;
            }
            if (cfg.deadline_ns != 0 && now + wait > cfg.deadline_ns) {
                stop_all = true;
                break;
            }
            sleep_ns(wait);
        }
        if (stop_all.load(std::memory_order_relaxed)) {
            break;
        }
        key =
            cfg.broadcast ? std::string() : (channel ? cfg.channel : cfg.user_prefix + std::to_string(seq % cfg.users));
        body.clear();
        auto const t = realtime_ns();
        append_payload(body, t, cfg.broadcast || channel ? "*" : key, seq, cfg.size);
        header.value.value.i64 = static_cast<std::int64_t>(t / 1'000'000);
        int const rc =
            amqp_basic_publish(conn, 1, amqp_cstring_bytes(exchange.c_str()), amqp_bytes_t{key.size(), key.data()}, 0,
                               0, &props, amqp_bytes_t{body.size(), body.data()});
        if (rc != AMQP_STATUS_OK) {
            out.error = std::string("amqp basic.publish: ") + amqp_error_string2(rc);
            out.failed_at_next = true;
            stop_all = true;
            break;
        }
        pace.sent();
        out.next_seq = seq + stride;
    }
    out.skipped = pace.skipped_slots();
    if (auto err = s.close(); !err.empty() && out.error.empty()) {
        // The broker did not confirm the channel close: what was sent may not all have been routed.
        out.error = err;
    }
    return out;
}
}  // namespace

publish_result publish_amqp(publisher_config const& cfg, std::atomic<bool> const& abort) {
    publish_result res;
    std::size_t const n = std::max<std::size_t>(1, cfg.publishers);
    std::vector<thread_outcome> outcomes(n);
    std::vector<std::thread> threads;
    std::atomic<bool> stop_all{false};
    for (std::size_t i = 0; i < n; ++i) {
        threads.emplace_back([&, i] { outcomes[i] = publish_thread(cfg, i, abort, stop_all); });
    }
    for (auto& t : threads) {
        t.join();
    }
    res.end_ns = monotonic_ns();
    // Sequence numbers are interleaved over the threads: attempted = one past the highest sent; each thread's
    // unsent numbers below that are failures.
    for (auto const& o : outcomes) {
        std::uint64_t const last_tried = o.failed_at_next ? o.next_seq + 1 : o.next_seq;
        res.attempted = std::max(res.attempted, std::min<std::uint64_t>(last_tried, cfg.messages));
        res.skipped_slots += o.skipped;
        if (o.start_ns != 0 && o.start_ns > res.start_ns) {
            res.start_ns = o.start_ns;  // the last thread to be connected starts the measured interval
        }
        if (!o.error.empty()) {
            res.errors.push_back(o.error);
        }
    }
    for (auto const& o : outcomes) {
        for (std::uint64_t seq = o.next_seq; seq < res.attempted; seq += n) {
            res.failed.push_back(seq);
        }
    }
    std::sort(res.failed.begin(), res.failed.end());
    return res;
}
}  // namespace pusher::load
