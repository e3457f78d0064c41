#include "common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <string>

namespace pusher::log {
bool init(std::string_view level, format fmt, std::string_view node) {
    auto lvl = spdlog::level::from_str(std::string(level));
    if (lvl == spdlog::level::off && level != "off") {
        return false;
    }
    spdlog::drop("pusher");
    auto logger = spdlog::stderr_color_mt("pusher");
    spdlog::set_default_logger(logger);
    spdlog::set_level(lvl);
    std::string const id(node);
    if (fmt == format::json) {
        spdlog::set_pattern(std::string(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",)") +
                            (id.empty() ? "" : R"("node":")" + id + R"(",)") + R"("msg":"%v"})");
    } else {
        spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ " + (id.empty() ? "" : "[" + id + "] ") + "%v");
    }
    return true;
}
}  // namespace pusher::log
