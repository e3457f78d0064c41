// jwt_verifier against tokens minted by libjwt (an independent implementation) and by raw OpenSSL for the hostile
// cases libjwt will not produce. Keys are generated at test time; time is passed in.
#include "auth/jwt_verifier.hpp"

#include "unit/auth/token_kit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;
using pusher::auth::clock;
using pusher::auth::failure_kind;
using pusher::auth::jwt_settings;
using pusher::auth::jwt_verifier;
using token_kit::b64url;
using token_kit::libjwt_mint;

constexpr std::int64_t t0 = 1'800'000'000;  // "now" in every test (2027-01-15)
clock::time_point const now{std::chrono::seconds(t0)};
std::string const secret = "0123456789abcdef0123456789abcdef-test-secret";

std::string claims(std::string const& sub, std::int64_t exp_offset = 3600) {
    return R"({"sub":")" + sub + R"(","exp":)" + std::to_string(t0 + exp_offset) + "}";
}

class jwt_verifier_test : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir = new token_kit::temp_dir();
        rsa = token_kit::rsa_key(2048).release();
        rsa_other = token_kit::rsa_key(2048).release();
        ec = token_kit::ec_key("P-256").release();
        ec_other = token_kit::ec_key("P-256").release();
        ASSERT_NE(rsa, nullptr);
        ASSERT_NE(ec, nullptr);
        rsa_pub_file = dir->write("rsa.pub.pem", token_kit::public_pem(rsa));
        ec_pub_file = dir->write("ec.pub.pem", token_kit::public_pem(ec));
    }
    static void TearDownTestSuite() {
        EVP_PKEY_free(rsa);
        EVP_PKEY_free(rsa_other);
        EVP_PKEY_free(ec);
        EVP_PKEY_free(ec_other);
        delete dir;
    }

    static std::unique_ptr<jwt_verifier> make(jwt_settings s) {
        auto r = jwt_verifier::create(std::move(s));
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
        return r ? std::move(*r) : nullptr;
    }
    static std::unique_ptr<jwt_verifier> hs(std::chrono::seconds leeway = 30s) {
        return make({.secret = secret, .leeway = leeway});
    }
    static std::unique_ptr<jwt_verifier> rs() { return make({.public_key_file = rsa_pub_file}); }
    static std::unique_ptr<jwt_verifier> es() { return make({.public_key_file = ec_pub_file}); }

    // Expects a refusal of `kind` with exactly `message`.
    static void expect_refused(jwt_verifier const& v, std::string const& token, failure_kind kind,
                               std::string const& message, clock::time_point at = now) {
        auto r = v.verify(token, at);
        ASSERT_FALSE(r.has_value()) << "accepted " << token;
        EXPECT_EQ(r.error().kind, kind) << pusher::auth::to_string(r.error().kind);
        EXPECT_EQ(r.error().message, message);
    }
    static std::string accepted_user(jwt_verifier const& v, std::string const& token, clock::time_point at = now) {
        auto r = v.verify(token, at);
        EXPECT_TRUE(r.has_value()) << r.error().message << " for " << token;
        return r ? r->user : std::string("<refused>");
    }

    static inline token_kit::temp_dir* dir = nullptr;
    static inline EVP_PKEY* rsa = nullptr;
    static inline EVP_PKEY* rsa_other = nullptr;
    static inline EVP_PKEY* ec = nullptr;
    static inline EVP_PKEY* ec_other = nullptr;
    static inline std::string rsa_pub_file;
    static inline std::string ec_pub_file;
};

// ---- the three algorithms, good tokens ----

TEST_F(jwt_verifier_test, hs256_from_libjwt_is_accepted_with_user_and_expiry) {
    auto v = hs();
    auto r = v->verify(libjwt_mint(JWT_ALG_HS256, secret, claims("alice")), now);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->user, "alice");
    EXPECT_EQ(r->expires, clock::time_point(std::chrono::seconds(t0 + 3600)));
}

TEST_F(jwt_verifier_test, token_without_exp_never_expires_unless_exp_is_required) {
    auto token = libjwt_mint(JWT_ALG_HS256, secret, R"({"sub":"alice"})");
    auto r = hs()->verify(token, now);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->expires, clock::time_point::max());
    auto strict = make({.secret = secret, .require_exp = true});
    expect_refused(*strict, token, failure_kind::claims, "missing exp claim");
}

TEST_F(jwt_verifier_test, rs256_from_libjwt_is_accepted) {
    auto token = libjwt_mint(JWT_ALG_RS256, token_kit::private_pem(rsa), claims("bob"));
    EXPECT_EQ(accepted_user(*rs(), token), "bob");
}

TEST_F(jwt_verifier_test, es256_from_libjwt_is_accepted) {
    auto token = libjwt_mint(JWT_ALG_ES256, token_kit::private_pem(ec), claims("carol"));
    EXPECT_EQ(accepted_user(*es(), token), "carol");
}

TEST_F(jwt_verifier_test, es256_signed_by_hand_with_raw_r_s_is_accepted) {
    auto token = token_kit::raw_signed(ec, R"({"alg":"ES256","typ":"JWT"})", claims("dave"));
    EXPECT_EQ(accepted_user(*es(), token), "dave");
}

TEST_F(jwt_verifier_test, es256_with_a_der_signature_is_refused) {
    // RFC 7518 §3.4: the JWS signature is r || s; a DER blob is what OpenSSL emits, not a valid JWS.
    auto token = token_kit::raw_signed(ec, R"({"alg":"ES256"})", claims("dave"), /*raw_es256=*/false);
    expect_refused(*es(), token, failure_kind::signature, "invalid signature");
}

TEST_F(jwt_verifier_test, es256_r_and_s_with_high_bits_and_leading_zeros_convert_to_der) {
    // Many signatures exercise the DER padding paths; each must verify.
    auto v = es();
    for (int i = 0; i < 64; ++i) {
        std::string user = "u";  // (not "u" + to_string: GCC 12 warns falsely, -Wrestrict)
        user += std::to_string(i);
        auto token = token_kit::raw_signed(ec, R"({"alg":"ES256"})", claims(user));
        ASSERT_EQ(accepted_user(*v, token), user);
    }
}

TEST_F(jwt_verifier_test, certificate_pem_works_in_place_of_a_public_key) {
    auto v = make({.public_key_pem = token_kit::certificate_pem(rsa)});
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->algorithms(), std::vector<std::string>{"RS256"});
    EXPECT_EQ(accepted_user(*v, libjwt_mint(JWT_ALG_RS256, token_kit::private_pem(rsa), claims("erin"))), "erin");
}

TEST_F(jwt_verifier_test, secret_and_public_key_together_accept_both_algorithms) {
    auto v = make({.secret = secret, .public_key_file = ec_pub_file});
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->algorithms(), (std::vector<std::string>{"HS256", "ES256"}));
    EXPECT_EQ(accepted_user(*v, libjwt_mint(JWT_ALG_HS256, secret, claims("a"))), "a");
    EXPECT_EQ(accepted_user(*v, libjwt_mint(JWT_ALG_ES256, token_kit::private_pem(ec), claims("b"))), "b");
    expect_refused(*v, libjwt_mint(JWT_ALG_RS256, token_kit::private_pem(rsa), claims("c")), failure_kind::algorithm,
                   "algorithm not allowed");
}

// ---- signatures ----

TEST_F(jwt_verifier_test, wrong_secret_is_refused) {
    auto token = libjwt_mint(JWT_ALG_HS256, "another secret entirely, also long enough", claims("alice"));
    expect_refused(*hs(), token, failure_kind::signature, "invalid signature");
}

TEST_F(jwt_verifier_test, tampered_payload_is_refused) {
    for (auto alg : {JWT_ALG_HS256, JWT_ALG_RS256, JWT_ALG_ES256}) {
        auto key = alg == JWT_ALG_HS256   ? secret
                   : alg == JWT_ALG_RS256 ? token_kit::private_pem(rsa)
                                          : token_kit::private_pem(ec);
        auto v = alg == JWT_ALG_HS256 ? hs() : alg == JWT_ALG_RS256 ? rs() : es();
        auto token = libjwt_mint(alg, key, claims("alice"));
        auto d1 = token.find('.');
        auto d2 = token.find('.', d1 + 1);
        auto forged = token.substr(0, d1 + 1) + b64url(claims("mallory")) + token.substr(d2);
        expect_refused(*v, forged, failure_kind::signature, "invalid signature");
    }
}

TEST_F(jwt_verifier_test, tampered_signature_is_refused) {
    for (auto alg : {JWT_ALG_HS256, JWT_ALG_RS256, JWT_ALG_ES256}) {
        auto key = alg == JWT_ALG_HS256   ? secret
                   : alg == JWT_ALG_RS256 ? token_kit::private_pem(rsa)
                                          : token_kit::private_pem(ec);
        auto v = alg == JWT_ALG_HS256 ? hs() : alg == JWT_ALG_RS256 ? rs() : es();
        auto token = libjwt_mint(alg, key, claims("alice"));
        auto sig_at = token.rfind('.') + 1;
        auto flipped = token;
        flipped[sig_at] = flipped[sig_at] == 'A' ? 'B' : 'A';
        expect_refused(*v, flipped, failure_kind::signature, "invalid signature");
        expect_refused(*v, token.substr(0, sig_at), failure_kind::signature, "invalid signature");  // empty
        expect_refused(*v, token.substr(0, sig_at) + b64url(std::string(31, 's')), failure_kind::signature,
                       "invalid signature");  // wrong length
    }
}

TEST_F(jwt_verifier_test, signature_by_another_key_is_refused) {
    expect_refused(*rs(), libjwt_mint(JWT_ALG_RS256, token_kit::private_pem(rsa_other), claims("x")),
                   failure_kind::signature, "invalid signature");
    expect_refused(*es(), libjwt_mint(JWT_ALG_ES256, token_kit::private_pem(ec_other), claims("x")),
                   failure_kind::signature, "invalid signature");
}

// ---- algorithms ----

TEST_F(jwt_verifier_test, alg_none_is_refused_by_every_verifier) {
    for (std::string alg : {"none", "None", "NONE", "nOnE"}) {
        auto unsigned_token = b64url(R"({"alg":")" + alg + R"(","typ":"JWT"})") + "." + b64url(claims("root")) + ".";
        for (auto* v : {hs().release(), rs().release(), es().release()}) {
            std::unique_ptr<jwt_verifier> owned(v);
            expect_refused(*v, unsigned_token, failure_kind::algorithm, "algorithm not allowed");
            // ... even with some bytes in the signature slot.
            expect_refused(*v, unsigned_token + b64url("sig"), failure_kind::algorithm, "algorithm not allowed");
        }
    }
}

TEST_F(jwt_verifier_test, alg_confusion_hs256_signed_with_the_public_key_pem_is_refused) {
    // The classic attack: the verifier's own public key, which is public, used as an HMAC secret.
    auto const pub_pem = token_kit::public_pem(rsa);
    auto token = libjwt_mint(JWT_ALG_HS256, pub_pem, claims("admin"));
    expect_refused(*rs(), token, failure_kind::algorithm, "algorithm not allowed");
    // With a secret configured too, the HS256 token is checked against that secret only.
    auto both = make({.secret = secret, .public_key_file = rsa_pub_file});
    expect_refused(*both, token, failure_kind::signature, "invalid signature");
    // Same for the EC key.
    auto ec_token = libjwt_mint(JWT_ALG_HS256, token_kit::public_pem(ec), claims("admin"));
    expect_refused(*es(), ec_token, failure_kind::algorithm, "algorithm not allowed");
}

TEST_F(jwt_verifier_test, algorithms_not_pinned_by_the_key_are_refused) {
    expect_refused(*hs(), libjwt_mint(JWT_ALG_HS512, secret, claims("a")), failure_kind::algorithm,
                   "algorithm not allowed");
    expect_refused(*hs(), libjwt_mint(JWT_ALG_RS256, token_kit::private_pem(rsa), claims("a")), failure_kind::algorithm,
                   "algorithm not allowed");
    expect_refused(*rs(), libjwt_mint(JWT_ALG_ES256, token_kit::private_pem(ec), claims("a")), failure_kind::algorithm,
                   "algorithm not allowed");
    expect_refused(*es(), libjwt_mint(JWT_ALG_RS256, token_kit::private_pem(rsa), claims("a")), failure_kind::algorithm,
                   "algorithm not allowed");
    expect_refused(*rs(), libjwt_mint(JWT_ALG_RS512, token_kit::private_pem(rsa), claims("a")), failure_kind::algorithm,
                   "algorithm not allowed");
    expect_refused(*hs(), token_kit::raw_hs256(R"({"alg":"hs256"})", claims("a"), secret), failure_kind::algorithm,
                   "algorithm not allowed");
}

TEST_F(jwt_verifier_test, crit_header_is_refused) {
    auto token = token_kit::raw_hs256(R"({"alg":"HS256","crit":["exp"],"exp":1})", claims("a"), secret);
    expect_refused(*hs(), token, failure_kind::malformed, "unsupported critical header");
}

// ---- time ----

TEST_F(jwt_verifier_test, expired_beyond_the_leeway_is_refused) {
    expect_refused(*hs(30s), libjwt_mint(JWT_ALG_HS256, secret, claims("a", -31)), failure_kind::expired,
                   "token expired");
    expect_refused(*hs(30s), libjwt_mint(JWT_ALG_HS256, secret, claims("a", -30)), failure_kind::expired,
                   "token expired");
    expect_refused(*hs(0s), libjwt_mint(JWT_ALG_HS256, secret, claims("a", 0)), failure_kind::expired, "token expired");
}

TEST_F(jwt_verifier_test, expired_within_the_leeway_is_accepted) {
    EXPECT_EQ(accepted_user(*hs(30s), libjwt_mint(JWT_ALG_HS256, secret, claims("a", -29))), "a");
    EXPECT_EQ(accepted_user(*hs(0s), libjwt_mint(JWT_ALG_HS256, secret, claims("a", 1))), "a");
    // The same token, later: time is an argument, not read inside.
    auto token = libjwt_mint(JWT_ALG_HS256, secret, claims("a", 100));
    EXPECT_EQ(accepted_user(*hs(0s), token, now + 99s), "a");
    expect_refused(*hs(0s), token, failure_kind::expired, "token expired", now + 100s);
}

TEST_F(jwt_verifier_test, not_before_in_the_future_is_refused_beyond_the_leeway) {
    auto nbf = [](std::int64_t offset) { return R"({"sub":"a","nbf":)" + std::to_string(t0 + offset) + "}"; };
    expect_refused(*hs(30s), libjwt_mint(JWT_ALG_HS256, secret, nbf(60)), failure_kind::not_yet_valid,
                   "token not yet valid");
    expect_refused(*hs(0s), libjwt_mint(JWT_ALG_HS256, secret, nbf(1)), failure_kind::not_yet_valid,
                   "token not yet valid");
    EXPECT_EQ(accepted_user(*hs(30s), libjwt_mint(JWT_ALG_HS256, secret, nbf(30))), "a");
    EXPECT_EQ(accepted_user(*hs(0s), libjwt_mint(JWT_ALG_HS256, secret, nbf(0))), "a");
}

TEST_F(jwt_verifier_test, numeric_dates_may_be_fractional_but_must_be_numbers) {
    auto v = hs(0s);
    auto ok = token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":"a","exp":)" + std::to_string(t0) + ".5}", secret);
    EXPECT_EQ(accepted_user(*v, ok), "a");
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":"a","exp":"2030-01-01"})", secret),
                   failure_kind::claims, "invalid exp claim");
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":"a","exp":1e400})", secret),
                   failure_kind::claims, "invalid exp claim");
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":"a","nbf":null})", secret),
                   failure_kind::claims, "invalid nbf claim");
    // Far-future expiry saturates instead of overflowing the clock.
    auto far = v->verify(token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":"a","exp":1e300})", secret), now);
    ASSERT_TRUE(far.has_value());
    EXPECT_EQ(far->expires, clock::time_point::max());
}

// ---- sub, aud, iss ----

TEST_F(jwt_verifier_test, sub_must_be_a_string_of_1_to_255_bytes) {
    auto v = hs();
    expect_refused(*v, libjwt_mint(JWT_ALG_HS256, secret, R"({"exp":1900000000})"), failure_kind::claims,
                   "missing sub claim");
    std::string const bad = "sub claim must be a string of 1..255 bytes";
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":""})", secret), failure_kind::claims, bad);
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":42})", secret), failure_kind::claims, bad);
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":null})", secret), failure_kind::claims,
                   bad);
    expect_refused(*v, libjwt_mint(JWT_ALG_HS256, secret, claims(std::string(256, 'x'))), failure_kind::claims, bad);
    EXPECT_EQ(accepted_user(*v, libjwt_mint(JWT_ALG_HS256, secret, claims(std::string(255, 'x')))),
              std::string(255, 'x'));
    EXPECT_EQ(accepted_user(*v, libjwt_mint(JWT_ALG_HS256, secret, claims("\u00e9l\u00e8ve@example.com"))),
              "\u00e9l\u00e8ve@example.com");
}

TEST_F(jwt_verifier_test, channel_grants_are_read_and_must_be_well_formed) {
    auto v = hs();
    auto r = v->verify(libjwt_mint(JWT_ALG_HS256, secret, R"({"sub":"a","channels":["chat:*","news"]})"), now);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->channels, (std::vector<std::string>{"chat:*", "news"}));
    EXPECT_EQ(r->channel, "");
    auto one = v->verify(libjwt_mint(JWT_ALG_HS256, secret, R"({"sub":"a","channel":"room:9"})"), now);
    ASSERT_TRUE(one.has_value()) << one.error().message;
    EXPECT_EQ(one->channel, "room:9");
    EXPECT_TRUE(one->channels.empty());
    auto const raw = [&](char const* claims) { return token_kit::raw_hs256(R"({"alg":"HS256"})", claims, secret); };
    expect_refused(*v, raw(R"({"sub":"a","channels":"chat:*"})"), failure_kind::claims,
                   "channels claim must be an array of at most 1000 strings");
    expect_refused(*v, raw(R"({"sub":"a","channels":["ok",7]})"), failure_kind::claims,
                   "channels claim must be an array of strings of 1..255 bytes");
    expect_refused(*v, raw(R"({"sub":"a","channels":[""]})"), failure_kind::claims,
                   "channels claim must be an array of strings of 1..255 bytes");
    expect_refused(*v, raw(R"({"sub":"a","channel":["x"]})"), failure_kind::claims,
                   "channel claim must be a string of 1..255 bytes");
}

TEST_F(jwt_verifier_test, audience_and_issuer_are_checked_when_configured) {
    auto v = make({.secret = secret, .audience = "pusher", .issuer = "https://id.example.com"});
    auto mint = [](std::string const& extra) {
        return token_kit::raw_hs256(R"({"alg":"HS256"})", R"({"sub":"a")" + extra + "}", secret);
    };
    std::string const iss = R"(,"iss":"https://id.example.com")";
    EXPECT_EQ(accepted_user(*v, mint(iss + R"(,"aud":"pusher")")), "a");
    EXPECT_EQ(accepted_user(*v, mint(iss + R"(,"aud":["web","pusher"])")), "a");
    expect_refused(*v, mint(iss + R"(,"aud":"web")"), failure_kind::claims, "invalid audience");
    expect_refused(*v, mint(iss + R"(,"aud":["web",1])"), failure_kind::claims, "invalid audience");
    expect_refused(*v, mint(iss + R"(,"aud":{"pusher":true})"), failure_kind::claims, "invalid audience");
    expect_refused(*v, mint(iss), failure_kind::claims, "invalid audience");
    expect_refused(*v, mint(R"(,"aud":"pusher")"), failure_kind::claims, "invalid issuer");
    expect_refused(*v, mint(R"(,"aud":"pusher","iss":"https://evil.example.com")"), failure_kind::claims,
                   "invalid issuer");
    // Not configured: not checked.
    EXPECT_EQ(accepted_user(*hs(), mint(R"(,"aud":"anything","iss":"anyone")")), "a");
}

// ---- malformed input ----

TEST_F(jwt_verifier_test, malformed_tokens_are_refused_with_a_clear_message) {
    auto v = hs();
    auto good = libjwt_mint(JWT_ALG_HS256, secret, claims("alice"));
    auto d1 = good.find('.');
    for (std::string token : {std::string(), std::string("abc"), std::string("a.b"), good + ".x", std::string("..."),
                              good.substr(0, d1) + "+" + good.substr(d1),      // '+' is not base64url
                              good.substr(0, d1) + "=" + good.substr(d1),      // no padding in JWS
                              good.substr(0, d1) + "A" + good.substr(d1),      // length % 4 == 1
                              good.substr(0, d1 - 1) + " " + good.substr(d1),  // white space
                              good + "\n"}) {
        expect_refused(*v, token, failure_kind::malformed, "malformed token");
    }
    // Three empty parts are well-formed base64url; the (empty) header is what is wrong.
    expect_refused(*v, "..", failure_kind::malformed, "malformed token header");
}

TEST_F(jwt_verifier_test, non_canonical_base64url_is_refused) {
    // "e30" is "{}"; "e31" decodes to the same bytes but sets unused low bits.
    auto v = hs();
    auto token = token_kit::raw_hs256(R"({"alg":"HS256"})", "{}", secret);
    auto d1 = token.find('.');
    auto d2 = token.find('.', d1 + 1);
    ASSERT_EQ(token.substr(d1 + 1, d2 - d1 - 1), "e30");
    expect_refused(*v, token.substr(0, d1 + 1) + "e31" + token.substr(d2), failure_kind::malformed, "malformed token");
}

TEST_F(jwt_verifier_test, headers_that_are_not_json_objects_are_refused) {
    auto v = hs();
    for (std::string header : {"not json", "[\"HS256\"]", "\"HS256\"", "{\"alg\":\"HS256\"", "{}", "{\"alg\":256}",
                               "{\"alg\":\"HS256\"} trailing", "{\"alg\":\"HS256\",}"}) {
        expect_refused(*v, token_kit::raw_hs256(header, claims("a"), secret), failure_kind::malformed,
                       "malformed token header");
    }
}

TEST_F(jwt_verifier_test, claims_that_are_not_json_objects_are_refused_after_the_signature_check) {
    auto v = hs();
    for (std::string body : {"not json", "[1,2]", "\"alice\"", "{\"sub\":\"a\"", "", "{\"sub\":\"a\"}x"}) {
        expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", body, secret), failure_kind::malformed,
                       "malformed token claims");
    }
    // Badly signed garbage claims report the signature, not the parse: claims are not read before verification.
    expect_refused(*v, token_kit::raw_hs256(R"({"alg":"HS256"})", "not json", "wrong secret"), failure_kind::signature,
                   "invalid signature");
}

TEST_F(jwt_verifier_test, oversized_tokens_are_refused_before_any_work) {
    auto v = hs();
    auto big = libjwt_mint(JWT_ALG_HS256, secret, R"({"sub":"a","pad":")" + std::string(9000, 'p') + "\"}");
    ASSERT_GT(big.size(), jwt_verifier::max_token_bytes);
    expect_refused(*v, big, failure_kind::malformed, "token too large");
    // Just under the limit is fine (and exercises the DOM growing past its stack buffer).
    auto fits = libjwt_mint(JWT_ALG_HS256, secret, R"({"sub":"a","pad":")" + std::string(5000, 'p') + "\"}");
    EXPECT_EQ(accepted_user(*v, fits), "a");
}

// ---- construction ----

TEST_F(jwt_verifier_test, factory_reports_clear_errors_for_bad_key_material) {
    auto error_of = [](jwt_settings s) {
        auto r = jwt_verifier::create(std::move(s));
        return r ? std::string("<created>") : r.error().message;
    };
    EXPECT_EQ(error_of({}), "no JWT key material: set a secret (HS256) or a public key (RS256 / ES256)");

    auto missing = dir->path("missing.pem");
    EXPECT_EQ(error_of({.public_key_file = missing}),
              "cannot read public key file \"" + missing + "\": No such file or directory");

    auto garbage = dir->write("garbage.pem", "this is not a key\n");
    EXPECT_EQ(error_of({.public_key_file = garbage}),
              "public key file \"" + garbage +
                  "\": no PEM public key found (expected -----BEGIN PUBLIC KEY----- or a certificate)");

    auto priv = dir->write("rsa.key.pem", token_kit::private_pem(rsa));
    EXPECT_EQ(error_of({.public_key_file = priv}),
              "public key file \"" + priv +
                  "\" holds a private key; give the server only the public key (openssl pkey -in key.pem -pubout)");

    auto weak = token_kit::rsa_key(1024);
    EXPECT_EQ(error_of({.public_key_pem = token_kit::public_pem(weak.get())}),
              "public key: RSA key of 1024 bits is too weak (RS256 needs at least 2048)");

    auto p384 = token_kit::ec_key("P-384");
    EXPECT_EQ(error_of({.public_key_pem = token_kit::public_pem(p384.get())}),
              "public key: EC key on curve \"secp384r1\" (ES256 needs P-256)");

    auto ed = token_kit::ed25519_key();
    EXPECT_EQ(error_of({.public_key_pem = token_kit::public_pem(ed.get())}),
              "public key: unsupported key type \"ED25519\" (expected RSA or EC P-256)");

    EXPECT_EQ(error_of({.public_key_pem = token_kit::public_pem(ec), .public_key_file = ec_pub_file}),
              "give the public key as a PEM string or as a file, not both");
}

TEST_F(jwt_verifier_test, algorithms_follow_the_key_material) {
    EXPECT_EQ(hs()->algorithms(), std::vector<std::string>{"HS256"});
    EXPECT_EQ(rs()->algorithms(), std::vector<std::string>{"RS256"});
    EXPECT_EQ(es()->algorithms(), std::vector<std::string>{"ES256"});
}

// ---- threads ----

TEST_F(jwt_verifier_test, concurrent_verification_from_many_threads) {
    auto both = make({.secret = secret, .public_key_file = ec_pub_file});
    auto hs_token = libjwt_mint(JWT_ALG_HS256, secret, claims("alice"));
    auto es_token = libjwt_mint(JWT_ALG_ES256, token_kit::private_pem(ec), claims("bob"));
    auto bad_token = libjwt_mint(JWT_ALG_HS256, "wrong secret wrong secret wrong!!", claims("eve"));
    std::atomic<int> good{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                auto a = both->verify(hs_token, now);
                auto b = both->verify(es_token, now);
                auto c = both->verify(bad_token, now);
                good += (a && a->user == "alice") + (b && b->user == "bob");
                refused += !c;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(good.load(), 4 * 200 * 2);
    EXPECT_EQ(refused.load(), 4 * 200);
}

}  // namespace
