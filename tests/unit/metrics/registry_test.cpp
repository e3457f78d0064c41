#include "metrics/registry.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pusher::metrics {
namespace {

TEST(metrics_text, values) {
    auto v = [](double d) {
        std::string s;
        append_value(s, d);
        return s;
    };
    EXPECT_EQ(v(0), "0");
    EXPECT_EQ(v(3), "3");
    EXPECT_EQ(v(-42), "-42");
    EXPECT_EQ(v(0.25), "0.25");
    EXPECT_EQ(v(0.1), "0.1");
    EXPECT_EQ(v(1e300), "1e+300");
    EXPECT_EQ(v(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(v(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(v(std::nan("")), "NaN");
}

TEST(metrics_text, label_value_escaping) {
    std::string s;
    append_label_value(s, "a\\b\"c\nd");
    EXPECT_EQ(s, R"(a\\b\"c\nd)");
}

TEST(metrics_text, help_escaping_leaves_quotes) {
    std::string s;
    append_help(s, "say \"hi\"\\\nbye");
    EXPECT_EQ(s, "say \"hi\"\\\\\\nbye");
}

TEST(metrics_text, names) {
    EXPECT_TRUE(valid_metric_name("pusher_messages_total"));
    EXPECT_TRUE(valid_metric_name("a:b_c9"));
    EXPECT_TRUE(valid_metric_name(":x"));
    EXPECT_FALSE(valid_metric_name(""));
    EXPECT_FALSE(valid_metric_name("9x"));
    EXPECT_FALSE(valid_metric_name("a-b"));
    EXPECT_FALSE(valid_metric_name("a b"));
    EXPECT_TRUE(valid_label_name("reason"));
    EXPECT_TRUE(valid_label_name("_x1"));
    EXPECT_FALSE(valid_label_name("__reserved"));
    EXPECT_FALSE(valid_label_name("a:b"));
    EXPECT_FALSE(valid_label_name("1a"));
    EXPECT_FALSE(valid_label_name(""));
}

TEST(metrics_registry, counters_and_gauges_exposition) {
    registry reg;
    auto& received = reg.add_counter("pusher_messages_received_total", "Messages received from the broker.");
    auto& no_session =
        reg.add_counter("pusher_messages_dropped_total", "Messages dropped, by reason.", {{"reason", "no_session"}});
    auto& reserved = reg.add_counter("pusher_messages_dropped_total", "ignored: the first help wins",
                                     {{"reason", "reserved_event"}});
    auto& sessions = reg.add_gauge("pusher_sessions", "Open sessions.");
    received.inc();
    received.inc(41);
    no_session.inc(3);
    sessions.set(10);
    sessions.dec();
    sessions.add(-20);
    EXPECT_EQ(received.value(), 42u);
    EXPECT_EQ(reserved.value(), 0u);
    EXPECT_EQ(sessions.value(), -11);
    EXPECT_EQ(reg.families(), 3u);
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_messages_received_total Messages received from the broker.\n"
              "# TYPE pusher_messages_received_total counter\n"
              "pusher_messages_received_total 42\n"
              "# HELP pusher_messages_dropped_total Messages dropped, by reason.\n"
              "# TYPE pusher_messages_dropped_total counter\n"
              "pusher_messages_dropped_total{reason=\"no_session\"} 3\n"
              "pusher_messages_dropped_total{reason=\"reserved_event\"} 0\n"
              "# HELP pusher_sessions Open sessions.\n"
              "# TYPE pusher_sessions gauge\n"
              "pusher_sessions -11\n");
}

TEST(metrics_registry, several_labels_and_escaped_values) {
    registry reg;
    reg.add_counter("pusher_x_total", "X.", {{"a", "1"}, {"b", "q\"uote\\ new\nline"}}).inc(7);
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_x_total X.\n"
              "# TYPE pusher_x_total counter\n"
              "pusher_x_total{a=\"1\",b=\"q\\\"uote\\\\ new\\nline\"} 7\n");
}

TEST(metrics_registry, counter_keeps_full_64_bit_precision) {
    registry reg;
    auto& c = reg.add_counter("pusher_big_total", "Big.");
    c.inc(std::uint64_t{18446744073709551615u});
    EXPECT_NE(reg.expose().find("pusher_big_total 18446744073709551615\n"), std::string::npos);
}

TEST(metrics_registry, histogram_exposition_is_cumulative_and_le_inclusive) {
    registry reg;
    auto& h = reg.add_histogram("pusher_latency_seconds", "Latency.", {0.005, 0.1, 1}, {{"path", "amqp"}});
    h.observe(0.005);  // on the bound: counted in le="0.005"
    h.observe(0.05);
    h.observe(0.1);
    h.observe(5);             // above every bound: +Inf only
    h.observe(std::nan(""));  // ignored
    auto const snap = h.snapshot();
    EXPECT_EQ(snap.count(), 4u);
    EXPECT_EQ(snap.buckets, (std::vector<std::uint64_t>{1, 2, 0, 1}));
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_latency_seconds Latency.\n"
              "# TYPE pusher_latency_seconds histogram\n"
              "pusher_latency_seconds_bucket{path=\"amqp\",le=\"0.005\"} 1\n"
              "pusher_latency_seconds_bucket{path=\"amqp\",le=\"0.1\"} 3\n"
              "pusher_latency_seconds_bucket{path=\"amqp\",le=\"1\"} 3\n"
              "pusher_latency_seconds_bucket{path=\"amqp\",le=\"+Inf\"} 4\n"
              "pusher_latency_seconds_sum{path=\"amqp\"} 5.155\n"
              "pusher_latency_seconds_count{path=\"amqp\"} 4\n");
}

TEST(metrics_registry, histogram_without_labels) {
    registry reg;
    reg.add_histogram("pusher_h", "H.", {1}).observe(-3);  // below the first bound: in it
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_h H.\n"
              "# TYPE pusher_h histogram\n"
              "pusher_h_bucket{le=\"1\"} 1\n"
              "pusher_h_bucket{le=\"+Inf\"} 1\n"
              "pusher_h_sum -3\n"
              "pusher_h_count 1\n");
}

TEST(metrics_registry, callbacks_are_read_at_scrape_time) {
    registry reg;
    double connections = 1;
    reg.add_callback("pusher_connections", "Connections by transport.", kind::gauge, {{"transport", "websocket"}},
                     [&] { return connections; });
    reg.add_callback("pusher_binds_total", "Binds.", kind::counter, {}, [] { return 12.0; });
    connections = 5;
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_connections Connections by transport.\n"
              "# TYPE pusher_connections gauge\n"
              "pusher_connections{transport=\"websocket\"} 5\n"
              "# HELP pusher_binds_total Binds.\n"
              "# TYPE pusher_binds_total counter\n"
              "pusher_binds_total 12\n");
}

TEST(metrics_registry, callback_histogram_normalises_bucket_count) {
    registry reg;
    reg.add_callback_histogram("pusher_bind_seconds", "Bind latency.", {0.001, 0.01}, {}, [] {
        return histogram_snapshot{{1, 2, 3, 4}, 0.5};  // one bucket too many: folded into +Inf
    });
    reg.add_callback_histogram("pusher_short_seconds", "Short.", {0.001, 0.01}, {}, [] {
        return histogram_snapshot{{7}, 0.25};
    });  // missing buckets: zero
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_bind_seconds Bind latency.\n"
              "# TYPE pusher_bind_seconds histogram\n"
              "pusher_bind_seconds_bucket{le=\"0.001\"} 1\n"
              "pusher_bind_seconds_bucket{le=\"0.01\"} 3\n"
              "pusher_bind_seconds_bucket{le=\"+Inf\"} 10\n"
              "pusher_bind_seconds_sum 0.5\n"
              "pusher_bind_seconds_count 10\n"
              "# HELP pusher_short_seconds Short.\n"
              "# TYPE pusher_short_seconds histogram\n"
              "pusher_short_seconds_bucket{le=\"0.001\"} 7\n"
              "pusher_short_seconds_bucket{le=\"0.01\"} 7\n"
              "pusher_short_seconds_bucket{le=\"+Inf\"} 7\n"
              "pusher_short_seconds_sum 0.25\n"
              "pusher_short_seconds_count 7\n");
}

TEST(metrics_registry, failing_callback_is_left_out) {
    registry reg;
    reg.add_callback("pusher_bad", "Bad.", kind::gauge, {{"n", "1"}},
                     []() -> double { throw std::runtime_error("boom"); });
    reg.add_callback("pusher_bad", "Bad.", kind::gauge, {{"n", "2"}}, [] { return 2.0; });
    EXPECT_EQ(reg.expose(),
              "# HELP pusher_bad Bad.\n"
              "# TYPE pusher_bad gauge\n"
              "pusher_bad{n=\"2\"} 2\n");
}

TEST(metrics_registry, registration_errors) {
    registry reg;
    reg.add_counter("pusher_a_total", "A.", {{"reason", "x"}});
    EXPECT_THROW(reg.add_counter("bad-name", "x"), std::invalid_argument);
    EXPECT_THROW(reg.add_counter("pusher_b_total", "x", {{"__name", "x"}}), std::invalid_argument);
    EXPECT_THROW(reg.add_counter("pusher_b_total", "x", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
    EXPECT_THROW(reg.add_gauge("pusher_a_total", "A."), std::invalid_argument);                       // kind differs
    EXPECT_THROW(reg.add_counter("pusher_a_total", "A.", {{"reason", "x"}}), std::invalid_argument);  // duplicate
    EXPECT_THROW(reg.add_histogram("pusher_h", "H.", {1, 1}), std::invalid_argument);
    EXPECT_THROW(reg.add_histogram("pusher_h", "H.", {2, 1}), std::invalid_argument);
    EXPECT_THROW(reg.add_histogram("pusher_h", "H.", {1, std::numeric_limits<double>::infinity()}),
                 std::invalid_argument);
    EXPECT_THROW(reg.add_histogram("pusher_h", "H.", {1}, {{"le", "1"}}), std::invalid_argument);
    reg.add_histogram("pusher_h", "H.", {1});
    EXPECT_THROW(reg.add_counter("pusher_h_count", "clash"), std::invalid_argument);
    EXPECT_THROW(reg.add_callback("pusher_c", "C.", kind::histogram, {}, [] { return 1.0; }), std::invalid_argument);
    EXPECT_THROW(reg.add_callback("pusher_c", "C.", kind::gauge, {}, nullptr), std::invalid_argument);
    // Same label set in another order is the same series.
    reg.add_gauge("pusher_g", "G.", {{"a", "1"}, {"b", "2"}});
    EXPECT_THROW(reg.add_gauge("pusher_g", "G.", {{"b", "2"}, {"a", "1"}}), std::invalid_argument);
    // Failed registrations leave nothing half-registered behind.
    auto const text = reg.expose();
    EXPECT_EQ(text.find("bad-name"), std::string::npos);
    EXPECT_EQ(text.find("pusher_b_total"), std::string::npos);
    EXPECT_EQ(text.find("pusher_c"), std::string::npos);
    EXPECT_EQ(reg.families(), 3u);  // pusher_a_total, pusher_h, pusher_g
}

TEST(metrics_registry, bucket_helpers) {
    EXPECT_EQ(exponential_buckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1.0}));
    EXPECT_EQ(linear_buckets(1, 2, 3), (std::vector<double>{1, 3, 5}));
    EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
    EXPECT_THROW(linear_buckets(0, 0, 3), std::invalid_argument);
}

TEST(metrics_registry, concurrent_updates_are_all_counted) {
    registry reg;
    auto& c = reg.add_counter("pusher_c_total", "C.");
    auto& g = reg.add_gauge("pusher_g", "G.");
    auto& h = reg.add_histogram("pusher_h", "H.", {1, 2, 3});
    constexpr int threads = 4;
    constexpr int per_thread = 100000;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                c.inc();
                g.inc();
                g.dec();
                g.inc();
                h.observe(static_cast<double>((i + t) % 4));  // 0,1,2,3: every finite bucket, all exact sums
            }
        });
    }
    // Scrape while they run: every snapshot keeps +Inf == count (count is derived from the buckets).
    for (int i = 0; i < 50; ++i) {
        auto const snap = h.snapshot();
        std::uint64_t total = 0;
        for (auto b : snap.buckets) {
            total += b;
        }
        EXPECT_EQ(total, snap.count());
        (void)reg.expose();
    }
    for (auto& th : pool) {
        th.join();
    }
    EXPECT_EQ(c.value(), std::uint64_t{threads} * per_thread);
    EXPECT_EQ(g.value(), std::int64_t{threads} * per_thread);
    auto const snap = h.snapshot();
    EXPECT_EQ(snap.count(), std::uint64_t{threads} * per_thread);
    EXPECT_EQ(snap.buckets, (std::vector<std::uint64_t>{threads * per_thread / 2, threads * per_thread / 4,
                                                        threads * per_thread / 4, 0}));
    EXPECT_DOUBLE_EQ(snap.sum, 1.5 * threads * per_thread);
}

}  // namespace
}  // namespace pusher::metrics
