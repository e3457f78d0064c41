// engineio::server::handle on requests that never reach a session (no sockets, no io_context needed): the
// validation of the handshake query, answered with Engine.IO's error codes.
#include "engineio/server.hpp"
#include "httpd/reply_target.hpp"
#include "httpd/upgrade.hpp"  // reply_target::take_upgrade returns one (by unique_ptr)

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace pusher::engineio {
namespace {
class capture final : public httpd::detail::reply_target {
  public:
    std::vector<httpd::response> responses;
    void deliver(httpd::response r) override { responses.push_back(std::move(r)); }
    std::unique_ptr<httpd::upgrade> take_upgrade() override { return nullptr; }
};

class no_sessions final : public handler {
  public:
    std::unique_ptr<session_handler> on_open(std::shared_ptr<session> const&) override { return nullptr; }
};

httpd::response answer(server& s, std::string method, std::string target) {
    httpd::request req;
    req.method = std::move(method);
    req.target = std::move(target);
    auto out = std::make_shared<capture>();
    s.handle(std::move(req), httpd::reply(out));
    EXPECT_EQ(out->responses.size(), 1u);
    return out->responses.empty() ? httpd::response{} : out->responses.front();
}

// Regression (found by fuzz/targets/http_handshake.cpp): a request without any query string crashed the process
// (a null string_view reached Boost.URL's parse_query). It is a request without a transport.
TEST(ServerRequest, NoQueryAtAllIsUnknownTransport) {
    no_sessions h;
    server s({}, h);
    for (auto const* target : {"/socket.io/", "/socket.io/?", "/socket.io"}) {
        auto const r = answer(s, "GET", target);
        EXPECT_EQ(r.status, 400u) << target;
        EXPECT_EQ(r.body, R"({"code":0,"message":"Transport unknown"})") << target;
    }
}

TEST(ServerRequest, QueryErrorsInTheReferenceServersOrder) {
    no_sessions h;
    server s({}, h);
    EXPECT_EQ(answer(s, "GET", "/socket.io/?EIO=4&transport=carrier-pigeon").body,
              R"({"code":0,"message":"Transport unknown"})");
    EXPECT_EQ(answer(s, "GET", "/socket.io/?EIO=3&transport=polling").body,
              R"({"code":5,"message":"Unsupported protocol version"})");
    EXPECT_EQ(answer(s, "POST", "/socket.io/?EIO=4&transport=polling").body,
              R"({"code":2,"message":"Bad handshake method"})");
    EXPECT_EQ(answer(s, "GET", "/socket.io/?EIO=4&transport=polling&sid=nope").body,
              R"({"code":1,"message":"Session ID unknown"})");
    EXPECT_EQ(answer(s, "GET", "/socket.io/?EIO=4&transport=polling&%zz").body,
              R"({"code":3,"message":"Bad request"})");
}
}  // namespace
}  // namespace pusher::engineio
