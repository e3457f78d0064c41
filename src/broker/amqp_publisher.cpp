#include "broker/amqp_publisher.hpp"

#include "broker/amqp_message.hpp"
#include "broker/binding_table.hpp"
#include "broker/error.hpp"
#include "common/log.hpp"

#include <amqp_framing.h>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <random>
#include <utility>

namespace pusher::broker {
namespace asio = boost::asio;

namespace {
std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

amqp_publisher::amqp_publisher(settings s, amqp_counters& counters)
    : settings_(std::move(s)),
      counters_(counters),
      backoff_(settings_.reconnect_min, settings_.reconnect_max, std::random_device{}()) {}

amqp_publisher::~amqp_publisher() {
    stop();
}

void amqp_publisher::run(broker::done_fn& done, boost::system::error_code ec) {
    if (!done) {
        return;
    }
    try {
        done(ec);
    } catch (std::exception const& e) {
        log::error("amqp publisher: a publish callback threw: {}", e.what());
    } catch (...) {
        log::error("amqp publisher: a publish callback threw");
    }
}

void amqp_publisher::start() {
    std::lock_guard lock(lifecycle_);
    if (started_ || stopped_) {
        return;
    }
    guard_.emplace(ioc_.get_executor());
    asio::post(ioc_, [this] { connect(); });
    thread_ = std::thread([this] { ioc_.run(); });
    started_ = true;
}

void amqp_publisher::stop() {
    std::lock_guard lock(lifecycle_);
    if (stopped_.exchange(true) || !thread_.joinable()) {
        return;
    }
    asio::post(ioc_, [this] {
        stopping_ = true;
        ++generation_;
        if (socket_) {
            boost::system::error_code ignored;
            socket_->close(ignored);
            socket_.reset();
        }
        if (conn_) {
            conn_->close();
            conn_.reset();
            log::info("amqp publisher: closed");
        }
        connected_ = false;
        counters_.publisher_connected = false;
        for (auto& [tag, b] : unconfirmed_) {
            finish(*b, error::stopped);
        }
        unconfirmed_.clear();
        for (auto& b : queue_) {
            finish(*b, error::stopped);
        }
        queue_.clear();
        heartbeat_timer_.cancel();
        sweep_timer_.cancel();
        reconnect_timer_.cancel();
        guard_.reset();
    });
    thread_.join();
}

void amqp_publisher::publish(publication p, broker::done_fn done) {
    if (stopped_.load()) {
        run(done, error::stopped);
        return;
    }
    asio::post(ioc_, [this, p = std::move(p), done = std::move(done)]() mutable {
        if (stopping_) {
            run(done, error::stopped);
            return;
        }
        bool const valid = p.broadcast || (!p.users.empty() && std::ranges::all_of(p.users, binding_table::valid_key));
        if (!valid) {
            run(done, error::invalid_publication);
            return;
        }
        std::size_t const count = p.broadcast ? 1 : p.users.size();
        if (!conn_) {
            // Fail fast rather than hold publishes for a broker that may stay away: the API answers at once.
            counters_.add(counters_.failed, count);
            run(done, error::not_connected);
            return;
        }
        if (queued_messages_ + count > settings_.backlog) {
            counters_.add(counters_.failed, count);
            run(done, error::overloaded);
            return;
        }
        auto b = std::make_shared<batch>();
        b->pub = std::move(p);
        b->done = std::move(done);
        b->count = b->remaining = count;
        enqueue(std::move(b));
    });
}

void amqp_publisher::probe(std::string key, broker::done_fn done) {
    if (stopped_.load()) {
        run(done, error::stopped);
        return;
    }
    asio::post(ioc_, [this, key = std::move(key), done = std::move(done)]() mutable {
        if (stopping_ || !conn_) {
            run(done, stopping_ ? error::stopped : error::not_connected);
            return;
        }
        auto b = std::make_shared<batch>();
        b->pub.users.push_back(std::move(key));
        b->pub.event = std::string(probe_event);
        b->pub.payload = "{}";
        b->done = std::move(done);
        b->count = b->remaining = 1;
        b->probe = true;
        enqueue(std::move(b));
    });
}

void amqp_publisher::enqueue(std::shared_ptr<batch> b) {
    b->message_id = b->pub.message_id.empty() ? ids_.next() : b->pub.message_id;
    b->timestamp_ms = b->pub.timestamp_ms != 0 ? b->pub.timestamp_ms : now_ms();
    b->deadline = clock::now() + settings_.timeout;
    queued_messages_ += b->count;
    queue_.push_back(std::move(b));
    pump();
    arm_sweep();
}

void amqp_publisher::connect() {
    if (stopping_) {
        return;
    }
    auto const address = amqp_url_address(settings_.endpoint.url);
    std::unique_ptr<amqp_connection> conn;
    try {
        conn = std::make_unique<amqp_connection>(settings_.endpoint);
        // Declared here too, so that a publish right after start-up does not hit a missing exchange (404 would
        // close the channel). Idempotent with the consumer's declarations.
        conn->declare_exchange(settings_.exchange, "direct");
        conn->declare_exchange(settings_.broadcast_exchange, "fanout");
        conn->confirm_select();
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
    next_tag_ = 0;
    if (ever_connected_) {
        counters_.add(counters_.reconnects);
    }
    ever_connected_ = true;
    backoff_.reset();
    connected_ = true;
    counters_.publisher_connected = true;
    log::info("amqp publisher: connected to {} (confirm mode)", address);
    arm_heartbeat();
    drain(generation_);
    pump();
}

void amqp_publisher::lost(std::string const& reason, bool polite) {
    counters_.add(counters_.connection_failures);
    connected_ = false;
    counters_.publisher_connected = false;
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
    heartbeat_timer_.cancel();
    // Whatever was sent is unconfirmed forever now, and what waited for the window would wait for a reconnect that
    // may take long: fail all of it, like a publish made while disconnected (fail fast; the caller may retry).
    for (auto& [tag, b] : unconfirmed_) {
        finish(*b, error::connection_lost);
    }
    unconfirmed_.clear();
    for (auto& b : queue_) {
        finish(*b, error::connection_lost);
    }
    queue_.clear();
    queued_messages_ = 0;
    schedule_reconnect("connection lost: " + reason);
}

void amqp_publisher::schedule_reconnect(std::string const& reason) {
    if (stopping_) {
        return;
    }
    auto const delay = backoff_.next();
    log::warn("amqp publisher: {}; retrying in {} ms", reason, delay.count());
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec && !stopping_) {
            connect();
        }
    });
}

void amqp_publisher::finish(batch& b, boost::system::error_code ec) {
    if (b.finished) {
        return;
    }
    b.finished = true;
    if (ec && !b.probe) {
        // Messages of this batch not confirmed by now count as failed (their late confirms are ignored).
        counters_.add(counters_.failed, b.remaining);
    }
    run(b.done, ec);
    b.done = nullptr;
}

// Sends queued messages while the window has room. amqp_basic_publish may block when RabbitMQ applies flow
// control (the socket stops draining): that is why this is a thread and a connection of its own.
void amqp_publisher::pump() {
    while (conn_ && !queue_.empty() && unconfirmed_.size() < settings_.window) {
        auto b = queue_.front();
        if (b->finished) {  // timed out while waiting for the window
            queued_messages_ -= b->count - b->next;
            queue_.pop_front();
            continue;
        }
        if (!send_one(b)) {
            return;  // lost
        }
        if (b->next == b->count) {
            queue_.pop_front();
        }
    }
}

bool amqp_publisher::send_one(std::shared_ptr<batch> const& b) {
    publication const& p = b->pub;
    std::string_view const exchange = p.broadcast ? settings_.broadcast_exchange : settings_.exchange;
    std::string_view const key = p.broadcast ? std::string_view() : std::string_view(p.users[b->next]);
    outgoing_properties props(p.event, b->message_id, b->timestamp_ms);
    // Only the routing check is mandatory: an unroutable probe comes back (basic.return) before its confirm.
    int const rc = amqp_basic_publish(conn_->get(), 1, bytes(exchange), bytes(key), /*mandatory*/ b->probe ? 1 : 0,
                                      /*immediate*/ 0, props.get(), bytes(p.payload));
    if (rc != AMQP_STATUS_OK) {
        lost(std::string("basic.publish: ") + amqp_error_string2(rc));
        return false;
    }
    ++b->next;
    --queued_messages_;
    unconfirmed_.emplace(++next_tag_, b);
    if (!b->probe) {
        counters_.add(counters_.published);
    }
    return true;
}

// basic.ack / basic.nack from the broker; `multiple` covers every tag up to and including `tag`.
void amqp_publisher::confirm(std::uint64_t tag, bool multiple, bool ok) {
    auto const settle = [&](std::shared_ptr<batch> const& b) {
        if (b->finished) {
            return;
        }
        if (!ok) {
            finish(*b, error::nacked);
            return;
        }
        if (b->probe) {
            finish(*b, b->returned ? make_error_code(error::unroutable) : boost::system::error_code());
            return;
        }
        counters_.add(counters_.confirmed);
        if (--b->remaining == 0 && b->next == b->count) {
            finish(*b, {});
        }
    };
    if (multiple) {
        auto const end = unconfirmed_.upper_bound(tag);
        for (auto it = unconfirmed_.begin(); it != end; ++it) {
            settle(it->second);
        }
        unconfirmed_.erase(unconfirmed_.begin(), end);
    } else if (auto it = unconfirmed_.find(tag); it != unconfirmed_.end()) {
        settle(it->second);
        unconfirmed_.erase(it);
    }
    pump();
}

void amqp_publisher::arm_wait() {
    if (wait_armed_ || !socket_) {
        return;
    }
    wait_armed_ = true;
    socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, gen = generation_](boost::system::error_code ec) {
                            if (gen != generation_) {
                                return;
                            }
                            wait_armed_ = false;
                            if (!ec) {
                                drain(gen);
                            }
                        });
}

void amqp_publisher::arm_heartbeat() {
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

// Publish deadlines: checked every 250 ms while anything is pending.
void amqp_publisher::arm_sweep() {
    if (sweep_armed_ || stopping_ || (unconfirmed_.empty() && queue_.empty())) {
        return;
    }
    sweep_armed_ = true;
    sweep_timer_.expires_after(std::chrono::milliseconds(250));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
        sweep_armed_ = false;
        if (!ec && !stopping_) {
            sweep();
            arm_sweep();
        }
    });
}

void amqp_publisher::sweep() {
    auto const now = clock::now();
    for (auto& b : queue_) {
        if (!b->finished && b->deadline <= now) {
            finish(*b, error::publish_timeout);
        }
    }
    for (auto& [tag, b] : unconfirmed_) {
        if (!b->finished && b->deadline <= now) {
            finish(*b, error::publish_timeout);
        }
    }
    // A broker that has not confirmed for twice the timeout is not going to: start over on a new connection.
    if (conn_ && !unconfirmed_.empty() && unconfirmed_.begin()->second->deadline + settings_.timeout <= now) {
        lost("no publisher confirm for too long", true);
        return;
    }
    pump();
}

void amqp_publisher::drain(std::uint64_t gen) {
    for (int i = 0; i < 256; ++i) {
        if (gen != generation_ || !conn_) {
            return;
        }
        auto* c = conn_->get();
        amqp_maybe_release_buffers(c);
        amqp_frame_t frame;
        timeval zero{0, 0};
        int const rc = amqp_simple_wait_frame_noblock(c, &frame, &zero);
        if (rc == AMQP_STATUS_TIMEOUT) {
            arm_wait();
            return;
        }
        if (rc != AMQP_STATUS_OK) {
            lost(amqp_error_string2(rc));
            return;
        }
        if (!handle_frame(frame)) {
            return;
        }
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

bool amqp_publisher::handle_frame(amqp_frame_t const& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) {
        return true;
    }
    switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            auto const* m = static_cast<amqp_basic_ack_t const*>(frame.payload.method.decoded);
            confirm(m->delivery_tag, m->multiple != 0, true);
            return conn_ != nullptr;
        }
        case AMQP_BASIC_NACK_METHOD: {
            auto const* m = static_cast<amqp_basic_nack_t const*>(frame.payload.method.decoded);
            log::warn("amqp publisher: the broker nacked message {}{}", m->delivery_tag,
                      m->multiple ? " and earlier" : "");
            confirm(m->delivery_tag, m->multiple != 0, false);
            return conn_ != nullptr;
        }
        case AMQP_BASIC_RETURN_METHOD: {
            // Only routing checks are mandatory. The return comes before the message's confirm and names no
            // delivery tag: it belongs to the probe in flight with that routing key (one at a time).
            auto const* m = static_cast<amqp_basic_return_t const*>(frame.payload.method.decoded);
            std::string const key(view(m->routing_key));
            amqp_message_t msg;
            auto r = amqp_read_message(conn_->get(), frame.channel, &msg, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                lost(describe(r));
                return false;
            }
            amqp_destroy_message(&msg);
            for (auto& [tag, b] : unconfirmed_) {
                if (b->probe && !b->returned && b->pub.users.front() == key) {
                    b->returned = true;
                    break;
                }
            }
            return true;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            auto const* m = static_cast<amqp_channel_close_t const*>(frame.payload.method.decoded);
            lost(fmt::format("channel closed by the broker: {} {}", m->reply_code, view(m->reply_text)), true);
            return false;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            auto const* m = static_cast<amqp_connection_close_t const*>(frame.payload.method.decoded);
            auto reason = fmt::format("connection closed by the broker: {} {}", m->reply_code, view(m->reply_text));
            amqp_connection_close_ok_t ok{};
            amqp_send_method(conn_->get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
            lost(reason);
            return false;
        }
        case AMQP_CONNECTION_BLOCKED_METHOD:
            log::warn("amqp publisher: the broker blocked this connection (resource alarm: memory or disk)");
            return true;
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            log::info("amqp publisher: the broker unblocked this connection");
            return true;
        default:
            log::debug("amqp publisher: ignoring method 0x{:08x}", frame.payload.method.id);
            return true;
    }
}
}  // namespace pusher::broker
