#include "app/handover.hpp"

#include "broker/broker.hpp"
#include "common/log.hpp"
#include "metrics/registry.hpp"
#include "socketio/scheduler.hpp"

#include <mutex>
#include <random>
#include <unordered_map>
#include <utility>

namespace pusher::app {
struct handover::state : std::enable_shared_from_this<state> {
    using clock = std::chrono::steady_clock;
    struct pending {
        reply_fn done;
        clock::time_point sent;
    };

    state(broker::broker& b, socketio::scheduler& t, metrics::registry& reg, std::string node,
          std::chrono::milliseconds to)
        : broker(b),
          timers(t),
          node_id(std::move(node)),
          timeout(to),
          replied(reg.add_counter("pusher_recovery_handover_requests_total",
                                  "Hand-over requests this node sent, by outcome.", {{"outcome", "replied"}})),
          no_reply(reg.add_counter("pusher_recovery_handover_requests_total",
                                   "Hand-over requests this node sent, by outcome.", {{"outcome", "no_reply"}})),
          served(reg.add_counter("pusher_recovery_handovers_served_total",
                                 "Hand-over requests this node answered, by outcome.", {{"outcome", "handed_over"}})),
          refused(reg.add_counter("pusher_recovery_handovers_served_total",
                                  "Hand-over requests this node answered, by outcome.", {{"outcome", "refused"}})),
          channels_first(reg.add_counter("pusher_recovery_handovers_served_total",
                                         "Hand-over requests this node answered, by outcome.",
                                         {{"outcome", "channels_first"}})),
          forwarded(reg.add_counter("pusher_recovery_handovers_served_total",
                                    "Hand-over requests this node answered, by outcome.", {{"outcome", "forwarded"}})),
          malformed(reg.add_counter("pusher_recovery_handover_malformed_total",
                                    "Control messages refused as malformed (logged).")),
          latency(reg.add_histogram("pusher_recovery_handover_seconds",
                                    "From a hand-over request sent to its reply received (replies only).",
                                    {0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5})) {
        std::random_device rd;
        next_id = (static_cast<std::uint64_t>(rd()) << 32) | rd();
    }

    // The pending request `id`, taken out (so exactly one of reply and timeout runs it).
    std::optional<pending> take(std::string const& id) {
        std::lock_guard lock(mutex);
        auto it = waiting.find(id);
        if (it == waiting.end()) {
            return std::nullopt;
        }
        pending p = std::move(it->second);
        waiting.erase(it);
        return p;
    }

    void give_up(std::string const& id) {
        if (auto p = take(id)) {
            no_reply.inc();
            p->done(std::nullopt);
        }
    }

    void send(std::string const& node, std::string_view type, std::string body, std::function<void(bool)> sent) {
        broker.send_control(node, std::string(type), std::move(body),
                            [sent = std::move(sent)](boost::system::error_code ec) {
                                if (sent) {
                                    sent(!ec);
                                }
                            });
    }

    // `decode(body)`, or nothing: a malformed message, counted and logged.
    template <class Message>
    std::optional<Message> decoded(std::optional<Message> (*decode)(std::string_view, std::string&,
                                                                    cluster::decode_limits),
                                   std::string_view body, char const* what) {
        std::string why;
        auto m = decode(body, why, {});
        if (!m) {
            malformed.inc();
            log::warn("handover: refused a malformed {} ({})", what, why);
        }
        return m;
    }

    void on_request(std::string_view body) {
        auto r = decoded(cluster::decode_request, body, "request");
        if (!r) {
            return;
        }
        serve_fn fn;
        {
            std::lock_guard lock(mutex);
            fn = serve;
        }
        std::string const to = r->from;
        std::string const id = r->id;
        auto answer = [self = shared_from_this(), to, id](cluster::handover_reply reply) {
            reply.id = id;
            reply.from = self->node_id;
            (reply.ok                                               ? self->served
             : reply.error == cluster::handover_bind_channels_first ? self->channels_first
                                                                    : self->refused)
                .inc();
            self->send(to, cluster::handover_reply_type, cluster::encode(reply), [to](bool ok) {
                if (!ok) {
                    log::warn("handover: the reply to node {} could not be sent", to);
                }
            });
        };
        if (!fn) {
            answer(cluster::handover_reply{{}, {}, false, "no recovery here", {}, {}});
            return;
        }
        fn(std::move(*r), std::move(answer));
    }

    void on_reply(std::string_view body) {
        auto r = decoded(cluster::decode_reply, body, "reply");
        if (!r) {
            return;
        }
        auto p = take(r->id);
        if (!p) {
            log::debug("handover: a reply from node {} for no pending request (too late?)", r->from);
            return;
        }
        replied.inc();
        latency.observe(std::chrono::duration<double>(clock::now() - p->sent).count());
        p->done(std::move(*r));
    }

    broker::broker& broker;
    socketio::scheduler& timers;
    std::string const node_id;
    std::chrono::milliseconds const timeout;
    metrics::counter& replied;
    metrics::counter& no_reply;
    metrics::counter& served;
    metrics::counter& refused;
    metrics::counter& channels_first;  // the first round of a session with channels (bind them, ask again)
    metrics::counter& forwarded;
    metrics::counter& malformed;
    metrics::histogram& latency;

    std::mutex mutex;
    std::uint64_t next_id = 0;
    std::unordered_map<std::string, pending> waiting;
    serve_fn serve;
};

handover::handover(broker::broker& b, socketio::scheduler& timers, metrics::registry& reg, std::string node_id,
                   std::chrono::milliseconds timeout)
    : state_(std::make_shared<state>(b, timers, reg, std::move(node_id), timeout)) {}

handover::~handover() {
    std::lock_guard lock(state_->mutex);
    state_->serve = nullptr;
}

void handover::serve_with(serve_fn serve) {
    std::lock_guard lock(state_->mutex);
    state_->serve = std::move(serve);
}

void handover::ask(std::string const& node, cluster::handover_request r, reply_fn done) {
    auto& s = *state_;
    r.from = s.node_id;
    {
        std::lock_guard lock(s.mutex);
        r.id = std::to_string(++s.next_id);
        s.waiting.emplace(r.id, state::pending{std::move(done), state::clock::now()});
    }
    std::string const id = r.id;
    std::weak_ptr<state> weak = state_;
    s.timers.call_after(s.timeout, [weak, id] {
        if (auto self = weak.lock()) {
            self->give_up(id);
        }
    });
    // A node the broker cannot route to (gone: its queue left with its connection) is known at once.
    s.send(node, cluster::handover_request_type, cluster::encode(r), [weak, id](bool sent) {
        if (auto self = weak.lock(); self && !sent) {
            self->give_up(id);
        }
    });
}

void handover::forward(std::string const& node, cluster::handover_request r) {
    ++r.hops;
    state_->forwarded.inc();
    state_->send(node, cluster::handover_request_type, cluster::encode(r), {});
}

void handover::on_control(std::string_view type, std::string_view body) {
    if (type == cluster::handover_request_type) {
        state_->on_request(body);
    } else if (type == cluster::handover_reply_type) {
        state_->on_reply(body);
    } else {
        state_->malformed.inc();
        log::debug("handover: ignored a control message of type {}", type.substr(0, 64));
    }
}
}  // namespace pusher::app
