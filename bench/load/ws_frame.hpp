#pragma once
// The client side of RFC 6455, sans-IO: the upgrade request and its check, server frame parsing (unmasked, §5.1)
// and masked client frames. The load client reads whole socket buffers and parses every frame in them in place,
// which costs a fraction of a general websocket stream's per-message machinery (the generator must not be the
// bottleneck at a million frames per second). Pure functions.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pusher::load {
namespace ws_opcode {
inline constexpr std::uint8_t continuation = 0x0;
inline constexpr std::uint8_t text = 0x1;
inline constexpr std::uint8_t binary = 0x2;
inline constexpr std::uint8_t close = 0x8;
inline constexpr std::uint8_t ping = 0x9;
inline constexpr std::uint8_t pong = 0xA;
}  // namespace ws_opcode

struct ws_frame {
    bool fin = true;
    std::uint8_t opcode = 0;
    std::string_view payload;  // a view into the parsed buffer
};

enum class ws_parse { frame, need_more, error };

// Parses the frame at the start of `data`. On `frame`, sets `out` and `consumed` (header + payload bytes).
// `error` for a masked server frame (RFC 6455 §5.1), reserved bits, a bad control frame, or a payload above
// `max_payload`; `error_text` says which.
ws_parse parse_server_frame(std::string_view data, std::size_t max_payload, ws_frame& out, std::size_t& consumed,
                            char const*& error_text);

// Appends a masked client frame (FIN set) with the given opcode, payload and masking key.
void append_client_frame(std::string& out, std::uint8_t opcode, std::string_view payload, std::uint32_t mask_key);

// Sec-WebSocket-Key from 16 bytes of entropy; the matching Sec-WebSocket-Accept (RFC 6455 §4.2.2).
std::string ws_key_from(std::uint64_t a, std::uint64_t b);
std::string ws_accept_for(std::string_view key);

std::string upgrade_request(std::string_view host, std::string_view target, std::string_view key);
// `head` is the response up to and including the blank line. nullopt when it is a valid 101 for `key`, else why not.
std::optional<std::string> check_upgrade_response(std::string_view head, std::string_view key);
}  // namespace pusher::load
