// The channel rules: names, grants, the subscribe / unsubscribe arguments, and who may subscribe.
#include "channels/channel.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace pusher::channels {
namespace {
// A verifier for the tests: a token "<user>|<channel>" verifies as that user with that `channel` claim;
// "expired" fails.
class fake_verifier final : public auth::verifier {
  public:
    auth::verify_result verify(std::string_view token, auth::clock::time_point) const override {
        auto const bar = token.find('|');
        if (token == "expired" || bar == std::string_view::npos) {
            return auth::failure{auth::failure_kind::expired, "token expired"};
        }
        auth::identity who;
        who.user = std::string(token.substr(0, bar));
        who.channel = std::string(token.substr(bar + 1));
        return who;
    }
};

auth::identity alice(std::vector<std::string> grants = {}) {
    auth::identity who;
    who.user = "alice";
    who.channels = std::move(grants);
    return who;
}

request sub(std::string channel, std::string token = {}) {
    return request{action::subscribe, std::move(channel), std::move(token)};
}

std::string refused(std::variant<request, refusal> const& r) {
    auto const* no = std::get_if<refusal>(&r);
    return no == nullptr ? std::string("(accepted)") : std::string(no->reason);
}

TEST(channels, names_are_1_to_200_of_a_small_alphabet) {
    EXPECT_TRUE(valid_name("chat:42"));
    EXPECT_TRUE(valid_name("a"));
    EXPECT_TRUE(valid_name("AZaz09_-:.@/"));
    EXPECT_TRUE(valid_name(std::string(200, 'x')));
    EXPECT_FALSE(valid_name(std::string(201, 'x')));
    EXPECT_FALSE(valid_name(""));
    EXPECT_FALSE(valid_name("chat 42"));
    EXPECT_FALSE(valid_name("chat*"));
    EXPECT_FALSE(valid_name("caf\xc3\xa9"));
    EXPECT_FALSE(valid_name(std::string("a\0b", 3)));
}

TEST(channels, a_grant_is_a_name_or_a_prefix_with_a_trailing_star) {
    std::vector<std::string> const grants{"news", "chat:*", "team:7"};
    EXPECT_TRUE(granted(grants, "news"));
    EXPECT_TRUE(granted(grants, "chat:1"));
    EXPECT_TRUE(granted(grants, "chat:"));
    EXPECT_TRUE(granted(grants, "team:7"));
    EXPECT_FALSE(granted(grants, "team:70")) << "an entry without * is exact";
    EXPECT_FALSE(granted(grants, "newsroom"));
    EXPECT_FALSE(granted(grants, "chat"));
    EXPECT_TRUE(granted({"*"}, "anything"));
    EXPECT_FALSE(granted({}, "news"));
}

TEST(channels, the_arguments_are_one_object_with_a_channel_and_maybe_a_token) {
    auto r = parse(action::subscribe, R"([{"channel":"chat:1","token":"t"}])");
    ASSERT_TRUE(std::holds_alternative<request>(r));
    EXPECT_EQ(std::get<request>(r).channel, "chat:1");
    EXPECT_EQ(std::get<request>(r).token, "t");
    EXPECT_EQ(std::get<request>(parse(action::subscribe, R"([{"channel":"a","token":null}])")).token, "");
    EXPECT_EQ(std::get<request>(parse(action::unsubscribe, R"([{"channel":"a","token":"t"}])")).token, "")
        << "an unsubscribe needs no token";

    EXPECT_EQ(refused(parse(action::subscribe, "[]")), "bad_request");
    EXPECT_EQ(refused(parse(action::subscribe, R"(["chat:1"])")), "bad_request");
    EXPECT_EQ(refused(parse(action::subscribe, R"([{"channel":42}])")), "bad_request");
    EXPECT_EQ(refused(parse(action::subscribe, R"([{"channel":"a","token":7}])")), "bad_request");
    EXPECT_EQ(refused(parse(action::subscribe, "not json")), "bad_request");
    EXPECT_EQ(refused(parse(action::subscribe, R"({"channel":"a"})")), "bad_request");
    EXPECT_EQ(refused(parse(action::subscribe, R"([{"channel":"bad name"}])")), "bad_name");
    EXPECT_EQ(refused(parse(action::unsubscribe, R"([{"channel":""}])")), "bad_name");
    EXPECT_EQ(action_of("subscribe"), action::subscribe);
    EXPECT_EQ(action_of("unsubscribe"), action::unsubscribe);
    EXPECT_FALSE(action_of("chat.send"));
}

TEST(channels, a_subscribe_is_allowed_by_the_connection_claim_or_a_channel_token_of_the_same_user) {
    fake_verifier v;
    auto const now = auth::clock::now();
    EXPECT_FALSE(authorize(alice({"chat:*"}), sub("chat:1"), &v, false, now));
    EXPECT_EQ(authorize(alice({"chat:*"}), sub("news"), &v, false, now)->reason, "not_allowed");
    EXPECT_EQ(authorize(alice(), sub("news"), &v, false, now)->reason, "not_allowed");
    EXPECT_FALSE(authorize(alice(), sub("news"), &v, /*dev_auth*/ true, now)) << "dev mode allows every channel";

    EXPECT_FALSE(authorize(alice(), sub("room:9", "alice|room:9"), &v, false, now));
    EXPECT_EQ(authorize(alice(), sub("room:9", "bob|room:9"), &v, false, now)->message,
              "channel token is for another user");
    EXPECT_EQ(authorize(alice(), sub("room:9", "alice|room:8"), &v, false, now)->message,
              "channel token is for another channel");
    EXPECT_EQ(authorize(alice(), sub("room:9", "expired"), &v, false, now)->message, "channel token: token expired");
    EXPECT_EQ(authorize(alice({"room:*"}), sub("room:9", "expired"), &v, true, now)->reason, "bad_token")
        << "a token is never ignored, even where the claim (or dev mode) would allow";
    EXPECT_EQ(authorize(alice(), sub("room:9", "alice|room:9"), nullptr, false, now)->reason, "bad_token");
}
}  // namespace
}  // namespace pusher::channels
