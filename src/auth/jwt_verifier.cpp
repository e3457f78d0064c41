#include "auth/jwt_verifier.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

namespace pusher::auth {
namespace {

constexpr std::size_t hs256_bytes = 32;
constexpr std::size_t es256_half = 32;  // P-256: r and s are 32 bytes each (RFC 7518 §3.4)
constexpr std::size_t max_key_file_bytes = 1 << 20;

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct mac_free {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct mac_ctx_free {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
};

verify_result fail(failure_kind kind, std::string message) {
    // A failed EVP call may leave entries on this thread's OpenSSL error queue; nobody reads them, so drop them here
    // rather than let them leak into the next, unrelated OpenSSL user on this thread (e.g. a TLS handshake).
    ERR_clear_error();
    return failure{kind, std::move(message)};
}

// base64url without padding (RFC 7515 §2, RFC 4648 §5), strict: no '=', no white space, no '+' or '/', and the unused
// low bits of the last character must be zero, so that every token has exactly one encoding.
constexpr std::array<std::int8_t, 256> make_b64url_table() {
    std::array<std::int8_t, 256> t{};
    for (auto& v : t) {
        v = -1;
    }
    constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i) {
        t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    }
    return t;
}
constexpr auto b64url_table = make_b64url_table();

bool base64url_decode(std::string_view in, std::string& out) {
    if (in.size() % 4 == 1) {
        return false;
    }
    out.clear();
    out.reserve(in.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        auto v = b64url_table[static_cast<unsigned char>(c)];
        if (v < 0) {
            return false;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    // 2 or 4 bits left over: they must be zero (non-canonical encodings are refused).
    return (acc & ((1u << bits) - 1)) == 0;
}

// JWS ES256 signatures are r || s, 32 bytes each; EVP wants the DER `SEQUENCE { INTEGER r, INTEGER s }` of X9.62.
void append_der_integer(std::string& der, unsigned char const* p, std::size_t n) {
    while (n > 1 && p[0] == 0) {  // minimal encoding: strip leading zeros (keep one byte for zero itself)
        ++p;
        --n;
    }
    bool pad = (p[0] & 0x80) != 0;  // a set high bit would read as negative: prefix a zero byte
    der.push_back(0x02);
    der.push_back(static_cast<char>(n + (pad ? 1 : 0)));
    if (pad) {
        der.push_back(0);
    }
    der.append(reinterpret_cast<char const*>(p), n);
}

std::string es256_to_der(std::string_view raw) {
    auto const* p = reinterpret_cast<unsigned char const*>(raw.data());
    std::string body;
    append_der_integer(body, p, es256_half);
    append_der_integer(body, p + es256_half, es256_half);
    std::string der;
    der.push_back(0x30);
    der.push_back(static_cast<char>(body.size()));  // at most 2 * (2 + 33) = 70 bytes: short-form length
    der += body;
    return der;
}

// A NumericDate (RFC 7519 §2): seconds since the epoch, integer or not. Empty when absent; error when not a number.
struct numeric_date {
    bool present = false;
    bool valid = true;
    double seconds = 0;
};
numeric_date read_date(boost::json::object const& claims, std::string_view name) {
    numeric_date d;
    auto const* v = claims.if_contains(name);
    if (v == nullptr) {
        return d;
    }
    d.present = true;
    if (v->is_int64()) {
        d.seconds = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
        d.seconds = static_cast<double>(v->get_uint64());
    } else if (v->is_double() && std::isfinite(v->get_double())) {
        d.seconds = v->get_double();
    } else {
        d.valid = false;
    }
    return d;
}

clock::time_point to_time_point(double seconds) {
    using fsec = std::chrono::duration<double>;
    auto const max_s = std::chrono::duration_cast<fsec>(clock::duration::max()).count() / 2;
    if (seconds >= max_s) {
        return clock::time_point::max();
    }
    if (seconds <= -max_s) {
        return clock::time_point::min();
    }
    return clock::time_point(std::chrono::duration_cast<clock::duration>(fsec(seconds)));
}

// Parses `json` into an object, using `mr` for storage (a stack buffer: no heap for small tokens).
boost::json::object const* parse_object(std::string_view json, boost::json::value& out,
                                        boost::json::monotonic_resource& mr) {
    boost::system::error_code ec;
    out = boost::json::parse(json, ec, &mr);
    if (ec || !out.is_object()) {
        return nullptr;
    }
    return &out.as_object();
}

bool audience_matches(boost::json::value const* aud, std::string_view expected) {
    if (aud == nullptr) {
        return false;
    }
    if (aud->is_string()) {
        return aud->get_string() == expected;
    }
    if (aud->is_array()) {
        for (auto const& a : aud->get_array()) {
            if (a.is_string() && a.get_string() == expected) {
                return true;
            }
        }
    }
    return false;
}

std::optional<std::string> read_file(std::string const& path, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        error = "cannot read public key file \"" + path + "\": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string data;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && data.size() <= max_key_file_bytes) {
        data.append(buf, n);
    }
    bool bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) {
        error = "cannot read public key file \"" + path + "\"";
        return std::nullopt;
    }
    if (data.size() > max_key_file_bytes) {
        error = "public key file \"" + path + "\" is too large for a PEM key";
        return std::nullopt;
    }
    return data;
}

}  // namespace

enum class public_alg { none, rs256, es256 };

struct jwt_verifier::keys {
    std::unique_ptr<EVP_MAC_CTX, mac_ctx_free> hmac;  // keyed with the secret once; duplicated for each call
    std::unique_ptr<EVP_PKEY, pkey_free> pkey;
    public_alg alg = public_alg::none;
    std::size_t rsa_sig_bytes = 0;
};

boost::system::result<std::unique_ptr<jwt_verifier>, setup_error> jwt_verifier::create(jwt_settings settings) {
    auto k = std::make_unique<keys>();
    ERR_clear_error();
    if (!settings.secret.empty()) {
        std::unique_ptr<EVP_MAC, mac_free> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
        k->hmac.reset(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
        if (!k->hmac || EVP_MAC_init(k->hmac.get(), reinterpret_cast<unsigned char const*>(settings.secret.data()),
                                     settings.secret.size(), params) != 1) {
            ERR_clear_error();
            return setup_error{"OpenSSL cannot set up HMAC-SHA256"};
        }
    }
    if (!settings.public_key_file.empty()) {
        if (!settings.public_key_pem.empty()) {
            return setup_error{"give the public key as a PEM string or as a file, not both"};
        }
        std::string error;
        auto pem = read_file(settings.public_key_file, error);
        if (!pem) {
            return setup_error{std::move(error)};
        }
        settings.public_key_pem = std::move(*pem);
    }
    if (!settings.public_key_pem.empty()) {
        std::string const where =
            settings.public_key_file.empty() ? "public key" : "public key file \"" + settings.public_key_file + "\"";
        auto const& pem = settings.public_key_pem;
        if (pem.find("PRIVATE KEY-----") != std::string::npos) {
            return setup_error{where +
                               " holds a private key; give the server only the public key "
                               "(openssl pkey -in key.pem -pubout)"};
        }
        std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
        k->pkey.reset(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
        if (!k->pkey) {  // a certificate is fine too: use its subject public key
            bio.reset(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
            std::unique_ptr<X509, x509_free> cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)
                                                      : nullptr);
            k->pkey.reset(cert ? X509_get_pubkey(cert.get()) : nullptr);
        }
        ERR_clear_error();
        if (!k->pkey) {
            return setup_error{where +
                               ": no PEM public key found (expected -----BEGIN PUBLIC KEY----- or a "
                               "certificate)"};
        }
        if (EVP_PKEY_is_a(k->pkey.get(), "RSA")) {
            int bits = EVP_PKEY_get_bits(k->pkey.get());
            if (bits < 2048) {
                return setup_error{where + ": RSA key of " + std::to_string(bits) +
                                   " bits is too weak (RS256 needs at least 2048)"};
            }
            k->alg = public_alg::rs256;
            k->rsa_sig_bytes = static_cast<std::size_t>(EVP_PKEY_get_size(k->pkey.get()));
        } else if (EVP_PKEY_is_a(k->pkey.get(), "EC")) {
            char group[64] = {};
            std::size_t len = 0;
            if (EVP_PKEY_get_group_name(k->pkey.get(), group, sizeof group, &len) != 1) {
                group[0] = '\0';
            }
            std::string_view g(group);
            if (g != "prime256v1" && g != "P-256" && g != "secp256r1") {
                ERR_clear_error();
                return setup_error{where + ": EC key on curve \"" + std::string(g) + "\" (ES256 needs P-256)"};
            }
            k->alg = public_alg::es256;
        } else {
            char const* type = EVP_PKEY_get0_type_name(k->pkey.get());
            return setup_error{where + ": unsupported key type \"" + std::string(type ? type : "?") +
                               "\" (expected RSA or EC P-256)"};
        }
    }
    if (!k->hmac && !k->pkey) {
        return setup_error{"no JWT key material: set a secret (HS256) or a public key (RS256 / ES256)"};
    }
    // The key material now lives in `k`; keep no second copy of the secret or PEM around.
    settings.secret.clear();
    settings.public_key_pem.clear();
    if (settings.leeway.count() < 0) {
        settings.leeway = std::chrono::seconds(0);
    }
    return std::unique_ptr<jwt_verifier>(new jwt_verifier(std::move(settings), std::move(k)));
}

jwt_verifier::jwt_verifier(jwt_settings settings, std::unique_ptr<keys> k)
    : settings_(std::move(settings)), keys_(std::move(k)) {}

jwt_verifier::~jwt_verifier() = default;

std::vector<std::string> jwt_verifier::algorithms() const {
    std::vector<std::string> out;
    if (keys_->hmac) {
        out.emplace_back("HS256");
    }
    if (keys_->alg == public_alg::rs256) {
        out.emplace_back("RS256");
    } else if (keys_->alg == public_alg::es256) {
        out.emplace_back("ES256");
    }
    return out;
}

std::optional<std::string> jwt_verifier::key_id(std::string_view token) {
    auto const dot = token.find('.');
    std::string header_json;
    if (token.size() > max_token_bytes || dot == std::string_view::npos ||
        !base64url_decode(token.substr(0, dot), header_json)) {
        return std::nullopt;
    }
    unsigned char buffer[512];
    boost::json::monotonic_resource mr(buffer, sizeof buffer);
    boost::json::value header_value;
    auto const* header = parse_object(header_json, header_value, mr);
    auto const* kid = header == nullptr ? nullptr : header->if_contains("kid");
    if (kid == nullptr || !kid->is_string()) {
        return std::nullopt;
    }
    return std::string(kid->get_string());
}

verify_result jwt_verifier::verify(std::string_view token, clock::time_point now) const {
    if (token.size() > max_token_bytes) {
        return fail(failure_kind::malformed, "token too large");
    }
    auto const dot1 = token.find('.');
    auto const dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return fail(failure_kind::malformed, "malformed token");
    }
    std::string header_json;
    std::string claims_json;
    std::string sig;
    if (!base64url_decode(token.substr(0, dot1), header_json) ||
        !base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), claims_json) ||
        !base64url_decode(token.substr(dot2 + 1), sig)) {
        return fail(failure_kind::malformed, "malformed token");
    }

    unsigned char buffer[2048];  // DOM storage for header and claims; grows on the heap for unusually large tokens
    boost::json::monotonic_resource mr(buffer, sizeof buffer);
    boost::json::value header_value;
    auto const* header = parse_object(header_json, header_value, mr);
    if (header == nullptr) {
        return fail(failure_kind::malformed, "malformed token header");
    }
    auto const* alg_value = header->if_contains("alg");
    if (alg_value == nullptr || !alg_value->is_string()) {
        return fail(failure_kind::malformed, "malformed token header");
    }
    // The algorithm is pinned by the key material, never chosen by the token: an HS256 token is checked only against
    // the configured secret, so a public key can never be abused as an HMAC secret (algorithm confusion), and
    // "none" is refused like any other algorithm we hold no key for.
    auto const& alg = alg_value->get_string();
    enum class which { hs256, rs256, es256 } chosen;
    if (alg == "HS256" && keys_->hmac) {
        chosen = which::hs256;
    } else if (alg == "RS256" && keys_->alg == public_alg::rs256) {
        chosen = which::rs256;
    } else if (alg == "ES256" && keys_->alg == public_alg::es256) {
        chosen = which::es256;
    } else {
        return fail(failure_kind::algorithm, "algorithm not allowed");
    }
    // RFC 7515 §4.1.11: extensions listed in "crit" must be understood; we understand none.
    if (header->contains("crit")) {
        return fail(failure_kind::malformed, "unsupported critical header");
    }

    auto const signing_input = token.substr(0, dot2);
    auto const* data = reinterpret_cast<unsigned char const*>(signing_input.data());
    auto const* sig_bytes = reinterpret_cast<unsigned char const*>(sig.data());
    if (chosen == which::hs256) {
        std::unique_ptr<EVP_MAC_CTX, mac_ctx_free> ctx(EVP_MAC_CTX_dup(keys_->hmac.get()));
        unsigned char mac[EVP_MAX_MD_SIZE];
        std::size_t mac_len = 0;
        if (!ctx || EVP_MAC_update(ctx.get(), data, signing_input.size()) != 1 ||
            EVP_MAC_final(ctx.get(), mac, &mac_len, sizeof mac) != 1 || mac_len != hs256_bytes) {
            return fail(failure_kind::signature, "invalid signature");
        }
        // Constant time: a byte-by-byte early exit would let a client learn the MAC one byte at a time.
        if (sig.size() != hs256_bytes || CRYPTO_memcmp(mac, sig_bytes, hs256_bytes) != 0) {
            return fail(failure_kind::signature, "invalid signature");
        }
    } else {
        std::string der;
        if (chosen == which::rs256) {
            if (sig.size() != keys_->rsa_sig_bytes) {
                return fail(failure_kind::signature, "invalid signature");
            }
        } else {
            if (sig.size() != 2 * es256_half) {  // a DER signature here is a client bug, not a JWS
                return fail(failure_kind::signature, "invalid signature");
            }
            der = es256_to_der(sig);
            sig_bytes = reinterpret_cast<unsigned char const*>(der.data());
        }
        std::size_t const sig_len = der.empty() ? sig.size() : der.size();
        std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
        if (!ctx ||
            EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, keys_->pkey.get(), nullptr) != 1 ||
            EVP_DigestVerify(ctx.get(), sig_bytes, sig_len, data, signing_input.size()) != 1) {
            return fail(failure_kind::signature, "invalid signature");
        }
    }

    // Only now, with the signature checked, are the claims worth reading.
    boost::json::value claims_value;
    auto const* claims = parse_object(claims_json, claims_value, mr);
    if (claims == nullptr) {
        return fail(failure_kind::malformed, "malformed token claims");
    }
    double const now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
    auto const leeway = static_cast<double>(settings_.leeway.count());
    identity who;
    auto const exp = read_date(*claims, "exp");
    if (!exp.valid) {
        return fail(failure_kind::claims, "invalid exp claim");
    }
    if (exp.present) {
        // RFC 7519 §4.1.4: the current time must be before exp.
        if (now_s >= exp.seconds + leeway) {
            return fail(failure_kind::expired, "token expired");
        }
        who.expires = to_time_point(exp.seconds);
    } else if (settings_.require_exp) {
        return fail(failure_kind::claims, "missing exp claim");
    }
    auto const nbf = read_date(*claims, "nbf");
    if (!nbf.valid) {
        return fail(failure_kind::claims, "invalid nbf claim");
    }
    if (nbf.present && now_s + leeway < nbf.seconds) {
        return fail(failure_kind::not_yet_valid, "token not yet valid");
    }
    if (!settings_.issuer.empty()) {
        auto const* iss = claims->if_contains("iss");
        if (iss == nullptr || !iss->is_string() || iss->get_string() != settings_.issuer) {
            return fail(failure_kind::claims, "invalid issuer");
        }
    }
    if (!settings_.audience.empty() && !audience_matches(claims->if_contains("aud"), settings_.audience)) {
        return fail(failure_kind::claims, "invalid audience");
    }
    auto const* sub = claims->if_contains("sub");
    if (sub == nullptr) {
        return fail(failure_kind::claims, "missing sub claim");
    }
    if (!sub->is_string() || sub->get_string().empty() || sub->get_string().size() > max_user_bytes) {
        return fail(failure_kind::claims, "sub claim must be a string of 1..255 bytes");
    }
    who.user.assign(sub->get_string().data(), sub->get_string().size());
    // Channel grants (channels/channel.hpp decides what they allow): `channels`, an array of names or prefixes,
    // and `channel`, the one channel a per-channel token is for. Anything else in them makes the token invalid:
    // a grant that is silently ignored would be a surprise at subscribe time.
    if (auto const* chs = claims->if_contains("channels"); chs != nullptr) {
        auto const* arr = chs->if_array();
        if (arr == nullptr || arr->size() > max_channel_grants) {
            return fail(failure_kind::claims, "channels claim must be an array of at most 1000 strings");
        }
        for (auto const& c : *arr) {
            if (!c.is_string() || c.get_string().empty() || c.get_string().size() > 255) {
                return fail(failure_kind::claims, "channels claim must be an array of strings of 1..255 bytes");
            }
            who.channels.emplace_back(c.get_string().data(), c.get_string().size());
        }
    }
    if (auto const* ch = claims->if_contains("channel"); ch != nullptr) {
        if (!ch->is_string() || ch->get_string().empty() || ch->get_string().size() > 255) {
            return fail(failure_kind::claims, "channel claim must be a string of 1..255 bytes");
        }
        who.channel.assign(ch->get_string().data(), ch->get_string().size());
    }
    return who;
}

}  // namespace pusher::auth
