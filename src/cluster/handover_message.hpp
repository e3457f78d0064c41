#pragma once
// cluster::handover_message: the two messages of a session hand-over between nodes, sans I/O. A client whose
// connection dropped may reconnect to another node than the one that holds its recovery state (behind a load
// balancer, or because that node is draining after SIGTERM). The new node asks the holding node, named by the
// client's pid, with a `handover_request`; the holder answers with a `handover_reply` that carries every event the
// session missed after its offset, oldest first, each with its dedup key (hub::dedup_key), so that the new node can
// drop the ones it received itself while both nodes were bound. Both travel as AMQP messages on the control exchange
// (routing key = the addressed node's id; `type` = handover_request_type or handover_reply_type); the bodies are
// JSON objects, documented in docs/amqp-contract.md.
//
// A session with channel memberships moves in two rounds. Its channels must be bound on the new node before the
// holder takes its snapshot, as the user's binding is, so that every channel event after the snapshot reaches the new
// node. So the holder first answers a request that does not list exactly the session's channels with the error
// "channels" and the list (nothing is given up); the new node binds them and asks again with `channels` set; then the
// holder hands the session over, channel events included (each with its channel), and drops its channel bindings.
//
// The decoders take input from the network: every field is checked (shape, size, the payloads are valid JSON, the
// event names are UTF-8), and anything else is refused with a reason, never a crash (fuzz/targets/handover.cpp).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::cluster {
inline constexpr std::string_view handover_request_type = "pusher.handover.request";
inline constexpr std::string_view handover_reply_type = "pusher.handover.reply";
// How often a request may be passed on (a node that handed a pid over forwards later requests for it).
inline constexpr unsigned max_handover_hops = 4;
// The error of the first round's reply for a session with channels: bind `channels`, then ask again.
inline constexpr std::string_view handover_bind_channels_first = "channels";

// A node's name (--node-id): 1 to 64 of A-Z a-z 0-9 _ -. It is a routing key on the control exchange and the
// prefix of the pids (and, later, the sids) the node issues, so it must not contain '.'.
bool valid_node_id(std::string_view id);

struct handover_request {
    std::string id;                       // correlation id chosen by the asking node (1 to 64 bytes)
    std::string from;                     // the asking node: the reply goes to it
    std::string user;                     // the user the client proved with its token on the asking node
    std::string pid;                      // the client's private id
    std::optional<std::uint64_t> offset;  // the last offset the client read, if it read any
    unsigned hops = 0;                    // times this request was passed on
    std::vector<std::string> channels;    // the channels the asking node has bound for the session (second round)
};

struct handed_event {
    std::uint64_t key = 0;  // hub::dedup_key of the message
    std::string event;      // Socket.IO event name
    std::string payload;    // the JSON text the client is sent (valid JSON)
    std::string channel;    // a channel event: its channel (empty: the user's own event, or a broadcast)
};

struct handover_reply {
    std::string id;     // the request's
    std::string from;   // the answering node
    bool ok = false;    // false: not recoverable (error says why), the client connects anew
    std::string error;  // "unknown" (no such pid, or not this user's), "overflow" (capped out), "channels"...
    std::vector<std::string> channels;  // error "channels": the session's channels, to bind before asking again
    std::string sid;                    // ok: the Socket.IO id to give back
    std::vector<handed_event> events;   // ok: what the session missed, oldest first
};

struct decode_limits {
    std::size_t max_bytes = std::size_t{256} << 20;  // the whole body
    std::size_t max_events = 10'000'000;
    std::size_t max_channels = 4096;
};

std::string encode(handover_request const& r);
std::string encode(handover_reply const& r);
// nullopt with `why` set when `body` is not a well-formed message of that kind.
std::optional<handover_request> decode_request(std::string_view body, std::string& why, decode_limits lim = {});
std::optional<handover_reply> decode_reply(std::string_view body, std::string& why, decode_limits lim = {});
}  // namespace pusher::cluster
