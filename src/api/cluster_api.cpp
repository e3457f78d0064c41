#include "api/cluster_api.hpp"

#include "channels/channel.hpp"
#include "common/json_text.hpp"
#include "common/utf8.hpp"

#include <boost/json.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace pusher::api {
namespace {
response bad(std::string_view message) {
    return error_response(400, message);
}

std::optional<response> refused(request const& req, publish_settings const& settings, std::string_view method) {
    if (req.method != method) {
        return method_not_allowed(method);
    }
    if (!authorized(req.authorization, settings.api_keys)) {
        auto r = error_response(401, "unauthorized");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return r;
    }
    return std::nullopt;
}

bool valid_user(std::string_view u) {
    return !u.empty() && u.size() <= publish_settings::max_name && utf8::is_valid(u);
}
}  // namespace

query_result parse_presence(request const& req, publish_settings const& settings) {
    if (auto r = refused(req, settings, "GET")) {
        return std::move(*r);
    }
    cluster::query q;
    q.kind = cluster::query_kind::totals;
    if (req.query.empty()) {
        return q;
    }
    if (!boost::urls::parse_query(req.query)) {
        return bad("malformed query string");
    }
    std::set<std::string> seen;
    for (auto const& p : boost::urls::params_view(req.query)) {
        if (p.key == "user") {
            if (!valid_user(p.value)) {
                return bad("\"user\" must be 1 to 255 bytes of UTF-8");
            }
            if (seen.insert(p.value).second) {
                q.users.push_back(p.value);
            }
        } else if (p.key == "channel") {
            if (!q.channel.empty() || !channels::valid_name(p.value)) {
                return bad("\"channel\" must be one channel name: 1-200 of A-Z a-z 0-9 _ - : . @ /");
            }
            q.channel = p.value;
        } else {
            return bad("unknown parameter " + json_text::quote(p.key) + " (expected user or channel)");
        }
    }
    if (!q.users.empty() && !q.channel.empty()) {
        return bad("give users or a channel, not both");
    }
    if (q.users.size() > settings.max_users) {
        return bad("at most " + std::to_string(settings.max_users) + " users per request");
    }
    q.kind = !q.users.empty()     ? cluster::query_kind::users
             : !q.channel.empty() ? cluster::query_kind::channel
                                  : cluster::query_kind::totals;
    return q;
}

query_result parse_disconnect(request const& req, publish_settings const& settings) {
    if (auto r = refused(req, settings, "POST")) {
        return std::move(*r);
    }
    if (req.body_too_large || req.body.size() > settings.max_body) {
        return error_response(413, "body too large (limit " + std::to_string(settings.max_body) + " bytes)");
    }
    boost::system::error_code ec;
    auto const v = boost::json::parse(req.body, ec);
    auto const* o = ec ? nullptr : v.if_object();
    if (o == nullptr) {
        return bad("body must be a JSON object: {\"user\":\"...\"} or {\"users\":[...]}");
    }
    cluster::query q;
    q.kind = cluster::query_kind::disconnect;
    for (auto const& [key, value] : *o) {
        if (key == "user") {
            if (!value.is_string() || !valid_user(std::string_view(value.get_string()))) {
                return bad("\"user\" must be 1 to 255 bytes of UTF-8");
            }
            q.users.emplace_back(value.get_string().data(), value.get_string().size());
        } else if (key == "users") {
            auto const* arr = value.if_array();
            if (arr == nullptr || arr->empty() || arr->size() > settings.max_users) {
                return bad("\"users\" must be an array of 1 to " + std::to_string(settings.max_users) + " user ids");
            }
            for (auto const& u : *arr) {
                if (!u.is_string() || !valid_user(std::string_view(u.get_string()))) {
                    return bad("\"users\" entries must be 1 to 255 bytes of UTF-8");
                }
                q.users.emplace_back(u.get_string().data(), u.get_string().size());
            }
        } else {
            return bad("unknown field " + json_text::quote(std::string_view(key)) + " (expected user or users)");
        }
    }
    if (o->size() != 1) {
        return bad("give exactly one of \"user\" or \"users\"");
    }
    std::sort(q.users.begin(), q.users.end());
    q.users.erase(std::unique(q.users.begin(), q.users.end()), q.users.end());
    return q;
}

response cluster_response(cluster::query const& q, std::vector<cluster::answer> const& answers, std::size_t answered) {
    boost::json::object out;
    switch (q.kind) {
        case cluster::query_kind::users: {
            std::map<std::string, std::uint64_t> sessions;
            for (auto const& u : q.users) {
                sessions[u] = 0;
            }
            for (auto const& a : answers) {
                for (auto const& [user, n] : a.sessions) {
                    if (auto it = sessions.find(user); it != sessions.end()) {
                        it->second += n;
                    }
                }
            }
            boost::json::object users;
            for (auto const& u : q.users) {
                users[u] = boost::json::object{{"online", sessions[u] > 0}, {"sessions", sessions[u]}};
            }
            out["users"] = std::move(users);
            break;
        }
        case cluster::query_kind::channel: {
            std::set<std::string> members;
            for (auto const& a : answers) {
                members.insert(a.members.begin(), a.members.end());
            }
            boost::json::array users;
            for (auto const& m : members) {
                users.emplace_back(m);
            }
            out["channel"] = q.channel;
            out["users"] = std::move(users);
            break;
        }
        case cluster::query_kind::totals: {
            boost::json::array nodes;
            for (auto const& a : answers) {
                nodes.push_back(
                    boost::json::object{{"node", a.from}, {"users", a.users}, {"sessions", a.total_sessions}});
            }
            out["nodes"] = std::move(nodes);
            break;
        }
        case cluster::query_kind::disconnect: {
            std::uint64_t n = 0;
            for (auto const& a : answers) {
                n += a.disconnected;
            }
            out["disconnected"] = n;
            break;
        }
    }
    out["answered"] = answered;
    return response{200, std::string(json_content_type), boost::json::serialize(out), {}};
}
}  // namespace pusher::api
