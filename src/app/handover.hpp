#pragma once
// app::handover: the transport of session hand-overs between nodes (cluster/handover_message.hpp) over the broker's
// control exchange. `ask` sends a request to the node that holds a pid and calls back once with its reply, or with
// nothing when no reply can come (that node is unknown to the broker: gone; the broker is down; the reply took
// longer than the timeout). Requests that arrive for this node go to the `serve` function (the gate), whose answer
// goes back to the asking node. Both directions are control messages published by the broker's publisher and
// consumed from this node's own queue (broker::broker::send_control, broker::sink::on_control).
//
// Thread-safe: ask from any thread; on_control from the broker's thread; callbacks on the broker's thread or the
// scheduler's. Owns its metrics (pusher_recovery_handover_*).
#include "cluster/handover_message.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
class handover {
  public:
    using reply_fn = std::function<void(std::optional<cluster::handover_reply>)>;
    using answer_fn = std::function<void(cluster::handover_reply)>;
    // The holding side: answer `r` (now or later, from any thread) by calling the answer function once.
    using serve_fn = std::function<void(cluster::handover_request r, answer_fn answer)>;

    handover(broker::broker& b, socketio::scheduler& timers, metrics::registry& reg, std::string node_id,
             std::chrono::milliseconds timeout);
    ~handover();
    handover(handover const&) = delete;
    handover& operator=(handover const&) = delete;

    void serve_with(serve_fn serve);

    // Asks `node` for a session (r.id and r.from are filled in here). `done` runs exactly once.
    void ask(std::string const& node, cluster::handover_request r, reply_fn done);
    // Passes a request on to `node` (this node handed the pid over to it): the answer goes to the asker directly.
    void forward(std::string const& node, cluster::handover_request r);

    // A control message from the broker (broker::sink::on_control).
    void on_control(std::string_view type, std::string_view body);

  private:
    struct state;
    std::shared_ptr<state> state_;
};
}  // namespace pusher::app
