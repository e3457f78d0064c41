#pragma once
// The Engine.IO v4 codec, sans I/O: packet types, text packets, the long-polling payload (packets joined by the
// record separator 0x1e, binary ones as `b<base64>`), and base64. Strict: anything malformed is an error, never a
// guess. Pure functions; any thread.
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace pusher::engineio {
// engine.io-protocol v4, "Packet": one digit on the wire.
enum class packet_type : char {
    open = '0',
    close = '1',
    ping = '2',
    pong = '3',
    message = '4',
    upgrade = '5',
    noop = '6',
};

enum class codec_error {
    empty_packet = 1,  // a packet with no type character (also: an empty payload, or `\x1e\x1e`)
    unknown_type,      // a type character other than 0-6 (or `b` outside a polling payload)
    bad_base64,        // a `b` packet whose data is not base64
    bad_payload,       // an EIO=3 polling payload whose lengths do not match its packets (payload_v3.hpp)
};
boost::system::error_category const& codec_category();
boost::system::error_code make_error_code(codec_error e);

// A decoded packet. For a text packet `data` is what follows the type digit; for a binary message (websocket binary
// frame, or `b<base64>` over polling) `binary` is set, the type is message and `data` holds the raw bytes.
struct packet {
    packet_type type = packet_type::message;
    bool binary = false;
    std::string data;

    friend bool operator==(packet const&, packet const&) = default;
};

// A text packet without copying: `data` views into the input.
struct packet_view {
    packet_type type = packet_type::message;
    std::string_view data;
};

constexpr char record_separator = '\x1e';

// One text packet (a websocket text frame, or one record of a polling payload that is not `b...`).
boost::system::result<packet_view> parse_packet(std::string_view text);
// A polling POST body: one or more packets separated by 0x1e. Fails on the first bad packet (nothing returned).
boost::system::result<std::vector<packet>> decode_payload(std::string_view body);

// The text form of one packet: type digit + data (a text packet; not for binary).
std::string encode_packet(packet_type type, std::string_view data = {});
// Appends one record to a polling payload being built: adds the separator when `out` is not empty, then the text
// packet as is, or `b` + base64 of the bytes when binary.
void append_record(std::string& out, std::string_view packet_or_bytes, bool binary);
// Joins whole packets (text packets as encoded, binary as raw bytes) into one polling payload.
std::string encode_payload(std::vector<packet> const& packets);

std::string base64_encode(std::string_view bytes);
void base64_append(std::string& out, std::string_view bytes);
// Standard alphabet (RFC 4648 §4). Padding may be omitted; misplaced padding or other characters are errors.
boost::system::result<std::string> base64_decode(std::string_view text);
}  // namespace pusher::engineio

template <>
struct boost::system::is_error_code_enum<pusher::engineio::codec_error> : std::true_type {};
