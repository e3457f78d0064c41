// Fuzz target: the JWS verifier (auth/jwt_verifier.hpp) with fixed HS256, RS256 and ES256 keys.
// Input: [mode] then either a raw token, or `<header JSON>\n<claims JSON>` that the target signs itself (so the
// fuzzer reaches the claim checks). mode bits 0-1: 0 raw, 1 HS256, 2 RS256, 3 ES256; bits 2-3: which verifier.
// Invariants: the verdict matches an independent reading of RFC 7515/7519 and the verifier's settings (Boost.JSON
// DOM oracle); an accepted token's user is its `sub`; changing one byte of an accepted token's claims or signature
// makes it fail with `signature` (or `malformed`); nothing throws, whatever the token.
#include "auth/jwt_verifier.hpp"
#include "fuzz_support.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <array>
#include <cmath>
#include <memory>

namespace auth = pusher::auth;
using pusher::fuzz::cursor;

namespace {
// Test keys, generated for this target only (openssl genpkey); they protect nothing.
constexpr char rsa_private_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCl7CMbwoKTPQEo\n"
    "dkRMXuAXxQMhofQhJxqLdB5X8XnDgpJgjyUxcTaTm3RyQoFrhH6O5tTUwYanjKD7\n"
    "Qhkvjx+HgA/YyO4mgZekoaU2A9JdkE2S9/a1uqHi4FK61mpe60/ndqHcQ6eOvFtA\n"
    "TkyMHv8yRtlsWca9US/YVnBxW5HGnY8INlUjHWXyMQBdOJb79vHx4mEcPJrcLUb/\n"
    "d2aLxt1Bkv6zdZqPPrjKwduKz2h/T0o3imMfWalyHFIfGks3YquxHhKJunILNpvj\n"
    "fUOKj/h3/srLkcXWnn+RGxadTa0mga3K2zkDKuaCLCEX9bPBtIR+leo5u9H02dO4\n"
    "W3DVTf/FAgMBAAECggEAG1WjdA2PnuugLvcK6e0AbJINocMRWcvcJOjInfLffTzb\n"
    "2hIDDdnppJgp7y/zK9AcXHT9T56hTSWPGM2rIglpZ5SKp8t0Zn4Xii0CL3uiMr1U\n"
    "9lco+wfn5x1PK84qoIASPh7ua//uUQbJXrb3h+cMYk9HPwEsS2CeafzVketEwQxM\n"
    "ispHvp0WPPpf0G7cIch6aFA8q9mSMLiuR8xvalcRfWPw3JcwCwhVXgVlRUZCYNsL\n"
    "lqlk7os9KJu0Nk8gwxSxhdMM6Mlum+TAqrK+xnkXT2Mov7mdB29S+DzLnWQeiXS3\n"
    "62m7nHhgtIum50vU68Q3XBm0E96w/cyTRm8cN8eTGQKBgQDR0EP1bi00jPUiKQt7\n"
    "+8TOtrGcUZYAlrQ3S+nCj/98kVjAokurn0TYWLaO8mBuIg97PULEc7RWnqlkx1tT\n"
    "pzhmmNXH5q29zVqsNbuu+otinBw0lDpckdumMttcdSOjWAipvKzBih6HZzTwkgK0\n"
    "15ZeEXgKLJJR6QDDF39exacVTQKBgQDKcnOY2702VOmGcVWMdzEnsBfm/5RZqg0o\n"
    "wJtet7YYtY1fYs4TCzX99QK6C+wgR/VvUr7M1L6WrBeaaGmcvWB26TDgorKeAUf9\n"
    "tHHY6m414MInLlo1gDIh204zQW2xZh2BvlHdzE8npD4s0dSFrb2k3No/Zx7egSrl\n"
    "LZMIGWn4WQKBgGkVnnP2Ur3XO494b0ARwWinKB3a3v48fNaVNuczqAqD4afZoXy7\n"
    "sIeLJyRBUPrYJFjdPeuW5+PaY40OLDehsSXxtmEAsFQ33goSf4YMBnPFLHtJIlHq\n"
    "29BJ+IQ+RzMwjGY3EW999fxrPKChAKoCsFU8+ppd6IsN4EvWIP0ekaihAoGAV9sN\n"
    "cYPC/EYjRfX/M0MysM+Jv/SgU70pksrrYlKFkvmPDZsaZUdTOg/PDCBKa8Purk4R\n"
    "gWC+CTNL1vWDB8NjjpcqYAIbU9iofmCFm6Y5B+avO0OxYFBu8SR0Lmgxi3AOVBTd\n"
    "AE0++KwdU2QIP68jgt1ZVXSR/+u8StLZYQVuaJkCgYAFo6djmge12+LH2cRrUZzy\n"
    "z/KBrh/gtu4qd6SL4HAXKtyWwWotHcJTjfHssIcSk88/7gb7GBMaCdWKotnvRkNy\n"
    "YlAJpkcPQzbadrPM+7PUe1a6iniPhHmGUGLf79kwNbcB8s9NMbYDNEoHjOfVnEoN\n"
    "2L6vWx5GfQNCaH9nZu2NaQ==\n"
    "-----END PRIVATE KEY-----\n";
constexpr char rsa_public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApewjG8KCkz0BKHZETF7g\n"
    "F8UDIaH0IScai3QeV/F5w4KSYI8lMXE2k5t0ckKBa4R+jubU1MGGp4yg+0IZL48f\n"
    "h4AP2MjuJoGXpKGlNgPSXZBNkvf2tbqh4uBSutZqXutP53ah3EOnjrxbQE5MjB7/\n"
    "MkbZbFnGvVEv2FZwcVuRxp2PCDZVIx1l8jEAXTiW+/bx8eJhHDya3C1G/3dmi8bd\n"
    "QZL+s3Wajz64ysHbis9of09KN4pjH1mpchxSHxpLN2KrsR4SibpyCzab431Dio/4\n"
    "d/7Ky5HF1p5/kRsWnU2tJoGtyts5AyrmgiwhF/WzwbSEfpXqObvR9NnTuFtw1U3/\n"
    "xQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
constexpr char ec_private_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNotVMckEzQHDzR6D\n"
    "gJX9TZyBKWBwSVM9Bb4AXb3DLgWhRANCAAQtZEkTVyufg3DfkiDZlMJUUma+rR8m\n"
    "JH5qTuhfORbKdVMRF1VruzfScT2VmCLFwB1rRDQE+zUbYKv+PT3RrFDK\n"
    "-----END PRIVATE KEY-----\n";
constexpr char ec_public_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELWRJE1crn4Nw35Ig2ZTCVFJmvq0f\n"
    "JiR+ak7oXzkWynVTERdVa7s30nE9lZgixcAda0Q0BPs1G2Cr/j090axQyg==\n"
    "-----END PUBLIC KEY-----\n";
constexpr char hs_secret[] = "fuzz-target-secret-not-a-real-one-0123456789";
constexpr std::int64_t now_s = 1'700'000'000;

struct verifier_case {
    std::unique_ptr<auth::jwt_verifier> v;
    auth::jwt_settings s;  // as given (the oracle reads it)
    bool hs = false, rs = false, es = false;
};

verifier_case make_case(auth::jwt_settings s) {
    verifier_case c;
    c.s = s;
    c.hs = !s.secret.empty();
    c.rs = s.public_key_pem == rsa_public_pem;
    c.es = s.public_key_pem == ec_public_pem;
    c.v = auth::jwt_verifier::create(std::move(s)).value();
    return c;
}

std::array<verifier_case, 4>& cases() {
    static std::array<verifier_case, 4> c = [] {
        std::array<verifier_case, 4> out;
        out[0] = make_case({.secret = hs_secret});
        out[1] = make_case({.public_key_pem = rsa_public_pem,
                            .leeway = std::chrono::seconds(0),
                            .require_exp = true,
                            .audience = "pusher",
                            .issuer = "https://auth.example"});
        out[2] = make_case({.public_key_pem = ec_public_pem, .leeway = std::chrono::seconds(5)});
        out[3] = make_case({.secret = hs_secret, .public_key_pem = rsa_public_pem, .audience = "pusher"});
        return out;
    }();
    return c;
}

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr load_private(char const* pem) {
    BIO* bio = BIO_new_mem_buf(pem, -1);
    pkey_ptr k(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    FUZZ_CHECK(k != nullptr);
    return k;
}

std::string b64url(std::string_view in) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 63]);
        }
    }
    if (bits > 0) {
        out.push_back(alphabet[(acc << (6 - bits)) & 63]);
    }
    return out;
}

std::string sign(int alg, std::string_view input) {
    if (alg == 1) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        HMAC(EVP_sha256(), hs_secret, sizeof hs_secret - 1, reinterpret_cast<unsigned char const*>(input.data()),
             input.size(), mac, &len);
        return std::string(reinterpret_cast<char*>(mac), len);
    }
    static pkey_ptr const rsa = load_private(rsa_private_pem);
    static pkey_ptr const ec = load_private(ec_private_pem);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    FUZZ_CHECK(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, alg == 2 ? rsa.get() : ec.get()) == 1);
    auto const* data = reinterpret_cast<unsigned char const*>(input.data());
    FUZZ_CHECK(EVP_DigestSign(ctx, nullptr, &len, data, input.size()) == 1);
    std::string sig(len, '\0');
    FUZZ_CHECK(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) == 1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    if (alg == 2) {
        return sig;
    }
    // ES256 in a JWS is r || s, 32 bytes each (RFC 7518 §3.4), not DER.
    auto const* p = reinterpret_cast<unsigned char const*>(sig.data());
    ECDSA_SIG* der = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    FUZZ_CHECK(der != nullptr);
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(der), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(der), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(der);
    return raw;
}

// What the verifier must say about a token the target signed with `alg`, from RFC 7515/7519 and the settings.
struct expectation {
    bool ok = false;
    auth::failure_kind kind = auth::failure_kind::malformed;
    std::string user;
};

std::optional<double> numeric_date(boost::json::value const& v) {
    if (v.is_int64()) {
        return static_cast<double>(v.get_int64());
    }
    if (v.is_uint64()) {
        return static_cast<double>(v.get_uint64());
    }
    if (v.is_double() && std::isfinite(v.get_double())) {
        return v.get_double();
    }
    return std::nullopt;
}

// Header and claims as the verifier reads them: Boost.JSON with its default depth limit (32), which bounds the work
// an untrusted token can ask for; deeper is `malformed`.
std::optional<boost::json::value> parse_token_json(std::string_view text) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec) {
        return std::nullopt;
    }
    return v;
}

expectation expect(verifier_case const& c, int alg, std::string_view header_json, std::string_view claims_json) {
    using fk = auth::failure_kind;
    auto fail = [](fk k) { return expectation{false, k, {}}; };
    auto const header = parse_token_json(header_json);
    if (!header || !header->is_object() || !header->as_object().contains("alg") ||
        !header->as_object().at("alg").is_string()) {
        return fail(fk::malformed);
    }
    auto const& h = header->as_object();
    std::string_view const name = h.at("alg").as_string();
    bool const allowed = (name == "HS256" && c.hs) || (name == "RS256" && c.rs) || (name == "ES256" && c.es);
    if (!allowed) {
        return fail(fk::algorithm);
    }
    if (h.contains("crit")) {
        return fail(fk::malformed);
    }
    static constexpr std::string_view names[] = {"", "HS256", "RS256", "ES256"};
    if (name != names[alg]) {
        return fail(fk::signature);  // signed with another algorithm than the header names
    }
    auto const claims_value = parse_token_json(claims_json);
    if (!claims_value || !claims_value->is_object()) {
        return fail(fk::malformed);
    }
    auto const& claims = claims_value->as_object();
    double const leeway = static_cast<double>(c.s.leeway.count());
    double const now = static_cast<double>(now_s);
    if (auto const* exp = claims.if_contains("exp")) {
        auto const t = numeric_date(*exp);
        if (!t) {
            return fail(fk::claims);
        }
        if (now >= *t + leeway) {
            return fail(fk::expired);
        }
    } else if (c.s.require_exp) {
        return fail(fk::claims);
    }
    if (auto const* nbf = claims.if_contains("nbf")) {
        auto const t = numeric_date(*nbf);
        if (!t) {
            return fail(fk::claims);
        }
        if (now + leeway < *t) {
            return fail(fk::not_yet_valid);
        }
    }
    if (!c.s.issuer.empty()) {
        auto const* iss = claims.if_contains("iss");
        if (iss == nullptr || !iss->is_string() || iss->as_string() != c.s.issuer) {
            return fail(fk::claims);
        }
    }
    if (!c.s.audience.empty()) {
        auto const* aud = claims.if_contains("aud");
        bool match = aud != nullptr && aud->is_string() && aud->as_string() == c.s.audience;
        if (aud != nullptr && aud->is_array()) {
            for (auto const& a : aud->as_array()) {
                match = match || (a.is_string() && a.as_string() == c.s.audience);
            }
        }
        if (!match) {
            return fail(fk::claims);
        }
    }
    auto const* sub = claims.if_contains("sub");
    if (sub == nullptr || !sub->is_string() || sub->as_string().empty() ||
        sub->as_string().size() > auth::max_user_bytes) {
        return fail(fk::claims);
    }
    return expectation{true, fk::malformed, std::string(sub->as_string())};
}

auth::verify_result verify(verifier_case const& c, std::string_view token) {
    auto const now = auth::clock::time_point(std::chrono::seconds(now_s));
    auto r = c.v->verify(token, now);
    if (r) {
        FUZZ_CHECK(!r->user.empty() && r->user.size() <= auth::max_user_bytes);
        FUZZ_CHECK(r->expires > now - std::chrono::seconds(c.s.leeway.count()));
    } else {
        FUZZ_CHECK(!r.error().message.empty());
    }
    return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    std::uint8_t const mode = in.byte();
    int const alg = mode & 3;
    verifier_case const& c = cases()[(mode >> 2) & 3];
    if (alg == 0) {
        verify(c, in.rest());
        return 0;
    }
    std::string_view const header_json = in.until('\n');
    std::string_view const claims_json = in.rest();
    std::string const input = b64url(header_json) + "." + b64url(claims_json);
    std::string const sig = sign(alg, input);
    std::string const token = input + "." + b64url(sig);

    auto const r = verify(c, token);
    if (token.size() > auth::jwt_verifier::max_token_bytes) {
        FUZZ_CHECK(!r && r.error().kind == auth::failure_kind::malformed);
        return 0;
    }
    expectation const want = expect(c, alg, header_json, claims_json);
    FUZZ_CHECK_MSG(r.has_value() == want.ok, r ? "accepted" : r.error().message);
    if (!r) {
        FUZZ_CHECK_MSG(r.error().kind == want.kind, r.error().message);
        return 0;
    }
    FUZZ_CHECK(r->user == want.user);

    // Tampering with an accepted token: other claims under the old signature, or a flipped signature bit.
    std::string const forged = b64url(header_json) + "." + b64url(std::string(claims_json) + " ") + "." + b64url(sig);
    auto const f = verify(c, forged);
    FUZZ_CHECK(!f &&
               (f.error().kind == auth::failure_kind::signature || f.error().kind == auth::failure_kind::malformed));
    std::string flipped = sig;
    flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x01);
    auto const g = verify(c, input + "." + b64url(flipped));
    FUZZ_CHECK(!g && g.error().kind == auth::failure_kind::signature);
    return 0;
}
