// The Engine.IO v3 polling payload (EIO=3, engine.io-parser 2.x) against the examples of the v3 protocol README:
// `<length>:<packet>` with the length in UTF-16 code units, `b4<base64>` for binary, and the XHR2 binary form.
#include "engineio/payload_v3.hpp"

#include <gtest/gtest.h>

namespace pusher::engineio {
namespace {
using namespace std::string_literals;

TEST(PayloadV3, LengthsCountUtf16CodeUnits) {
    EXPECT_EQ(utf16_length("4hello"), 6u);
    EXPECT_EQ(utf16_length("4\xc3\xa9"), 2u);          // é: 2 bytes, 1 unit
    EXPECT_EQ(utf16_length("4\xe2\x82\xac"), 2u);      // €: 3 bytes, 1 unit
    EXPECT_EQ(utf16_length("4\xf0\x9f\x98\x80"), 3u);  // 😀: 4 bytes, a surrogate pair
}

TEST(PayloadV3, EncodesTextAndBinaryRecords) {
    std::string out;
    append_record_v3(out, "4hello", false);
    append_record_v3(out, "2", false);
    append_record_v3(out, "4\xf0\x9f\x98\x80", false);
    append_record_v3(out, "\x01\x02\x03"s, true);
    EXPECT_EQ(out,
              "6:4hello1:23:4\xf0\x9f\x98\x80"
              "6:b4AQID");
}

TEST(PayloadV3, DecodesTextPayloads) {
    auto p = decode_payload_v3(
        "6:4hello1:23:4\xf0\x9f\x98\x80"
        "6:b4AQID");
    ASSERT_TRUE(p) << p.error().message();
    ASSERT_EQ(p->size(), 4u);
    EXPECT_EQ((*p)[0], (packet{packet_type::message, false, "hello"}));
    EXPECT_EQ((*p)[1], (packet{packet_type::ping, false, ""}));
    EXPECT_EQ((*p)[2], (packet{packet_type::message, false, "\xf0\x9f\x98\x80"}));
    EXPECT_EQ((*p)[3], (packet{packet_type::message, true, "\x01\x02\x03"s}));
    // socket.io-client 2.x: a CONNECT-less event with a two-byte character
    auto e = decode_payload_v3("14:42[\"a\",\"caf\xc3\xa9\"]");
    ASSERT_TRUE(e);
    EXPECT_EQ((*e)[0].data, "2[\"a\",\"caf\xc3\xa9\"]");
}

TEST(PayloadV3, DecodesTheBinaryForm) {
    // 0 = text, length digits as bytes, 0xFF, the packet; 1 = binary, its type byte 4, the bytes.
    auto const body =
        "\x00\x06\xff"
        "4hello"
        "\x01\x04\xff\x04\x01\x02\x03"s;
    auto p = decode_payload_v3(body);
    ASSERT_TRUE(p) << p.error().message();
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[0], (packet{packet_type::message, false, "hello"}));
    EXPECT_EQ((*p)[1], (packet{packet_type::message, true, "\x01\x02\x03"s}));
    auto const twelve =
        "\x00\x01\x02\xff"
        "4abcdefghijk"s;  // a two-digit length: 1, 2
    ASSERT_TRUE(decode_payload_v3(twelve));
    EXPECT_EQ(decode_payload_v3(twelve)->front().data, "abcdefghijk");
}

TEST(PayloadV3, RefusesMalformedPayloads) {
    for (std::string_view bad : {"", "4hello", ":4hello", "6:4hell", "7:4hello", "x:4", "2:4\xf0\x9f\x98\x80",
                                 "99999999999:4", "6:4hello1:", "0:", "3:b1A", "2:4\xff"}) {
        EXPECT_FALSE(decode_payload_v3(bad)) << '"' << bad << '"';
    }
    for (std::string bad : {"\x00\xff"s,
                            "\x00\x06\xff"
                            "4hel"s,
                            "\x02\x01\xff"
                            "4"s,
                            "\x01\x01\xff\x05"s, "\x00\x0a\xff"s,
                            "\x00\x02\xff"
                            "4\xff"s}) {
        EXPECT_FALSE(decode_payload_v3(bad)) << testing::PrintToString(bad);
    }
}
}  // namespace
}  // namespace pusher::engineio
