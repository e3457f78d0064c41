#pragma once
// The server side of RFC 6455 framing, sans I/O: a strict incremental reader of client frames, writers for server
// frames, the opening-handshake key, and a UTF-8 validator. Pure code, any thread; one frame_reader per connection.
//
// Why not Beast's websocket::stream: its per-connection state is ~2.7 KB (a fixed 1.5 KB frame buffer among it)
// plus a ~450 B read operation pending while idle, which alone breaks the budget of ~4 KiB per idle connection;
// and one Beast write operation per message costs more than the framing itself. A server needs a small subset:
// masked client frames in, unmasked frames out, no extensions (permessage-deflate is declined).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pusher::engineio {
// Close codes (RFC 6455 §7.4.1).
namespace close_code {
constexpr std::uint16_t normal = 1000;
constexpr std::uint16_t going_away = 1001;
constexpr std::uint16_t protocol_error = 1002;
constexpr std::uint16_t no_status = 1005;  // received without a code; never sent
constexpr std::uint16_t invalid_payload = 1007;
constexpr std::uint16_t too_big = 1009;
}  // namespace close_code

// What the reader reports, in order.
class frame_sink {
  public:
    virtual ~frame_sink() = default;
    // A whole data message (all its fragments), unmasked; text is valid UTF-8. Valid during the call only.
    virtual void on_frame_message(std::string_view payload, bool binary) = 0;
    virtual void on_frame_ping(std::string_view payload) = 0;
    // The peer's close frame (code close_code::no_status when it carried none). The reader reads nothing after it.
    virtual void on_frame_close(std::uint16_t code) = 0;
};

// frame_reader: parses one connection's client-to-server byte stream into messages and control frames, however
// the bytes are split. Owns the partial header, the message being assembled and the control payload; used on the
// connection's thread only. Refuses anything RFC 6455 forbids a client (unmasked, reserved bits or opcodes,
// fragmented or long control frames, non-minimal lengths, bad close codes, invalid UTF-8 text, over max_message).
class frame_reader {
  public:
    explicit frame_reader(std::size_t max_message) : max_message_(max_message) {}

    // Consumes client bytes and reports complete messages and control frames to `sink`. Returns 0, or the close
    // code of the first violation (protocol_error, invalid_payload, too_big); after a violation or a close frame
    // the reader ignores everything. The sink may be called several times per call.
    std::uint16_t feed(std::string_view in, frame_sink& sink);

    // Part of a frame or message is buffered: the next bytes belong to it (read them with a bigger buffer).
    bool mid_message() const { return header_len_ > 0 || in_frame_ || in_message_; }
    bool done() const { return done_; }

  private:
    std::uint16_t on_header(frame_sink& sink);
    std::uint16_t finish_frame(frame_sink& sink);

    std::size_t max_message_;
    std::array<unsigned char, 14> header_{};
    std::uint8_t header_len_ = 0;
    bool in_frame_ = false;  // header parsed, payload pending
    bool fin_ = false;
    std::uint8_t opcode_ = 0;
    std::uint64_t remaining_ = 0;
    std::array<unsigned char, 4> mask_{};
    std::uint8_t mask_pos_ = 0;
    bool in_message_ = false;  // a fragmented data message is in progress
    bool binary_ = false;
    std::string message_;  // the data message being received
    std::string control_;  // the control frame being received (<= 125 bytes)
    bool done_ = false;
};

// Appends one unmasked, final server frame: a text (or binary) message, a pong, or a close.
void append_data_frame(std::string& out, std::string_view payload, bool binary);
void append_pong_frame(std::string& out, std::string_view payload);
void append_close_frame(std::string& out, std::uint16_t code);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)).
std::string websocket_accept_key(std::string_view key);
}  // namespace pusher::engineio
