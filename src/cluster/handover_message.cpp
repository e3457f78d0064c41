#include "cluster/handover_message.hpp"

#include "common/json_text.hpp"
#include "common/utf8.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <string>

namespace pusher::cluster {
namespace {
constexpr int version = 1;

void member(std::string& out, std::string_view name, std::string_view text) {
    json_text::append_string(out, name);
    out.push_back(':');
    json_text::append_string(out, text);
    out.push_back(',');
}

void member(std::string& out, std::string_view name, std::uint64_t n) {
    json_text::append_string(out, name);
    out.push_back(':');
    out += std::to_string(n);
    out.push_back(',');
}

void close_object(std::string& out) {
    if (out.back() == ',') {
        out.pop_back();
    }
    out.push_back('}');
}

void texts_member(std::string& out, std::string_view name, std::vector<std::string> const& items) {
    json_text::append_string(out, name);
    out += ":[";
    for (auto const& t : items) {
        json_text::append_string(out, t);
        out.push_back(',');
    }
    if (out.back() == ',') {
        out.pop_back();
    }
    out += "],";
}

// A reader of one decoded object that remembers the first problem.
class reader {
  public:
    reader(boost::json::object const& o, std::string& why) : o_(o), why_(why) {}

    bool failed() const { return !why_.empty(); }
    void fail(std::string why) {
        if (why_.empty()) {
            why_ = std::move(why);
        }
    }

    // A string member of `min`..`max` bytes of valid UTF-8.
    std::string text(std::string_view name, std::size_t min, std::size_t max) {
        auto const* v = o_.if_contains(name);
        if (v == nullptr || !v->is_string()) {
            fail(std::string(name) + ": missing or not a string");
            return {};
        }
        std::string_view const s = v->get_string();
        if (s.size() < min || s.size() > max || !utf8::is_valid(s)) {
            fail(std::string(name) + ": bad length or not UTF-8");
            return {};
        }
        return std::string(s);
    }

    std::optional<std::uint64_t> number(std::string_view name, bool required) {
        auto const* v = o_.if_contains(name);
        if (v == nullptr || v->is_null()) {
            if (required) {
                fail(std::string(name) + ": missing");
            }
            return std::nullopt;
        }
        if (v->is_uint64()) {
            return v->get_uint64();
        }
        if (v->is_int64() && v->get_int64() >= 0) {
            return static_cast<std::uint64_t>(v->get_int64());
        }
        fail(std::string(name) + ": not a non-negative integer");
        return std::nullopt;
    }

    // A node id member (valid_node_id).
    std::string node(std::string_view name) {
        std::string id = text(name, 1, 64);
        if (!failed() && !valid_node_id(id)) {
            fail(std::string(name) + ": not a node id");
        }
        return id;
    }

    bool flag(std::string_view name) {
        auto const* v = o_.if_contains(name);
        if (v == nullptr || !v->is_bool()) {
            fail(std::string(name) + ": missing or not a boolean");
            return false;
        }
        return v->get_bool();
    }

    boost::json::value const* get(std::string_view name) const { return o_.if_contains(name); }

    // An optional array member of strings of 1..`max_bytes` bytes of valid UTF-8, at most `max_items` of them.
    std::vector<std::string> texts(std::string_view name, std::size_t max_items, std::size_t max_bytes) {
        std::vector<std::string> out;
        auto const* v = o_.if_contains(name);
        if (v == nullptr) {
            return out;
        }
        if (!v->is_array() || v->get_array().size() > max_items) {
            fail(std::string(name) + ": not an array, or too many");
            return out;
        }
        for (auto const& item : v->get_array()) {
            if (!item.is_string() || item.get_string().empty() || item.get_string().size() > max_bytes ||
                !utf8::is_valid(item.get_string())) {
                fail(std::string(name) + ": an item is not a string of the right length");
                return {};
            }
            out.emplace_back(item.get_string());
        }
        return out;
    }

  private:
    boost::json::object const& o_;
    std::string& why_;
};

// The body as a JSON object of this version and `op`.
std::optional<boost::json::value> parse_object(std::string_view body, std::string_view op, std::string& why,
                                               decode_limits const& lim) {
    why.clear();
    if (body.size() > lim.max_bytes) {
        why = "too large";
        return std::nullopt;
    }
    boost::system::error_code ec;
    boost::json::parse_options po;
    po.max_depth = 4;  // {"events":[{...}]}
    auto v = boost::json::parse(body, ec, {}, po);
    if (ec || !v.is_object()) {
        why = "not a JSON object";
        return std::nullopt;
    }
    auto const& o = v.get_object();
    auto const* ver = o.if_contains("v");
    auto const* kind = o.if_contains("op");
    if (ver == nullptr || !ver->is_int64() || ver->get_int64() != version) {
        why = "unknown version";
        return std::nullopt;
    }
    if (kind == nullptr || !kind->is_string() || kind->get_string() != op) {
        why = "not a " + std::string(op);
        return std::nullopt;
    }
    return v;
}

constexpr std::size_t max_id = 64;
constexpr std::size_t max_user = 255;  // an AMQP routing key
constexpr std::size_t max_pid = 128;
constexpr std::size_t max_event = 65'535;
constexpr std::size_t max_channel = 255;  // an AMQP routing key
}  // namespace

bool valid_node_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::ranges::all_of(id, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

std::string encode(handover_request const& r) {
    std::string out = "{\"v\":1,\"op\":\"request\",";
    member(out, "id", r.id);
    member(out, "from", r.from);
    member(out, "user", r.user);
    member(out, "pid", r.pid);
    if (r.offset) {
        member(out, "offset", *r.offset);
    }
    member(out, "hops", r.hops);
    if (!r.channels.empty()) {
        texts_member(out, "channels", r.channels);
    }
    close_object(out);
    return out;
}

std::string encode(handover_reply const& r) {
    std::size_t bytes = 128;
    for (auto const& e : r.events) {
        bytes += e.event.size() + e.payload.size() + e.channel.size() + 64;
    }
    std::string out;
    out.reserve(bytes);
    out = "{\"v\":1,\"op\":\"reply\",";
    member(out, "id", r.id);
    member(out, "from", r.from);
    out += r.ok ? "\"ok\":true," : "\"ok\":false,";
    if (!r.ok) {
        member(out, "error", r.error);
        if (!r.channels.empty()) {
            texts_member(out, "channels", r.channels);
        }
    } else {
        member(out, "sid", r.sid);
        out += "\"events\":[";
        for (auto const& e : r.events) {
            out.push_back('{');
            member(out, "k", e.key);
            member(out, "e", e.event);
            member(out, "d", e.payload);  // the JSON text as a string: its bytes arrive exactly as they were
            if (!e.channel.empty()) {
                member(out, "c", e.channel);
            }
            close_object(out);
            out.push_back(',');
        }
        if (out.back() == ',') {
            out.pop_back();
        }
        out += "],";
    }
    close_object(out);
    return out;
}

std::optional<handover_request> decode_request(std::string_view body, std::string& why, decode_limits lim) {
    auto v = parse_object(body, "request", why, lim);
    if (!v) {
        return std::nullopt;
    }
    reader in(v->get_object(), why);
    handover_request r;
    r.id = in.text("id", 1, max_id);
    r.from = in.node("from");
    r.user = in.text("user", 1, max_user);
    r.pid = in.text("pid", 1, max_pid);
    r.offset = in.number("offset", false);
    auto const hops = in.number("hops", true);
    r.channels = in.texts("channels", lim.max_channels, max_channel);
    if (!in.failed() && (!hops || *hops > max_handover_hops)) {
        in.fail("hops: too many");
    }
    if (in.failed()) {
        return std::nullopt;
    }
    r.hops = static_cast<unsigned>(*hops);
    return r;
}

std::optional<handover_reply> decode_reply(std::string_view body, std::string& why, decode_limits lim) {
    auto v = parse_object(body, "reply", why, lim);
    if (!v) {
        return std::nullopt;
    }
    reader in(v->get_object(), why);
    handover_reply r;
    r.id = in.text("id", 1, max_id);
    r.from = in.node("from");
    r.ok = in.flag("ok");
    if (in.failed()) {
        return std::nullopt;
    }
    if (!r.ok) {
        r.error = in.text("error", 0, 256);
        r.channels = in.texts("channels", lim.max_channels, max_channel);
        return in.failed() ? std::nullopt : std::optional<handover_reply>(std::move(r));
    }
    r.sid = in.text("sid", 1, max_id);
    auto const* events = in.get("events");
    if (in.failed() || events == nullptr || !events->is_array() || events->get_array().size() > lim.max_events) {
        in.fail("events: missing, not an array, or too many");
        return std::nullopt;
    }
    r.events.reserve(events->get_array().size());
    for (auto const& item : events->get_array()) {
        if (!item.is_object()) {
            in.fail("events: an item is not an object");
            return std::nullopt;
        }
        reader e(item.get_object(), why);
        handed_event h;
        auto const key = e.number("k", true);
        h.event = e.text("e", 1, max_event);
        h.payload = e.text("d", 1, lim.max_bytes);
        if (e.get("c") != nullptr) {
            h.channel = e.text("c", 1, max_channel);
        }
        if (!e.failed() && !json_text::is_valid(h.payload)) {
            e.fail("events: a payload is not JSON");
        }
        if (e.failed()) {
            return std::nullopt;
        }
        h.key = *key;
        r.events.push_back(std::move(h));
    }
    return r;
}
}  // namespace pusher::cluster
