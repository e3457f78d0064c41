#pragma once
// receiver: what a pusher-load child process holds while the coordinator publishes: Socket.IO websocket connections
// (ws_clients.cpp) or a bare rabbitmq-c consumer with one binding per user (amqp_drain.cpp, the baseline). Both
// count deliveries per connection so that loss, duplicates and misrouting are exact. Driven by the child's main
// thread; the receiving happens on the receiver's own threads.
#include "error_tally.hpp"
#include "histogram.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace pusher::load {
struct receiver_config {
    // Socket.IO target
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::string path = "/socket.io/?EIO=4&transport=websocket";
    unsigned source_addresses = 16;  // spread over 127.0.1.x (0 = let the kernel pick 127.0.0.1)
    std::string jwt_secret;          // non-empty: authenticate with HS256 tokens, else dev auth {"user":...}
    std::size_t threads = 1;
    std::size_t connect_concurrency = 256;
    // AMQP drain target
    std::string amqp_url = "amqp://guest:guest@127.0.0.1:5672/";
    std::string exchange = "pusher";
    std::size_t bind_window = 1000;  // pipelined queue.bind in flight
    // What is expected
    std::string user_prefix = "u";
    std::string event = "bench";
    bool broadcast = false;  // payload "u" is "*" and every connection gets every message
    // Non-empty: each connection subscribes to this channel after CONNECT (ready once the ack says ok), and every
    // connection gets every message (`broadcast` is set too).
    std::string channel;
};

struct wave_result {
    std::uint64_t ready = 0;
    std::uint64_t failed = 0;
    error_tally errors;
    std::vector<std::uint32_t> ready_users;  // the user index of each ready connection
    histogram connect_latency;               // ns from socket open to CONNECT acknowledged (or bind-ok)
};

struct progress_counts {
    std::uint64_t delivered = 0;  // event frames for this connection's user (or broadcast)
    std::uint64_t misrouted = 0;  // event frames carrying another user
};

// What was published: message i (0 <= i < count, not in `failed`) went to user i % users (or to all: broadcast).
struct publish_summary {
    std::uint64_t count = 0;
    std::uint64_t users = 1;
    std::vector<std::uint64_t> failed;  // sorted
};

struct final_counts {
    std::uint64_t expected = 0;
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t seq_mismatch = 0;  // connections whose count matched but whose seq sum did not
    std::uint64_t misrouted = 0;
    std::uint64_t malformed = 0;      // event frames without a parsable payload
    std::uint64_t other_events = 0;   // events with another name
    std::uint64_t disconnects = 0;    // ready connections that closed before the end
    std::uint64_t first_recv_ns = 0;  // CLOCK_REALTIME
    std::uint64_t last_recv_ns = 0;
    histogram latency;  // ns, publish (payload "t") to receive
    error_tally errors;
};

// Messages (and the sum of their sequence numbers) that one connection of user `u` should receive.
struct expectation {
    std::uint64_t count = 0;
    std::uint64_t seq_sum = 0;
};
class expectations {
  public:
    expectations(publish_summary const& pub, bool broadcast);
    expectation for_user(std::uint64_t user) const;

  private:
    publish_summary const& pub_;
    bool broadcast_;
    std::unordered_map<std::uint64_t, expectation> failed_;  // per user (broadcast: key 0 holds all)
};

class receiver {
  public:
    virtual ~receiver() = default;
    // Opens connections for the given user indices (one per entry; repeated users get several connections) and
    // returns once each is ready or failed, or at `deadline_ns` (CLOCK_MONOTONIC; the rest count as failed).
    virtual wave_result open_wave(std::vector<std::uint32_t> const& users, std::uint64_t deadline_ns) = 0;
    // Thread-safe running totals.
    virtual progress_counts progress() const = 0;
    // Stops receiving, closes everything, and accounts for every ready connection against `pub`.
    virtual final_counts finish(publish_summary const& pub) = 0;
};

std::unique_ptr<receiver> make_ws_receiver(receiver_config const& cfg);
std::unique_ptr<receiver> make_amqp_drain(receiver_config const& cfg);
}  // namespace pusher::load
