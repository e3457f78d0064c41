#include "api/publish.hpp"

#include "socketio/reserved_events.hpp"

#include "api/json_members.hpp"
#include "channels/channel.hpp"
#include "common/json_text.hpp"
#include "common/text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>

namespace pusher::api {
namespace {
response bad_request(std::string const& message) {
    return error_response(400, message);
}

std::string quoted(std::string_view s) {
    return json_text::quote(s);
}

// A field that must be a string of 1..max_name bytes; the error response otherwise.
std::variant<std::string, response> name_field(std::string_view field, std::string_view raw) {
    auto value = decode_string(raw);
    if (!value) {
        return bad_request(quoted(field) + " must be a string");
    }
    if (value->empty() || value->size() > publish_settings::max_name) {
        return bad_request(quoted(field) + " must be 1 to " + std::to_string(publish_settings::max_name) + " bytes");
    }
    return std::move(*value);
}

// A channel name (channels::valid_name), or the error response.
std::variant<std::string, response> channel_field(std::string_view field, std::string_view raw) {
    auto value = decode_string(raw);
    if (!value || !channels::valid_name(*value)) {
        return bad_request(quoted(field) + " must be a channel name: 1-200 of A-Z a-z 0-9 _ - : . @ /");
    }
    return std::move(*value);
}

// "users" / "channels": a non-empty array of names, at most `max` entries, deduplicated in first-seen order; a user
// id is 1..max_name bytes, a channel name as channels::valid_name says.
std::variant<std::vector<std::string>, response> names_field(std::string_view field, std::string_view raw,
                                                             std::size_t max, bool channel) {
    boost::system::error_code ec;
    boost::json::value const v = boost::json::parse(raw, ec);
    if (ec || !v.is_array()) {
        return bad_request(quoted(field) + " must be an array of strings");
    }
    auto const& array = v.get_array();
    if (array.empty()) {
        return bad_request(quoted(field) + " must not be empty");
    }
    if (array.size() > max) {
        return bad_request(quoted(field) + " has " + std::to_string(array.size()) + " entries; at most " +
                           std::to_string(max) + " per request");
    }
    std::vector<std::string> out;
    out.reserve(array.size());
    std::unordered_set<std::string_view> seen;
    seen.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
        auto const entry = quoted(field) + "[" + std::to_string(i) + "]";
        if (!array[i].is_string()) {
            return bad_request(entry + " must be a string");
        }
        auto const& s = array[i].get_string();
        std::string_view const name(s.data(), s.size());
        if (channel && !channels::valid_name(name)) {
            return bad_request(entry + " must be a channel name: 1-200 of A-Z a-z 0-9 _ - : . @ /");
        }
        if (!channel && (s.empty() || s.size() > publish_settings::max_name)) {
            return bad_request(entry + " must be 1 to " + std::to_string(publish_settings::max_name) + " bytes");
        }
        // The views point into `v`'s strings, alive until the end of this function.
        if (seen.insert(std::string_view(s.data(), s.size())).second) {
            out.emplace_back(s.data(), s.size());
        }
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
               return lower(x) == lower(y);
           });
}
}  // namespace

bool constant_time_equal(std::string_view guess, std::string_view secret) {
    // Every byte of the secret is looked at whatever the guess is; the loop's length depends on the secret only.
    volatile unsigned char diff = guess.size() == secret.size() ? 0 : 1;
    for (std::size_t i = 0; i < secret.size(); ++i) {
        unsigned char const g = i < guess.size() ? static_cast<unsigned char>(guess[i]) : 0;
        diff = diff | static_cast<unsigned char>(g ^ static_cast<unsigned char>(secret[i]));
    }
    return diff == 0;
}

bool authorized(std::string_view authorization, std::vector<std::string> const& api_keys) {
    if (api_keys.empty()) {
        return true;
    }
    // RFC 9110 §11.6.2: credentials = auth-scheme [ 1*SP token68 ]; the scheme is case-insensitive.
    std::string_view const value = text::trim(authorization);
    auto const space = value.find(' ');
    bool const bearer = space != std::string_view::npos && iequals(value.substr(0, space), "Bearer");
    std::string_view const token = bearer ? text::trim(value.substr(space + 1)) : std::string_view();
    // Every key is compared, whichever matches (and on every refusal path): the time taken tells nothing.
    bool match = false;
    for (auto const& key : api_keys) {
        match = constant_time_equal(token, key) || match;
    }
    return bearer && match;
}

std::size_t accepted_count(broker::publication const& p) {
    return p.broadcast ? 1 : p.users.size() + p.channels.size();
}

response publish_accepted(std::size_t n) {
    return response{202, std::string(json_content_type), "{\"accepted\":" + std::to_string(n) + "}", {}};
}

response publish_failed() {
    return error_response(503, "broker unavailable");
}

publish_result parse_publish(request const& req, publish_settings const& settings) {
    if (req.method != "POST") {
        return method_not_allowed("POST");
    }
    if (!authorized(req.authorization, settings.api_keys)) {
        auto r = error_response(401, "unauthorized");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
    }
    if (req.body_too_large || req.body.size() > settings.max_body) {
        return error_response(413, "body too large (limit " + std::to_string(settings.max_body) + " bytes)");
    }
    if (req.body.empty()) {
        return bad_request("empty body: expected a JSON object");
    }
    if (!json_text::is_valid(req.body)) {
        return bad_request("body is not valid JSON");
    }
    auto members = object_members(req.body);
    if (!members) {
        return bad_request("body must be a JSON object");
    }

    std::optional<std::string_view> user, users, channel, channel_list, broadcast, event, data, id;
    for (auto const& m : *members) {
        std::optional<std::string_view>* slot = m.key == "user"        ? &user
                                                : m.key == "users"     ? &users
                                                : m.key == "channel"   ? &channel
                                                : m.key == "channels"  ? &channel_list
                                                : m.key == "broadcast" ? &broadcast
                                                : m.key == "event"     ? &event
                                                : m.key == "data"      ? &data
                                                : m.key == "id"        ? &id
                                                                       : nullptr;
        if (slot == nullptr) {
            // Strict, so a typo ("usr", "payload") is an error rather than a message that silently goes nowhere.
            return bad_request("unknown field " + quoted(m.key) +
                               " (expected user, users, channel, channels, broadcast, event, data, id)");
        }
        if (*slot) {
            return bad_request("duplicate field " + quoted(m.key));
        }
        *slot = m.raw_value;
    }

    broker::publication pub;
    bool to_all = false;
    if (broadcast) {
        if (*broadcast != "true" && *broadcast != "false") {
            return bad_request("\"broadcast\" must be a boolean");
        }
        to_all = *broadcast == "true";
    }
    int const targets =
        (user ? 1 : 0) + (users ? 1 : 0) + (channel ? 1 : 0) + (channel_list ? 1 : 0) + (to_all ? 1 : 0);
    if (targets == 0) {
        return bad_request("no target: give \"user\", \"users\", \"channel\", \"channels\" or \"broadcast\":true");
    }
    if (targets > 1) {
        return bad_request(
            "several targets: give only one of \"user\", \"users\", \"channel\", \"channels\" or "
            "\"broadcast\":true");
    }
    if (user) {
        auto v = name_field("user", *user);
        if (auto* err = std::get_if<response>(&v)) {
            return std::move(*err);
        }
        pub.users.push_back(std::move(std::get<std::string>(v)));
    } else if (users || channel_list) {
        auto v = users ? names_field("users", *users, settings.max_users, false)
                       : names_field("channels", *channel_list, settings.max_users, true);
        if (auto* err = std::get_if<response>(&v)) {
            return std::move(*err);
        }
        (users ? pub.users : pub.channels) = std::move(std::get<std::vector<std::string>>(v));
    } else if (channel) {
        auto v = channel_field("channel", *channel);
        if (auto* err = std::get_if<response>(&v)) {
            return std::move(*err);
        }
        pub.channels.push_back(std::move(std::get<std::string>(v)));
    } else {
        pub.broadcast = true;
    }
    if (event) {
        auto v = name_field("event", *event);
        if (auto* err = std::get_if<response>(&v)) {
            return std::move(*err);
        }
        pub.event = std::move(std::get<std::string>(v));
        if (socketio::is_reserved_event(pub.event)) {
            return bad_request("\"event\" " + quoted(pub.event) + " is reserved by Socket.IO");
        }
    }
    if (id) {
        auto v = name_field("id", *id);
        if (auto* err = std::get_if<response>(&v)) {
            return std::move(*err);
        }
        pub.message_id = std::move(std::get<std::string>(v));
    }
    // The exact bytes of the value, spaces and number spellings included: the only copy on the way to the broker.
    pub.payload = data ? std::string(*data) : std::string("null");
    return pub;
}
}  // namespace pusher::api
