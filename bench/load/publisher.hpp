#pragma once
// The publishing side of pusher-load, run by the coordinating process: message i goes to user i % users (or to
// everyone: broadcast) carrying the payload of payload.hpp with its send time. Two ways in: AMQP (rabbitmq-c, one
// connection per publisher thread) and HTTP POST /api/publish (Beast, keep-alive connections on one thread).
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace pusher::load {
struct publisher_config {
    std::uint64_t messages = 0;
    std::uint64_t users = 1;
    double rate = 0;  // messages/s over all publishers; 0 = as fast as possible
    std::size_t size = 100;
    std::string user_prefix = "u";
    std::string event = "bench";
    bool broadcast = false;
    std::string channel;            // non-empty: every message to this channel (payload "u" is "*", as for a broadcast)
    std::size_t publishers = 1;     // AMQP threads or HTTP connections
    std::uint64_t deadline_ns = 0;  // CLOCK_MONOTONIC; stop publishing then
    // Closed loop: message n waits until n < delivered + window, where `delivered` counts messages that arrived
    // everywhere (kept up to date by the coordinator from the children's progress). 0 = open loop.
    std::uint64_t window = 0;
    std::atomic<std::uint64_t> const* delivered = nullptr;
    // AMQP
    std::string amqp_url = "amqp://guest:guest@127.0.0.1:5672/";
    std::string exchange = "pusher";
    std::string broadcast_exchange = "pusher.broadcast";
    std::string channel_exchange = "pusher.channels";
    // HTTP
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string api_key;
};

// True when message `seq` may go under the window (always in open loop).
inline bool window_open(publisher_config const& cfg, std::uint64_t seq) {
    return cfg.window == 0 || cfg.delivered == nullptr ||
           seq < cfg.delivered->load(std::memory_order_relaxed) + cfg.window;
}

struct publish_result {
    std::uint64_t attempted = 0;        // message sequence numbers 0 .. attempted-1 were tried, except `failed`
    std::vector<std::uint64_t> failed;  // sorted sequence numbers that did not go out
    std::uint64_t start_ns = 0;         // CLOCK_MONOTONIC, first send
    std::uint64_t end_ns = 0;           // last send confirmed (HTTP response, AMQP channel.close-ok)
    std::uint64_t skipped_slots = 0;    // the pacer fell behind the wanted rate by this many messages
    std::vector<std::string> errors;
};

publish_result publish_amqp(publisher_config const& cfg, std::atomic<bool> const& abort);
publish_result publish_http(publisher_config const& cfg, std::atomic<bool> const& abort);
}  // namespace pusher::load
