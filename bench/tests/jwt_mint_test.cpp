#include "jwt_mint.hpp"

#include <gtest/gtest.h>

namespace pusher::load {
TEST(JwtMint, Base64UrlWithoutPadding) {
    // RFC 4648 §10 vectors, in the URL-safe alphabet without '='.
    EXPECT_EQ(base64url(""), "");
    EXPECT_EQ(base64url("f"), "Zg");
    EXPECT_EQ(base64url("fo"), "Zm8");
    EXPECT_EQ(base64url("foo"), "Zm9v");
    EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64url(std::string("\xfb\xff", 2)), "-_8");
}

TEST(JwtMint, Hs256MatchesAKnownToken) {
    // The same header, claims and secret signed with an independent implementation (Node's crypto):
    // header {"alg":"HS256","typ":"JWT"}, claims {"sub":"u1","exp":2000000000}, secret "secret".
    auto const token = mint_hs256("secret", "u1", 2000000000);
    EXPECT_EQ(token,
              "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MjAwMDAwMDAwMH0."
              "tZtrWifTYBtxjvIlfXC06lzMHyf_p6bwL_Z82AUTYtM");
}
}  // namespace pusher::load
