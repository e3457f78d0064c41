// Codecs on the hot paths: the notification frame (fanout::encode: validate the JSON payload and splice it),
// Engine.IO packet parsing, Socket.IO packet decoding (what a client sends), RFC 6455 framing out and in.
#include "app/fanout.hpp"
#include "engineio/packet.hpp"
#include "engineio/websocket_frame.hpp"
#include "socketio/event_frame.hpp"
#include "socketio/packet.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace {
using namespace pusher;

// A payload of about `size` bytes shaped like the load generator's ({"t":..,"u":..,"seq":..,"p":"xx.."}).
std::string payload(std::size_t size) {
    std::string s = R"({"t":1764191655123456789,"u":"user-1234","seq":42,"p":")";
    while (s.size() + 2 < size) {
        s.push_back('x');
    }
    s += "\"}";
    return s;
}

void encode_notification(benchmark::State& state) {
    auto const body = payload(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        bool as_string = false;
        auto f = app::fanout::encode("bench", body, true, &as_string);
        benchmark::DoNotOptimize(f);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(encode_notification)->Arg(100)->Arg(1000)->Arg(16384);

void encode_notification_not_json(benchmark::State& state) {
    std::string const body(static_cast<std::size_t>(state.range(0)), 'y');
    for (auto _ : state) {
        bool as_string = false;
        auto f = app::fanout::encode("bench", body, false, &as_string);
        benchmark::DoNotOptimize(f);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(encode_notification_not_json)->Arg(100)->Arg(1000);

void splice_event_frame(benchmark::State& state) {
    auto const body = payload(100);
    for (auto _ : state) {
        auto f = socketio::encode_event_frame("bench", body);
        benchmark::DoNotOptimize(f);
    }
}
BENCHMARK(splice_event_frame);

void engineio_parse_packet(benchmark::State& state) {
    std::string const text = "42[\"hello\",{\"a\":1}]";
    for (auto _ : state) {
        auto p = engineio::parse_packet(text);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(engineio_parse_packet);

void engineio_decode_payload(benchmark::State& state) {
    std::string const body =
        "3\x1e"
        "40{\"token\":\"abc\"}\x1e"
        "42[\"x\",1]";
    for (auto _ : state) {
        auto p = engineio::decode_payload(body);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(engineio_decode_payload);

void socketio_decode_connect(benchmark::State& state) {
    // What every client sends once: CONNECT with a token (a typical HS256 JWT's length).
    std::string const text = "0{\"token\":\"" + std::string(180, 'a') + "\"}";
    for (auto _ : state) {
        auto p = socketio::decode(text);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(socketio_decode_connect);

void socketio_decode_event(benchmark::State& state) {
    std::string const text = "2[\"chat\",{\"to\":\"bob\",\"text\":\"hello there\"},42]";
    for (auto _ : state) {
        auto p = socketio::decode(text);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(socketio_decode_event);

void websocket_append_frames(benchmark::State& state) {
    // A batch of 64 notification frames into one write buffer: the websocket transport's per-frame work.
    auto const f = app::fanout::encode("bench", payload(100), true, nullptr);
    std::string out;
    for (auto _ : state) {
        out.clear();
        for (int i = 0; i < 64; ++i) {
            engineio::append_data_frame(out, *f, false);
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(websocket_append_frames);

class null_sink final : public engineio::frame_sink {
  public:
    void on_frame_message(std::string_view payload, bool) override { bytes += payload.size(); }
    void on_frame_ping(std::string_view) override {}
    void on_frame_close(std::uint16_t) override {}
    std::size_t bytes = 0;
};

void websocket_read_masked(benchmark::State& state) {
    // Client -> server: a masked text frame of `range(0)` bytes (unmask + UTF-8 check).
    std::size_t const n = static_cast<std::size_t>(state.range(0));
    std::string wire;
    wire.push_back(static_cast<char>(0x81));
    if (n < 126) {
        wire.push_back(static_cast<char>(0x80 | n));
    } else {
        wire.push_back(static_cast<char>(0x80 | 126));
        wire.push_back(static_cast<char>(n >> 8));
        wire.push_back(static_cast<char>(n & 0xff));
    }
    unsigned char const mask[4] = {0x12, 0x34, 0x56, 0x78};
    wire.append(reinterpret_cast<char const*>(mask), 4);
    for (std::size_t i = 0; i < n; ++i) {
        wire.push_back(static_cast<char>('a' ^ mask[i % 4]));
    }
    null_sink sink;
    for (auto _ : state) {
        engineio::frame_reader reader(1 << 20);
        benchmark::DoNotOptimize(reader.feed(wire, sink));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(websocket_read_masked)->Arg(16)->Arg(1000);
}  // namespace
