#include "app/control_plane.hpp"

#include "broker/broker.hpp"
#include "common/log.hpp"
#include "metrics/registry.hpp"
#include "socketio/scheduler.hpp"

#include <fmt/ranges.h>

#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>

namespace pusher::app {
struct control_plane::state : std::enable_shared_from_this<state> {
    using clock = std::chrono::steady_clock;
    struct pending {
        std::set<std::string> waiting_for;  // nodes whose answer is still expected
        result got;
        done_fn done;
    };

    state(broker::broker& b, socketio::scheduler& t, metrics::registry& reg, std::string node,
          std::chrono::milliseconds to, std::chrono::milliseconds hello)
        : broker(b),
          timers(t),
          node_id(std::move(node)),
          timeout(to),
          hello_interval(hello),
          complete(reg.add_counter("pusher_control_queries_total",
                                   "Cluster queries this node asked (presence, disconnect), by outcome: every known "
                                   "node answered (complete) or the timeout passed first (partial).",
                                   {{"outcome", "complete"}})),
          partial(reg.add_counter("pusher_control_queries_total",
                                  "Cluster queries this node asked (presence, disconnect), by outcome: every known "
                                  "node answered (complete) or the timeout passed first (partial).",
                                  {{"outcome", "partial"}})),
          served(reg.add_counter("pusher_control_queries_served_total", "Cluster queries of other nodes answered.")),
          malformed(reg.add_counter("pusher_control_malformed_total",
                                    "Cluster control messages refused as malformed (logged).")) {
        std::random_device rd;
        next_id = (static_cast<std::uint64_t>(rd()) << 32) | rd();
    }

    bool clustered() const { return broker.clustered(); }

    void send(std::string const& to, std::string_view type, std::string body) {
        broker.send_control(to, std::string(type), std::move(body), [](boost::system::error_code) {});
    }

    // A node was heard from; true when it was new (or forgotten).
    bool heard(std::string const& node) {
        if (node == node_id) {
            return false;
        }
        std::lock_guard lock(mutex);
        auto [it, fresh] = nodes.insert_or_assign(node, clock::now());
        (void)it;
        return fresh;
    }

    std::set<std::string> alive() {
        auto const horizon = clock::now() - 3 * hello_interval;
        std::lock_guard lock(mutex);
        std::set<std::string> out;
        for (auto it = nodes.begin(); it != nodes.end();) {
            if (it->second < horizon) {
                it = nodes.erase(it);
            } else {
                out.insert(it->first);
                ++it;
            }
        }
        return out;
    }

    // Hello to every node, then again after the interval; while the broker cannot take it (not connected yet),
    // again soon, so that a starting node is known as soon as it is connected.
    void say_hello() {
        std::weak_ptr<state> weak = shared_from_this();
        broker.send_control(std::string(broker::broker::every_node), std::string(cluster::hello_type),
                            cluster::encode_hello(node_id), [weak](boost::system::error_code ec) {
                                auto self = weak.lock();
                                if (!self || ec == broker::error::stopped) {
                                    return;
                                }
                                auto const next = ec ? std::chrono::milliseconds(250) : self->hello_interval;
                                self->timers.call_after(next, [weak] {
                                    if (auto again = weak.lock()) {
                                        again->say_hello();
                                    }
                                });
                            });
    }

    // Ends the pending query `id` when every node it waits for has answered, or (timed_out) in any case.
    void finish(std::string const& id, bool timed_out) {
        std::optional<pending> p;
        {
            std::lock_guard lock(mutex);
            auto it = waiting.find(id);
            if (it == waiting.end() || (!timed_out && !it->second.waiting_for.empty())) {
                return;
            }
            p = std::move(it->second);
            waiting.erase(it);
        }
        (p->waiting_for.empty() ? complete : partial).inc();
        if (!p->waiting_for.empty()) {
            log::info("control: query {} answered by {} nodes; no answer from {} within {} ms", id, p->got.answered,
                      fmt::join(p->waiting_for, ", "), timeout.count());
        }
        p->done(std::move(p->got));
    }

    // `decode(body)`, or nothing: a malformed message, counted and logged.
    template <class Message>
    std::optional<Message> decoded(std::optional<Message> (*decode)(std::string_view, std::string&),
                                   std::string_view body, char const* what) {
        std::string why;
        auto m = decode(body, why);
        if (!m) {
            malformed.inc();
            log::warn("control: refused a malformed {} ({})", what, why);
        }
        return m;
    }

    // A node was heard from: when it is new, it learns of this one at once.
    void greet_if_new(std::string const& node) {
        if (heard(node)) {
            log::info("control: node {} joined the cluster", node);
            send(node, cluster::hello_type, cluster::encode_hello(node_id));
        }
    }

    // This node's answer to `q` (the serve function's, when set).
    cluster::answer answer_here(cluster::query const& q) {
        serve_fn fn;
        {
            std::lock_guard lock(mutex);
            fn = serve;
        }
        return fn ? fn(q) : cluster::answer{};
    }

    void on_query(std::string_view body) {
        auto q = decoded(cluster::decode_query, body, "query");
        if (!q || q->from == node_id) {
            return;  // malformed, or our own back through every_node (answered locally already)
        }
        greet_if_new(q->from);
        cluster::answer a = answer_here(*q);
        a.id = q->id;
        a.from = node_id;
        served.inc();
        send(q->from, cluster::answer_type, cluster::encode(a));
    }

    void on_answer(std::string_view body) {
        auto a = decoded(cluster::decode_answer, body, "answer");
        if (!a) {
            return;
        }
        heard(a->from);
        std::string const id = a->id;
        {
            std::lock_guard lock(mutex);
            auto it = waiting.find(id);
            if (it == waiting.end()) {
                log::debug("control: an answer from node {} for no pending query (too late?)", a->from);
                return;
            }
            auto& p = it->second;
            p.waiting_for.erase(a->from);
            if (!known_answer(p, a->from)) {  // a node not heard of before the query counts too; twice does not
                p.got.answers.push_back(std::move(*a));
                ++p.got.answered;
            }
        }
        finish(id, false);
    }

    static bool known_answer(pending const& p, std::string const& node) {
        for (auto const& x : p.got.answers) {
            if (x.from == node) {
                return true;
            }
        }
        return false;
    }

    void on_hello(std::string_view body) {
        if (auto from = decoded(cluster::decode_hello, body, "hello")) {
            greet_if_new(*from);
        }
    }

    broker::broker& broker;
    socketio::scheduler& timers;
    std::string const node_id;
    std::chrono::milliseconds const timeout;
    std::chrono::milliseconds const hello_interval;
    metrics::counter& complete;
    metrics::counter& partial;
    metrics::counter& served;
    metrics::counter& malformed;

    std::mutex mutex;
    std::uint64_t next_id = 0;
    std::unordered_map<std::string, clock::time_point> nodes;  // other nodes, last heard of
    std::unordered_map<std::string, pending> waiting;
    serve_fn serve;
};

control_plane::control_plane(broker::broker& b, socketio::scheduler& timers, metrics::registry& reg,
                             std::string node_id, std::chrono::milliseconds timeout,
                             std::chrono::milliseconds hello_interval)
    : state_(std::make_shared<state>(b, timers, reg, std::move(node_id), timeout, hello_interval)) {}

control_plane::~control_plane() {
    std::lock_guard lock(state_->mutex);
    state_->serve = nullptr;
}

void control_plane::serve_with(serve_fn serve) {
    std::lock_guard lock(state_->mutex);
    state_->serve = std::move(serve);
}

void control_plane::start() {
    if (state_->clustered()) {
        state_->say_hello();
    }
}

void control_plane::ask(cluster::query q, done_fn done) {
    auto& s = *state_;
    q.from = s.node_id;
    {
        std::lock_guard lock(s.mutex);
        q.id = s.node_id + "-" + std::to_string(++s.next_id);
    }
    result mine;
    mine.answers.push_back(s.answer_here(q));
    mine.answers.back().from = s.node_id;
    mine.answered = 1;
    if (!s.clustered()) {
        done(std::move(mine));
        return;
    }
    std::string const id = q.id;
    auto peers = s.alive();
    {
        std::lock_guard lock(s.mutex);
        s.waiting.emplace(id, state::pending{std::move(peers), std::move(mine), std::move(done)});
    }
    std::weak_ptr<state> weak = state_;
    s.timers.call_after(s.timeout, [weak, id] {
        if (auto self = weak.lock()) {
            self->finish(id, true);
        }
    });
    s.send(std::string(broker::broker::every_node), cluster::query_type, cluster::encode(q));
    s.finish(id, false);  // no other node known: done at once
}

bool control_plane::on_control(std::string_view type, std::string_view body) {
    if (type == cluster::query_type) {
        state_->on_query(body);
    } else if (type == cluster::answer_type) {
        state_->on_answer(body);
    } else if (type == cluster::hello_type) {
        state_->on_hello(body);
    } else {
        return false;
    }
    return true;
}
}  // namespace pusher::app
