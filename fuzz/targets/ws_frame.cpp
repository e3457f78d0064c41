// Fuzz target: the RFC 6455 server framing (engineio/websocket_frame.hpp): frame_reader over a client byte stream,
// the server frame writers, utf8::is_valid.
// Input: [max_message selector][split seed] then the client-to-server bytes.
// Invariants: the same stream split differently gives the same messages, control frames and verdict; every text
// message is UTF-8 (checked by an independent validator) and within max_message; a close carries a legal code and
// ends the stream; re-framing what was read (masked, fragmented) reads back the same; the writers' frames parse.
#include "common/utf8.hpp"
#include "engineio/websocket_frame.hpp"
#include "fuzz_support.hpp"

#include <array>
#include <vector>

namespace eio = pusher::engineio;
using pusher::fuzz::cursor;

namespace {
struct event {
    enum kind_t { message, ping, close } kind;
    std::string payload;
    bool binary = false;
    std::uint16_t code = 0;
    bool operator==(event const&) const = default;
};

class recorder final : public eio::frame_sink {
  public:
    std::vector<event> events;
    void on_frame_message(std::string_view payload, bool binary) override {
        FUZZ_CHECK(!closed_);
        events.push_back({event::message, std::string(payload), binary, 0});
    }
    void on_frame_ping(std::string_view payload) override {
        FUZZ_CHECK(!closed_);
        events.push_back({event::ping, std::string(payload), false, 0});
    }
    void on_frame_close(std::uint16_t code) override {
        FUZZ_CHECK(!closed_);
        closed_ = true;
        events.push_back({event::close, {}, false, code});
    }

  private:
    bool closed_ = false;
};

struct outcome {
    std::vector<event> events;
    std::uint16_t error = 0;  // the first non-zero feed() result
    bool done = false;
    bool operator==(outcome const&) const = default;
};

outcome read_all(std::string_view stream, std::size_t max_message, std::uint8_t split_seed) {
    eio::frame_reader reader(max_message);
    recorder sink;
    outcome out;
    std::uint32_t state = split_seed * 2654435761u + 1;
    while (!stream.empty()) {
        std::size_t n = stream.size();
        if (split_seed != 0) {
            state = state * 1103515245u + 12345u;
            n = std::min<std::size_t>(n, 1 + (state >> 16) % 19);
        }
        auto const rc = reader.feed(stream.substr(0, n), sink);
        FUZZ_CHECK(rc == 0 || out.error == 0);  // one violation, then the reader ignores everything
        if (rc != 0) {
            out.error = rc;
            FUZZ_CHECK(reader.done());
        }
        stream.remove_prefix(n);
    }
    out.done = reader.done();
    out.events = std::move(sink.events);
    return out;
}

// A client frame: masked with `mask`, minimal length encoding.
void append_client_frame(std::string& out, bool fin, std::uint8_t opcode, std::string_view payload,
                         std::array<unsigned char, 4> mask) {
    out.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
    std::uint64_t const len = payload.size();
    if (len < 126) {
        out.push_back(static_cast<char>(0x80 | len));
    } else if (len <= 0xffff) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(len >> 8));
        out.push_back(static_cast<char>(len & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((len >> shift) & 0xff));
        }
    }
    out.append(reinterpret_cast<char const*>(mask.data()), 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i & 3]));
    }
}

// Parses one unmasked server frame written by the append_* functions.
struct server_frame {
    bool fin;
    std::uint8_t opcode;
    std::string payload;
};
server_frame parse_server_frame(std::string_view f) {
    FUZZ_CHECK(f.size() >= 2);
    auto const b0 = static_cast<unsigned char>(f[0]);
    auto const b1 = static_cast<unsigned char>(f[1]);
    FUZZ_CHECK((b0 & 0x70) == 0 && (b1 & 0x80) == 0);  // no RSV bits, never masked
    std::uint64_t len = b1 & 0x7f;
    std::size_t pos = 2;
    if (len == 126) {
        FUZZ_CHECK(f.size() >= 4);
        len = (std::uint64_t{static_cast<unsigned char>(f[2])} << 8) | static_cast<unsigned char>(f[3]);
        FUZZ_CHECK(len >= 126);
        pos = 4;
    } else if (len == 127) {
        FUZZ_CHECK(f.size() >= 10);
        len = 0;
        for (int i = 0; i < 8; ++i) {
            len = (len << 8) | static_cast<unsigned char>(f[2 + i]);
        }
        FUZZ_CHECK(len > 0xffff);
        pos = 10;
    }
    FUZZ_CHECK(f.size() - pos == len);
    return {(b0 & 0x80) != 0, static_cast<std::uint8_t>(b0 & 0x0f), std::string(f.substr(pos))};
}

bool legal_close_code(std::uint16_t c) {
    return c == eio::close_code::no_status || (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

void check_writers(std::string_view payload) {
    for (bool binary : {false, true}) {
        std::string out;
        eio::append_data_frame(out, payload, binary);
        auto const f = parse_server_frame(out);
        FUZZ_CHECK(f.fin && f.opcode == (binary ? 2 : 1) && f.payload == payload);
    }
    std::string_view const control = payload.substr(0, 125);
    std::string pong;
    eio::append_pong_frame(pong, control);
    auto const p = parse_server_frame(pong);
    FUZZ_CHECK(p.fin && p.opcode == 0xa && p.payload == control);
    std::uint16_t const code = payload.size() >= 2 ? static_cast<std::uint16_t>((payload[0] << 8) | (payload[1] & 0xff))
                                                   : eio::close_code::normal;
    std::string close;
    eio::append_close_frame(close, code);
    auto const c = parse_server_frame(close);
    FUZZ_CHECK(c.fin && c.opcode == 0x8 && c.payload.size() == 2);
    FUZZ_CHECK(static_cast<std::uint16_t>((static_cast<unsigned char>(c.payload[0]) << 8) |
                                          static_cast<unsigned char>(c.payload[1])) == code);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    static constexpr std::array<std::size_t, 8> limits = {0, 1, 2, 16, 125, 126, 1000, 1 << 20};
    std::size_t const max_message = limits[in.byte() % limits.size()];
    std::uint8_t const split = in.byte();
    std::string_view const stream = in.rest();

    outcome const whole = read_all(stream, max_message, 0);
    outcome const pieces = read_all(stream, max_message, split == 0 ? 1 : split);
    FUZZ_CHECK(whole == pieces);
    FUZZ_CHECK(whole.error == 0 || whole.error == eio::close_code::protocol_error ||
               whole.error == eio::close_code::invalid_payload || whole.error == eio::close_code::too_big);

    for (std::size_t i = 0; i < whole.events.size(); ++i) {
        auto const& e = whole.events[i];
        switch (e.kind) {
            case event::message:
                FUZZ_CHECK(e.payload.size() <= max_message);
                FUZZ_CHECK(e.binary || pusher::fuzz::reference_utf8(e.payload));
                break;
            case event::ping:
                FUZZ_CHECK(e.payload.size() <= 125);
                break;
            case event::close:
                FUZZ_CHECK(legal_close_code(e.code));
                FUZZ_CHECK(i + 1 == whole.events.size() && whole.done && whole.error == 0);
                break;
        }
    }

    // What was read, framed again by a well-behaved client (messages in two fragments with a pong in between),
    // reads back the same.
    std::string again;
    std::array<unsigned char, 4> const mask = {0x37, 0xfa, 0x21, 0x3d};
    for (auto const& e : whole.events) {
        if (e.kind == event::message) {
            std::string_view const p = e.payload;
            std::size_t const half = p.size() / 2;
            append_client_frame(again, false, e.binary ? 2 : 1, p.substr(0, half), mask);
            append_client_frame(again, true, 0xa, "", mask);
            append_client_frame(again, true, 0, p.substr(half), mask);
        } else if (e.kind == event::ping) {
            append_client_frame(again, true, 0x9, e.payload, mask);
        } else {
            std::string body;
            if (e.code != eio::close_code::no_status) {
                body = {static_cast<char>(e.code >> 8), static_cast<char>(e.code & 0xff)};
            }
            append_client_frame(again, true, 0x8, body, mask);
        }
    }
    outcome const reread = read_all(again, max_message, split);
    FUZZ_CHECK(reread.events == whole.events && reread.error == 0);

    FUZZ_CHECK(pusher::utf8::is_valid(stream) == pusher::fuzz::reference_utf8(stream));
    check_writers(stream);
    FUZZ_CHECK(eio::websocket_accept_key(stream).size() == 28);
    return 0;
}
