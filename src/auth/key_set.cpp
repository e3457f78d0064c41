#include "auth/key_set.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace pusher::auth {
namespace {
constexpr std::size_t max_secret_file_bytes = 64 * 1024;

jwt_settings claims_only(jwt_settings s) {
    s.secret.clear();
    s.public_key_pem.clear();
    s.public_key_file.clear();
    return s;
}

// The secrets of a --jwt-secret-file: one per line; blank lines, `#` comments and trailing white space ignored.
boost::system::result<std::vector<std::string>, setup_error> read_secrets(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return setup_error{"cannot read the JWT secret file \"" + path + "\""};
    }
    std::stringstream all;
    all << in.rdbuf();
    if (all.str().size() > max_secret_file_bytes) {
        return setup_error{"the JWT secret file \"" + path + "\" is larger than 64 KiB"};
    }
    std::vector<std::string> out;
    std::string line;
    while (std::getline(all, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
            line.pop_back();
        }
        if (!line.empty() && line.front() != '#') {
            out.push_back(std::move(line));
        }
    }
    if (out.empty()) {
        return setup_error{"the JWT secret file \"" + path + "\" holds no secret"};
    }
    return out;
}

// --jwt-public-key: the file itself (no kid), or every *.pem of the directory by name (kid = the name without .pem).
boost::system::result<std::map<std::string, std::string>, setup_error> key_files(std::string const& path) {
    std::error_code ec;
    std::map<std::string, std::string> out;  // kid -> file, in kid order
    if (!std::filesystem::is_directory(path, ec)) {
        out.emplace("", path);
        return out;
    }
    for (auto const& e : std::filesystem::directory_iterator(path, ec)) {
        if (e.path().extension() == ".pem" && e.is_regular_file(ec)) {
            out.emplace(e.path().stem().string(), e.path().string());
        }
    }
    if (ec) {
        return setup_error{"cannot list the public key directory \"" + path + "\": " + ec.message()};
    }
    if (out.empty()) {
        return setup_error{"the public key directory \"" + path + "\" holds no *.pem file"};
    }
    return out;
}
}  // namespace

boost::system::result<std::shared_ptr<key_set const>, setup_error> key_set::load(key_sources const& s) {
    auto set = std::make_shared<key_set>();
    auto add = [&](std::string kid, jwt_settings settings) -> std::optional<setup_error> {
        auto v = jwt_verifier::create(std::move(settings));
        if (!v) {
            return v.error();
        }
        set->keys_.push_back(key{std::move(kid), std::move(*v)});
        return std::nullopt;
    };
    std::vector<std::string> secrets;
    if (!s.secret.empty()) {
        secrets.push_back(s.secret);
    }
    if (!s.secret_file.empty()) {
        auto more = read_secrets(s.secret_file);
        if (!more) {
            return more.error();
        }
        secrets.insert(secrets.end(), more->begin(), more->end());
    }
    for (auto& secret : secrets) {
        auto settings = claims_only(s.claims);
        settings.secret = std::move(secret);
        if (auto e = add({}, std::move(settings))) {
            return *e;
        }
    }
    if (!s.public_key_path.empty()) {
        auto files = key_files(s.public_key_path);
        if (!files) {
            return files.error();
        }
        for (auto const& [kid, file] : *files) {
            auto settings = claims_only(s.claims);
            settings.public_key_file = file;
            if (auto e = add(kid, std::move(settings))) {
                return *e;
            }
        }
    }
    if (set->keys_.empty()) {
        return setup_error{"no JWT key material: set a secret (HS256) or a public key (RS256 / ES256)"};
    }
    return std::shared_ptr<key_set const>(std::move(set));
}

verify_result key_set::verify(std::string_view token, clock::time_point now) const {
    auto const kid = keys_.size() > 1 ? jwt_verifier::key_id(token) : std::nullopt;
    bool const kid_known =
        kid && std::any_of(keys_.begin(), keys_.end(), [&](key const& k) { return !k.kid.empty() && k.kid == *kid; });
    std::optional<verify_result> refused;
    for (auto const& k : keys_) {
        if (kid_known && k.kid != *kid) {
            continue;
        }
        auto r = k.verifier->verify(token, now);
        if (r) {
            return r;
        }
        auto const why = r.error().kind;
        if (why != failure_kind::signature && why != failure_kind::algorithm) {
            return r;  // the token itself is wrong (malformed, expired, claims): no other key changes that
        }
        // A signature that does not match says more than an algorithm this key does not do.
        if (!refused || (why == failure_kind::signature && refused->error().kind == failure_kind::algorithm)) {
            refused = std::move(r);
        }
    }
    return refused ? std::move(*refused) : verify_result(failure{failure_kind::signature, "invalid signature"});
}

std::string key_set::describe() const {
    std::string out;
    std::size_t secrets = 0;
    for (auto const& k : keys_) {
        auto const algs = k.verifier->algorithms();
        if (algs.size() == 1 && algs.front() == "HS256") {
            ++secrets;
            continue;
        }
        if (!out.empty()) {
            out += "; ";
        }
        out += algs.empty() ? std::string("?") : algs.front();
        if (!k.kid.empty()) {
            out += " kid " + k.kid;
        }
    }
    if (secrets > 0) {
        out =
            "HS256" + (secrets > 1 ? " x" + std::to_string(secrets) : std::string()) + (out.empty() ? "" : "; ") + out;
    }
    return out;
}

reloadable_verifier::reloadable_verifier(key_sources sources, std::shared_ptr<key_set const> initial)
    : sources_(std::move(sources)), current_(std::move(initial)) {}

verify_result reloadable_verifier::verify(std::string_view token, clock::time_point now) const {
    return current_.load()->verify(token, now);
}

boost::system::result<std::string, setup_error> reloadable_verifier::reload() {
    auto fresh = key_set::load(sources_);
    if (!fresh) {
        return fresh.error();
    }
    auto description = (*fresh)->describe();
    current_.store(std::move(*fresh));
    return {boost::system::in_place_value, std::move(description)};
}
}  // namespace pusher::auth
