#include "common/text.hpp"

namespace pusher::text {
namespace {
bool space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
}  // namespace

std::string_view trim(std::string_view s) {
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::vector<std::string_view> split_list(std::string_view list) {
    std::vector<std::string_view> out;
    for (;;) {
        auto const comma = list.find(',');
        out.push_back(trim(list.substr(0, comma)));
        if (comma == std::string_view::npos) {
            return out;
        }
        list.remove_prefix(comma + 1);
    }
}
}  // namespace pusher::text
