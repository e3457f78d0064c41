#include "channels/channel.hpp"

#include <boost/json.hpp>

namespace pusher::channels {
bool valid_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_name_bytes) {
        return false;
    }
    for (char c : name) {
        bool const ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                        c == '-' || c == ':' || c == '.' || c == '@' || c == '/';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool granted(std::vector<std::string> const& grants, std::string_view name) noexcept {
    for (std::string_view g : grants) {
        if (!g.empty() && g.back() == '*') {
            if (name.starts_with(g.substr(0, g.size() - 1))) {
                return true;
            }
        } else if (g == name) {
            return true;
        }
    }
    return false;
}

std::optional<action> action_of(std::string_view event) noexcept {
    if (event == "subscribe") {
        return action::subscribe;
    }
    if (event == "unsubscribe") {
        return action::unsubscribe;
    }
    return std::nullopt;
}

std::variant<request, refusal> parse(action what, std::string_view args_json) {
    boost::system::error_code ec;
    boost::json::value const v = boost::json::parse(args_json, ec);
    auto const* args = ec ? nullptr : v.if_array();
    auto const* o = args == nullptr || args->empty() ? nullptr : args->front().if_object();
    if (o == nullptr) {
        return refusal{"bad_request", "expected {\"channel\": \"<name>\"}"};
    }
    auto const* ch = o->if_contains("channel");
    if (ch == nullptr || !ch->is_string()) {
        return refusal{"bad_request", "expected {\"channel\": \"<name>\"}"};
    }
    request r;
    r.what = what;
    r.channel.assign(ch->get_string().data(), ch->get_string().size());
    if (!valid_name(r.channel)) {
        return refusal{"bad_name", "invalid channel name: 1-200 of A-Z a-z 0-9 _ - : . @ /"};
    }
    if (what == action::subscribe) {
        if (auto const* t = o->if_contains("token"); t != nullptr && !t->is_null()) {
            if (!t->is_string()) {
                return refusal{"bad_request", "token must be a string"};
            }
            r.token.assign(t->get_string().data(), t->get_string().size());
        }
    }
    return r;
}

std::optional<refusal> authorize(auth::identity const& who, request const& r, auth::verifier const* v, bool dev_auth,
                                 auth::clock::time_point now) {
    if (!r.token.empty()) {
        // A token is never ignored, as for connections: it must be valid, for this user and this channel.
        if (v == nullptr) {
            return refusal{"bad_token", "channel tokens are not accepted here"};
        }
        auto t = v->verify(r.token, now);
        if (!t) {
            return refusal{"bad_token", "channel token: " + t.error().message};
        }
        if (t->user != who.user) {
            return refusal{"bad_token", "channel token is for another user"};
        }
        if (t->channel != r.channel) {
            return refusal{"bad_token", "channel token is for another channel"};
        }
        return std::nullopt;
    }
    if (dev_auth || granted(who.channels, r.channel)) {
        return std::nullopt;
    }
    return refusal{"not_allowed", "not allowed to subscribe to this channel"};
}
}  // namespace pusher::channels
