// common/json_text: validation without a DOM, JSON string literals.
#include "common/json_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pusher::json_text {
namespace {
std::string nested(std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
}

TEST(JsonText, AcceptsExactlyOneValue) {
    EXPECT_TRUE(is_valid(R"({"a":[1,2.5e3,"x",true,null]})"));
    EXPECT_TRUE(is_valid(" 42 \n"));
    EXPECT_FALSE(is_valid(""));
    EXPECT_FALSE(is_valid("{} {}"));
    EXPECT_FALSE(is_valid("[1,]"));
    EXPECT_FALSE(is_valid("\"\xc3\x28\""));  // not UTF-8
}

// Regression (found by fuzz/targets/amqp_fanout.cpp): Boost.JSON's default depth limit of 32 made valid JSON nested
// 33 deep "invalid": the fan-out delivered such a payload as a JSON string and /api/publish refused it.
TEST(JsonText, NestingUpToMaxDepthIsValid) {
    EXPECT_TRUE(is_valid(nested(33)));
    EXPECT_TRUE(is_valid(R"({"user":"a","data":)" + nested(40) + "}"));
    EXPECT_TRUE(is_valid(nested(max_depth)));
    EXPECT_FALSE(is_valid(nested(max_depth + 1)));
}

TEST(JsonText, QuotesWithCanonicalEscapes) {
    EXPECT_EQ(quote("a\"b\\c\n\x01\x7f\xc3\xa9"), "\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9\"");
    EXPECT_EQ(quote(""), "\"\"");
}
}  // namespace
}  // namespace pusher::json_text
