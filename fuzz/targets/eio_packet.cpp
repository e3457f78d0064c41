// Fuzz target: the Engine.IO v4 codec (engineio/packet.hpp): one text packet, a long-polling payload, base64; and
// the v3 polling payload (engineio/payload_v3.hpp: what a socket.io-client 2.x POSTs with --allow-eio3).
// Input: the bytes of a websocket text message or a polling POST body, as a client would send them.
// Invariants: whatever decodes re-encodes to the same bytes (base64 up to its optional padding) and decodes again to
// the same packets; the record count is the separator count + 1; base64 round-trips any bytes.
#include "engineio/packet.hpp"
#include "engineio/payload_v3.hpp"
#include "fuzz_support.hpp"

#include <algorithm>

namespace eio = pusher::engineio;

namespace {
std::string_view without_padding(std::string_view s) {
    while (!s.empty() && s.back() == '=') {
        s.remove_suffix(1);
    }
    return s;
}

void check_base64(std::string_view in) {
    std::string const enc = eio::base64_encode(in);
    FUZZ_CHECK(enc.size() == (in.size() + 2) / 3 * 4);
    auto const dec = eio::base64_decode(enc);
    FUZZ_CHECK(dec && *dec == in);
    FUZZ_CHECK(eio::base64_decode(without_padding(enc)).value() == in);

    // Decoding is strict and canonical: what it accepts is exactly an encoding, with or without its padding.
    if (auto const back = eio::base64_decode(in)) {
        std::string const again = eio::base64_encode(*back);
        FUZZ_CHECK(without_padding(again) == without_padding(in));
        FUZZ_CHECK(in.size() == again.size() || in == without_padding(again));
    }
}

void check_packet(std::string_view in) {
    auto const p = eio::parse_packet(in);
    FUZZ_CHECK(p.has_value() == (!in.empty() && in.front() >= '0' && in.front() <= '6'));
    if (p) {
        FUZZ_CHECK(eio::encode_packet(p->type, p->data) == in);
        FUZZ_CHECK(p->data.data() == in.data() + 1);  // a view, no copy
    }
}

void check_payload(std::string_view in) {
    auto const decoded = eio::decode_payload(in);
    if (!decoded) {
        return;
    }
    auto const& packets = *decoded;
    FUZZ_CHECK(packets.size() == static_cast<std::size_t>(std::count(in.begin(), in.end(), eio::record_separator)) + 1);

    // Record by record: a text record is its packet as is, a binary one is `b` + base64 of its bytes.
    std::string_view rest = in;
    for (auto const& p : packets) {
        auto const sep = rest.find(eio::record_separator);
        std::string_view const record = rest.substr(0, sep);
        rest.remove_prefix(sep == std::string_view::npos ? rest.size() : sep + 1);
        if (p.binary) {
            FUZZ_CHECK(p.type == eio::packet_type::message);
            FUZZ_CHECK(record.front() == 'b');
            FUZZ_CHECK(without_padding(eio::base64_encode(p.data)) == without_padding(record.substr(1)));
        } else {
            FUZZ_CHECK(p.data.find(eio::record_separator) == std::string::npos);
            FUZZ_CHECK(eio::encode_packet(p.type, p.data) == record);
        }
        std::string one;
        eio::append_record(one, p.binary ? std::string_view(p.data) : record, p.binary);
        FUZZ_CHECK(eio::decode_payload(one).value() == std::vector<eio::packet>{p});
    }

    // The encoder's output is a payload the decoder gives back unchanged.
    std::string const encoded = eio::encode_payload(packets);
    auto const again = eio::decode_payload(encoded);
    FUZZ_CHECK(again && *again == packets);
}
}  // namespace

// v3: whatever decodes is re-encoded packet by packet and decodes to the same packets; a text packet is valid
// UTF-8 (its length prefix counts UTF-16 units).
void check_payload_v3(std::string_view in) {
    auto const decoded = eio::decode_payload_v3(in);
    if (!decoded) {
        return;
    }
    FUZZ_CHECK(!decoded->empty());
    std::string encoded;
    for (auto const& p : *decoded) {
        if (p.binary) {
            FUZZ_CHECK(p.type == eio::packet_type::message);
            eio::append_record_v3(encoded, p.data, true);
        } else {
            eio::append_record_v3(encoded, eio::encode_packet(p.type, p.data), false);
        }
    }
    auto const again = eio::decode_payload_v3(encoded);
    FUZZ_CHECK(again && *again == *decoded);
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const in = pusher::fuzz::as_text(data, size);
    check_packet(in);
    check_payload(in);
    check_payload_v3(in);
    check_base64(in);
    return 0;
}
