#include "ws_frame.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace pusher::load {
namespace {
std::string base64(unsigned char const* data, std::size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int const len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
    out.resize(static_cast<std::size_t>(len));
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}
}  // namespace

ws_parse parse_server_frame(std::string_view data, std::size_t max_payload, ws_frame& out, std::size_t& consumed,
                            char const*& error_text) {
    if (data.size() < 2) {
        return ws_parse::need_more;
    }
    auto const b0 = static_cast<unsigned char>(data[0]);
    auto const b1 = static_cast<unsigned char>(data[1]);
    if ((b0 & 0x70) != 0) {
        error_text = "reserved bits set (no extension was negotiated)";
        return ws_parse::error;
    }
    if ((b1 & 0x80) != 0) {
        error_text = "masked frame from the server";
        return ws_parse::error;
    }
    std::uint8_t const opcode = b0 & 0x0F;
    bool const fin = (b0 & 0x80) != 0;
    std::uint64_t len = b1 & 0x7F;
    std::size_t header = 2;
    if (len == 126) {
        if (data.size() < 4) {
            return ws_parse::need_more;
        }
        len = (std::uint64_t{static_cast<unsigned char>(data[2])} << 8) | static_cast<unsigned char>(data[3]);
        header = 4;
    } else if (len == 127) {
        if (data.size() < 10) {
            return ws_parse::need_more;
        }
        len = 0;
        for (int i = 2; i < 10; ++i) {
            len = (len << 8) | static_cast<unsigned char>(data[static_cast<std::size_t>(i)]);
        }
        header = 10;
    }
    if (opcode >= 0x8 && (len > 125 || !fin)) {
        error_text = "bad control frame (RFC 6455 §5.5)";
        return ws_parse::error;
    }
    if ((opcode > 0x2 && opcode < 0x8) || opcode > 0xA) {
        error_text = "unknown opcode";
        return ws_parse::error;
    }
    if (len > max_payload) {
        error_text = "frame larger than the limit";
        return ws_parse::error;
    }
    if (data.size() - header < len) {
        return ws_parse::need_more;
    }
    out.fin = fin;
    out.opcode = opcode;
    out.payload = data.substr(header, static_cast<std::size_t>(len));
    consumed = header + static_cast<std::size_t>(len);
    return ws_parse::frame;
}

void append_client_frame(std::string& out, std::uint8_t opcode, std::string_view payload, std::uint32_t mask_key) {
    out += static_cast<char>(0x80 | opcode);
    if (payload.size() < 126) {
        out += static_cast<char>(0x80 | payload.size());
    } else if (payload.size() <= 0xFFFF) {
        out += static_cast<char>(0x80 | 126);
        out += static_cast<char>((payload.size() >> 8) & 0xFF);
        out += static_cast<char>(payload.size() & 0xFF);
    } else {
        out += static_cast<char>(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) {
            out += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> shift) & 0xFF);
        }
    }
    char const mask[4] = {static_cast<char>(mask_key >> 24), static_cast<char>(mask_key >> 16),
                          static_cast<char>(mask_key >> 8), static_cast<char>(mask_key)};
    out.append(mask, 4);
    std::size_t const start = out.size();
    out.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out[start + i] = static_cast<char>(out[start + i] ^ mask[i % 4]);
    }
}

std::string ws_key_from(std::uint64_t a, std::uint64_t b) {
    unsigned char raw[16];
    std::memcpy(raw, &a, 8);
    std::memcpy(raw + 8, &b, 8);
    return base64(raw, sizeof raw);
}

std::string ws_accept_for(std::string_view key) {
    std::string const input = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_Digest(input.data(), input.size(), md, &md_len, EVP_sha1(), nullptr);
    return base64(md, md_len);
}

std::string upgrade_request(std::string_view host, std::string_view target, std::string_view key) {
    std::string req;
    req.reserve(256);
    req += "GET ";
    req += target;
    req += " HTTP/1.1\r\nHost: ";
    req += host;
    req += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    req += key;
    req += "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    return req;
}

std::optional<std::string> check_upgrade_response(std::string_view head, std::string_view key) {
    auto const eol = head.find("\r\n");
    std::string_view const status = head.substr(0, eol);
    if (status.size() < 12 || status.substr(0, 5) != "HTTP/" || status.substr(8, 4) != " 101") {
        return "upgrade refused: " + std::string(status.substr(0, 100));
    }
    std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    while (!rest.empty()) {
        auto const e = rest.find("\r\n");
        std::string_view line = rest.substr(0, e);
        rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
        auto const colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        if (iequals(trim(line.substr(0, colon)), "sec-websocket-accept")) {
            if (trim(line.substr(colon + 1)) == ws_accept_for(key)) {
                return std::nullopt;
            }
            return std::string("wrong Sec-WebSocket-Accept");
        }
    }
    return std::string("no Sec-WebSocket-Accept in the 101 response");
}
}  // namespace pusher::load
