#include "broker/amqp_message.hpp"

#include <amqp_framing.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

namespace pusher::broker {
outgoing_properties::outgoing_properties(std::string_view event, std::string_view message_id, std::int64_t timestamp_ms,
                                         std::string_view reason, bool content_is_json,
                                         std::vector<std::pair<std::string, std::string>> const* extra) {
    headers_[0].key = amqp_cstring_bytes("timestamp_ms");
    headers_[0].value.kind = AMQP_FIELD_KIND_I64;
    headers_[0].value.value.i64 = timestamp_ms;
    int header_count = 1;
    if (!reason.empty()) {
        headers_[1].key = amqp_cstring_bytes("x-pusher-reason");
        headers_[1].value.kind = AMQP_FIELD_KIND_UTF8;
        headers_[1].value.value.bytes = bytes(reason);
        header_count = 2;
    }
    if (extra != nullptr) {
        for (std::size_t i = 0; i < extra->size() && i < max_extra_headers; ++i) {
            auto& h = headers_[header_count++];
            h.key = bytes((*extra)[i].first);
            h.value.kind = AMQP_FIELD_KIND_UTF8;
            h.value.value.bytes = bytes((*extra)[i].second);
        }
    }
    props_._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG |
                    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_HEADERS_FLAG;
    props_.content_type = amqp_cstring_bytes(content_is_json ? "application/json" : "application/octet-stream");
    props_.delivery_mode = reason.empty() ? 1 : 2;
    props_.type = bytes(event.empty() ? std::string_view("notification") : event);
    props_.message_id = bytes(message_id);
    props_.timestamp = static_cast<std::uint64_t>(timestamp_ms < 0 ? 0 : timestamp_ms / 1000);  // AMQP: seconds
    props_.headers = amqp_table_t{header_count, headers_};
}

std::int64_t timestamp_to_ms(std::int64_t v) {
    // 1e11 ms is March 1973; 1e11 s is the year 5138: below it, a value can only be seconds.
    constexpr std::int64_t seconds_limit = 100'000'000'000;
    return (v > -seconds_limit && v < seconds_limit) ? v * 1000 : v;
}

std::optional<std::int64_t> header_timestamp_ms(amqp_table_t const& headers) {
    for (int i = 0; i < headers.num_entries; ++i) {
        amqp_table_entry_t const& e = headers.entries[i];
        if (view(e.key) != "timestamp_ms") {
            continue;
        }
        auto const& v = e.value.value;
        switch (e.value.kind) {
            case AMQP_FIELD_KIND_I8:
                return v.i8;
            case AMQP_FIELD_KIND_U8:
                return v.u8;
            case AMQP_FIELD_KIND_I16:
                return v.i16;
            case AMQP_FIELD_KIND_U16:
                return v.u16;
            case AMQP_FIELD_KIND_I32:
                return v.i32;
            case AMQP_FIELD_KIND_U32:
                return v.u32;
            case AMQP_FIELD_KIND_I64:
                return v.i64;
            case AMQP_FIELD_KIND_U64:
            case AMQP_FIELD_KIND_TIMESTAMP:
                if (v.u64 > static_cast<std::uint64_t>(INT64_MAX)) {
                    return std::nullopt;
                }
                return static_cast<std::int64_t>(v.u64);
            case AMQP_FIELD_KIND_F32:
            case AMQP_FIELD_KIND_F64: {
                double const d = e.value.kind == AMQP_FIELD_KIND_F32 ? v.f32 : v.f64;
                if (!std::isfinite(d) || std::fabs(d) > 9e18) {
                    return std::nullopt;
                }
                return static_cast<std::int64_t>(d);
            }
            case AMQP_FIELD_KIND_UTF8:
            case AMQP_FIELD_KIND_BYTES: {
                auto s = view(v.bytes);
                std::int64_t out = 0;
                auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
                if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
                    return std::nullopt;
                }
                return out;
            }
            default:
                return std::nullopt;
        }
    }
    return std::nullopt;
}

bool is_json_content_type(std::string_view ct) {
    ct = ct.substr(0, ct.find(';'));  // drop parameters (charset=...)
    while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) {
        ct.remove_suffix(1);
    }
    while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) {
        ct.remove_prefix(1);
    }
    if (ct.empty()) {
        return true;
    }
    std::string lower(ct);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    return lower == "application/json" || lower == "text/json" ||
           (lower.size() > 5 && lower.compare(lower.size() - 5, 5, "+json") == 0);
}

std::optional<message> to_message(amqp_envelope_t const& env, std::string_view exchange,
                                  std::string_view broadcast_exchange, std::string_view channel_exchange) {
    auto const ex = view(env.exchange);
    message m;
    if (ex == broadcast_exchange) {
        m.broadcast = true;
    } else if (ex == exchange) {
        m.user = view(env.routing_key);
        if (m.user.empty()) {
            return std::nullopt;
        }
    } else if (!channel_exchange.empty() && ex == channel_exchange) {
        m.channel = view(env.routing_key);
        if (m.channel.empty()) {
            return std::nullopt;
        }
    } else {
        return std::nullopt;
    }
    auto const& p = env.message.properties;
    auto const has = [&](amqp_flags_t f) { return (p._flags & f) != 0; };
    m.event = has(AMQP_BASIC_TYPE_FLAG) && p.type.len > 0 ? view(p.type) : std::string_view("notification");
    m.content_is_json = !has(AMQP_BASIC_CONTENT_TYPE_FLAG) || is_json_content_type(view(p.content_type));
    if (has(AMQP_BASIC_MESSAGE_ID_FLAG)) {
        m.message_id = view(p.message_id);
    }
    if (has(AMQP_BASIC_HEADERS_FLAG)) {
        m.timestamp_ms = header_timestamp_ms(p.headers);
    }
    if (!m.timestamp_ms && has(AMQP_BASIC_TIMESTAMP_FLAG) && p.timestamp <= static_cast<std::uint64_t>(INT64_MAX)) {
        m.timestamp_ms = timestamp_to_ms(static_cast<std::int64_t>(p.timestamp));
    }
    m.payload = view(env.message.body);
    return m;
}
}  // namespace pusher::broker
