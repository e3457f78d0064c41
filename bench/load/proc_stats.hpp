#pragma once
// Process statistics from /proc (another process, by PID: the server under test, the broker) and from getrusage
// (this process). Clock ticks are converted with sysconf(_SC_CLK_TCK), so CPU times have 10 ms resolution.
#include <cstdint>
#include <optional>
#include <string_view>

namespace pusher::load {
struct proc_sample {
    std::uint64_t cpu_us = 0;   // user + system
    std::uint64_t rss_kb = 0;   // VmRSS
    std::uint64_t wall_ns = 0;  // CLOCK_MONOTONIC when sampled
};

// utime + stime in clock ticks from the text of /proc/PID/stat (the command name may hold spaces and parentheses).
std::optional<std::uint64_t> parse_stat_cpu_ticks(std::string_view stat);
// VmRSS in kB from the text of /proc/PID/status.
std::optional<std::uint64_t> parse_status_rss_kb(std::string_view status);

// Samples process `pid`; nullopt when it is gone or unreadable.
std::optional<proc_sample> sample_process(int pid);
// CPU time of this process (all threads; children report their own).
std::uint64_t self_cpu_us();
std::uint64_t monotonic_ns();
std::uint64_t realtime_ns();
}  // namespace pusher::load
