// The RFC 6455 server framing: the strict reader of client frames, the frame writers, the accept key, UTF-8.
#include "engineio/websocket_frame.hpp"

#include "common/utf8.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace pusher::engineio {
namespace {
using namespace std::string_literals;

// A masked client frame, as a browser would send it.
std::string client_frame(std::uint8_t first_byte, std::string_view payload, std::string mask = "\x11\x22\x33\x44"s,
                         int force_len_bytes = 0) {
    std::string out;
    out.push_back(static_cast<char>(first_byte));
    std::uint64_t const len = payload.size();
    if ((len < 126 && force_len_bytes == 0) || force_len_bytes == 1) {
        out.push_back(static_cast<char>(0x80 | len));
    } else if ((len <= 0xffff && force_len_bytes == 0) || force_len_bytes == 2) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(len >> 8));
        out.push_back(static_cast<char>(len & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((len >> shift) & 0xff));
        }
    }
    out += mask;
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    }
    return out;
}

struct recorder : frame_sink {
    std::vector<std::pair<std::string, bool>> messages;
    std::vector<std::string> pings;
    std::vector<std::uint16_t> closes;
    void on_frame_message(std::string_view p, bool binary) override { messages.emplace_back(std::string(p), binary); }
    void on_frame_ping(std::string_view p) override { pings.emplace_back(p); }
    void on_frame_close(std::uint16_t code) override { closes.push_back(code); }
};

TEST(FrameReader, TextAndBinaryMessages) {
    frame_reader r(1000);
    recorder s;
    EXPECT_EQ(r.feed(client_frame(0x81, "4hello"), s), 0);
    EXPECT_EQ(r.feed(client_frame(0x82, "\x00\xff"s), s), 0);
    EXPECT_EQ(r.feed(client_frame(0x81, ""), s), 0);
    ASSERT_EQ(s.messages.size(), 3u);
    EXPECT_EQ(s.messages[0], std::make_pair("4hello"s, false));
    EXPECT_EQ(s.messages[1], std::make_pair("\x00\xff"s, true));
    EXPECT_EQ(s.messages[2], std::make_pair(""s, false));
    EXPECT_FALSE(r.mid_message());
}

TEST(FrameReader, ByteByByteAndManyFramesAtOnce) {
    std::string const stream = client_frame(0x81, "one") + client_frame(0x89, "p") + client_frame(0x81, "two") +
                               client_frame(0x82, std::string(300, 'b')) + client_frame(0x82, std::string(70000, 'c'));
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, stream.size()}) {
        frame_reader r(100000);
        recorder s;
        for (std::size_t i = 0; i < stream.size(); i += chunk) {
            ASSERT_EQ(r.feed(std::string_view(stream).substr(i, chunk), s), 0) << chunk;
        }
        ASSERT_EQ(s.messages.size(), 4u) << chunk;
        EXPECT_EQ(s.messages[0].first, "one");
        EXPECT_EQ(s.messages[1].first, "two");
        EXPECT_EQ(s.messages[2].first, std::string(300, 'b'));
        EXPECT_EQ(s.messages[3].first, std::string(70000, 'c'));
        EXPECT_EQ(s.pings, std::vector<std::string>{"p"});
    }
}

TEST(FrameReader, FragmentsWithControlFramesBetween) {
    frame_reader r(1000);
    recorder s;
    EXPECT_EQ(r.feed(client_frame(0x01, "4hel"), s), 0);  // text, not final
    EXPECT_TRUE(r.mid_message());
    EXPECT_EQ(r.feed(client_frame(0x89, "ping!"), s), 0);  // a ping in between is allowed
    EXPECT_EQ(r.feed(client_frame(0x00, "l"), s), 0);      // continuation
    EXPECT_EQ(r.feed(client_frame(0x80, "o"), s), 0);      // final continuation
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_EQ(s.messages[0].first, "4hello");
    EXPECT_EQ(s.pings.size(), 1u);
}

TEST(FrameReader, CloseFrames) {
    {
        frame_reader r(100);
        recorder s;
        EXPECT_EQ(r.feed(client_frame(0x88,
                                      "\x03\xe8"
                                      "bye") +
                             client_frame(0x81, "after"),
                         s),
                  0);
        EXPECT_EQ(s.closes, std::vector<std::uint16_t>{1000});
        EXPECT_TRUE(s.messages.empty());  // nothing is read after a close frame
        EXPECT_TRUE(r.done());
    }
    {
        frame_reader r(100);
        recorder s;
        EXPECT_EQ(r.feed(client_frame(0x88, ""), s), 0);
        EXPECT_EQ(s.closes, std::vector<std::uint16_t>{close_code::no_status});
    }
    for (auto const& bad : {"\x03"s, "\x03\xed"s /* 1005 */, "\x00\x00"s, "\x0b\xb7"s /* 2999 */}) {
        frame_reader r(100);
        recorder s;
        EXPECT_EQ(r.feed(client_frame(0x88, bad), s), close_code::protocol_error);
    }
    frame_reader r(100);
    recorder s;
    EXPECT_EQ(r.feed(client_frame(0x88, "\x03\xe8\xff"s), s), close_code::invalid_payload);
}

TEST(FrameReader, ProtocolViolations) {
    struct row {
        std::string bytes;
        std::uint16_t code;
        char const* what;
    };
    std::string unmasked = "\x81\x02hi"s;
    for (auto const& r : std::vector<row>{
             {unmasked, close_code::protocol_error, "unmasked client frame"},
             {client_frame(0xc1, "x"), close_code::protocol_error, "RSV1 without an extension"},
             {client_frame(0x83, "x"), close_code::protocol_error, "reserved data opcode"},
             {client_frame(0x8b, "x"), close_code::protocol_error, "reserved control opcode"},
             {client_frame(0x80, "x"), close_code::protocol_error, "continuation without a message"},
             {client_frame(0x01, "a") + client_frame(0x81, "b"), close_code::protocol_error, "message in a message"},
             {client_frame(0x09, "p"), close_code::protocol_error, "fragmented ping"},
             {client_frame(0x89, std::string(126, 'p')), close_code::protocol_error, "long ping"},
             {client_frame(0x81, "abc", "\x01\x02\x03\x04"s, 2), close_code::protocol_error,
              "non-minimal 16-bit length"},
             {client_frame(0x81, "abc", "\x01\x02\x03\x04"s, 8), close_code::protocol_error,
              "non-minimal 64-bit length"},
             {client_frame(0x81, "\xc3\x28"s), close_code::invalid_payload, "invalid UTF-8 text"},
             {client_frame(0x81, std::string(101, 'x')), close_code::too_big, "message over the limit"},
             {client_frame(0x01, std::string(60, 'x')) + client_frame(0x80, std::string(41, 'x')), close_code::too_big,
              "fragments over the limit"},
         }) {
        frame_reader reader(100);
        recorder s;
        EXPECT_EQ(reader.feed(r.bytes, s), r.code) << r.what;
        EXPECT_TRUE(reader.done()) << r.what;
        EXPECT_TRUE(s.messages.empty()) << r.what;
    }
    // A 64-bit length with the top bit set is refused before anything is allocated.
    std::string huge = "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04"s;
    frame_reader reader(100);
    recorder s;
    EXPECT_EQ(reader.feed(huge, s), close_code::protocol_error);
    std::string big = "\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00\x01\x02\x03\x04"s;  // 4 GiB: over the limit
    frame_reader reader2(100);
    EXPECT_EQ(reader2.feed(big, s), close_code::too_big);
}

TEST(FrameWriter, ServerFramesAreUnmaskedAndMinimal) {
    std::string out;
    append_data_frame(out, "4hi", false);
    EXPECT_EQ(out,
              "\x81\x03"
              "4hi");
    out.clear();
    append_data_frame(out, "\x01\x02"s, true);
    EXPECT_EQ(out, "\x82\x02\x01\x02"s);
    out.clear();
    append_data_frame(out, std::string(126, 'a'), false);
    EXPECT_EQ(out.substr(0, 4), "\x81\x7e\x00\x7e"s);
    EXPECT_EQ(out.size(), 4u + 126u);
    out.clear();
    append_data_frame(out, std::string(65536, 'a'), true);
    EXPECT_EQ(out.substr(0, 10), "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"s);
    out.clear();
    append_pong_frame(out, "p");
    EXPECT_EQ(out, "\x8a\x01p");
    out.clear();
    append_close_frame(out, 1001);
    EXPECT_EQ(out, "\x88\x02\x03\xe9"s);
}

TEST(Handshake, AcceptKeyFromTheRfc) {
    // RFC 6455 §1.3.
    EXPECT_EQ(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(Utf8, ValidAndInvalid) {
    for (auto const& ok :
         {""s, "ascii"s, "\xc3\xa9"s, "\xe2\x82\xac"s, "\xf0\x9f\x98\x80"s, "\xef\xbf\xbf"s, "\xf4\x8f\xbf\xbf"s}) {
        EXPECT_TRUE(utf8::is_valid(ok)) << ok;
    }
    for (auto const& bad :
         {"\x80"s, "\xc3"s, "\xc3\x28"s, "\xc0\xaf"s /* overlong */, "\xe0\x80\xaf"s, "\xed\xa0\x80"s /* surrogate */,
          "\xf4\x90\x80\x80"s /* > U+10FFFF */, "\xff"s, "\xf0\x9f\x98"s}) {
        EXPECT_FALSE(utf8::is_valid(bad)) << bad;
    }
}
}  // namespace
}  // namespace pusher::engineio
