// The Engine.IO v4 codec against the tables of the protocol (github.com/socketio/engine.io-protocol, README).
#include "engineio/packet.hpp"

#include <gtest/gtest.h>

namespace pusher::engineio {
namespace {
using namespace std::string_literals;

TEST(Packet, ParsesEveryTextType) {
    struct row {
        std::string_view wire;
        packet_type type;
        std::string_view data;
    };
    for (auto const& r :
         {row{"0{\"sid\":\"x\"}", packet_type::open, "{\"sid\":\"x\"}"}, row{"1", packet_type::close, ""},
          row{"2", packet_type::ping, ""}, row{"2probe", packet_type::ping, "probe"}, row{"3", packet_type::pong, ""},
          row{"3probe", packet_type::pong, "probe"}, row{"4hello", packet_type::message, "hello"},
          row{"4", packet_type::message, ""}, row{"42[\"a\",1]", packet_type::message, "2[\"a\",1]"},
          row{"5", packet_type::upgrade, ""}, row{"6", packet_type::noop, ""}}) {
        auto p = parse_packet(r.wire);
        ASSERT_TRUE(p) << r.wire;
        EXPECT_EQ(p->type, r.type) << r.wire;
        EXPECT_EQ(p->data, r.data) << r.wire;
    }
}

TEST(Packet, RejectsBadText) {
    EXPECT_EQ(parse_packet("").error(), codec_error::empty_packet);
    for (std::string_view bad : {"7", "9", "a", "b", "x4", " 4", "\x1e", "-1"}) {
        EXPECT_EQ(parse_packet(bad).error(), codec_error::unknown_type) << bad;
    }
}

TEST(Packet, EncodesTextPackets) {
    EXPECT_EQ(encode_packet(packet_type::ping), "2");
    EXPECT_EQ(encode_packet(packet_type::pong, "probe"), "3probe");
    EXPECT_EQ(encode_packet(packet_type::message, "hello"), "4hello");
    EXPECT_EQ(encode_packet(packet_type::noop), "6");
}

TEST(Payload, SplitsOnRecordSeparator) {
    // The README's example: `4hello\x1e4€` is two messages.
    auto p = decode_payload(
        "4hello\x1e"
        "4\xe2\x82\xac");
    ASSERT_TRUE(p);
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[0], (packet{packet_type::message, false, "hello"}));
    EXPECT_EQ((*p)[1], (packet{packet_type::message, false, "\xe2\x82\xac"}));
}

TEST(Payload, DecodesBase64Binary) {
    // README: `4€\x1ebAQIDBA==` is a text message then binary 01 02 03 04.
    auto p = decode_payload(
        "4\xe2\x82\xac\x1e"
        "bAQIDBA==");
    ASSERT_TRUE(p);
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[1], (packet{packet_type::message, true, "\x01\x02\x03\x04"s}));
}

TEST(Payload, SinglePacketsOfEveryKind) {
    for (std::string_view wire : {"1", "2", "3", "4x", "5", "6", "2probe"}) {
        auto p = decode_payload(wire);
        ASSERT_TRUE(p) << wire;
        ASSERT_EQ(p->size(), 1u);
        EXPECT_EQ(static_cast<char>((*p)[0].type), wire.front());
        EXPECT_EQ((*p)[0].data, wire.substr(1));
    }
    auto e = decode_payload("b");  // empty binary message
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)[0], (packet{packet_type::message, true, ""}));
}

TEST(Payload, RejectsMalformed) {
    EXPECT_EQ(decode_payload("").error(), codec_error::empty_packet);
    EXPECT_EQ(decode_payload("4a\x1e").error(), codec_error::empty_packet);
    EXPECT_EQ(decode_payload("\x1e"
                             "4a")
                  .error(),
              codec_error::empty_packet);
    EXPECT_EQ(decode_payload("4a\x1e\x1e"
                             "4b")
                  .error(),
              codec_error::empty_packet);
    EXPECT_EQ(decode_payload("4a\x1e"
                             "x")
                  .error(),
              codec_error::unknown_type);
    EXPECT_EQ(decode_payload("8").error(), codec_error::unknown_type);
    EXPECT_EQ(decode_payload("b!!!!").error(), codec_error::bad_base64);
    EXPECT_EQ(decode_payload("4ok\x1e"
                             "bA")
                  .error(),
              codec_error::bad_base64);
}

TEST(Payload, EncodesAndRoundTrips) {
    std::vector<packet> packets{{packet_type::open, false, "{}"},
                                {packet_type::message, false, "hi"},
                                {packet_type::message, true, "\x01\x02\x03\x04"s},
                                {packet_type::ping, false, ""},
                                {packet_type::message, true, ""s}};
    auto const wire = encode_payload(packets);
    EXPECT_EQ(wire,
              "0{}\x1e"
              "4hi\x1e"
              "bAQIDBA==\x1e"
              "2\x1e"
              "b");
    auto back = decode_payload(wire);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, packets);
}

TEST(Payload, AppendRecord) {
    std::string out;
    append_record(out, "42[\"a\"]", false);
    append_record(out, "\xff\x00"s, true);
    append_record(out, "2", false);
    EXPECT_EQ(out,
              "42[\"a\"]\x1e"
              "b/wA=\x1e"
              "2");
}

TEST(Base64, Rfc4648Vectors) {
    struct row {
        std::string_view raw, enc;
    };
    for (auto const& r : {row{"", ""}, row{"f", "Zg=="}, row{"fo", "Zm8="}, row{"foo", "Zm9v"}, row{"foob", "Zm9vYg=="},
                          row{"fooba", "Zm9vYmE="}, row{"foobar", "Zm9vYmFy"}}) {
        EXPECT_EQ(base64_encode(r.raw), r.enc);
        auto d = base64_decode(r.enc);
        ASSERT_TRUE(d) << r.enc;
        EXPECT_EQ(*d, r.raw);
    }
}

TEST(Base64, AllByteValuesRoundTrip) {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all.push_back(static_cast<char>(i));
    }
    for (std::size_t len = 0; len <= all.size(); len += 37) {
        auto const raw = all.substr(0, len);
        auto d = base64_decode(base64_encode(raw));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, raw);
    }
}

TEST(Base64, AcceptsMissingPadding) {
    EXPECT_EQ(base64_decode("Zg").value(), "f");
    EXPECT_EQ(base64_decode("Zm8").value(), "fo");
}

TEST(Base64, RejectsBadInput) {
    for (std::string_view bad : {"Z", "Zg=", "Z===", "Zm9v=", "=Zg=", "Zg==Zg==", "Zm 9v", "Zm9-", "Zm9_",
                                 "Zh==", "Zm9=", "\x80\x80\x80\x80"}) {
        EXPECT_FALSE(base64_decode(bad)) << bad;
    }
}
}  // namespace
}  // namespace pusher::engineio
