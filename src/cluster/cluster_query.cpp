#include "cluster/cluster_query.hpp"

#include "cluster/handover_message.hpp"
#include "common/utf8.hpp"

#include <boost/json.hpp>

#include <cstdint>

namespace pusher::cluster {
namespace {
constexpr std::size_t max_body = std::size_t{64} << 20;

bool valid_user(boost::json::string const& s) {
    return !s.empty() && s.size() <= 255 && utf8::is_valid(std::string_view(s.data(), s.size()));
}

bool valid_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && utf8::is_valid(id);
}

// The object of a message with `op`, its id (when `with_id`) and `from` checked.
boost::json::object const* envelope(boost::json::value const& v, std::string_view op, bool with_id, std::string& why) {
    auto const* o = v.if_object();
    if (o == nullptr) {
        why = "not a JSON object";
        return nullptr;
    }
    auto const* ver = o->if_contains("v");
    if (ver == nullptr || !ver->is_int64() || ver->get_int64() != 1) {
        why = "unknown version";
        return nullptr;
    }
    auto const* o_op = o->if_contains("op");
    if (o_op == nullptr || !o_op->is_string() || o_op->get_string() != op) {
        why = "unexpected op";
        return nullptr;
    }
    if (with_id) {
        auto const* id = o->if_contains("id");
        if (id == nullptr || !id->is_string() || !valid_id(std::string_view(id->get_string()))) {
            why = "invalid id";
            return nullptr;
        }
    }
    auto const* from = o->if_contains("from");
    if (from == nullptr || !from->is_string() || !valid_node_id(std::string_view(from->get_string()))) {
        why = "invalid from";
        return nullptr;
    }
    return o;
}

std::optional<boost::json::value> parse(std::string_view body, std::string& why) {
    if (body.size() > max_body) {
        why = "too large";
        return std::nullopt;
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) {
        why = "not JSON";
        return std::nullopt;
    }
    return v;
}

std::string text(boost::json::value const& v) {
    return std::string(v.get_string().data(), v.get_string().size());
}

// An array of `min` to `max` user ids (each valid_user) into `out`; false otherwise.
bool read_users(boost::json::value const* v, std::size_t min, std::size_t max, std::vector<std::string>& out) {
    auto const* arr = v != nullptr ? v->if_array() : nullptr;
    if (arr == nullptr || arr->size() < min || arr->size() > max) {
        return false;
    }
    for (auto const& u : *arr) {
        if (!u.is_string() || !valid_user(u.get_string())) {
            return false;
        }
        out.push_back(text(u));
    }
    return true;
}

// A JSON number that is a non-negative integer.
std::optional<std::uint64_t> unsigned_of(boost::json::value const& v) {
    if (v.is_uint64()) {
        return v.get_uint64();
    }
    if (v.is_int64() && v.get_int64() >= 0) {
        return static_cast<std::uint64_t>(v.get_int64());
    }
    return std::nullopt;
}

// The count `key` of `o` (0 when absent).
std::optional<std::uint64_t> count(boost::json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v == nullptr ? std::optional<std::uint64_t>(0) : unsigned_of(*v);
}
}  // namespace

std::string_view to_string(query_kind k) {
    switch (k) {
        case query_kind::users:
            return "users";
        case query_kind::channel:
            return "channel";
        case query_kind::totals:
            return "totals";
        case query_kind::disconnect:
            return "disconnect";
    }
    return "totals";
}

std::string encode(query const& q) {
    boost::json::object o{{"v", 1}, {"op", "query"}, {"id", q.id}, {"from", q.from}, {"kind", to_string(q.kind)}};
    if (q.kind == query_kind::users || q.kind == query_kind::disconnect) {
        boost::json::array users;
        for (auto const& u : q.users) {
            users.emplace_back(u);
        }
        o["users"] = std::move(users);
    }
    if (q.kind == query_kind::channel) {
        o["channel"] = q.channel;
    }
    return boost::json::serialize(o);
}

std::string encode(answer const& a) {
    boost::json::object sessions;
    for (auto const& [user, n] : a.sessions) {
        sessions[user] = n;
    }
    boost::json::array members;
    for (auto const& m : a.members) {
        members.emplace_back(m);
    }
    boost::json::object o{{"v", 1},
                          {"op", "answer"},
                          {"id", a.id},
                          {"from", a.from},
                          {"sessions", std::move(sessions)},
                          {"members", std::move(members)},
                          {"users", a.users},
                          {"total_sessions", a.total_sessions},
                          {"disconnected", a.disconnected}};
    return boost::json::serialize(o);
}

std::string encode_hello(std::string_view node) {
    return boost::json::serialize(boost::json::object{{"v", 1}, {"op", "hello"}, {"from", node}});
}

std::optional<query> decode_query(std::string_view body, std::string& why) {
    auto v = parse(body, why);
    auto const* o = v ? envelope(*v, "query", true, why) : nullptr;
    if (o == nullptr) {
        return std::nullopt;
    }
    query q;
    q.id = text(o->at("id"));
    q.from = text(o->at("from"));
    auto const* kind = o->if_contains("kind");
    std::string_view const k = kind != nullptr && kind->is_string() ? std::string_view(kind->get_string()) : "";
    if (k == "users") {
        q.kind = query_kind::users;
    } else if (k == "channel") {
        q.kind = query_kind::channel;
    } else if (k == "totals") {
        q.kind = query_kind::totals;
    } else if (k == "disconnect") {
        q.kind = query_kind::disconnect;
    } else {
        why = "unknown kind";
        return std::nullopt;
    }
    if (q.kind == query_kind::users || q.kind == query_kind::disconnect) {
        if (!read_users(o->if_contains("users"), 1, max_query_users, q.users)) {
            why = "invalid users";
            return std::nullopt;
        }
    }
    if (q.kind == query_kind::channel) {
        auto const* ch = o->if_contains("channel");
        if (ch == nullptr || !ch->is_string() || !valid_user(ch->get_string())) {
            why = "invalid channel";
            return std::nullopt;
        }
        q.channel = text(*ch);
    }
    return q;
}

std::optional<answer> decode_answer(std::string_view body, std::string& why) {
    auto v = parse(body, why);
    auto const* o = v ? envelope(*v, "answer", true, why) : nullptr;
    if (o == nullptr) {
        return std::nullopt;
    }
    answer a;
    a.id = text(o->at("id"));
    a.from = text(o->at("from"));
    if (auto const* s = o->if_contains("sessions"); s != nullptr) {
        auto const* so = s->if_object();
        if (so == nullptr || so->size() > max_query_users) {
            why = "invalid sessions";
            return std::nullopt;
        }
        for (auto const& [user, n] : *so) {
            if (user.empty() || user.size() > 255 || !utf8::is_valid(std::string_view(user))) {
                why = "invalid sessions";
                return std::nullopt;
            }
            auto const c = unsigned_of(n);
            if (!c) {
                why = "invalid sessions";
                return std::nullopt;
            }
            a.sessions.emplace_back(std::string(user), *c);
        }
    }
    if (auto const* m = o->if_contains("members"); m != nullptr && !read_users(m, 0, SIZE_MAX, a.members)) {
        why = "invalid members";
        return std::nullopt;
    }
    auto const users = count(*o, "users");
    auto const total = count(*o, "total_sessions");
    auto const disconnected = count(*o, "disconnected");
    if (!users || !total || !disconnected) {
        why = "invalid counts";
        return std::nullopt;
    }
    a.users = *users;
    a.total_sessions = *total;
    a.disconnected = *disconnected;
    return a;
}

std::optional<std::string> decode_hello(std::string_view body, std::string& why) {
    auto v = parse(body, why);
    auto const* o = v ? envelope(*v, "hello", false, why) : nullptr;
    if (o == nullptr) {
        return std::nullopt;
    }
    return text(o->at("from"));
}
}  // namespace pusher::cluster
