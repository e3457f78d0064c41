#pragma once
// key_set: the token verification keys in force, so that keys rotate without downtime: several HS256 secrets (one
// per line of --jwt-secret-file, beside --jwt-secret) and several public keys (--jwt-public-key: a PEM file, or a
// directory whose every *.pem is a key, named by its `kid` = the file name without .pem). Each key is a jwt_verifier
// with the same claim rules. A token whose header names a `kid` that a key has is checked against that key only;
// any other token is tried against each key in turn, and the first whose signature matches decides.
// reloadable_verifier holds the set in force and swaps a freshly read one in on SIGHUP.
#include "auth/jwt_verifier.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace pusher::auth {
// Where the keys come from (re-read on every reload), and the claim rules every key shares.
struct key_sources {
    std::string secret;           // --jwt-secret
    std::string secret_file;      // --jwt-secret-file: one secret per line (blank lines and `#` lines skipped)
    std::string public_key_path;  // --jwt-public-key: a PEM file, or a directory of *.pem files
    jwt_settings claims;          // leeway, require_exp, audience, issuer (its key members are ignored)

    bool empty() const { return secret.empty() && secret_file.empty() && public_key_path.empty(); }
};

class key_set final : public verifier {
  public:
    // Reads every source; any unreadable or unusable key is an error naming it. At least one key is required.
    static boost::system::result<std::shared_ptr<key_set const>, setup_error> load(key_sources const& s);

    verify_result verify(std::string_view token, clock::time_point now) const override;
    // For the log: "HS256 x2; RS256 kid 2026-12; ES256 kid old".
    std::string describe() const;
    std::size_t size() const { return keys_.size(); }

  private:
    struct key {
        std::string kid;  // empty for secrets and for a single public key file
        std::unique_ptr<jwt_verifier> verifier;
    };
    std::vector<key> keys_;
};

// The verifier the server holds for its whole life: the key set in force, replaced atomically by reload(). A reload
// that fails keeps the set in force. verify() costs one atomic shared_ptr load more than the set's own.
class reloadable_verifier final : public verifier {
  public:
    reloadable_verifier(key_sources sources, std::shared_ptr<key_set const> initial);

    verify_result verify(std::string_view token, clock::time_point now) const override;
    // Re-reads the sources: the new set's description, or why not (the old set stays in force).
    boost::system::result<std::string, setup_error> reload();
    std::shared_ptr<key_set const> current() const { return current_.load(); }

  private:
    key_sources const sources_;
    std::atomic<std::shared_ptr<key_set const>> current_;
};
}  // namespace pusher::auth
