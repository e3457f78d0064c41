#include "broker/amqp_publisher.hpp"

#include "broker/amqp_message.hpp"
#include "broker/binding_table.hpp"
#include "broker/error.hpp"
#include "common/log.hpp"

#include <amqp_framing.h>

#include <algorithm>
#include <utility>

namespace pusher::broker {
namespace {
std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

amqp_publisher::amqp_publisher(settings s, broker_counters& counters)
    : settings_(std::move(s)), counters_(counters), link_(settings_.link, counters, counters.publisher_connected) {}

amqp_publisher::~amqp_publisher() {
    stop();
}

void amqp_publisher::start() {
    link_.start(*this);
}

void amqp_publisher::stop() {
    link_.stop();
}

void amqp_publisher::publish(publication p, broker::done_fn done) {
    if (link_.loop().stopped()) {
        complete(done, error::stopped, link_.who());
        return;
    }
    link_.loop().post([this, p = std::move(p), done = std::move(done)]() mutable {
        if (link_.stopping()) {
            complete(done, error::stopped, link_.who());
            return;
        }
        if (!binding_table::valid_publication(p)) {
            complete(done, error::invalid_publication, link_.who());
            return;
        }
        if (!p.upstream_key.empty() && settings_.upstream_exchange.empty()) {
            complete(done, error::invalid_publication, link_.who());
            return;
        }
        std::size_t const count = p.broadcast || !p.upstream_key.empty() ? 1 : p.users.size() + p.channels.size();
        if (!link_.connection()) {
            // Fail fast rather than hold publishes for a broker that may stay away: the API answers at once.
            counters_.add(counters_.failed, count);
            complete(done, error::not_connected, link_.who());
            return;
        }
        if (queued_messages_ + count > settings_.backlog) {
            counters_.add(counters_.failed, count);
            complete(done, error::overloaded, link_.who());
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
    if (link_.loop().stopped()) {
        complete(done, error::stopped, link_.who());
        return;
    }
    link_.loop().post([this, key = std::move(key), done = std::move(done)]() mutable {
        if (link_.stopping() || !link_.connection()) {
            complete(done, link_.stopping() ? error::stopped : error::not_connected, link_.who());
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

void amqp_publisher::undeliver(undelivered u) {
    if (settings_.undelivered_exchange.empty()) {
        return;
    }
    counters_.add(u.reason);
    auto b = std::make_shared<batch>();
    b->pub.users.push_back(std::move(u.user));
    b->pub.event = std::move(u.event);
    b->pub.payload = std::move(u.payload);
    b->pub.message_id = std::move(u.message_id);
    b->pub.timestamp_ms = u.timestamp_ms.value_or(0);
    b->undelivered = true;
    b->content_is_json = u.content_is_json;
    b->reason = u.reason;
    send_side(std::move(b), counters_.undelivered_failed);
}

void amqp_publisher::presence(std::string user, std::string_view type, std::string body) {
    if (settings_.presence_exchange.empty()) {
        return;
    }
    counters_.add(counters_.presence_events);
    auto b = std::make_shared<batch>();
    b->pub.users.push_back(std::move(user));
    b->pub.event = std::string(type);
    b->pub.payload = std::move(body);
    b->presence = true;
    send_side(std::move(b), counters_.presence_failed);
}

void amqp_publisher::send_side(std::shared_ptr<batch> b, broker_counters::counter& failed) {
    if (link_.loop().stopped()) {
        counters_.add(failed);
        return;
    }
    b->count = b->remaining = 1;
    link_.loop().post([this, b = std::move(b), &failed]() mutable {
        // Fire and forget: whatever stops it here is counted, never retried.
        if (link_.stopping() || !link_.connection() || queued_messages_ + 1 > settings_.backlog ||
            !binding_table::valid_key(b->pub.users.front())) {
            counters_.add(failed);
            return;
        }
        enqueue(std::move(b));
    });
}

void amqp_publisher::send_control(std::string node, std::string type, std::string body, broker::done_fn done) {
    if (link_.loop().stopped()) {
        complete(done, error::stopped, link_.who());
        return;
    }
    link_.loop().post([this, node = std::move(node), type = std::move(type), body = std::move(body),
                       done = std::move(done)]() mutable {
        if (link_.stopping() || !link_.connection() || settings_.control_exchange.empty()) {
            complete(done, link_.stopping() ? error::stopped : error::not_connected, link_.who());
            return;
        }
        if (!binding_table::valid_key(node)) {
            complete(done, error::unroutable, link_.who());
            return;
        }
        auto b = std::make_shared<batch>();
        b->pub.users.push_back(std::move(node));
        b->pub.event = std::move(type);
        b->pub.payload = std::move(body);
        b->done = std::move(done);
        b->count = b->remaining = 1;
        b->control = true;
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

void amqp_publisher::setup(amqp_connection& conn) {
    // Declared here too, so that a publish right after start-up does not hit a missing exchange (404 would close the
    // channel). Idempotent with the consumer's declarations.
    // (The consumer logs what declare_exchanges found.)
    declare_exchanges(conn, settings_.link.options);
    conn.confirm_select();
}

void amqp_publisher::up() {
    next_tag_ = 0;
    link_.reset_backoff();
    log::info("{}: connected to {} (confirm mode)", link_.who(), link_.address());
    pump();
}

// Lost: whatever was sent is unconfirmed forever now, and what waited for the window would wait for a reconnect
// that may take long: fail all of it, like a publish made while disconnected (fail fast; the caller may retry).
void amqp_publisher::down(boost::system::error_code ec) {
    fail_all(ec);
    if (ec == error::stopped) {
        sweep_timer_.cancel();
    }
}

void amqp_publisher::fail_all(boost::system::error_code ec) {
    for (auto& [tag, b] : unconfirmed_) {
        finish(*b, ec);
    }
    unconfirmed_.clear();
    for (auto& b : queue_) {
        finish(*b, ec);
    }
    queue_.clear();
    queued_messages_ = 0;
}

void amqp_publisher::finish(batch& b, boost::system::error_code ec) {
    if (b.finished) {
        return;
    }
    b.finished = true;
    if (ec && b.side()) {
        counters_.add(b.undelivered ? counters_.undelivered_failed : counters_.presence_failed, b.remaining);
    } else if (ec && !b.mandatory()) {
        // Messages of this batch not confirmed by now count as failed (their late confirms are ignored).
        counters_.add(counters_.failed, b.remaining);
    }
    complete(b.done, ec, link_.who());
    b.done = nullptr;
}

// Sends queued messages while the window has room. amqp_basic_publish may block when RabbitMQ applies flow
// control (the socket stops draining): that is why this is a thread and a connection of its own.
void amqp_publisher::pump() {
    while (link_.connection() && !queue_.empty() && unconfirmed_.size() < settings_.window) {
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
    // A batch's messages: its users', then its channels' (or its one upstream event).
    bool const upstream = !p.upstream_key.empty();
    bool const to_channel = !upstream && !p.broadcast && b->next >= p.users.size();
    std::string_view const exchange = upstream         ? settings_.upstream_exchange
                                      : b->undelivered ? settings_.undelivered_exchange
                                      : b->presence    ? settings_.presence_exchange
                                      : b->control     ? settings_.control_exchange
                                      : p.broadcast    ? settings_.broadcast_exchange
                                      : to_channel     ? settings_.channel_exchange
                                                       : settings_.exchange;
    std::string_view const key = upstream      ? std::string_view(p.upstream_key)
                                 : p.broadcast ? std::string_view()
                                 : to_channel  ? std::string_view(p.channels[b->next - p.users.size()])
                                               : std::string_view(p.users[b->next]);
    outgoing_properties props(p.event, b->message_id, b->timestamp_ms,
                              b->undelivered ? to_string(b->reason) : std::string_view(), b->content_is_json,
                              p.headers.empty() ? nullptr : &p.headers);
    // Only routing checks and control messages are mandatory: an unroutable one comes back (basic.return) before its
    // confirm.
    int const rc = amqp_basic_publish(link_.connection()->get(), 1, bytes(exchange), bytes(key),
                                      /*mandatory*/ b->mandatory() ? 1 : 0,
                                      /*immediate*/ 0, props.get(), bytes(p.payload));
    if (rc != AMQP_STATUS_OK) {
        link_.lost(std::string("basic.publish: ") + amqp_error_string2(rc));
        return false;
    }
    ++b->next;
    --queued_messages_;
    unconfirmed_.emplace(++next_tag_, b);
    if (!b->mandatory() && !b->side()) {
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
        if (b->mandatory()) {
            finish(*b, b->returned ? make_error_code(error::unroutable) : boost::system::error_code());
            return;
        }
        if (!b->side()) {
            counters_.add(counters_.confirmed);
        }
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

// Publish deadlines: checked every 250 ms while anything is pending.
void amqp_publisher::arm_sweep() {
    if (sweep_armed_ || link_.stopping() || (unconfirmed_.empty() && queue_.empty())) {
        return;
    }
    sweep_armed_ = true;
    sweep_timer_.expires_after(std::chrono::milliseconds(250));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
        sweep_armed_ = false;
        if (!ec && !link_.stopping()) {
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
    if (link_.connection() && !unconfirmed_.empty() &&
        unconfirmed_.begin()->second->deadline + settings_.timeout <= now) {
        link_.lost("no publisher confirm for too long", true);
        return;
    }
    pump();
}

void amqp_publisher::on_method(amqp_frame_t const& frame) {
    switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            auto const* m = static_cast<amqp_basic_ack_t const*>(frame.payload.method.decoded);
            confirm(m->delivery_tag, m->multiple != 0, true);
            return;
        }
        case AMQP_BASIC_NACK_METHOD: {
            auto const* m = static_cast<amqp_basic_nack_t const*>(frame.payload.method.decoded);
            log::warn("{}: the broker nacked message {}{}", link_.who(), m->delivery_tag,
                      m->multiple ? " and earlier" : "");
            confirm(m->delivery_tag, m->multiple != 0, false);
            return;
        }
        case AMQP_BASIC_RETURN_METHOD:
            on_return(frame);
            return;
        default:
            log::debug("{}: ignoring method 0x{:08x}", link_.who(), frame.payload.method.id);
    }
}

// Only routing checks and control messages are mandatory. The return comes before the message's confirm and names no
// delivery tag: it belongs to the oldest mandatory message in flight with that routing key and exchange (returns come
// in publish order).
void amqp_publisher::on_return(amqp_frame_t const& frame) {
    auto const* m = static_cast<amqp_basic_return_t const*>(frame.payload.method.decoded);
    std::string const key(view(m->routing_key));
    bool const is_control = !settings_.control_exchange.empty() && view(m->exchange) == settings_.control_exchange;
    amqp_message_t msg;
    auto r = amqp_read_message(link_.connection()->get(), frame.channel, &msg, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        link_.lost(describe(r));
        return;
    }
    amqp_destroy_message(&msg);
    for (auto& [tag, b] : unconfirmed_) {
        if (b->mandatory() && !b->returned && b->pub.users.front() == key && b->control == is_control) {
            b->returned = true;
            break;
        }
    }
}
}  // namespace pusher::broker
