#include "ws_frame.hpp"

#include <gtest/gtest.h>

namespace pusher::load {
namespace {
std::string server_frame(std::uint8_t b0, std::string_view payload) {
    std::string f;
    f += static_cast<char>(b0);
    if (payload.size() < 126) {
        f += static_cast<char>(payload.size());
    } else if (payload.size() <= 0xFFFF) {
        f += static_cast<char>(126);
        f += static_cast<char>(payload.size() >> 8);
        f += static_cast<char>(payload.size() & 0xFF);
    } else {
        f += static_cast<char>(127);
        for (int s = 56; s >= 0; s -= 8) {
            f += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> s) & 0xFF);
        }
    }
    f += payload;
    return f;
}
}  // namespace

TEST(WsFrame, AcceptKeyOfRfc6455Example) {
    // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" -> accept "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
    EXPECT_EQ(ws_accept_for("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_EQ(ws_key_from(1, 2).size(), 24u);
    EXPECT_NE(ws_key_from(1, 2), ws_key_from(1, 3));
}

TEST(WsFrame, ParsesConsecutiveFramesOfEverySizeClass) {
    std::string const big(70000, 'b');
    std::string const mid(300, 'm');
    std::string buf = server_frame(0x81, "42[\"x\",1]") + server_frame(0x81, mid) + server_frame(0x81, big) +
                      server_frame(0x89, "hi");
    std::size_t off = 0;
    std::vector<ws_frame> got;
    while (true) {
        ws_frame f;
        std::size_t used = 0;
        char const* err = nullptr;
        auto r = parse_server_frame(std::string_view(buf).substr(off), 1 << 20, f, used, err);
        if (r != ws_parse::frame) {
            EXPECT_EQ(r, ws_parse::need_more);
            break;
        }
        got.push_back(f);
        off += used;
    }
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(off, buf.size());
    EXPECT_EQ(got[0].payload, "42[\"x\",1]");
    EXPECT_EQ(got[1].payload.size(), 300u);
    EXPECT_EQ(got[2].payload.size(), 70000u);
    EXPECT_EQ(got[3].opcode, ws_opcode::ping);
    EXPECT_TRUE(got[3].fin);
}

TEST(WsFrame, NeedsMoreUntilTheWholeFrameIsThere) {
    std::string const full = server_frame(0x81, std::string(200, 'z'));
    for (std::size_t n = 0; n < full.size(); ++n) {
        ws_frame f;
        std::size_t used = 0;
        char const* err = nullptr;
        ASSERT_EQ(parse_server_frame(std::string_view(full).substr(0, n), 1 << 20, f, used, err), ws_parse::need_more)
            << n;
    }
}

TEST(WsFrame, RejectsWhatAServerMustNotSend) {
    ws_frame f;
    std::size_t used = 0;
    char const* err = nullptr;
    std::string masked = "\x81\x81\x01\x02\x03\x04x";
    EXPECT_EQ(parse_server_frame(masked, 1 << 20, f, used, err), ws_parse::error);
    EXPECT_EQ(parse_server_frame(server_frame(0xC1, "x"), 1 << 20, f, used, err), ws_parse::error);  // RSV1
    EXPECT_EQ(parse_server_frame(server_frame(0x09, "x"), 1 << 20, f, used, err), ws_parse::error);  // fragmented ping
    EXPECT_EQ(parse_server_frame(server_frame(0x83, "x"), 1 << 20, f, used, err), ws_parse::error);  // opcode 3
    EXPECT_EQ(parse_server_frame(server_frame(0x81, std::string(200, 'a')), 100, f, used, err), ws_parse::error);
    EXPECT_NE(err, nullptr);
}

TEST(WsFrame, ClientFramesAreMaskedAndUnmaskBack) {
    std::string out;
    append_client_frame(out, ws_opcode::text, "40{\"user\":\"u1\"}", 0xA1B2C3D4u);
    ASSERT_EQ(out.size(), 2u + 4u + 15u);
    EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x81);
    EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x80 | 15);
    std::string plain;
    for (std::size_t i = 0; i < 15; ++i) {
        plain += static_cast<char>(out[6 + i] ^ out[2 + i % 4]);
    }
    EXPECT_EQ(plain, "40{\"user\":\"u1\"}");

    std::string longer;
    append_client_frame(longer, ws_opcode::text, std::string(300, 'q'), 1);
    EXPECT_EQ(static_cast<unsigned char>(longer[1]), 0x80 | 126);
    EXPECT_EQ(longer.size(), 4u + 4u + 300u);
}

TEST(WsFrame, UpgradeRequestAndResponseCheck) {
    auto const key = std::string("dGhlIHNhbXBsZSBub25jZQ==");
    auto const req = upgrade_request("127.0.0.1:8080", "/socket.io/?EIO=4&transport=websocket", key);
    EXPECT_EQ(req.rfind("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n", 0), 0u);
    EXPECT_NE(req.find("Sec-WebSocket-Key: " + key + "\r\n"), std::string::npos);
    EXPECT_EQ(req.substr(req.size() - 4), "\r\n\r\n");

    std::string const ok =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    EXPECT_FALSE(check_upgrade_response(ok, key));
    std::string const wrong = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope\r\n\r\n";
    EXPECT_TRUE(check_upgrade_response(wrong, key));
    std::string const refused = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    auto err = check_upgrade_response(refused, key);
    ASSERT_TRUE(err);
    EXPECT_NE(err->find("400"), std::string::npos);
    EXPECT_TRUE(check_upgrade_response("HTTP/1.1 101 OK\r\n\r\n", key));
}
}  // namespace pusher::load
