#include "proc_stats.hpp"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace pusher::load {
namespace {
std::optional<std::string> slurp(std::string const& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::uint64_t timespec_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}
}  // namespace

std::optional<std::uint64_t> parse_stat_cpu_ticks(std::string_view stat) {
    // Fields after "(comm)": 3 state, 4 ppid, ... 14 utime, 15 stime (proc(5)); the 12th and 13th after the paren.
    auto const paren = stat.rfind(')');
    if (paren == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = stat.substr(paren + 1);
    std::uint64_t values[2] = {};
    int field = 2;  // the comm field was number 2
    std::size_t i = 0;
    while (i < rest.size()) {
        while (i < rest.size() && rest[i] == ' ') {
            ++i;
        }
        if (i >= rest.size()) {
            break;
        }
        std::size_t j = i;
        while (j < rest.size() && rest[j] != ' ') {
            ++j;
        }
        ++field;
        if (field == 14 || field == 15) {
            auto [p, ec] = std::from_chars(rest.data() + i, rest.data() + j, values[field - 14]);
            if (ec != std::errc{} || p != rest.data() + j) {
                return std::nullopt;
            }
            if (field == 15) {
                return values[0] + values[1];
            }
        }
        i = j;
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_status_rss_kb(std::string_view status) {
    auto const at = status.find("VmRSS:");
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    std::size_t i = at + 6;
    while (i < status.size() && (status[i] == ' ' || status[i] == '\t')) {
        ++i;
    }
    std::uint64_t kb = 0;
    auto [p, ec] = std::from_chars(status.data() + i, status.data() + status.size(), kb);
    if (ec != std::errc{} || p == status.data() + i) {
        return std::nullopt;
    }
    return kb;
}

std::optional<proc_sample> sample_process(int pid) {
    if (pid <= 0) {
        return std::nullopt;
    }
    auto const base = "/proc/" + std::to_string(pid);
    auto stat = slurp(base + "/stat");
    auto status = slurp(base + "/status");
    if (!stat || !status) {
        return std::nullopt;
    }
    auto ticks = parse_stat_cpu_ticks(*stat);
    auto rss = parse_status_rss_kb(*status);
    if (!ticks || !rss) {
        return std::nullopt;
    }
    static long const hz = sysconf(_SC_CLK_TCK);
    proc_sample s;
    s.cpu_us = *ticks * 1'000'000ull / static_cast<std::uint64_t>(hz > 0 ? hz : 100);
    s.rss_kb = *rss;
    s.wall_ns = monotonic_ns();
    return s;
}

std::uint64_t self_cpu_us() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<std::uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000ull +
           static_cast<std::uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

std::uint64_t monotonic_ns() {
    return timespec_ns(CLOCK_MONOTONIC);
}
std::uint64_t realtime_ns() {
    return timespec_ns(CLOCK_REALTIME);
}
}  // namespace pusher::load
