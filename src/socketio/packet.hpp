#pragma once
// Socket.IO v5 packet codec, sans-IO (no sockets, no threads): decodes the text of one Engine.IO message into a
// validated `packet`, and encodes the packets a server sends. Wire format (socket.io-protocol v5):
//   <type digit>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
// e.g. `2["message",1]`, `0/custom,{"token":"x"}`, `51-/custom,7["up",{"_placeholder":true,"num":0}]`.
//
// Payloads are never re-serialised from a DOM: the decoder streams the JSON once (Boost.JSON basic_parser) and writes
// a compact copy that keeps key order and every number's original text; only insignificant white space goes and
// strings get their canonical escapes (what JSON.stringify(JSON.parse(x)) would write). Encoders splice that text.
#include "common/frame.hpp"

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pusher::socketio {
enum class packet_type : std::uint8_t {
    connect = 0,
    disconnect = 1,
    event = 2,
    ack = 3,
    connect_error = 4,
    binary_event = 5,
    binary_ack = 6,
};

constexpr bool is_binary(packet_type t) {
    return t == packet_type::binary_event || t == packet_type::binary_ack;
}

// Why a packet could not be decoded. Every one of these closes the Engine.IO connection (the socket.io-parser
// decoder throws on the same inputs).
enum class decode_error {
    empty_packet = 1,      // an empty message
    unknown_type,          // first character is not a digit 0-6
    bad_attachments,       // binary packet without a valid `<count>-` prefix
    too_many_attachments,  // more attachments (or placeholders) than the configured limit
    bad_ack_id,            // ack id does not fit in 64 bits
    invalid_json,          // the payload is not exactly one JSON value
    invalid_payload,       // valid JSON of the wrong shape for the packet type
    reserved_event_name,   // an event named like a Socket.IO lifecycle event (connect, disconnect, ...)
    illegal_attachments,   // a binary placeholder without a valid `num`
    unexpected_binary,     // a binary message while no binary packet awaits attachments
    unexpected_text,       // a text message while a binary packet still awaits attachments
};

boost::system::error_category const& decode_category();
inline boost::system::error_code make_error_code(decode_error e) {
    return {static_cast<int>(e), decode_category()};
}
}  // namespace pusher::socketio

template <>
struct boost::system::is_error_code_enum<pusher::socketio::decode_error> : std::true_type {};

namespace pusher::socketio {
// The arguments of an event or an acknowledgement: a JSON array, where each binary value is the placeholder
// `{"_placeholder":true,"num":N}` and binary[N] holds its bytes. Decoded arguments are compact and number their
// placeholders 0, 1, ... in order of appearance, so they can be echoed by splicing.
struct arguments {
    std::string json = "[]";
    std::vector<frame> binary;
};

// A decoded packet. Views are not kept: everything is owned, so a binary packet can wait for its attachments.
struct packet {
    packet_type type = packet_type::connect;
    std::string nsp = "/";
    std::optional<std::uint64_t> id;  // ack id, when present
    std::string event;                // EVENT / BINARY_EVENT: the event name (a number name keeps its JSON text)
    // Compact JSON, empty when the packet had no payload. CONNECT: the auth object. EVENT: the arguments after the
    // name, as an array (`["message",1,2]` gives `[1,2]`). ACK: the arguments array. CONNECT_ERROR: as sent.
    std::string data;
    std::size_t attachments = 0;  // binary types: attachments that follow the packet
    // Binary types: placeholder k (renumbered in order of appearance) stands for the attachment at sources[k].
    std::vector<std::uint32_t> sources;
};

struct decode_limits {
    std::size_t max_attachments = 10;
    std::size_t max_depth = 64;  // JSON nesting
};

// Decodes one Socket.IO packet: the Engine.IO message text without its `4`.
boost::system::result<packet> decode(std::string_view text, decode_limits const& limits = {});

// The arguments of a decoded EVENT / ACK (or their binary forms) once `received` holds all its attachments, in the
// order they arrived. Consumes p.data.
arguments take_arguments(packet& p, std::vector<frame> const& received);

// Encoders. Each returns a whole Engine.IO message packet (`4` then the Socket.IO packet), ready for
// engineio::session::send. A non-main namespace is always written with its comma (`40/custom,{...}`).
// For binary arguments, send args.binary after the frame, one session::send_binary each, in order.
frame encode_connect(std::string_view nsp, std::string_view sid, std::string_view pid = {},
                     std::optional<std::size_t> missed = std::nullopt);
// CONNECT_ERROR with the payload {"message":"<message>"}.
frame encode_connect_error(std::string_view nsp, std::string_view message);
// Protocol v4 (socket.io-client 2.x): CONNECT without payload (`40`), and ERROR (the same type digit) with the
// message as a JSON string (`44"Not authorized"`), which the client emits as its `error` event.
frame encode_connect_v4(std::string_view nsp);
frame encode_error_v4(std::string_view nsp, std::string_view message);
frame encode_disconnect(std::string_view nsp);
frame encode_event(std::string_view nsp, std::string_view event, arguments const& args,
                   std::optional<std::uint64_t> ack_id = std::nullopt);
frame encode_ack(std::string_view nsp, std::uint64_t id, arguments const& args);
}  // namespace pusher::socketio
