#include "socketio/packet.hpp"
#include "socketio/event_frame.hpp"
#include "socketio/reserved_events.hpp"

#include "common/json_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/stream_parser.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

namespace pusher::socketio {
namespace {
class decode_category_impl final : public boost::system::error_category {
  public:
    char const* name() const noexcept override { return "socketio.decode"; }
    std::string message(int ev) const override {
        switch (static_cast<decode_error>(ev)) {
            case decode_error::empty_packet:
                return "empty packet";
            case decode_error::unknown_type:
                return "unknown packet type";
            case decode_error::bad_attachments:
                return "illegal attachments count";
            case decode_error::too_many_attachments:
                return "too many attachments";
            case decode_error::bad_ack_id:
                return "ack id out of range";
            case decode_error::invalid_json:
                return "payload is not valid JSON";
            case decode_error::invalid_payload:
                return "invalid payload for the packet type";
            case decode_error::reserved_event_name:
                return "reserved event name";
            case decode_error::illegal_attachments:
                return "illegal attachment placeholder";
            case decode_error::unexpected_binary:
                return "binary data while not reconstructing a packet";
            case decode_error::unexpected_text:
                return "text data while reconstructing a packet";
        }
        return "unknown decode error";
    }
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// Parses the digits [first, last) into a uint64; false on overflow.
bool parse_u64(char const* first, char const* last, std::uint64_t& out) {
    auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && ptr == last;
}

// The kind of a JSON value, as far as payload validation cares.
enum class kind : std::uint8_t { none, object, array, string, number, boolean, null };

// A basic_parser handler that writes a compact copy of the document while it is parsed. It keeps key order and the
// original text of numbers, writes strings with canonical escapes, and remembers what payload validation needs: the
// top-level kind, the first element of a top-level array (the event name) and where the second one starts.
// In binary mode it also replaces each attachment placeholder (an object whose `_placeholder` is `true`, as in
// socket.io-parser's reconstructPacket) by the canonical `{"_placeholder":true,"num":K}`, K counting from 0 in order
// of appearance, and records which attachment it stood for.
class compact_writer {
  public:
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    compact_writer(bool binary, std::size_t attachments, std::size_t max_placeholders,
                   std::vector<std::uint32_t>& sources)
        : binary_(binary), attachments_(attachments), max_placeholders_(max_placeholders), sources_(sources) {}

    std::string out;
    kind top = kind::none;
    kind first = kind::none;       // first element of a top-level array
    std::string first_text;        // ... decoded when a string, as written when a number
    std::size_t second_at = npos;  // offset in `out` where the second element of a top-level array starts
    static constexpr std::size_t npos = std::size_t(-1);

    bool on_document_begin(boost::system::error_code&) { return true; }
    bool on_document_end(boost::system::error_code&) { return true; }

    bool on_object_begin(boost::system::error_code&) {
        begin_value(kind::object);
        levels_.push_back(level{true, 0, out.size(), sources_.size()});
        out.push_back('{');
        return true;
    }
    bool on_object_end(std::size_t, boost::system::error_code& ec) {
        out.push_back('}');
        level const l = levels_.back();
        levels_.pop_back();
        if (binary_ && l.placeholder) {
            if (!l.num_ok || l.num >= attachments_) {
                ec = decode_error::illegal_attachments;
                return false;
            }
            // The whole object stands for one attachment: anything nested in it (even another placeholder) goes.
            out.resize(l.start);
            sources_.resize(l.sources_at);
            out += R"({"_placeholder":true,"num":)";
            out += std::to_string(sources_.size());
            out.push_back('}');
            sources_.push_back(static_cast<std::uint32_t>(l.num));
            // A placeholder may name an attachment twice (reconstructPacket allows it), but each one becomes an
            // attachment of its own when the arguments are sent on: no more of them than a packet may announce,
            // or 1 attachment and 30000 placeholders would come back as 30000 binary messages.
            if (sources_.size() > max_placeholders_) {
                ec = decode_error::too_many_attachments;
                return false;
            }
        }
        return true;
    }
    bool on_array_begin(boost::system::error_code&) {
        begin_value(kind::array);
        levels_.push_back(level{false, 0, out.size(), sources_.size()});
        out.push_back('[');
        return true;
    }
    bool on_array_end(std::size_t, boost::system::error_code&) {
        out.push_back(']');
        levels_.pop_back();
        return true;
    }
    bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        key_part(s);
        return true;
    }
    bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        key_part(s);
        out += "\":";
        in_key_ = false;
        level& l = levels_.back();
        l.pending = key_ == "_placeholder" ? slot::placeholder : key_ == "num" ? slot::num : slot::other;
        return true;
    }
    bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        string_part(s);
        return true;
    }
    bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
        string_part(s);
        out.push_back('"');
        in_string_ = false;
        capture_ = false;
        return true;
    }
    bool on_number_part(boost::json::string_view s, boost::system::error_code&) {
        number_part(s);
        return true;
    }
    bool on_int64(std::int64_t v, boost::json::string_view s, boost::system::error_code&) {
        slot const sl = number_part(s);
        end_number(sl, v >= 0, static_cast<std::uint64_t>(v));
        return true;
    }
    bool on_uint64(std::uint64_t v, boost::json::string_view s, boost::system::error_code&) {
        slot const sl = number_part(s);
        end_number(sl, true, v);
        return true;
    }
    bool on_double(double v, boost::json::string_view s, boost::system::error_code&) {
        slot const sl = number_part(s);
        // JS indexes an array with 1.0 as with 1: accept integral doubles as attachment numbers.
        bool const integral = v >= 0 && v < 4294967296.0 && std::floor(v) == v;
        end_number(sl, integral, integral ? static_cast<std::uint64_t>(v) : 0);
        return true;
    }
    bool on_bool(bool b, boost::system::error_code&) {
        slot const sl = begin_value(kind::boolean);
        out += b ? "true" : "false";
        if (sl == slot::placeholder && b) {
            levels_.back().placeholder = true;
        }
        return true;
    }
    bool on_null(boost::system::error_code&) {
        begin_value(kind::null);
        out += "null";
        return true;
    }
    bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
    bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

  private:
    enum class slot : std::uint8_t { none, other, placeholder, num };
    struct level {
        bool object;
        std::size_t count;          // elements (array) or keys (object) written so far
        std::size_t start;          // offset of the opening bracket in `out`
        std::size_t sources_at;     // sources_.size() when the container began
        slot pending = slot::none;  // object: which key the next value belongs to
        bool placeholder = false;
        bool num_ok = false;
        std::uint64_t num = 0;
    };

    // Starts a value: writes the separator an array needs, tracks the top-level array's first two elements, and
    // tells which object key (if any) the value belongs to. Resets that key's placeholder facts, as a later duplicate
    // key overrides an earlier one in JS.
    slot begin_value(kind k) {
        if (levels_.empty()) {
            top = k;
            return slot::none;
        }
        level& l = levels_.back();
        if (!l.object) {
            if (l.count > 0) {
                out.push_back(',');
            }
            if (levels_.size() == 1) {
                if (l.count == 0) {
                    first = k;
                    capture_ = k == kind::string || k == kind::number;
                } else if (l.count == 1) {
                    second_at = out.size();
                }
            }
            ++l.count;
            return slot::none;
        }
        slot const sl = l.pending;
        l.pending = slot::none;
        if (sl == slot::placeholder) {
            l.placeholder = false;
        } else if (sl == slot::num) {
            l.num_ok = false;
        }
        return sl;
    }

    void key_part(boost::json::string_view s) {
        if (!in_key_) {
            level& l = levels_.back();
            if (l.count++ > 0) {
                out.push_back(',');
            }
            out.push_back('"');
            key_.clear();
            in_key_ = true;
        }
        json_text::append_escaped(out, {s.data(), s.size()});
        key_.append(s.data(), s.size());
    }

    void string_part(boost::json::string_view s) {
        if (!in_string_) {
            begin_value(kind::string);
            out.push_back('"');
            in_string_ = true;
        }
        json_text::append_escaped(out, {s.data(), s.size()});
        if (capture_) {
            first_text.append(s.data(), s.size());
        }
    }

    slot number_part(boost::json::string_view s) {
        if (!in_number_) {
            number_slot_ = begin_value(kind::number);
            in_number_ = true;
        }
        out.append(s.data(), s.size());
        if (capture_) {
            first_text.append(s.data(), s.size());
        }
        return number_slot_;
    }

    void end_number(slot sl, bool index_ok, std::uint64_t v) {
        in_number_ = false;
        capture_ = false;
        if (sl == slot::num) {
            levels_.back().num_ok = index_ok;
            levels_.back().num = v;
        }
    }

    bool binary_;
    std::size_t attachments_;
    std::size_t max_placeholders_;
    std::vector<std::uint32_t>& sources_;
    std::vector<level> levels_;
    std::string key_;
    bool in_key_ = false;
    bool in_string_ = false;
    bool in_number_ = false;
    bool capture_ = false;
    slot number_slot_ = slot::none;
};

// Event names socket.io-parser refuses (they mean something to the Socket.IO and EventEmitter APIs).

std::string header(packet_type t, std::string_view nsp, std::optional<std::uint64_t> id, std::size_t attachments,
                   std::size_t extra) {
    std::string out;
    out.reserve(nsp.size() + extra + 28);
    out.push_back('4');
    out.push_back(static_cast<char>('0' + static_cast<int>(t)));
    if (is_binary(t)) {
        out += std::to_string(attachments);
        out.push_back('-');
    }
    if (nsp != "/") {
        out += nsp;
        out.push_back(',');
    }
    if (id) {
        out += std::to_string(*id);
    }
    return out;
}

// The elements of a JSON array text without its brackets ("" when there are none).
std::string_view inner(std::string_view array_json) {
    if (array_json.size() < 2 || array_json.front() != '[' || array_json.back() != ']') {
        return {};
    }
    std::string_view in = array_json.substr(1, array_json.size() - 2);
    auto const first = in.find_first_not_of(" \t\r\n");
    return first == std::string_view::npos ? std::string_view{} : in;
}
}  // namespace

boost::system::error_category const& decode_category() {
    static decode_category_impl const instance;
    return instance;
}

boost::system::result<packet> decode(std::string_view s, decode_limits const& limits) {
    if (s.empty()) {
        return decode_error::empty_packet;
    }
    if (s[0] < '0' || s[0] > '6') {
        return decode_error::unknown_type;
    }
    packet p;
    p.type = static_cast<packet_type>(s[0] - '0');
    std::size_t i = 1;
    std::size_t const n = s.size();

    if (is_binary(p.type)) {
        std::size_t const start = i;
        while (i < n && is_digit(s[i])) {
            ++i;
        }
        std::uint64_t count = 0;
        if (i == start || i >= n || s[i] != '-' || !parse_u64(s.data() + start, s.data() + i, count)) {
            return decode_error::bad_attachments;
        }
        if (count > limits.max_attachments) {
            return decode_error::too_many_attachments;
        }
        p.attachments = static_cast<std::size_t>(count);
        ++i;
    }
    // The namespace runs from a leading '/' to the first ',' or the end: `40/custom` and `40/custom,` are the same.
    if (i < n && s[i] == '/') {
        std::size_t const comma = s.find(',', i);
        std::size_t const end = comma == std::string_view::npos ? n : comma;
        p.nsp.assign(s.substr(i, end - i));
        i = comma == std::string_view::npos ? n : comma + 1;
    }
    if (i < n && is_digit(s[i])) {
        std::size_t const start = i;
        while (i < n && is_digit(s[i])) {
            ++i;
        }
        std::uint64_t id = 0;
        if (!parse_u64(s.data() + start, s.data() + i, id)) {
            return decode_error::bad_ack_id;
        }
        p.id = id;
    }

    std::string_view const payload = s.substr(i);
    if (payload.empty()) {
        // socket.io-parser validates a payload only when there is one; an EVENT without its array is refused here
        // (docs/conformance.md §3: an EVENT needs a non-empty array), an ACK without one acknowledges with no
        // arguments.
        if (p.type == packet_type::event || p.type == packet_type::binary_event) {
            return decode_error::invalid_payload;
        }
        return p;
    }
    if (p.type == packet_type::disconnect) {
        return decode_error::invalid_payload;
    }

    boost::json::parse_options opts;
    opts.max_depth = limits.max_depth;
    boost::json::basic_parser<compact_writer> parser(opts, is_binary(p.type), p.attachments, limits.max_attachments,
                                                     p.sources);
    boost::system::error_code ec;
    std::size_t const used = parser.write_some(false, payload.data(), payload.size(), ec);
    if (ec) {
        if (ec == decode_error::illegal_attachments || ec == decode_error::too_many_attachments) {
            return static_cast<decode_error>(ec.value());
        }
        return decode_error::invalid_json;
    }
    // write_some stops after the first value: anything left over is a second value or garbage.
    if (used != payload.size() || !parser.done()) {
        return decode_error::invalid_json;
    }
    compact_writer& w = parser.handler();

    switch (p.type) {
        case packet_type::connect:
            if (w.top != kind::object) {
                return decode_error::invalid_payload;
            }
            p.data = std::move(w.out);
            break;
        case packet_type::event:
        case packet_type::binary_event:
            if (w.top != kind::array || (w.first != kind::string && w.first != kind::number)) {
                return decode_error::invalid_payload;
            }
            if (w.first == kind::string && is_reserved_event(w.first_text)) {
                return decode_error::reserved_event_name;
            }
            p.event = std::move(w.first_text);
            if (w.second_at == compact_writer::npos) {
                p.data = "[]";
            } else {
                p.data.reserve(w.out.size() - w.second_at + 1);
                p.data.push_back('[');
                p.data.append(w.out, w.second_at);
            }
            break;
        case packet_type::ack:
        case packet_type::binary_ack:
            if (w.top != kind::array) {
                return decode_error::invalid_payload;
            }
            p.data = std::move(w.out);
            break;
        case packet_type::connect_error:
            if (w.top != kind::object && w.top != kind::string) {
                return decode_error::invalid_payload;
            }
            p.data = std::move(w.out);
            break;
        case packet_type::disconnect:
            break;  // handled above
    }
    return p;
}

arguments take_arguments(packet& p, std::vector<frame> const& received) {
    arguments args;
    args.json = p.data.empty() ? std::string("[]") : std::move(p.data);
    args.binary.reserve(p.sources.size());
    for (std::uint32_t src : p.sources) {
        // decode() checked every source against the declared count; the caller waited for that many attachments.
        args.binary.push_back(src < received.size() ? received[src] : make_frame({}));
    }
    return args;
}

frame encode_connect(std::string_view nsp, std::string_view sid, std::string_view pid,
                     std::optional<std::size_t> missed) {
    std::string out = header(packet_type::connect, nsp, std::nullopt, 0, sid.size() + pid.size() + 18);
    out += R"({"sid":)";
    json_text::append_string(out, sid);
    if (!pid.empty()) {
        out += R"(,"pid":)";
        json_text::append_string(out, pid);
    }
    if (missed) {
        out += R"(,"missed":)";
        out += std::to_string(*missed);
    }
    out.push_back('}');
    return make_frame(std::move(out));
}

frame encode_connect_error(std::string_view nsp, std::string_view message) {
    std::string out = header(packet_type::connect_error, nsp, std::nullopt, 0, message.size() + 14);
    out += R"({"message":)";
    json_text::append_string(out, message);
    out.push_back('}');
    return make_frame(std::move(out));
}

frame encode_connect_v4(std::string_view nsp) {
    return make_frame(header(packet_type::connect, nsp, std::nullopt, 0, 0));
}

frame encode_error_v4(std::string_view nsp, std::string_view message) {
    std::string out = header(packet_type::connect_error, nsp, std::nullopt, 0, message.size() + 2);
    json_text::append_string(out, message);
    return make_frame(std::move(out));
}

frame encode_disconnect(std::string_view nsp) {
    return make_frame(header(packet_type::disconnect, nsp, std::nullopt, 0, 0));
}

frame encode_event(std::string_view nsp, std::string_view event, arguments const& args,
                   std::optional<std::uint64_t> ack_id) {
    bool const binary = !args.binary.empty();
    std::string_view const rest = inner(args.json);
    std::string out = header(binary ? packet_type::binary_event : packet_type::event, nsp, ack_id, args.binary.size(),
                             event.size() + rest.size() + 6);
    out.push_back('[');
    json_text::append_string(out, event);
    if (!rest.empty()) {
        out.push_back(',');
        out += rest;
    }
    out.push_back(']');
    return make_frame(std::move(out));
}

frame encode_ack(std::string_view nsp, std::uint64_t id, arguments const& args) {
    bool const binary = !args.binary.empty();
    std::string_view const rest = inner(args.json);
    std::string out =
        header(binary ? packet_type::binary_ack : packet_type::ack, nsp, id, args.binary.size(), rest.size() + 2);
    out.push_back('[');
    out += rest;
    out.push_back(']');
    return make_frame(std::move(out));
}
namespace {
// The length of the one JSON value at the start of `text` (anything may follow it); 0 when there is none.
std::size_t json_value_length(std::string_view text) {
    boost::json::stream_parser p;
    boost::system::error_code ec;
    std::size_t const n = p.write_some(text.data(), text.size(), ec);
    return ec || !p.done() ? 0 : n;
}
}  // namespace

std::optional<event_frame_parts> decode_event_frame(std::string_view f) {
    if (!f.starts_with("42[\"") || !f.ends_with("\"]")) {
        return std::nullopt;
    }
    std::size_t i = 4;  // inside the event name's string literal
    while (i < f.size() && f[i] != '"') {
        i += f[i] == '\\' ? 2 : 1;
    }
    if (i + 1 >= f.size() || f[i + 1] != ',') {
        return std::nullopt;
    }
    boost::system::error_code ec;
    auto const name = boost::json::parse(f.substr(3, i - 2), ec);
    if (ec || !name.is_string()) {
        return std::nullopt;
    }
    std::string_view rest = f.substr(i + 2, f.size() - i - 3);  // the arguments after the name, without the `]`
    std::size_t const payload = json_value_length(rest);
    if (payload == 0) {
        return std::nullopt;
    }
    event_frame_parts parts{std::string(name.get_string()), rest.substr(0, payload), {}};
    rest.remove_prefix(payload);
    if (rest.starts_with(",{")) {  // a channel event's meta
        std::size_t const meta = json_value_length(rest.substr(1));
        if (meta == 0) {
            return std::nullopt;
        }
        parts.meta_json = rest.substr(1, meta);
        rest.remove_prefix(1 + meta);
    }
    // The offset, the last argument: `,"<digits>"`.
    if (rest.size() < 4 || !rest.starts_with(",\"") ||
        !std::all_of(rest.begin() + 2, rest.end() - 1, [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
    }
    return parts;
}
}  // namespace pusher::socketio
