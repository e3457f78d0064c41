#include "engineio/websocket_frame.hpp"

#include "common/utf8.hpp"
#include "engineio/packet.hpp"

#include <openssl/evp.h>

#include <algorithm>

namespace pusher::engineio {
namespace {
enum opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xa };

bool valid_close_code(std::uint16_t c) {
    // RFC 6455 §7.4: 1004-1006 and 1015 are reserved, never sent; 1016-2999 are unassigned; 3000-4999 are free.
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

void append_frame(std::string& out, std::uint8_t op, std::string_view payload) {
    char header[10];
    std::size_t n = 0;
    header[n++] = static_cast<char>(0x80 | op);
    std::uint64_t const len = payload.size();
    if (len < 126) {
        header[n++] = static_cast<char>(len);
    } else if (len <= 0xffff) {
        header[n++] = 126;
        header[n++] = static_cast<char>((len >> 8) & 0xff);
        header[n++] = static_cast<char>(len & 0xff);
    } else {
        header[n++] = 127;
        for (int shift = 56; shift >= 0; shift -= 8) {
            header[n++] = static_cast<char>((len >> shift) & 0xff);
        }
    }
    out.append(header, n);
    out.append(payload);
}
}  // namespace

std::uint16_t frame_reader::feed(std::string_view in, frame_sink& sink) {
    while (!in.empty() && !done_) {
        if (!in_frame_) {
            // RFC 6455 §5.2: 2 bytes, then 0, 2 or 8 bytes of length, then (client frames) a 4-byte mask key.
            std::size_t need = 2;
            if (header_len_ >= 2) {
                auto const len7 = header_[1] & 0x7f;
                need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
            }
            std::size_t const take = std::min(need - header_len_, in.size());
            std::copy_n(in.data(), take, header_.data() + header_len_);
            header_len_ = static_cast<std::uint8_t>(header_len_ + take);
            in.remove_prefix(take);
            if (header_len_ == 2) {
                if ((header_[1] & 0x80) == 0) {
                    done_ = true;  // clients MUST mask (§5.1); without a mask key the header size is unknowable
                    return close_code::protocol_error;
                }
                continue;  // now the full header size is known
            }
            if (header_len_ < need) {
                break;
            }
            if (auto const err = on_header(sink)) {
                done_ = true;
                return err;
            }
            continue;
        }
        std::size_t const take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        std::string& target = opcode_ >= close ? control_ : message_;
        std::size_t const at = target.size();
        target.resize(at + take);
        for (std::size_t i = 0; i < take; ++i) {
            target[at + i] = static_cast<char>(static_cast<unsigned char>(in[i]) ^ mask_[(mask_pos_ + i) & 3]);
        }
        mask_pos_ = static_cast<std::uint8_t>((mask_pos_ + take) & 3);
        remaining_ -= take;
        in.remove_prefix(take);
        if (remaining_ == 0) {
            if (auto const err = finish_frame(sink)) {
                done_ = true;
                return err;
            }
        }
    }
    return 0;
}

std::uint16_t frame_reader::on_header(frame_sink& sink) {
    auto const* h = header_.data();
    fin_ = (h[0] & 0x80) != 0;
    opcode_ = h[0] & 0x0f;
    bool const masked = (h[1] & 0x80) != 0;
    std::uint64_t len = h[1] & 0x7f;
    std::size_t pos = 2;
    if (len == 126) {
        len = (std::uint64_t{h[2]} << 8) | h[3];
        pos = 4;
        if (len < 126) {
            return close_code::protocol_error;  // §5.2: the minimal number of bytes MUST be used
        }
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) {
            len = (len << 8) | h[2 + i];
        }
        pos = 10;
        if ((len >> 63) != 0 || len <= 0xffff) {
            return close_code::protocol_error;
        }
    }
    std::copy_n(h + pos, 4, mask_.data());
    header_len_ = 0;
    mask_pos_ = 0;
    remaining_ = len;

    if ((h[0] & 0x70) != 0 || !masked) {
        return close_code::protocol_error;  // no extension was negotiated; clients MUST mask (§5.1)
    }
    switch (opcode_) {
        case close:
        case ping:
        case pong:
            if (!fin_ || len > 125) {
                return close_code::protocol_error;  // §5.5: control frames are short and never fragmented
            }
            control_.clear();
            break;
        case continuation:
            if (!in_message_) {
                return close_code::protocol_error;
            }
            break;
        case text:
        case binary:
            if (in_message_) {
                return close_code::protocol_error;  // a new message inside a fragmented one
            }
            in_message_ = true;
            binary_ = opcode_ == binary;
            message_.clear();
            break;
        default:
            return close_code::protocol_error;  // reserved opcodes
    }
    if (opcode_ < close && len > max_message_ - std::min<std::size_t>(message_.size(), max_message_)) {
        return close_code::too_big;
    }
    in_frame_ = true;
    if (remaining_ == 0) {
        return finish_frame(sink);
    }
    return 0;
}

std::uint16_t frame_reader::finish_frame(frame_sink& sink) {
    in_frame_ = false;
    switch (opcode_) {
        case ping:
            sink.on_frame_ping(control_);
            return 0;
        case pong:
            return 0;
        case close: {
            if (control_.size() == 1) {
                return close_code::protocol_error;
            }
            std::uint16_t code = close_code::no_status;
            if (control_.size() >= 2) {
                code = static_cast<std::uint16_t>((static_cast<unsigned char>(control_[0]) << 8) |
                                                  static_cast<unsigned char>(control_[1]));
                if (!valid_close_code(code)) {
                    return close_code::protocol_error;
                }
                if (!utf8::is_valid(std::string_view(control_).substr(2))) {
                    return close_code::invalid_payload;
                }
            }
            done_ = true;
            sink.on_frame_close(code);
            return 0;
        }
        default:
            break;
    }
    if (!fin_) {
        return 0;  // more fragments follow
    }
    in_message_ = false;
    if (!binary_ && !utf8::is_valid(message_)) {
        return close_code::invalid_payload;
    }
    sink.on_frame_message(message_, binary_);
    // An idle connection keeps no buffer; a small one is reused while messages keep coming.
    if (message_.capacity() > 256) {
        std::string().swap(message_);
    } else {
        message_.clear();
    }
    return 0;
}

void append_data_frame(std::string& out, std::string_view payload, bool is_binary) {
    append_frame(out, is_binary ? binary : text, payload);
}

void append_pong_frame(std::string& out, std::string_view payload) {
    append_frame(out, pong, payload);
}

void append_close_frame(std::string& out, std::uint16_t code) {
    char const body[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    append_frame(out, close, std::string_view(body, 2));
}

std::string websocket_accept_key(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 §1.3
    std::string input;
    input.reserve(key.size() + guid.size());
    input.append(key);
    input.append(guid);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
    return base64_encode(std::string_view(reinterpret_cast<char const*>(digest), len));
}

}  // namespace pusher::engineio
