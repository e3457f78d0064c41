#pragma once
// app::gate: the main namespace's door. A CONNECT proves its user (auth::authenticate), subscribes the user at the
// broker and is accepted only once the broker has confirmed the user's binding, so that anything published after
// the client saw `connect` reaches it; then the session joins the hub. On disconnect it leaves the hub and gives the
// subscription back (the broker unbinds after the grace). Callbacks run on session threads.
//
// Connection state recovery (with `recovery` set; hub/history.hpp, app/held_sessions.hpp): an accepted socket gets a
// pid; when it leaves for a recoverable reason the hub holds its user's record and the gate keeps its subscription
// (so the binding stays) for the window. A CONNECT whose auth carries that pid (and the offset it read up to), with a
// token of the same user, gets the same sid and pid back and then, before anything newer, every frame it missed. A
// take-over closes the old socket first when the server still thinks it open. When the window ends the subscription
// goes back and what reached nobody goes to the undelivered exchange (reason recovery_expired).
//
// Across nodes (with `recovery.cluster`): a pid this node does not hold names the node that issued it. The gate
// reserves a place in the hub for the user first (what arrives for the user here from then on waits for the socket),
// subscribes (so both nodes are bound), then asks that node (app/handover.hpp). The holder gives its held session up
// (`serve_handover`: a take-over first if it still thinks it open) and replies with what the session missed; the gate
// sends that, minus what also reached this node (by dedup key), then what waited here, then live frames. A session
// with channels takes two rounds: the holder names its channels first, this node reserves and binds them, and asks
// again; the second answer carries the channels' events too, and the socket is a member of them again here.
#include "app/handover.hpp"
#include "app/held_sessions.hpp"
#include "app/roster.hpp"
#include "auth/verifier.hpp"
#include "broker/broker.hpp"
#include "channels/channel.hpp"
#include "cluster/cluster_query.hpp"
#include "common/frame.hpp"
#include "hub/history.hpp"
#include "socketio/scheduler.hpp"
#include "socketio/server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pusher::hub {
class hub;
}

namespace pusher::app {
struct gate_stats {
    std::atomic<std::uint64_t> auth_failures{0};       // refused: bad, expired, missing token...
    std::atomic<std::uint64_t> subscribe_failures{0};  // refused: the binding could not be confirmed
    std::atomic<std::uint64_t> admitted{0};
    std::atomic<std::uint64_t> client_events{0};  // events clients sent that are none of ours (ignored)
    // Channels.
    std::atomic<std::uint64_t> channel_subscribes{0};  // subscriptions that took effect
    // Upstream events (client events with an ack), by outcome.
    std::atomic<std::uint64_t> upstream_published{0};     // confirmed by the broker
    std::atomic<std::uint64_t> upstream_failed{0};        // the broker did not take it (down, nacked, timed out)
    std::atomic<std::uint64_t> upstream_rate_limited{0};  // over the per-socket rate: not published
    std::atomic<std::uint64_t> upstream_refused{0};       // upstream off, or binary arguments
    // Subscribe (and malformed unsubscribe) refusals by reason: channels::refusal::reason, in this order.
    static constexpr std::array<std::string_view, 7> channel_refusal_reasons{
        "bad_request", "bad_name", "not_allowed", "bad_token", "too_many", "unavailable", "unsubscribed"};
    std::array<std::atomic<std::uint64_t>, channel_refusal_reasons.size()> channel_refusals{};
    void count_channel_refusal(std::string_view reason) {
        for (std::size_t i = 0; i < channel_refusal_reasons.size(); ++i) {
            if (channel_refusal_reasons[i] == reason) {
                channel_refusals[i].fetch_add(1, std::memory_order_relaxed);
                return;
            }
        }
    }
    // Connection state recovery.
    std::atomic<std::uint64_t> recovered{0};             // recovering CONNECTs that got their state back (this node)
    std::atomic<std::uint64_t> recovered_other_node{0};  // ... handed over from another node
    std::atomic<std::uint64_t> handed_over{0};           // held sessions this node handed to another node
    std::atomic<std::uint64_t> recovery_expired{0};      // held sessions whose window ended
    std::atomic<std::uint64_t> recovery_overflow{0};     // recoveries refused: frames after the offset were capped out
    std::atomic<std::uint64_t> recovery_unknown{0};      // a pid unknown here, another user's, or an invalid offset
    std::atomic<std::uint64_t> recovery_takeovers{0};    // recoveries that closed the old, still open, socket first
    std::atomic<std::uint64_t> events_replayed{0};       // frames sent to recovered sockets
};

// What the gate needs for connection state recovery.
struct gate_recovery {
    held_sessions* held = nullptr;  // null = recovery off
    socketio::scheduler* timers = nullptr;
    std::chrono::milliseconds window{120000};
    std::function<void(broker::undelivered)> undeliver;  // may be empty
    handover* cluster = nullptr;                         // null = a session is recovered only on the node that holds it
    std::string node_id;                                 // this node's id: the prefix of the pids it issues
    // After a hand-over, how long a message for the user that finds nobody here is taken to have reached the new
    // node too (this node's binding goes after the unbind grace): the grace plus a margin.
    std::chrono::milliseconds handed_over_quiet{7000};
};

class gate final : public socketio::namespace_handler {
  public:
    using clock_fn = std::function<auth::clock::time_point()>;
    gate(hub::hub& h, broker::broker& b, auth::verifier const* v, bool dev_auth, clock_fn now = auth::clock::now,
         gate_recovery recovery = {});

    void on_connect(socketio::socket_ptr const& s, socketio::connect_request const& req,
                    socketio::admission a) override;
    void on_event(socketio::socket_ptr const& s, socketio::event& e) override;
    void on_disconnect(socketio::socket_ptr const& s, socketio::disconnect_reason why) override;

    gate_stats const& stats() const { return stats_; }
    // Channels one socket may be subscribed to at once (before the server starts).
    void limit_channels(std::size_t per_session) { channels_per_session_ = per_session; }

    // Upstream (client to backend): a client event other than subscribe / unsubscribe that carries an ack is
    // published through the broker with routing key = the event name and the authenticated user in `x-pusher-user`;
    // the ack says {"ok":true} once the broker confirmed it. `rate` per second per socket (bursts of `rate`).
    // Off (every such ack says so) unless enabled before the server starts.
    void enable_upstream(std::size_t rate) {
        upstream_rate_ = rate;
        upstream_on_ = true;
    }

    // This node's answer to a cluster query (app/control_plane.hpp): sessions of users, a channel's members, totals,
    // or the end of every session of some users (a Socket.IO server disconnect; held ones are given up). Any thread.
    cluster::answer answer(cluster::query const& q);

    // Another node asks for a session this node holds (handover::serve_fn). Any thread; `answer` runs once, maybe
    // later (after a take-over), maybe never when the request is passed on to the node the session went to.
    void serve_handover(cluster::handover_request r, handover::answer_fn answer, bool waited = false);

    // Shutdown, after the sessions have left: every held session is given up (what reached nobody goes to the
    // undelivered exchange, reason recovery_expired; the subscriptions go back).
    void release_held();

  private:
    struct recovery_request;
    // The binding is confirmed: accept (recovered when possible). Session thread.
    void admit(socketio::socket_ptr const& s, socketio::admission const& a,
               std::shared_ptr<recovery_request const> const& rr);
    bool try_recover(socketio::socket_ptr const& s, socketio::admission const& a,
                     std::shared_ptr<recovery_request const> const& rr);
    void ask_holder(socketio::socket_ptr const& s, socketio::admission const& a,
                    std::shared_ptr<recovery_request const> const& rr);
    void finish_handover(socketio::socket_ptr const& s, socketio::admission const& a,
                         std::shared_ptr<recovery_request const> const& rr,
                         std::shared_ptr<std::optional<cluster::handover_reply> const> const& reply);
    void bind_handover_channels(socketio::socket_ptr const& s, socketio::admission const& a,
                                std::shared_ptr<recovery_request const> const& rr, std::vector<std::string> names);
    void drop_handover_channels(socketio::socket& s);
    // A plain admission with a fresh pid (recovery on); `replay` goes out right after the CONNECT reply.
    void admit_fresh(socketio::socket_ptr const& s, socketio::admission const& a, std::vector<frame> const& replay);
    // A pending hand-over's place in the hub is not needed any more: what waited in it goes to the undelivered
    // exchange (no_session).
    void release_reservation(std::string const& user, std::optional<hub::seq_t>& reserved);
    void undeliver_all(hub::lost_messages const& lost, broker::undelivered_reason why);
    void expire(std::string const& pid, std::uint64_t gen);
    // A held session will not come back: its held state and subscriptions (user and channels) go.
    void give_up(held_sessions::held const& h, broker::undelivered_reason why);

    // Channels (session thread).
    void channel_bound(socketio::socket_ptr const& s, std::string const& name, boost::system::error_code ec);
    void leave_channel(socketio::socket_ptr const& s, std::string_view name);
    void refuse_channel(socketio::socket_ptr const& s, std::optional<std::uint64_t> ack_id,
                        channels::refusal const& no);
    static void answer_channel(socketio::socket_ptr const& s, std::optional<std::uint64_t> ack_id,
                               std::optional<channels::refusal> const& no);
    static std::vector<hub::channel_point> joined_channels(socketio::socket& s);
    void upstream(socketio::socket_ptr const& s, socketio::event& e);

    hub::hub& hub_;
    broker::broker& broker_;
    auth::verifier const* verifier_;
    bool dev_auth_;
    clock_fn now_;
    gate_recovery recovery_;
    gate_stats stats_;
    std::size_t channels_per_session_ = 100;
    bool upstream_on_ = false;
    std::size_t upstream_rate_ = 10;
    roster roster_;
};
}  // namespace pusher::app
