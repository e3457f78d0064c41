#pragma once
// cluster_query: the questions one node asks every node of the cluster (sans I/O), and their answers, as JSON
// control messages on the control exchange: who is online (per user, per channel, totals) for GET /api/presence, and
// "end these users' sessions" for POST /api/disconnect. A request goes to every node at once (broker::every_node); each
// node replies to the asking node by its id. Nodes also say `hello` now and then, so that an asking node knows how many
// answers to wait for.
//
// Wire format (v = 1), every field checked on decode:
//   request {"v":1,"op":"query","id":"<1-64>","from":"<node>","kind":"users"|"channel"|"totals"|"disconnect",
//            "users":["..."],"channel":"..."}
//   reply   {"v":1,"op":"answer","id":"...","from":"<node>","sessions":{"<user>":N,...},"members":["<user>",...],
//            "users":N,"total_sessions":N,"disconnected":N}
//   hello   {"v":1,"op":"hello","from":"<node>"}
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pusher::cluster {
inline constexpr std::string_view query_type = "pusher.cluster.query";
inline constexpr std::string_view answer_type = "pusher.cluster.answer";
inline constexpr std::string_view hello_type = "pusher.cluster.hello";
inline constexpr std::size_t max_query_users = 10'000;

enum class query_kind : std::uint8_t { users, channel, totals, disconnect };
std::string_view to_string(query_kind k);

struct query {
    std::string id;
    std::string from;
    query_kind kind = query_kind::totals;
    std::vector<std::string> users;  // users, disconnect: 1 to max_query_users user ids (1-255 bytes)
    std::string channel;             // channel: the channel name
};

struct answer {
    std::string id;
    std::string from;
    std::vector<std::pair<std::string, std::uint64_t>> sessions;  // users: each asked user's sessions on that node
    std::vector<std::string> members;                             // channel: the users subscribed on that node
    std::uint64_t users = 0;                                      // totals: users online on that node
    std::uint64_t total_sessions = 0;                             // totals: sessions on that node
    std::uint64_t disconnected = 0;                               // disconnect: sessions ended on that node
};

std::string encode(query const& q);
std::string encode(answer const& a);
std::string encode_hello(std::string_view node);
std::optional<query> decode_query(std::string_view body, std::string& why);
std::optional<answer> decode_answer(std::string_view body, std::string& why);
std::optional<std::string> decode_hello(std::string_view body, std::string& why);
}  // namespace pusher::cluster
