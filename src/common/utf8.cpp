#include "common/utf8.hpp"

namespace pusher::utf8 {
std::size_t sequence_length(std::string_view s, std::size_t i, std::size_t& bad) {
    auto const c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
        return 1;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
        hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    } else {
        bad = 1;
        return 0;
    }
    std::size_t j = i + 1;
    for (std::size_t k = 1; k < len; ++k, ++j) {
        if (j >= s.size()) {
            bad = j - i;
            return 0;
        }
        auto const b = static_cast<unsigned char>(s[j]);
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
            bad = j - i;
            return 0;
        }
    }
    return len;
}

bool is_valid(std::string_view s) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {  // the common case, without the call
            ++i;
            continue;
        }
        std::size_t const n = sequence_length(s, i, bad);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

std::string repaired(std::string_view s) {
    if (is_valid(s)) {
        return std::string(s);
    }
    std::string clean;
    clean.reserve(s.size() + 8);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t const n = sequence_length(s, i, bad);
        if (n == 0) {
            clean += "\xEF\xBF\xBD";
            i += bad;
        } else {
            clean.append(s.substr(i, n));
            i += n;
        }
    }
    return clean;
}
}  // namespace pusher::utf8
