#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace pusher::log {
bool init(std::string_view level, format fmt) {
    auto lvl = spdlog::level::from_str(std::string(level));
    if (lvl == spdlog::level::off && level != "off") {
        return false;
    }
    spdlog::drop("pusher");
    auto logger = spdlog::stderr_color_mt("pusher");
    spdlog::set_default_logger(logger);
    spdlog::set_level(lvl);
    if (fmt == format::json) {
        spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%v"})");
    } else {
        spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
    return true;
}
}  // namespace pusher::log
