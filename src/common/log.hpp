#pragma once
// Logging: spdlog with one process-wide logger. `log::init` picks the level and the format (plain or JSON lines).
#include <spdlog/spdlog.h>

#include <string_view>

namespace pusher::log {
enum class format { plain, json };

// level: trace, debug, info, warn, error, off. Returns false for an unknown level name.
bool init(std::string_view level, format fmt = format::plain);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;
}  // namespace pusher::log
