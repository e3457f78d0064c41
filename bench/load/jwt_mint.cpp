#include "jwt_mint.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace pusher::load {
std::string base64url(std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[k])); };
    for (; i + 3 <= bytes.size(); i += 3) {
        unsigned const v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    if (bytes.size() - i == 1) {
        unsigned const v = byte(i) << 16;
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
    } else if (bytes.size() - i == 2) {
        unsigned const v = (byte(i) << 16) | (byte(i + 1) << 8);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
    }
    return out;  // RFC 7515 §2: base64url without padding
}

std::string mint_hs256(std::string_view secret, std::string_view sub, std::int64_t exp_epoch_s) {
    std::string token = base64url(R"({"alg":"HS256","typ":"JWT"})");
    token += '.';
    // Benchmark user ids are [A-Za-z0-9._-]: no JSON escaping needed.
    token += base64url(R"({"sub":")" + std::string(sub) + R"(","exp":)" + std::to_string(exp_epoch_s) + "}");
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<unsigned char const*>(token.data()), token.size(), mac, &mac_len);
    token += '.';
    token += base64url(std::string_view(reinterpret_cast<char const*>(mac), mac_len));
    return token;
}
}  // namespace pusher::load
