#pragma once
// POST /api/publish as pure functions. parse_publish() turns a request into a broker::publication or into the
// error response to send (401, 405, 413, 400); the app then calls broker.publish(pub, done) and answers with
// publish_accepted() or publish_failed() from `done`:
//
//   auto r = api::parse_publish(req, settings);
//   if (auto* err = std::get_if<api::response>(&r)) { return reply(*err); }
//   auto& pub = std::get<broker::publication>(r);
//   auto n = api::accepted_count(pub);
//   broker.publish(std::move(pub), [n, rep](error_code ec) { rep(ec ? api::publish_failed() :
//   api::publish_accepted(n)); });
//
// Body: {"user":"alice" | "users":["a","b"] | "broadcast":true, "event":"mail.new", "data":<any JSON>, "id":"..."}.
// Exactly one target; `event` defaults to "notification"; `data` defaults to null and is kept as its exact bytes.
// The Content-Type is not checked (curl -d sends form-urlencoded): the body must be a JSON object, whatever it says.
#include "api/request.hpp"
#include "broker/broker.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pusher::api {
struct publish_settings {
    std::vector<std::string> api_keys;            // each accepted; none: no key required
    std::size_t max_body = std::size_t{1} << 20;  // bytes; over it: 413
    std::size_t max_users = 10000;                // entries in "users"
    static constexpr std::size_t max_name = 255;  // user, event, id: AMQP short strings (routing key, type, id)
};

using publish_result = std::variant<broker::publication, response>;

publish_result parse_publish(request const& req, publish_settings const& settings);

// How many messages a publication makes: its users, or 1 for a broadcast.
std::size_t accepted_count(broker::publication const& p);
// 202 {"accepted":N}
response publish_accepted(std::size_t n);
// 503 {"error":"broker unavailable"}
response publish_failed();

// True when no key is configured, or `authorization` is `Bearer <api_key>` (scheme case-insensitive). The key is
// compared in constant time.
bool authorized(std::string_view authorization, std::vector<std::string> const& api_keys);
// Compares without an early exit, so the time taken does not tell how much of `secret` a guess got right.
bool constant_time_equal(std::string_view guess, std::string_view secret);
}  // namespace pusher::api
