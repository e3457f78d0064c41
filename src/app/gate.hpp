#pragma once
// app::gate: the main namespace's door. A CONNECT proves its user (auth::authenticate), subscribes the user at the
// broker and is accepted only once the broker has confirmed the user's binding, so that anything published after
// the client saw `connect` reaches it; then the session joins the hub. On disconnect it leaves the hub and gives the
// subscription back (the broker unbinds after the grace). Stateless but for counters; callbacks run on session threads.
#include "auth/verifier.hpp"
#include "socketio/server.hpp"

#include <atomic>
#include <cstdint>
#include <functional>

namespace pusher::broker {
class broker;
}
namespace pusher::hub {
class hub;
}

namespace pusher::app {
struct gate_stats {
    std::atomic<std::uint64_t> auth_failures{0};       // refused: bad, expired, missing token...
    std::atomic<std::uint64_t> subscribe_failures{0};  // refused: the binding could not be confirmed
    std::atomic<std::uint64_t> admitted{0};
    std::atomic<std::uint64_t> client_events{0};  // events clients sent (the pusher expects none; ignored)
};

class gate final : public socketio::namespace_handler {
  public:
    using clock_fn = std::function<auth::clock::time_point()>;
    gate(hub::hub& h, broker::broker& b, auth::verifier const* v, bool dev_auth, clock_fn now = auth::clock::now);

    void on_connect(socketio::socket_ptr const& s, socketio::connect_request const& req,
                    socketio::admission a) override;
    void on_event(socketio::socket_ptr const& s, socketio::event& e) override;
    void on_disconnect(socketio::socket_ptr const& s, socketio::disconnect_reason why) override;

    gate_stats const& stats() const { return stats_; }

  private:
    hub::hub& hub_;
    broker::broker& broker_;
    auth::verifier const* verifier_;
    bool dev_auth_;
    clock_fn now_;
    gate_stats stats_;
};
}  // namespace pusher::app
