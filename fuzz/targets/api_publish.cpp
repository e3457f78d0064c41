// Fuzz target: POST /api/publish parsing (api::parse_publish, api::object_members, api::authorized): user, users,
// channel, channels and broadcast targets.
// Input: [settings][Authorization header]\n[body...]. settings bit 0: an API key is configured; bit 1: small limits
// (64-byte body, 3 users); bit 2: method GET; bit 3: the server flagged the body as too large.
// Invariants: accepted exactly when an independent reading of the body (Boost.JSON DOM, plus a count of top-level
// keys for duplicates) says the request is valid; an accepted publication carries the body's values, `data` as its
// exact bytes; every refusal is a JSON {"error": "..."} with the right status.
#include "api/publish.hpp"
#include "fuzz_support.hpp"
#include "socketio/reserved_events.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace api = pusher::api;
using pusher::fuzz::cursor;
using pusher::fuzz::parse_json;

namespace {
constexpr std::string_view api_key = "k3y-for-fuzzing";

// Counts the keys of the top-level object (the DOM keeps only one of duplicate keys).
struct key_counter {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    std::size_t depth = 0;
    std::size_t keys = 0;
    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }
    bool on_object_begin(boost::system::error_code&) { return ++depth, true; }
    bool on_object_end(std::size_t, boost::system::error_code&) { return --depth, true; }
    bool on_array_begin(boost::system::error_code&) { return ++depth, true; }
    bool on_array_end(std::size_t, boost::system::error_code&) { return --depth, true; }
    bool on_key_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
    bool on_key(boost::json::string_view, std::size_t, boost::system::error_code&) {
        keys += depth == 1 ? 1 : 0;
        return true;
    }
    bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
    bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
    bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_double(double, boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_bool(bool, boost::system::error_code&) { return true; }
    bool on_null(boost::system::error_code&) { return true; }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }
};

std::size_t top_level_keys(std::string_view json) {
    boost::json::basic_parser<key_counter> p{boost::json::parse_options{}};
    boost::system::error_code ec;
    p.write_some(false, json.data(), json.size(), ec);
    return p.handler().keys;
}

// White space around the credentials and the token: SP and HTAB (RFC 9110 OWS), and the other ASCII space characters
// (CR, LF, VT, FF), which an HTTP parser never leaves in a field value but a caller of api::authorized might.
constexpr std::string_view white = " \t\r\n\v\f";

std::string_view trim(std::string_view s) {
    auto const first = s.find_first_not_of(white);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(white) - first + 1);
}

bool bearer_ok(std::string_view authorization) {
    std::string_view const v = trim(authorization);
    if (v.size() < 7 || v[6] != ' ') {
        return false;
    }
    std::string scheme(v.substr(0, 6));
    for (auto& c : scheme) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return scheme == "bearer" && trim(v.substr(7)) == api_key;
}

bool name_ok(boost::json::value const* v) {
    return v->is_string() && !v->as_string().empty() && v->as_string().size() <= api::publish_settings::max_name;
}

// A channel name: 1..200 bytes of A-Z a-z 0-9 _ - : . @ / (the contract's rule, spelled out again here).
bool channel_ok(boost::json::value const* v) {
    if (!v->is_string() || v->as_string().empty() || v->as_string().size() > 200) {
        return false;
    }
    for (char c : v->as_string()) {
        if (!std::isalnum(static_cast<unsigned char>(c)) &&
            std::string_view("_-:.@/").find(c) == std::string_view::npos) {
            return false;
        }
    }
    return true;
}

// "users" / "channels": a non-empty array of at most max_users names.
bool names_ok(boost::json::value const* v, std::size_t max, bool (*ok)(boost::json::value const*)) {
    if (!v->is_array() || v->as_array().empty() || v->as_array().size() > max) {
        return false;
    }
    for (auto const& e : v->as_array()) {
        if (!ok(&e)) {
            return false;
        }
    }
    return true;
}

// Whether the body is a valid publish request (the rules of api/publish.hpp), from the DOM.
bool body_ok(std::string_view body, api::publish_settings const& settings) {
    auto const v = parse_json(body);
    if (!v || !v->is_object()) {
        return false;
    }
    auto const& o = v->as_object();
    if (top_level_keys(body) != o.size()) {
        return false;  // a duplicate key
    }
    static std::set<std::string_view> const known = {"user",      "users", "channel", "channels",
                                                     "broadcast", "event", "data",    "id"};
    for (auto const& kv : o) {
        if (!known.contains(std::string_view(kv.key()))) {
            return false;
        }
    }
    auto const* b = o.if_contains("broadcast");
    if (b != nullptr && !b->is_bool()) {
        return false;
    }
    bool const all = b != nullptr && b->as_bool();
    auto const* user = o.if_contains("user");
    auto const* users = o.if_contains("users");
    auto const* channel = o.if_contains("channel");
    auto const* channels = o.if_contains("channels");
    if ((user ? 1 : 0) + (users ? 1 : 0) + (channel ? 1 : 0) + (channels ? 1 : 0) + (all ? 1 : 0) != 1) {
        return false;
    }
    if ((user != nullptr && !name_ok(user)) || (channel != nullptr && !channel_ok(channel)) ||
        (users != nullptr && !names_ok(users, settings.max_users, name_ok)) ||
        (channels != nullptr && !names_ok(channels, settings.max_users, channel_ok))) {
        return false;
    }
    if (auto const* e = o.if_contains("event")) {
        if (!name_ok(e) || pusher::socketio::is_reserved_event(std::string_view(e->as_string()))) {
            return false;
        }
    }
    auto const* id = o.if_contains("id");
    return id == nullptr || name_ok(id);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    std::uint8_t const flags = in.byte();
    std::string_view const authorization = in.until('\n');
    std::string_view const body = in.rest();

    api::publish_settings settings;
    if ((flags & 1) != 0) {
        settings.api_keys = {std::string(api_key)};
    }
    if ((flags & 2) != 0) {
        settings.max_body = 64;
        settings.max_users = 3;
    }
    api::request req;
    req.method = (flags & 4) != 0 ? "GET" : "POST";
    req.path = "/api/publish";
    req.authorization = authorization;
    req.content_type = "application/json";
    req.body_too_large = (flags & 8) != 0;
    req.body = req.body_too_large ? std::string_view() : body;
    req.remote_address = "127.0.0.1:1";

    FUZZ_CHECK(api::authorized(authorization, settings.api_keys) ==
               (settings.api_keys.empty() || bearer_ok(authorization)));
    FUZZ_CHECK(api::constant_time_equal(authorization, api_key) == (authorization == api_key));

    auto const result = api::parse_publish(req, settings);
    unsigned expected_status = 0;
    if ((flags & 4) != 0) {
        expected_status = 405;
    } else if (!api::authorized(authorization, settings.api_keys)) {
        expected_status = 401;
    } else if (req.body_too_large || body.size() > settings.max_body) {
        expected_status = 413;
    } else if (!body_ok(body, settings)) {
        expected_status = 400;
    }

    if (auto const* r = std::get_if<api::response>(&result)) {
        FUZZ_CHECK_MSG(r->status == expected_status, r->body);
        auto const v = parse_json(r->body);
        FUZZ_CHECK(v && v->is_object() && v->as_object().size() == 1 && v->as_object().at("error").is_string());
        return 0;
    }
    FUZZ_CHECK_MSG(expected_status == 0, std::to_string(expected_status));
    auto const& pub = std::get<pusher::broker::publication>(result);
    auto const dom = parse_json(body);
    auto const& o = dom->as_object();
    // A list target is deduplicated in first-seen order.
    auto const deduplicated = [](boost::json::value const& list) {
        std::vector<std::string> want;
        for (auto const& u : list.as_array()) {
            std::string s(u.as_string());
            if (std::find(want.begin(), want.end(), s) == want.end()) {
                want.push_back(std::move(s));
            }
        }
        return want;
    };
    if (auto const* user = o.if_contains("user")) {
        FUZZ_CHECK(!pub.broadcast && pub.channels.empty() && pub.users == std::vector{std::string(user->as_string())});
    } else if (auto const* users = o.if_contains("users")) {
        FUZZ_CHECK(!pub.broadcast && pub.channels.empty() && pub.users == deduplicated(*users));
    } else if (auto const* channel = o.if_contains("channel")) {
        FUZZ_CHECK(!pub.broadcast && pub.users.empty() &&
                   pub.channels == std::vector{std::string(channel->as_string())});
    } else if (auto const* channels = o.if_contains("channels")) {
        FUZZ_CHECK(!pub.broadcast && pub.users.empty() && pub.channels == deduplicated(*channels));
    } else {
        FUZZ_CHECK(pub.broadcast && pub.users.empty() && pub.channels.empty() && o.at("broadcast").as_bool());
    }
    FUZZ_CHECK(api::accepted_count(pub) == (pub.broadcast ? 1 : pub.users.size() + pub.channels.size()));
    auto const* event = o.if_contains("event");
    FUZZ_CHECK(pub.event == (event ? std::string_view(event->as_string()) : std::string_view("notification")));
    auto const* id = o.if_contains("id");
    FUZZ_CHECK(pub.message_id == (id ? std::string_view(id->as_string()) : std::string_view()));
    // `data`: its exact bytes, a substring of the body, meaning what the DOM holds.
    auto const* d = o.if_contains("data");
    auto const payload = parse_json(pub.payload);
    FUZZ_CHECK(payload && pusher::fuzz::same_json(*payload, d ? *d : boost::json::value(nullptr)));
    FUZZ_CHECK(d == nullptr || body.find(pub.payload) != std::string_view::npos);
    FUZZ_CHECK(pub.payload.empty() || (pub.payload.front() != ' ' && pub.payload.back() != ' '));
    return 0;
}
