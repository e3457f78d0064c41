#pragma once
// Logging: spdlog with one process-wide logger. `log::init` picks the level and the format (plain or JSON lines).
#include <spdlog/spdlog.h>

#include <string_view>

namespace pusher::log {
enum class format { plain, json };

// level: trace, debug, info, warn, error, off. Returns false for an unknown level name. `node` (the cluster node id,
// A-Z a-z 0-9 _ - only) names this process in every line: `[node]` in plain lines, a "node" member in JSON lines.
bool init(std::string_view level, format fmt = format::plain, std::string_view node = {});

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;
}  // namespace pusher::log
