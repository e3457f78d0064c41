#include "metrics/registry.hpp"

#include "common/log.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <variant>

namespace pusher::metrics {
namespace {
bool name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool digit(char c) {
    return c >= '0' && c <= '9';
}

template <class Int>
void append_int(std::string& out, Int v) {
    char buf[24];
    auto const r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

[[noreturn]] void bad(std::string const& what) {
    throw std::invalid_argument("metrics: " + what);
}
}  // namespace

std::string_view to_string(kind k) {
    switch (k) {
        case kind::counter:
            return "counter";
        case kind::gauge:
            return "gauge";
        case kind::histogram:
            return "histogram";
    }
    return "untyped";
}

// ---- text format helpers ----

bool valid_metric_name(std::string_view name) {
    if (name.empty() || !(name_start(name[0]) || name[0] == ':')) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) { return name_start(c) || digit(c) || c == ':'; });
}

bool valid_label_name(std::string_view name) {
    // Names starting with `__` are reserved for Prometheus' own use.
    if (name.empty() || !name_start(name[0]) || name.starts_with("__")) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) { return name_start(c) || digit(c); });
}

void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else if (v == std::trunc(v) && std::fabs(v) < 9.007199254740992e15) {
        append_int(out, static_cast<std::int64_t>(v));  // exact below 2^53: `3`, not `3e+00`
    } else {
        char buf[32];
        auto const r = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that reads back as the same double
        out.append(buf, r.ptr);
    }
}

void append_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out.push_back(c);
        }
    }
}

void append_help(std::string& out, std::string_view help) {
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
}

// ---- histogram ----

std::uint64_t histogram_snapshot::count() const {
    std::uint64_t n = 0;
    for (auto b : buckets) {
        n += b;
    }
    return n;
}

namespace {
void check_bounds(std::vector<double> const& bounds) {
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i])) {
            bad("histogram bounds must be finite (+Inf is implicit)");
        }
        if (i > 0 && !(bounds[i - 1] < bounds[i])) {
            bad("histogram bounds must be strictly increasing");
        }
    }
}
}  // namespace

histogram::histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
    check_bounds(bounds_);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        buckets_[i].store(0, std::memory_order_relaxed);
    }
}

void histogram::observe(double v) {
    if (std::isnan(v)) {
        return;
    }
    // `le` is inclusive: v goes to the first bucket whose bound is >= v, or to +Inf past the last bound.
    auto const i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

histogram_snapshot histogram::snapshot() const {
    histogram_snapshot s;
    s.buckets.resize(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
        s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
    if (!(start > 0) || !(factor > 1)) {
        bad("exponential_buckets needs start > 0 and factor > 1");
    }
    std::vector<double> out;
    out.reserve(count);
    for (double v = start; out.size() < count; v *= factor) {
        out.push_back(v);
    }
    return out;
}

std::vector<double> linear_buckets(double start, double width, std::size_t count) {
    if (!(width > 0)) {
        bad("linear_buckets needs width > 0");
    }
    std::vector<double> out;
    out.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(start + width * static_cast<double>(i));
    }
    return out;
}

// ---- registry ----

struct registry::series {
    labels label_pairs;
    std::string rendered_labels;  // `a="x",b="y"` (no braces), rendered once at registration
    std::variant<std::unique_ptr<counter>, std::unique_ptr<gauge>, std::unique_ptr<histogram>, value_fn, histogram_fn>
        source;
    std::vector<double> callback_bounds;  // histogram_fn only
};

struct registry::family {
    std::string name;
    std::string help;
    metrics::kind kind;
    std::vector<std::unique_ptr<series>> members;
};

registry::registry() = default;
registry::~registry() = default;

registry::family& registry::family_for(std::string_view name, std::string_view help, metrics::kind k) {
    if (!valid_metric_name(name)) {
        bad("invalid metric name \"" + std::string(name) + "\"");
    }
    for (auto& f : families_) {
        if (f->name == name) {
            if (f->kind != k) {
                bad("metric \"" + std::string(name) + "\" registered as " + std::string(to_string(f->kind)) +
                    " and as " + std::string(to_string(k)));
            }
            return *f;
        }
        // A histogram owns name_bucket, name_sum and name_count: no other family may take them.
        auto const clashes = [](std::string_view hist, std::string_view other) {
            return other.size() > hist.size() && other.starts_with(hist) &&
                   (other.substr(hist.size()) == "_bucket" || other.substr(hist.size()) == "_sum" ||
                    other.substr(hist.size()) == "_count");
        };
        if ((f->kind == metrics::kind::histogram && clashes(f->name, name)) ||
            (k == metrics::kind::histogram && clashes(name, f->name))) {
            bad("metric \"" + std::string(name) + "\" clashes with the series of histogram \"" + f->name + "\"");
        }
    }
    auto f = std::make_unique<family>();
    f->name = std::string(name);
    f->help = std::string(help);
    f->kind = k;
    families_.push_back(std::move(f));
    return *families_.back();
}

void registry::check_labels(std::string_view metric, metrics::kind k, labels const& l) {
    for (std::size_t i = 0; i < l.size(); ++i) {
        auto const& name = l[i].first;
        if (!valid_label_name(name)) {
            bad("invalid label name \"" + name + "\" on \"" + std::string(metric) + "\"");
        }
        if (k == metrics::kind::histogram && name == "le") {
            bad("label \"le\" is reserved on histogram \"" + std::string(metric) + "\"");
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (l[j].first == name) {
                bad("label \"" + name + "\" given twice on \"" + std::string(metric) + "\"");
            }
        }
    }
}

registry::series& registry::add_series(family& f, labels l) {
    // Same label set in any order is the same series.
    auto sorted = l;
    std::sort(sorted.begin(), sorted.end());
    for (auto const& s : f.members) {
        auto other = s->label_pairs;
        std::sort(other.begin(), other.end());
        if (other == sorted) {
            bad("series \"" + f.name + "{" + s->rendered_labels + "}\" registered twice");
        }
    }
    auto s = std::make_unique<series>();
    for (auto const& [name, value] : l) {
        if (!s->rendered_labels.empty()) {
            s->rendered_labels.push_back(',');
        }
        s->rendered_labels += name;
        s->rendered_labels += "=\"";
        append_label_value(s->rendered_labels, value);
        s->rendered_labels.push_back('"');
    }
    s->label_pairs = std::move(l);
    f.members.push_back(std::move(s));
    return *f.members.back();
}

counter& registry::add_counter(std::string_view name, std::string_view help, labels l) {
    check_labels(name, metrics::kind::counter, l);
    std::lock_guard lock(mutex_);
    auto& s = add_series(family_for(name, help, metrics::kind::counter), std::move(l));
    auto& c = *s.source.emplace<std::unique_ptr<counter>>(std::make_unique<counter>());
    return c;
}

gauge& registry::add_gauge(std::string_view name, std::string_view help, labels l) {
    check_labels(name, metrics::kind::gauge, l);
    std::lock_guard lock(mutex_);
    auto& s = add_series(family_for(name, help, metrics::kind::gauge), std::move(l));
    return *s.source.emplace<std::unique_ptr<gauge>>(std::make_unique<gauge>());
}

histogram& registry::add_histogram(std::string_view name, std::string_view help, std::vector<double> bounds, labels l) {
    auto h = std::make_unique<histogram>(std::move(bounds));  // validates the bounds before anything is registered
    check_labels(name, metrics::kind::histogram, l);
    std::lock_guard lock(mutex_);
    auto& s = add_series(family_for(name, help, metrics::kind::histogram), std::move(l));
    return *s.source.emplace<std::unique_ptr<histogram>>(std::move(h));
}

void registry::add_callback(std::string_view name, std::string_view help, metrics::kind k, labels l, value_fn fn) {
    if (k == metrics::kind::histogram) {
        bad("add_callback takes a counter or a gauge; use add_callback_histogram");
    }
    if (!fn) {
        bad("empty callback for \"" + std::string(name) + "\"");
    }
    check_labels(name, k, l);
    std::lock_guard lock(mutex_);
    auto& s = add_series(family_for(name, help, k), std::move(l));
    s.source.emplace<value_fn>(std::move(fn));
}

void registry::add_callback_histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                                      labels l, histogram_fn fn) {
    check_bounds(bounds);
    if (!fn) {
        bad("empty callback for \"" + std::string(name) + "\"");
    }
    check_labels(name, metrics::kind::histogram, l);
    std::lock_guard lock(mutex_);
    auto& s = add_series(family_for(name, help, metrics::kind::histogram), std::move(l));
    s.source.emplace<histogram_fn>(std::move(fn));
    s.callback_bounds = std::move(bounds);
}

std::size_t registry::families() const {
    std::lock_guard lock(mutex_);
    return families_.size();
}

namespace {
// `name{labels} ` (no braces without labels), then the caller appends the value and the newline.
void append_sample_head(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                        std::string_view le = {}) {
    out += name;
    out += suffix;
    if (!labels.empty() || !le.empty()) {
        out.push_back('{');
        out += labels;
        if (!le.empty()) {
            if (!labels.empty()) {
                out.push_back(',');
            }
            out += "le=\"";
            out += le;
            out.push_back('"');
        }
        out.push_back('}');
    }
    out.push_back(' ');
}

void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      std::vector<double> const& bounds, histogram_snapshot s) {
    // A callback may return the wrong number of buckets: fold the extra ones into +Inf, pad the missing ones.
    if (s.buckets.size() > bounds.size() + 1) {
        std::uint64_t extra = 0;
        for (std::size_t i = bounds.size() + 1; i < s.buckets.size(); ++i) {
            extra += s.buckets[i];
        }
        s.buckets.resize(bounds.size() + 1);
        s.buckets.back() += extra;
    }
    s.buckets.resize(bounds.size() + 1, 0);
    std::uint64_t cumulative = 0;
    std::string le;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += s.buckets[i];
        le.clear();
        append_value(le, bounds[i]);
        append_sample_head(out, name, "_bucket", labels, le);
        append_int(out, cumulative);
        out.push_back('\n');
    }
    cumulative += s.buckets.back();
    append_sample_head(out, name, "_bucket", labels, "+Inf");
    append_int(out, cumulative);
    out.push_back('\n');
    append_sample_head(out, name, "_sum", labels);
    append_value(out, s.sum);
    out.push_back('\n');
    append_sample_head(out, name, "_count", labels);
    append_int(out, cumulative);
    out.push_back('\n');
}
}  // namespace

void registry::expose(std::string& out) const {
    std::lock_guard lock(mutex_);
    for (auto const& f : families_) {
        out += "# HELP ";
        out += f->name;
        out.push_back(' ');
        append_help(out, f->help);
        out += "\n# TYPE ";
        out += f->name;
        out.push_back(' ');
        out += to_string(f->kind);
        out.push_back('\n');
        for (auto const& s : f->members) {
            try {
                if (auto* c = std::get_if<std::unique_ptr<counter>>(&s->source)) {
                    append_sample_head(out, f->name, {}, s->rendered_labels);
                    append_int(out, (*c)->value());
                } else if (auto* g = std::get_if<std::unique_ptr<gauge>>(&s->source)) {
                    append_sample_head(out, f->name, {}, s->rendered_labels);
                    append_int(out, (*g)->value());
                } else if (auto* h = std::get_if<std::unique_ptr<histogram>>(&s->source)) {
                    append_histogram(out, f->name, s->rendered_labels, (*h)->bounds(), (*h)->snapshot());
                    continue;
                } else if (auto* v = std::get_if<value_fn>(&s->source)) {
                    double const value = (*v)();
                    append_sample_head(out, f->name, {}, s->rendered_labels);
                    append_value(out, value);
                } else if (auto* hf = std::get_if<histogram_fn>(&s->source)) {
                    auto snap = (*hf)();
                    append_histogram(out, f->name, s->rendered_labels, s->callback_bounds, std::move(snap));
                    continue;
                }
                out.push_back('\n');
            } catch (std::exception const& e) {
                // A callback failed before writing anything: leave its series out of this scrape.
                log::warn("metrics: callback for {} failed: {}", f->name, e.what());
            }
        }
    }
}

std::string registry::expose() const {
    std::string out;
    expose(out);
    return out;
}
}  // namespace pusher::metrics
