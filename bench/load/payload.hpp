#pragma once
// The benchmark payload and the few Engine.IO / Socket.IO packets the load client needs, parsed by hand for speed
// (a full JSON parse per received frame would make the client the bottleneck). Pure functions, no state.
//
// Payload: {"t":<send time, ns since the epoch, CLOCK_REALTIME>,"u":"<user or *>","seq":<n>,"p":"xxx..."}, padded
// with 'x' in "p" to the wanted size. Servers splice it as is (pusher) or re-serialise it compactly (Node's
// JSON.stringify keeps the key order), so finding the keys by text is safe.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pusher::load {
// Appends the payload for (t_ns, user, seq) to `out`, padded to `size` bytes when size is larger than the minimum.
void append_payload(std::string& out, std::uint64_t t_ns, std::string_view user, std::uint64_t seq, std::size_t size);
std::string make_payload(std::uint64_t t_ns, std::string_view user, std::uint64_t seq, std::size_t size);

struct payload_fields {
    std::uint64_t t_ns = 0;
    std::string_view user;  // a view into the parsed text
    std::uint64_t seq = 0;
};
// Finds "t", "u" and "seq" in a payload (or in any text that embeds one, e.g. a whole 42[...] frame).
std::optional<payload_fields> parse_payload(std::string_view text);

// Engine.IO v4 packet types seen by a websocket client, with Socket.IO v5 types inside MESSAGE (4).
enum class packet_kind {
    open,            // 0{"sid":...,"pingInterval":...}
    close,           // 1
    ping,            // 2 (answer with 3)
    noop,            // 6
    sio_connect,     // 40{"sid":...}: the CONNECT was accepted
    sio_error,       // 44{"message":...}: CONNECT_ERROR
    sio_disconnect,  // 41
    sio_event,       // 42["event",...]
    sio_ack,         // 43<id>[...]: an acknowledgement (of the subscribe)
    other,
};
packet_kind classify(std::string_view packet);

struct event_view {
    std::string_view name;
    std::string_view data;  // the first argument's raw JSON (everything between the first ',' and the final ']')
};
// Splits `42["name",data]` (default namespace, no ack id). nullopt when the text is not such an event.
std::optional<event_view> parse_event(std::string_view packet);

// Socket.IO CONNECT packets the client sends: 40{"token":"..."} or 40{"user":"..."} (dev auth).
std::string connect_packet_token(std::string_view token);
std::string connect_packet_user(std::string_view user);
}  // namespace pusher::load
