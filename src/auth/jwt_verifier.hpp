#pragma once
// JWS compact tokens (RFC 7515/7519) verified on OpenSSL 3 EVP: HS256 with a shared secret, RS256 with an RSA public
// key, ES256 with a P-256 public key. Owns the parsed key material (parsed once, at construction); immutable after
// that, so verify() may run on every worker thread at once (each call uses its own EVP contexts).
#include "auth/verifier.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pusher::auth {

struct jwt_settings {
    std::string secret;               // non-empty: accept HS256 tokens signed with it
    std::string public_key_pem;       // PEM public key (or certificate): RSA >= 2048 bits -> RS256, P-256 -> ES256
    std::string public_key_file;      // alternatively, the path of that PEM (not both)
    std::chrono::seconds leeway{30};  // clock skew tolerated on exp and nbf
    bool require_exp = false;         // refuse tokens without `exp` (RFC 7519 makes it optional)
    std::string audience;             // non-empty: `aud` must be it or an array containing it
    std::string issuer;               // non-empty: `iss` must equal it
};

// A configuration problem found while building a verifier (unreadable file, not a public key, weak key, ...).
struct setup_error {
    std::string message;
};
[[noreturn]] inline void throw_exception_from_error(setup_error const& e, boost::source_location const&) {
    throw std::runtime_error(e.message);
}

class jwt_verifier final : public verifier {
  public:
    inline static constexpr std::size_t max_token_bytes = 8192;

    // Parses the key material; at least one of secret / public key is required. Errors are one clear line.
    static boost::system::result<std::unique_ptr<jwt_verifier>, setup_error> create(jwt_settings settings);

    ~jwt_verifier() override;
    jwt_verifier(jwt_verifier const&) = delete;
    jwt_verifier& operator=(jwt_verifier const&) = delete;

    verify_result verify(std::string_view token, clock::time_point now) const override;

    // The algorithms this verifier accepts, pinned by its key material ("HS256", "RS256", "ES256"), for the log.
    std::vector<std::string> algorithms() const;

    // The `kid` of a token's header (RFC 7515 §4.1.4), when it has a readable one; nothing is verified.
    static std::optional<std::string> key_id(std::string_view token);

  private:
    struct keys;
    jwt_verifier(jwt_settings settings, std::unique_ptr<keys> k);

    jwt_settings settings_;
    std::unique_ptr<keys> keys_;
};

}  // namespace pusher::auth
