#pragma once
// app::control_plane: questions to every node of the cluster (cluster/cluster_query.hpp) over the broker's control
// exchange, for GET /api/presence and POST /api/disconnect. `ask` answers this node's part at once (the `serve`
// function: the gate), sends the query to every node (broker::broker::every_node), and calls back once every node it
// knows of has answered, or when the timeout (2 s) has passed: with the answers it has, so that a slow or vanished
// node delays a query by the timeout at most and the caller can say how many nodes answered.
//
// Who the nodes are: each node says `hello` to every node at start and every 5 s, and answers a hello from a node it
// did not know with its own; a node not heard of for 3 intervals is forgotten. Any query or answer counts as a hello.
//
// Thread-safe: ask from any thread; on_control from the broker's thread; callbacks there or on the scheduler's.
// With a broker that is not clustered (the embedded one), ask answers for this node alone.
#include "cluster/cluster_query.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::broker {
class broker;
}
namespace pusher::metrics {
class registry;
}
namespace pusher::socketio {
class scheduler;
}

namespace pusher::app {
class control_plane {
  public:
    using serve_fn = std::function<cluster::answer(cluster::query const&)>;
    struct result {
        std::vector<cluster::answer> answers;  // this node's first
        std::size_t answered = 0;              // nodes that answered (this one included)
    };
    using done_fn = std::function<void(result)>;

    control_plane(broker::broker& b, socketio::scheduler& timers, metrics::registry& reg, std::string node_id,
                  std::chrono::milliseconds timeout = std::chrono::seconds(2),
                  std::chrono::milliseconds hello_interval = std::chrono::seconds(5));
    ~control_plane();
    control_plane(control_plane const&) = delete;
    control_plane& operator=(control_plane const&) = delete;

    void serve_with(serve_fn serve);
    // Starts saying hello (clustered brokers only).
    void start();
    // Asks every node (q.id and q.from are filled in here). `done` runs exactly once.
    void ask(cluster::query q, done_fn done);
    // A control message from the broker; false when it is not one of the control plane's.
    bool on_control(std::string_view type, std::string_view body);

  private:
    struct state;
    std::shared_ptr<state> state_;
};
}  // namespace pusher::app
