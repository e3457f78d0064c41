#include "broker/amqp_consumer.hpp"

#include "broker/amqp_message.hpp"
#include "broker/error.hpp"
#include "common/log.hpp"

#include <amqp_framing.h>

#include <utility>

namespace pusher::broker {
amqp_consumer::amqp_consumer(settings s, broker_counters& counters)
    : settings_(std::move(s)),
      counters_(counters),
      link_(
          [&] {
              auto l = settings_.link;
              l.consume = true;
              return l;
          }(),
          counters, counters.consumer_connected),
      subs_(
          link_.loop(), settings_.table, counters, settings_.link.who,
          [this](binding_table::command const& cmd) { return send(cmd, false); }, subscriptions::of_users(counters)),
      channel_subs_(
          link_.loop(), settings_.table, counters, settings_.link.who,
          [this](binding_table::command const& cmd) { return send(cmd, true); }, subscriptions::of_channels(counters)) {
    subs_.on_presence(settings_.presence);
}

amqp_consumer::~amqp_consumer() {
    stop();
}

void amqp_consumer::start(sink& out) {
    sink_ = &out;  // before the thread starts: happens-before every handler
    link_.start(*this);
    link_.loop().post([this] { arm_routing_check(); });
}

void amqp_consumer::stop() {
    link_.stop();
}

// Blocking is acceptable here, on the link's thread and before basic.consume (docs/dependencies.md §4.5): declare
// the exchanges (declare_exchanges: the undelivered one, the direct one with its alternate exchange, the broadcast one)
// and our queue, bind the queue to the fanout exchange (and the routing-check key), consume.
void amqp_consumer::setup(amqp_connection& conn) {
    auto const& o = settings_.link.options;
    auto const ae = declare_exchanges(conn, o);
    if (ae == alternate_exchange::missing && !warned_alternate_) {
        warned_alternate_ = true;  // once per process: every reconnect would find the same
        log::warn(
            "{}: the exchange '{}' exists without the argument alternate-exchange = '{}' (declared by an older "
            "version, or with another alternate exchange), so RabbitMQ does not route events for users bound nowhere "
            "to '{}'; this node still republishes there what reaches it but no session. Unless a policy already sets "
            "it, add it with: {}",
            link_.who(), o.exchange, o.undelivered_exchange, o.undelivered_exchange, undelivered_policy_command(o));
    } else if (ae == alternate_exchange::unwanted && !warned_alternate_) {
        warned_alternate_ = true;
        log::info(
            "{}: the exchange '{}' exists with an alternate-exchange argument (--undelivered-exchange is off "
            "here); using it as it is",
            link_.who(), o.exchange);
    }
    queue_ = conn.declare_queue(settings_.queue);
    conn.bind_queue(queue_, settings_.broadcast_exchange, "");
    if (!o.control_exchange.empty() && !o.node_id.empty()) {
        conn.bind_queue(queue_, o.control_exchange, o.node_id);  // other nodes reach this one by its id
        conn.bind_queue(queue_, o.control_exchange, std::string(broker::every_node));  // ... and every node at once
    }
    probe_key_.clear();
    if (settings_.probe && settings_.routing_check > std::chrono::milliseconds::zero()) {
        // A key no other queue has: our queue's name (unique on the broker while we hold it, exclusive).
        probe_key_ = ("pusher.routing_check." + queue_).substr(0, 255);
        conn.bind_queue(queue_, settings_.exchange, probe_key_);
    }
    // No-ack: a notification is transient and the queue is exclusive (it dies with this connection, so nothing
    // could be redelivered after a crash anyway); manual acks would cost a frame per message and promise nothing
    // more, since delivery to the browser is not acknowledged end to end. Back-pressure is TCP's: when this
    // thread falls behind, the socket fills and RabbitMQ's credit flow holds messages in the queue.
    conn.consume(queue_);
}

// Re-binds every subscribed user with pipelined queue.bind and reports ready once all of them are confirmed.
void amqp_consumer::up() {
    inflight_.clear();
    log::info("{}: connected to {}, consuming from queue {} (exchanges {} and {})", link_.who(), link_.address(),
              queue_, settings_.exchange, settings_.broadcast_exchange);
    auto const first_seq = next_seq_;
    auto const sent = subs_.link_up() + (link_.connection() ? channel_subs_.link_up() : 0);
    if (!link_.connection()) {
        return;  // lost while sending
    }
    if (sent == 0) {
        set_ready(true);
    } else {
        restore_until_seq_ = first_seq + sent;
        log::info("{}: restoring {} bindings", link_.who(), sent);
    }
}

void amqp_consumer::down(boost::system::error_code ec) {
    set_ready(false);
    inflight_.clear();
    restore_until_seq_ = 0;
    if (ec == error::stopped) {
        subs_.abort();
        channel_subs_.abort();
        routing_check_timer_.cancel();
    } else {
        subs_.link_down();
        channel_subs_.link_down();
    }
}

void amqp_consumer::arm_routing_check() {
    if (link_.stopping() || !settings_.probe || settings_.routing_check <= std::chrono::milliseconds::zero()) {
        return;
    }
    routing_check_timer_.expires_after(settings_.routing_check);
    routing_check_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || link_.stopping()) {
            return;
        }
        check_routing();
        arm_routing_check();
    });
}

// One probe at a time, and only while ready (during a restore the bindings are still being made). The answer comes
// from the publisher's thread; it counts only for the connection it was sent on.
void amqp_consumer::check_routing() {
    if (probe_in_flight_ || !link_.connection() || !ready_.load() || probe_key_.empty()) {
        return;
    }
    // With an alternate exchange, "routed" may mean "routed to the undelivered exchange": the previous probe must
    // also have come back to our queue by now (one interval later).
    if (probe_routed_ && !probe_seen_ && probe_generation_ == link_.generation()) {
        routing_check_failed("our probe went elsewhere (the alternate exchange?)");
        return;
    }
    probe_routed_ = probe_seen_ = false;
    probe_generation_ = link_.generation();
    probe_in_flight_ = true;
    settings_.probe(probe_key_, [this, gen = link_.generation()](boost::system::error_code ec) {
        link_.loop().post([this, gen, ec] {
            probe_in_flight_ = false;
            if (link_.stopping() || gen != link_.generation() || !link_.connection()) {
                return;  // nothing to conclude (we reconnected)
            }
            if (!ec) {
                probe_routed_ = settings_.expect_probe;
                return;
            }
            if (ec == error::unroutable) {
                routing_check_failed("our probe was unroutable");
            }
            // Anything else (the publisher is down...): nothing to conclude.
        });
    });
}

void amqp_consumer::routing_check_failed(char const* what) {
    probe_routed_ = false;
    counters_.add(counters_.routing_check_failures);
    link_.lost(fmt::format("routing check failed ({}): the broker cannot route to our queue {} through exchange {} "
                           "(it was deleted, or declared again without our bindings); re-declaring and re-binding",
                           what, queue_, settings_.exchange),
               true);
}

void amqp_consumer::set_ready(bool r) {
    if (r && !ready_.load()) {
        link_.reset_backoff();  // only a connection that got all the way to ready resets the backoff
        log::info("{}: ready ({} users bound)", link_.who(), subs_.table().bound_users());
    }
    ready_.store(r, std::memory_order_release);
}

// queue.bind / queue.unbind as one non-blocking method frame (nowait = 0: we want the -ok to know when a
// subscriber may be told it is bound); the reply is read by the link's drain and matched FIFO against inflight_.
bool amqp_consumer::send(binding_table::command const& cmd, bool channel) {
    auto* conn = link_.connection();
    if (conn == nullptr) {
        return false;
    }
    std::string const& exchange = channel ? settings_.channel_exchange : settings_.exchange;
    int rc = 0;
    if (cmd.what == binding_table::op::bind) {
        amqp_queue_bind_t m{};
        m.queue = bytes(queue_);
        m.exchange = bytes(exchange);
        m.routing_key = bytes(cmd.key);
        m.nowait = 0;
        m.arguments = amqp_empty_table;
        rc = amqp_send_method(conn->get(), 1, AMQP_QUEUE_BIND_METHOD, &m);
    } else {
        amqp_queue_unbind_t m{};  // AMQP 0-9-1 queue.unbind has no nowait
        m.queue = bytes(queue_);
        m.exchange = bytes(exchange);
        m.routing_key = bytes(cmd.key);
        m.arguments = amqp_empty_table;
        rc = amqp_send_method(conn->get(), 1, AMQP_QUEUE_UNBIND_METHOD, &m);
    }
    if (rc != AMQP_STATUS_OK) {
        link_.lost(std::string("sending queue.bind/unbind: ") + amqp_error_string2(rc));
        return false;
    }
    inflight_.push_back({cmd.what, channel, cmd.key, clock::now(), ++next_seq_});
    return true;
}

void amqp_consumer::on_method(amqp_frame_t const& frame) {
    switch (frame.payload.method.id) {
        case AMQP_QUEUE_BIND_OK_METHOD:
            on_reply(binding_table::op::bind);
            return;
        case AMQP_QUEUE_UNBIND_OK_METHOD:
            on_reply(binding_table::op::unbind);
            return;
        default:
            log::debug("{}: ignoring method 0x{:08x}", link_.who(), frame.payload.method.id);
    }
}

void amqp_consumer::on_reply(binding_table::op what) {
    if (inflight_.empty() || inflight_.front().what != what) {
        link_.lost("a queue.bind-ok/unbind-ok that matches no pending command", true);
        return;
    }
    pending p = std::move(inflight_.front());
    inflight_.pop_front();
    (what == binding_table::op::bind ? counters_.bind_latency : counters_.unbind_latency)
        .record(clock::now() - p.sent_at);
    if (restore_until_seq_ != 0 && p.seq >= restore_until_seq_) {
        restore_until_seq_ = 0;
        set_ready(true);
    }
    (p.channel ? channel_subs_ : subs_).confirmed(p.key);
}

void amqp_consumer::on_delivery(amqp_envelope_t const& env) {
    if (!probe_key_.empty() && view(env.routing_key) == probe_key_ && view(env.exchange) == settings_.exchange) {
        probe_seen_ = true;
        return;  // our routing check came back: nothing for the sink
    }
    if (auto const& control = settings_.link.options.control_exchange;
        !control.empty() && view(env.exchange) == control) {
        auto const& p = env.message.properties;
        std::string_view const type = (p._flags & AMQP_BASIC_TYPE_FLAG) != 0 ? view(p.type) : std::string_view();
        try {
            sink_->on_control(type, view(env.message.body));
        } catch (std::exception const& e) {
            log::error("{}: the sink threw on a control message: {}", link_.who(), e.what());
        }
        return;
    }
    auto m = to_message(env, settings_.exchange, settings_.broadcast_exchange, settings_.channel_exchange);
    if (!m) {
        counters_.add(counters_.invalid);
        log::debug("{}: dropped a delivery from exchange '{}' with routing key '{}'", link_.who(), view(env.exchange),
                   view(env.routing_key));
        return;
    }
    counters_.add(counters_.received);
    hand_to(*sink_, *m, link_.who());
}
}  // namespace pusher::broker
