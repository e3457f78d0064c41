#pragma once
// metrics: counters, gauges and histograms on relaxed atomics, and the Prometheus text exposition format 0.0.4.
// Our own ~400 lines instead of prometheus-cpp: an update is one relaxed atomic add (a few ns, no lock, no lookup),
// series are registered once at startup with their label values fixed, and /metrics renders the text on demand.
//
// Usage:
//   metrics::registry reg;
//   auto& dropped = reg.add_counter("pusher_messages_dropped_total", "Messages dropped", {{"reason", "no_session"}});
//   dropped.inc();                                  // any thread, hot path
//   reg.add_callback("pusher_sessions", "Open sessions", metrics::kind::gauge, {}, [&] { return hub.sessions(); });
//   std::string text = reg.expose();                // at scrape time
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::metrics {
// The content type of expose()'s text (Prometheus text format 0.0.4).
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class kind { counter, gauge, histogram };
std::string_view to_string(kind k);

// Label pairs fixed at registration, e.g. {{"reason", "no_session"}}. Names match [a-zA-Z_][a-zA-Z0-9_]*.
using labels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. One cache line each, so counters bumped by different threads do not share one.
class alignas(64) counter {
  public:
    void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (integers: connections, queue lengths, flags).
class alignas(64) gauge {
  public:
    void set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
    void add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
    void inc() { add(1); }
    void dec() { add(-1); }
    std::int64_t value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::int64_t> value_{0};
};

// What a histogram holds at one moment. `buckets` are per bucket (not cumulative), one per bound plus the last one
// for everything above the highest bound (+Inf).
struct histogram_snapshot {
    std::vector<std::uint64_t> buckets;
    double sum = 0;
    std::uint64_t count() const;
};

// A distribution over fixed buckets. `bounds` are the inclusive upper bounds (Prometheus `le`), strictly increasing
// and finite; +Inf is implicit. observe() is a binary search plus two relaxed atomic adds.
class histogram {
  public:
    explicit histogram(std::vector<double> bounds);
    // NaN is ignored (it has no bucket and would poison the sum).
    void observe(double v);
    std::vector<double> const& bounds() const { return bounds_; }
    // The count is the sum of the buckets, so a concurrent scrape always sees `+Inf` bucket == count.
    histogram_snapshot snapshot() const;

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
    std::atomic<double> sum_{0};
};

// Bucket bounds helpers: start, start*factor, ... (count bounds) and start, start+width, ... (count bounds).
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);
std::vector<double> linear_buckets(double start, double width, std::size_t count);

// Read at scrape time, on the scraping thread, under the registry's lock: must be thread-safe, cheap, never block
// and never call back into the registry.
using value_fn = std::function<double()>;
using histogram_fn = std::function<histogram_snapshot()>;

// The set of every series this process exposes. Registration (startup) takes a lock and validates names, throwing
// std::invalid_argument on a bad name, a kind that differs from the family's, or a duplicate label set: those are
// programming errors to catch in the first test run. Returned references stay valid for the registry's life.
// Series sharing a name form one family (one HELP/TYPE block, in registration order); families render in the
// order of their first registration. Thread-safe.
class registry {
  public:
    registry();
    ~registry();
    registry(registry const&) = delete;
    registry& operator=(registry const&) = delete;

    counter& add_counter(std::string_view name, std::string_view help, labels l = {});
    gauge& add_gauge(std::string_view name, std::string_view help, labels l = {});
    histogram& add_histogram(std::string_view name, std::string_view help, std::vector<double> bounds, labels l = {});
    // A counter or gauge whose value another module keeps (e.g. the engine's connection counters): `fn` is called
    // at each scrape. `k` must be counter or gauge.
    void add_callback(std::string_view name, std::string_view help, kind k, labels l, value_fn fn);
    // A histogram another module keeps (e.g. the broker's bind latency); `fn` returns buckets matching `bounds`.
    void add_callback_histogram(std::string_view name, std::string_view help, std::vector<double> bounds, labels l,
                                histogram_fn fn);

    // The whole exposition text (format 0.0.4), every family ending with a newline.
    std::string expose() const;
    void expose(std::string& out) const;

    std::size_t families() const;

  private:
    struct series;
    struct family;
    static void check_labels(std::string_view metric, kind k, labels const& l);
    family& family_for(std::string_view name, std::string_view help, kind k);
    series& add_series(family& f, labels l);

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<family>> families_;
};

// Text format helpers (exposed for tests and for callers that render their own lines).
// A sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`, otherwise the shortest round-trip form.
void append_value(std::string& out, double v);
// A label value with `\`, `"` and newline escaped.
void append_label_value(std::string& out, std::string_view v);
// HELP text with `\` and newline escaped.
void append_help(std::string& out, std::string_view help);
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);
}  // namespace pusher::metrics
