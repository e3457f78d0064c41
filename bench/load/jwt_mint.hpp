#pragma once
// Mints HS256 JWTs for the load generator's users (claim `sub` = user, `exp`), so that connection set-up measures
// the server's token check. OpenSSL's one-shot HMAC; about 2 us per token.
#include <cstdint>
#include <string>
#include <string_view>

namespace pusher::load {
std::string base64url(std::string_view bytes);
std::string mint_hs256(std::string_view secret, std::string_view sub, std::int64_t exp_epoch_s);
}  // namespace pusher::load
