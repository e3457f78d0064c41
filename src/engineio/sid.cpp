#include "engineio/sid.hpp"

#include "common/random_bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>

namespace pusher::engineio {
namespace {
constexpr std::size_t sid_bytes = 15;
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}  // namespace

std::string make_sid(std::string_view prefix) {
    std::array<std::uint8_t, sid_bytes> raw{};
    random_bytes(raw.data(), raw.size());
    std::string out;
    out.reserve(prefix.size() + sid_bytes / 3 * 4);
    out.append(prefix);
    for (std::size_t i = 0; i < sid_bytes; i += 3) {
        std::uint32_t const v = (std::uint32_t{raw[i]} << 16) | (std::uint32_t{raw[i + 1]} << 8) | raw[i + 2];
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        out.push_back(alphabet[v & 63]);
    }
    return out;
}
}  // namespace pusher::engineio
