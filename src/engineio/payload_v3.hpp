#pragma once
// The Engine.IO v3 long-polling payload (EIO=3: socket.io-client 2.x, served with options::allow_eio3), sans I/O.
// engine.io-protocol v3 / engine.io-parser 2.x:
//   - text: each packet as `<length>:<packet>`, where length counts the packet's UTF-16 code units (JavaScript's
//     String.length), not its bytes; a binary packet as `b<type digit><base64>` (e.g. `b4AQID`);
//   - binary (XHR2 clients sending binary data): per packet one byte 0 (text) or 1 (binary), the length as one byte per
//     decimal digit, 0xFF, then the packet: text as UTF-8, binary as its type byte (4) and the raw bytes.
// Strict, like the v4 codec: a length that does not match, a cut packet or invalid UTF-8 is an error. Pure functions.
#include "engineio/packet.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::engineio {
// UTF-16 code units of valid UTF-8 text (a 4-byte sequence counts 2).
std::size_t utf16_length(std::string_view utf8);
// Appends one packet to a v3 text payload: `<length>:` + the text packet, or for binary `b4` + base64 of the bytes.
void append_record_v3(std::string& out, std::string_view packet_or_bytes, bool binary);
// A polling POST body of an EIO=3 session, in either form (a body starting with byte 0 or 1 is the binary form).
boost::system::result<std::vector<packet>> decode_payload_v3(std::string_view body);
}  // namespace pusher::engineio
