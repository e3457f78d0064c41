#include "broker/amqp_consumer.hpp"

#include "broker/amqp_message.hpp"
#include "broker/error.hpp"
#include "common/log.hpp"

#include <amqp_framing.h>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <random>
#include <utility>

namespace pusher::broker {
namespace asio = boost::asio;

amqp_consumer::amqp_consumer(settings s, amqp_counters& counters)
    : settings_(std::move(s)),
      counters_(counters),
      table_(settings_.table),
      backoff_(settings_.reconnect_min, settings_.reconnect_max, std::random_device{}()) {}

amqp_consumer::~amqp_consumer() {
    stop();
}

void amqp_consumer::run(broker::done_fn& done, boost::system::error_code ec) {
    if (!done) {
        return;
    }
    try {
        done(ec);
    } catch (std::exception const& e) {
        log::error("amqp consumer: a subscribe callback threw: {}", e.what());
    } catch (...) {
        log::error("amqp consumer: a subscribe callback threw");
    }
}

void amqp_consumer::start(sink& out) {
    std::lock_guard lock(lifecycle_);
    if (started_ || stopped_) {
        return;
    }
    sink_ = &out;  // before the thread starts: happens-before every handler
    guard_.emplace(ioc_.get_executor());
    asio::post(ioc_, [this] {
        connect();
        arm_routing_check();
    });
    thread_ = std::thread([this] { ioc_.run(); });
    started_ = true;
}

void amqp_consumer::stop() {
    std::lock_guard lock(lifecycle_);
    if (stopped_.exchange(true) || !thread_.joinable()) {
        return;
    }
    asio::post(ioc_, [this] {
        stopping_ = true;
        set_ready(false);
        apply(table_.abort(error::stopped));
        ++generation_;
        if (socket_) {
            boost::system::error_code ignored;
            socket_->close(ignored);
            socket_.reset();
        }
        if (conn_) {
            // The exclusive queue and its bindings die with the connection: no unbinds needed, just close cleanly.
            conn_->close();
            conn_.reset();
            log::info("amqp consumer: closed");
        }
        counters_.consumer_connected = false;
        heartbeat_timer_.cancel();
        table_timer_.cancel();
        reconnect_timer_.cancel();
        coalesce_timer_.cancel();
        routing_check_timer_.cancel();
        guard_.reset();  // run() returns once the handlers already queued have run (they see stopping_)
    });
    thread_.join();
}

void amqp_consumer::subscribe(std::string_view user, broker::done_fn done) {
    if (stopped_.load()) {
        run(done, error::stopped);
        return;
    }
    if (!binding_table::valid_key(user)) {
        // Checked here: rabbitmq-c cannot encode a longer routing key, and an unsendable bind must never look like
        // a broken connection. Not counted: the matching unsubscribe is ignored. Still answered on our thread.
        asio::post(ioc_, [done = std::move(done)]() mutable { run(done, error::invalid_user); });
        return;
    }
    asio::post(ioc_, [this, user = std::string(user), done = std::move(done)]() mutable {
        if (stopping_) {
            run(done, error::stopped);
            return;
        }
        apply(table_.subscribe(user, std::move(done), clock::now()));
    });
}

void amqp_consumer::unsubscribe(std::string_view user) {
    if (stopped_.load()) {
        return;
    }
    asio::post(ioc_, [this, user = std::string(user)] {
        if (!stopping_) {
            apply(table_.unsubscribe(user, clock::now()));
        }
    });
}

// Blocking is acceptable here, on our own thread and before basic.consume (STACK.md §4.5): connect, declare both
// exchanges and our queue, bind the queue to the fanout exchange, consume; then re-bind every subscribed user with
// pipelined queue.bind and report ready once all of them are confirmed.
void amqp_consumer::connect() {
    if (stopping_) {
        return;
    }
    auto const address = amqp_url_address(settings_.endpoint.url);
    std::unique_ptr<amqp_connection> conn;
    try {
        conn = std::make_unique<amqp_connection>(settings_.endpoint);
        conn->declare_exchange(settings_.exchange, "direct");
        conn->declare_exchange(settings_.broadcast_exchange, "fanout");
        queue_ = conn->declare_queue(settings_.queue);
        conn->bind_queue(queue_, settings_.broadcast_exchange, "");
        probe_key_.clear();
        if (settings_.probe && settings_.routing_check > std::chrono::milliseconds::zero()) {
            // A key no other queue has: our queue's name (unique on the broker while we hold it, exclusive).
            probe_key_ = ("pusher.routing_check." + queue_).substr(0, 255);
            conn->bind_queue(queue_, settings_.exchange, probe_key_);
        }
        // No-ack: a notification is transient and the queue is exclusive (it dies with this connection, so nothing
        // could be redelivered after a crash anyway); manual acks would cost a frame per message and promise nothing
        // more, since delivery to the browser is not acknowledged end to end. Back-pressure is TCP's: when this
        // thread falls behind, the socket fills and RabbitMQ's credit flow holds messages in the queue.
        conn->consume(queue_);
    } catch (amqp_failure const& e) {
        counters_.add(counters_.connection_failures);
        schedule_reconnect(e.what());
        return;
    }
    int const fd = ::dup(conn->fd());  // a dup: closing Asio's copy never closes the library's fd
    if (fd < 0) {
        schedule_reconnect(std::string("dup() failed: ") + std::strerror(errno));
        return;
    }
    try {
        socket_.emplace(ioc_, fd);  // registers with epoll: may fail (e.g. out of memory)
    } catch (boost::system::system_error const& e) {
        ::close(fd);
        schedule_reconnect(std::string("cannot watch the socket: ") + e.what());
        return;
    }
    conn_ = std::move(conn);
    ++generation_;
    wait_armed_ = false;
    drain_posted_ = false;
    inflight_.clear();
    if (ever_connected_) {
        counters_.add(counters_.reconnects);
    }
    ever_connected_ = true;
    counters_.consumer_connected = true;
    log::info("amqp consumer: connected to {}, consuming from queue {} (exchanges {} and {})", address, queue_,
              settings_.exchange, settings_.broadcast_exchange);

    auto fx = table_.link_up();
    if (fx.commands.empty()) {
        set_ready(true);
    } else {
        restore_until_seq_ = next_seq_ + fx.commands.size();
        log::info("amqp consumer: restoring {} bindings", fx.commands.size());
    }
    apply(std::move(fx));
    if (!conn_) {
        return;  // lost while sending
    }
    arm_heartbeat();
    drain(generation_);
}

void amqp_consumer::lost(std::string const& reason, bool polite) {
    counters_.add(counters_.connection_failures);
    counters_.consumer_connected = false;
    set_ready(false);
    ++generation_;
    wait_armed_ = false;
    drain_posted_ = false;
    if (socket_) {
        boost::system::error_code ignored;
        socket_->close(ignored);
        socket_.reset();
    }
    if (polite && conn_) {
        conn_->close();  // the socket still works: say goodbye rather than drop the TCP connection
    }
    conn_.reset();
    inflight_.clear();
    restore_until_seq_ = 0;
    heartbeat_timer_.cancel();
    apply(table_.link_down());
    schedule_reconnect("connection lost: " + reason);
}

void amqp_consumer::schedule_reconnect(std::string const& reason) {
    if (stopping_) {
        return;
    }
    auto const delay = backoff_.next();
    log::warn("amqp consumer: {}; retrying in {} ms", reason, delay.count());
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec && !stopping_) {
            connect();
        }
    });
}

void amqp_consumer::arm_routing_check() {
    if (stopping_ || !settings_.probe || settings_.routing_check <= std::chrono::milliseconds::zero()) {
        return;
    }
    routing_check_timer_.expires_after(settings_.routing_check);
    routing_check_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) {
            return;
        }
        check_routing();
        arm_routing_check();
    });
}

// One probe at a time, and only while ready (during a restore the bindings are still being made). The answer comes
// from the publisher's thread; it counts only for the connection it was sent on.
void amqp_consumer::check_routing() {
    if (probe_in_flight_ || !conn_ || !ready_.load() || probe_key_.empty()) {
        return;
    }
    probe_in_flight_ = true;
    settings_.probe(probe_key_, [this, gen = generation_](boost::system::error_code ec) {
        asio::post(ioc_, [this, gen, ec] {
            probe_in_flight_ = false;
            if (stopping_ || gen != generation_ || !conn_ || ec != error::unroutable) {
                return;  // routed (fine), or nothing to conclude (the publisher is down, or we reconnected)
            }
            counters_.add(counters_.routing_check_failures);
            lost(fmt::format("routing check failed: the broker cannot route to our queue {} through exchange {} (it "
                             "was deleted, or declared again without our bindings); re-declaring and re-binding",
                             queue_, settings_.exchange),
                 true);
        });
    });
}

void amqp_consumer::set_ready(bool r) {
    if (r && !ready_.load()) {
        backoff_.reset();  // only a connection that got all the way to ready resets the backoff
        log::info("amqp consumer: ready ({} users bound)", table_.bound_users());
    }
    ready_.store(r, std::memory_order_release);
}

void amqp_consumer::publish_gauges() {
    counters_.bound_users.store(table_.bound_users(), amqp_counters::relaxed);
    counters_.subscriptions.store(table_.subscriptions(), amqp_counters::relaxed);
}

void amqp_consumer::apply(binding_table::effects fx) {
    for (auto const& cmd : fx.commands) {
        if (!conn_ || !send(cmd)) {
            break;  // the link is down: link_down() reset the table, link_up() will re-bind
        }
    }
    publish_gauges();
    for (auto& c : fx.completions) {
        if (c.ec == error::subscribe_timeout) {
            counters_.add(counters_.subscribe_timeouts);
        }
        run(c.done, c.ec);
    }
    arm_table_timer();
}

// queue.bind / queue.unbind as one non-blocking method frame (nowait = 0: we want the -ok to know when a
// subscriber may be told it is bound); the reply is read by drain() and matched FIFO against inflight_.
bool amqp_consumer::send(binding_table::command const& cmd) {
    int rc = 0;
    if (cmd.what == binding_table::op::bind) {
        amqp_queue_bind_t m{};
        m.queue = bytes(queue_);
        m.exchange = bytes(settings_.exchange);
        m.routing_key = bytes(cmd.key);
        m.nowait = 0;
        m.arguments = amqp_empty_table;
        rc = amqp_send_method(conn_->get(), 1, AMQP_QUEUE_BIND_METHOD, &m);
        counters_.add(counters_.binds);
    } else {
        amqp_queue_unbind_t m{};  // AMQP 0-9-1 queue.unbind has no nowait
        m.queue = bytes(queue_);
        m.exchange = bytes(settings_.exchange);
        m.routing_key = bytes(cmd.key);
        m.arguments = amqp_empty_table;
        rc = amqp_send_method(conn_->get(), 1, AMQP_QUEUE_UNBIND_METHOD, &m);
        counters_.add(counters_.unbinds);
    }
    if (rc != AMQP_STATUS_OK) {
        lost(std::string("sending queue.bind/unbind: ") + amqp_error_string2(rc));
        return false;
    }
    inflight_.push_back({cmd.what, cmd.key, clock::now(), ++next_seq_});
    return true;
}

void amqp_consumer::arm_wait() {
    if (wait_armed_ || !socket_) {
        return;
    }
    wait_armed_ = true;
    socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, gen = generation_](boost::system::error_code ec) {
                            if (gen != generation_) {
                                return;  // a previous connection's wait
                            }
                            wait_armed_ = false;
                            if (!ec) {
                                drain(gen);
                            }
                        });
}

void amqp_consumer::arm_coalesce(std::uint64_t gen) {
    coalesce_timer_.expires_after(settings_.coalesce);
    coalesce_timer_.async_wait([this, gen](boost::system::error_code ec) {
        if (!ec && gen == generation_ && !stopping_) {
            drain(gen);
        }
    });
}

// Heartbeats are sent and checked only inside rabbitmq-c calls: a drain every heartbeat/2 keeps an idle connection
// alive and notices a silent broker (two missed heartbeats -> AMQP_STATUS_HEARTBEAT_TIMEOUT).
void amqp_consumer::arm_heartbeat() {
    if (!conn_) {
        return;
    }
    auto period = std::chrono::duration_cast<std::chrono::milliseconds>(conn_->heartbeat()) / 2;
    if (period <= std::chrono::milliseconds::zero()) {
        period = std::chrono::seconds(5);
    }
    heartbeat_timer_.expires_after(period);
    heartbeat_timer_.async_wait([this, gen = generation_](boost::system::error_code ec) {
        if (ec || gen != generation_ || stopping_) {
            return;
        }
        drain(gen);
        if (gen == generation_) {
            arm_heartbeat();
        }
    });
}

void amqp_consumer::arm_table_timer() {
    auto next = table_.next_deadline();
    if (stopping_ || !next || (table_timer_at_ && *table_timer_at_ <= *next)) {
        return;
    }
    table_timer_at_ = next;
    table_timer_.expires_at(*next);
    table_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopping_) {
            return;  // replaced by an earlier deadline (that wait owns table_timer_at_), or stopping
        }
        table_timer_at_.reset();
        apply(table_.tick(clock::now()));
    });
}

// Reads until rabbitmq-c reports "nothing buffered and the socket would block" (AMQP_STATUS_TIMEOUT with a zero
// timeout), and only then waits for readability again: Asio's epoll registration is edge-triggered, so waiting with
// bytes left in the library's buffer could sleep forever. A budget keeps one busy connection from starving timers.
void amqp_consumer::drain(std::uint64_t gen) {
    bool delivered = false;
    for (std::size_t i = 0; i < settings_.drain_budget; ++i) {
        if (gen != generation_ || !conn_) {
            return;
        }
        auto* c = conn_->get();
        // Cheap here: frames are only ever queued one at a time (the put-back below), see STACK.md §4.
        amqp_maybe_release_buffers(c);
        amqp_envelope_t env;
        timeval zero{0, 0};
        amqp_rpc_reply_t r = amqp_consume_message(c, &env, &zero, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            deliver(env);
            amqp_destroy_envelope(&env);
            delivered = true;
            continue;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) {
            // Messages are flowing: come back after a short pause (and take several at once) rather than wake for
            // each one. Nothing came: wait for the socket.
            if (delivered && settings_.coalesce.count() > 0) {
                arm_coalesce(gen);
            } else {
                arm_wait();
            }
            return;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            // A frame that is not a delivery was put back: amqp_simple_wait_frame returns it at once.
            amqp_frame_t frame;
            int const rc = amqp_simple_wait_frame(c, &frame);
            if (rc != AMQP_STATUS_OK) {
                lost(amqp_error_string2(rc));
                return;
            }
            if (!handle_frame(frame)) {
                return;
            }
            continue;
        }
        lost(describe(r));
        return;
    }
    if (!drain_posted_) {
        drain_posted_ = true;
        asio::post(ioc_, [this, gen] {
            if (gen == generation_) {
                drain_posted_ = false;
                drain(gen);
            }
        });
    }
}

bool amqp_consumer::handle_frame(amqp_frame_t const& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) {
        log::debug("amqp consumer: ignoring a frame of type {} outside a message", frame.frame_type);
        return true;
    }
    switch (frame.payload.method.id) {
        case AMQP_QUEUE_BIND_OK_METHOD:
            return on_reply(binding_table::op::bind);
        case AMQP_QUEUE_UNBIND_OK_METHOD:
            return on_reply(binding_table::op::unbind);
        case AMQP_CHANNEL_CLOSE_METHOD: {
            // E.g. 404 when our queue is gone, 403 on a refused bind: the channel and its consumer are dead.
            auto const* m = static_cast<amqp_channel_close_t const*>(frame.payload.method.decoded);
            lost(fmt::format("channel closed by the broker: {} {}", m->reply_code, view(m->reply_text)), true);
            return false;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            auto const* m = static_cast<amqp_connection_close_t const*>(frame.payload.method.decoded);
            auto reason = fmt::format("connection closed by the broker: {} {}", m->reply_code, view(m->reply_text));
            amqp_connection_close_ok_t ok{};
            amqp_send_method(conn_->get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);  // polite; we drop it anyway
            lost(reason);
            return false;
        }
        case AMQP_BASIC_CANCEL_METHOD:
            lost("the broker cancelled our consumer (queue deleted?)", true);
            return false;
        case AMQP_CONNECTION_BLOCKED_METHOD:
            log::warn("amqp consumer: the broker blocked this connection (resource alarm: memory or disk)");
            return true;
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            log::info("amqp consumer: the broker unblocked this connection");
            return true;
        default:
            log::debug("amqp consumer: ignoring method 0x{:08x}", frame.payload.method.id);
            return true;
    }
}

bool amqp_consumer::on_reply(binding_table::op what) {
    if (inflight_.empty() || inflight_.front().what != what) {
        lost("a queue.bind-ok/unbind-ok that matches no pending command", true);
        return false;
    }
    pending p = std::move(inflight_.front());
    inflight_.pop_front();
    (what == binding_table::op::bind ? counters_.bind_latency : counters_.unbind_latency)
        .record(clock::now() - p.sent_at);
    if (restore_until_seq_ != 0 && p.seq >= restore_until_seq_) {
        restore_until_seq_ = 0;
        set_ready(true);
    }
    auto const gen = generation_;
    apply(table_.confirmed(p.key));
    return gen == generation_;
}

void amqp_consumer::deliver(amqp_envelope_t const& env) {
    if (!probe_key_.empty() && view(env.routing_key) == probe_key_ && view(env.exchange) == settings_.exchange) {
        return;  // our routing check came back: nothing for the sink
    }
    auto m = to_message(env, settings_.exchange, settings_.broadcast_exchange);
    if (!m) {
        counters_.add(counters_.invalid);
        log::debug("amqp consumer: dropped a delivery from exchange '{}' with routing key '{}'", view(env.exchange),
                   view(env.routing_key));
        return;
    }
    counters_.add(counters_.received);
    try {
        sink_->on_message(*m);
    } catch (std::exception const& e) {
        log::error("amqp consumer: the sink threw: {}", e.what());
    } catch (...) {
        log::error("amqp consumer: the sink threw");
    }
}
}  // namespace pusher::broker
