#pragma once
// GET /api/presence and POST /api/disconnect as pure functions (the app asks every node through its control plane
// and answers with what came back):
//   GET /api/presence?user=U[&user=V...] -> {"users":{"U":{"online":true,"sessions":N}},"answered":K}
//   GET /api/presence?channel=C          -> {"channel":"C","users":["alice",...],"answered":K}
//   GET /api/presence                     -> {"nodes":[{"node":"ID","users":N,"sessions":M},...],"answered":K}
//   POST /api/disconnect {"user":"alice"} or {"users":[...]} -> {"disconnected":N,"answered":K}
// `answered` counts the nodes whose answer arrived in time (this one included). Same API keys as /api/publish.
#include "api/publish.hpp"
#include "api/request.hpp"
#include "cluster/cluster_query.hpp"

#include <cstddef>
#include <variant>
#include <vector>

namespace pusher::api {
using query_result = std::variant<cluster::query, response>;

query_result parse_presence(request const& req, publish_settings const& settings);
query_result parse_disconnect(request const& req, publish_settings const& settings);

// The answer to `q` from the nodes' answers.
response cluster_response(cluster::query const& q, std::vector<cluster::answer> const& answers, std::size_t answered);
}  // namespace pusher::api
