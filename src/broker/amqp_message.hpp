#pragma once
// amqp_message: reading a rabbitmq-c delivery (amqp_envelope_t) as a broker::message, and the properties of what we
// publish. Pure functions, no I/O: unit-tested without a broker. The AMQP contract (docs/amqp-contract.md): routing
// key = user, `type` property = event ("notification" when absent), header `timestamp_ms` preferred over the
// `timestamp` property (seconds or milliseconds since the epoch: values below 1e11 are seconds), exchange tells
// direct/broadcast.
#include "broker/broker.hpp"

#include <amqp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::broker {
inline std::string_view view(amqp_bytes_t b) {
    return b.len == 0 ? std::string_view() : std::string_view(static_cast<char const*>(b.bytes), b.len);
}
inline amqp_bytes_t bytes(std::string_view s) {
    return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

// The properties of a message we publish (docs/amqp-contract.md): `type` = event, content_type application/json,
// message_id, `timestamp` (seconds) and header `timestamp_ms`, delivery_mode 1 (transient: a notification is
// worthless after a broker restart). Points into its arguments and into itself: not copyable.
//
// A message republished on the undelivered exchange (`reason` not empty) also has the header x-pusher-reason, is
// persistent (delivery_mode 2: it may wait in a durable queue for whoever handles it), and says application/json only
// when it came as JSON (application/octet-stream otherwise: the original bytes, whatever they are).
class outgoing_properties {
  public:
    // `extra` headers (string values) follow timestamp_ms and the reason; at most max_extra_headers.
    static constexpr std::size_t max_extra_headers = 4;
    outgoing_properties(std::string_view event, std::string_view message_id, std::int64_t timestamp_ms,
                        std::string_view reason = {}, bool content_is_json = true,
                        std::vector<std::pair<std::string, std::string>> const* extra = nullptr);
    outgoing_properties(outgoing_properties const&) = delete;
    outgoing_properties& operator=(outgoing_properties const&) = delete;
    amqp_basic_properties_t const* get() const { return &props_; }

  private:
    amqp_table_entry_t headers_[2 + max_extra_headers]{};
    amqp_basic_properties_t props_{};
};

// A `timestamp` property or header value in seconds or milliseconds since the epoch -> milliseconds.
std::int64_t timestamp_to_ms(std::int64_t v);

// The header `timestamp_ms` (any integer kind, a float, a timestamp or a decimal string), if present and usable.
std::optional<std::int64_t> header_timestamp_ms(amqp_table_t const& headers);

// True unless the content type names something that is not JSON ("application/json", "...+json", "text/json" and a
// missing content type count as JSON).
bool is_json_content_type(std::string_view content_type);

// The message a delivery carries, with views into `env`. std::nullopt when it is not for us: from an exchange that is
// none of ours (e.g. the default exchange), or a direct or channel message without a routing key.
std::optional<message> to_message(amqp_envelope_t const& env, std::string_view exchange,
                                  std::string_view broadcast_exchange, std::string_view channel_exchange = {});
}  // namespace pusher::broker
