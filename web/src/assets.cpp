// find_asset: a linear scan of the generated table (five entries; a map would cost more than it saves).
#include "web/assets.hpp"

namespace pusher::web {

asset const* find_asset(std::string_view path) noexcept {
    // The router may hand over the whole request target; only the path selects the asset.
    if (auto const end = path.find_first_of("?#"); end != std::string_view::npos) {
        path = path.substr(0, end);
    }
    if (path == "/") {
        path = "/index.html";
    }
    for (auto const& a : all_assets()) {
        if (a.path == path) {
            return &a;
        }
    }
    return nullptr;
}

}  // namespace pusher::web
