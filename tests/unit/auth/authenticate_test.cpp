// The CONNECT admission rule: which field of the auth payload counts, and the messages a refused client sees.
#include "auth/authenticate.hpp"

#include "auth/jwt_verifier.hpp"
#include "unit/auth/token_kit.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace {

using pusher::auth::authenticate;
using pusher::auth::clock;
using pusher::auth::failure;
using pusher::auth::failure_kind;
using pusher::auth::verify_result;

clock::time_point const now{std::chrono::seconds(1'800'000'000)};

// Accepts exactly "good-token" as alice; records what it was asked.
class fake_verifier final : public pusher::auth::verifier {
  public:
    verify_result verify(std::string_view token, clock::time_point at) const override {
        ++calls;
        seen_at = at;
        if (token == "good-token") {
            return pusher::auth::identity{"alice", at + std::chrono::hours(1)};
        }
        return failure{failure_kind::signature, "invalid signature"};
    }
    mutable int calls = 0;
    mutable clock::time_point seen_at{};
};

boost::json::value json(char const* text) {
    return boost::json::parse(text);
}

std::string refusal(verify_result const& r) {
    return r ? "<accepted " + r->user + ">" : r.error().message;
}

TEST(authenticate, token_is_verified_with_the_time_passed_in) {
    fake_verifier v;
    auto r = authenticate(json(R"({"token":"good-token"})"), &v, false, now);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->user, "alice");
    EXPECT_EQ(v.calls, 1);
    EXPECT_EQ(v.seen_at, now);
}

TEST(authenticate, verifier_refusal_is_passed_through) {
    fake_verifier v;
    auto r = authenticate(json(R"({"token":"forged"})"), &v, false, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, failure_kind::signature);
    EXPECT_EQ(r.error().message, "invalid signature");
}

TEST(authenticate, absent_null_or_empty_payload_is_missing_token) {
    fake_verifier v;
    for (auto const& payload : {boost::json::value(), json("{}"), json(R"({"token":null})"), json(R"({"token":""})"),
                                json(R"({"user":"alice"})")}) {
        auto r = authenticate(payload, &v, false, now);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().kind, failure_kind::missing_credentials);
        EXPECT_EQ(r.error().message, "missing token");
    }
    EXPECT_EQ(v.calls, 0);
}

TEST(authenticate, payload_of_the_wrong_shape_is_a_bad_request) {
    fake_verifier v;
    for (char const* text : {R"("good-token")", "[]", "42", "true"}) {
        auto r = authenticate(json(text), &v, true, now);
        ASSERT_FALSE(r.has_value()) << text;
        EXPECT_EQ(r.error().kind, failure_kind::bad_request);
        EXPECT_EQ(r.error().message, "invalid auth payload: expected an object");
    }
    for (char const* text : {R"({"token":42})", R"({"token":["good-token"]})", R"({"token":{}})"}) {
        EXPECT_EQ(refusal(authenticate(json(text), &v, true, now)), "token must be a string") << text;
    }
}

TEST(authenticate, dev_auth_trusts_user_only_without_a_token) {
    fake_verifier v;
    auto r = authenticate(json(R"({"user":"bob"})"), &v, true, now);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->user, "bob");
    EXPECT_EQ(r->expires, clock::time_point::max());
    EXPECT_EQ(v.calls, 0);
    // Without a verifier at all (dev-auth only).
    EXPECT_EQ(authenticate(json(R"({"user":"bob"})"), nullptr, true, now)->user, "bob");
    // A token wins over user, and a bad token is not rescued by user.
    EXPECT_EQ(authenticate(json(R"({"token":"good-token","user":"bob"})"), &v, true, now)->user, "alice");
    EXPECT_EQ(refusal(authenticate(json(R"({"token":"forged","user":"bob"})"), &v, true, now)), "invalid signature");
}

TEST(authenticate, dev_auth_user_must_be_a_string_of_1_to_255_bytes) {
    std::string const bad = "user must be a string of 1..255 bytes";
    EXPECT_EQ(refusal(authenticate(json(R"({"user":""})"), nullptr, true, now)), bad);
    EXPECT_EQ(refusal(authenticate(json(R"({"user":7})"), nullptr, true, now)), bad);
    EXPECT_EQ(refusal(authenticate(json(R"({"user":{"id":"a"}})"), nullptr, true, now)), bad);
    boost::json::object too_long{{"user", std::string(256, 'u')}};
    EXPECT_EQ(refusal(authenticate(too_long, nullptr, true, now)), bad);
    boost::json::object longest{{"user", std::string(255, 'u')}};
    EXPECT_EQ(authenticate(longest, nullptr, true, now)->user, std::string(255, 'u'));
    EXPECT_EQ(refusal(authenticate(json("{}"), nullptr, true, now)), "missing token or user");
    EXPECT_EQ(refusal(authenticate(boost::json::value(), nullptr, true, now)), "missing token or user");
    EXPECT_EQ(refusal(authenticate(json(R"({"user":null})"), nullptr, true, now)), "missing token or user");
}

TEST(authenticate, token_without_a_configured_verifier_is_refused) {
    auto r = authenticate(json(R"({"token":"good-token"})"), nullptr, true, now);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, failure_kind::not_configured);
    EXPECT_EQ(r.error().message, "token authentication is not configured");
}

TEST(authenticate, end_to_end_with_jwt_verifier_and_a_libjwt_token) {
    std::string const secret = "an end-to-end secret of 32+ bytes!!";
    auto v = pusher::auth::jwt_verifier::create({.secret = secret});
    ASSERT_TRUE(v.has_value());
    auto token = token_kit::libjwt_mint(JWT_ALG_HS256, secret, R"({"sub":"zoe","exp":1800000600})");
    boost::json::object payload{{"token", token}};
    auto r = authenticate(payload, v->get(), false, now);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->user, "zoe");
    EXPECT_EQ(refusal(authenticate(payload, v->get(), false, now + std::chrono::hours(1))), "token expired");
}

TEST(authenticate, failure_kinds_have_metric_names) {
    EXPECT_EQ(pusher::auth::to_string(failure_kind::expired), "expired");
    EXPECT_EQ(pusher::auth::to_string(failure_kind::missing_credentials), "missing_credentials");
    EXPECT_EQ(pusher::auth::to_string(failure_kind::not_configured), "not_configured");
}

}  // namespace
