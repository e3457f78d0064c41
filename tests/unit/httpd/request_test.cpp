// httpd::request's helpers (path, query, header lookup), without sockets.
#include "httpd/route.hpp"

#include <gtest/gtest.h>
#include <boost/url/parse_query.hpp>

namespace pusher::httpd {
namespace {
request with_target(std::string target) {
    request r;
    r.method = "GET";
    r.target = std::move(target);
    return r;
}

TEST(Request, SplitsPathAndQuery) {
    auto const r = with_target("/socket.io/?EIO=4&transport=polling");
    EXPECT_EQ(r.path(), "/socket.io/");
    EXPECT_EQ(r.query(), "EIO=4&transport=polling");
    auto const empty = with_target("/socket.io/?");
    EXPECT_EQ(empty.path(), "/socket.io/");
    EXPECT_EQ(empty.query(), "");
}

// Regression (found by fuzz/targets/http_handshake.cpp): without a '?', query() returned a default string_view,
// whose null data pointer Boost.URL 1.81's parse_query dereferences: `GET /socket.io/ HTTP/1.1` crashed the server.
TEST(Request, QueryWithoutQuestionMarkIsAnEmptyViewIntoTheTarget) {
    auto const r = with_target("/socket.io/");
    EXPECT_EQ(r.path(), "/socket.io/");
    EXPECT_TRUE(r.query().empty());
    EXPECT_NE(r.query().data(), nullptr);
    auto const params = boost::urls::parse_query(r.query());
    ASSERT_TRUE(params.has_value());
    EXPECT_TRUE(params->empty());
}

TEST(Request, HeaderLookupIsCaseInsensitiveAndTakesTheFirst) {
    request r = with_target("/");
    r.headers = {{"Origin", "https://a.example"}, {"ORIGIN", "https://b.example"}, {"X-Empty", ""}};
    EXPECT_EQ(r.header("origin"), "https://a.example");
    EXPECT_TRUE(r.has_header("x-empty"));
    EXPECT_EQ(r.header("X-Empty"), "");
    EXPECT_FALSE(r.has_header("Cookie"));
    EXPECT_EQ(r.header("Cookie"), "");
}

// A forwarding header split over several lines is one list, in order: the right-most entry is the last line's.
TEST(Request, HeaderListJoinsEveryLineInOrder) {
    request r = with_target("/");
    r.headers = {{"X-Forwarded-For", "198.51.100.1"}, {"Host", "h"}, {"x-forwarded-for", "203.0.113.7, 10.0.0.2"}};
    EXPECT_EQ(r.header_list("X-Forwarded-For"), "198.51.100.1, 203.0.113.7, 10.0.0.2");
    EXPECT_EQ(r.header_list("Forwarded"), "");
}
}  // namespace
}  // namespace pusher::httpd
