#include "broker/amqp_broker.hpp"

#include "broker/amqp_connection.hpp"
#include "broker/amqp_consumer.hpp"
#include "broker/amqp_publisher.hpp"
#include "broker/counters.hpp"
#include "broker/error.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <utility>

namespace pusher::broker {
namespace {
// The body of a presence event: {"user":"alice","node":"ID","sessions":N,"at":<ms since the epoch>}.
std::string presence_body(binding_table::presence_change const& p, std::string_view node) {
    using namespace std::chrono;
    std::string body = "{\"user\":";
    json_text::append_string(body, p.key);
    body += ",\"node\":";
    json_text::append_string(body, node);
    body += fmt::format(",\"sessions\":{},\"at\":{}}}", p.subscribers,
                        duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
    return body;
}
}  // namespace

struct amqp_broker::parts {
    explicit parts(options const& o)
        : clustered(!o.control_exchange.empty() && !o.node_id.empty()),
          consumer(consumer_settings(o, *this), counters),
          publisher(publisher_settings(o), counters) {}

    static amqp_link::settings link(options const& o, std::string const& role) {
        amqp_link::settings s;
        s.who = "amqp " + role;
        s.thread_name = "amqp-" + role;
        s.options = o;
        s.connection_name = o.connection_name.empty() ? role : o.connection_name + " " + role;
        // The consumer reads deliveries in batches under load (amqp_link::settings::coalesce); the publisher's
        // confirms are read as they come (a publish waits for them).
        s.coalesce = role == "consumer" ? o.read_pause : std::chrono::microseconds::zero();
        return s;
    }
    static amqp_consumer::settings consumer_settings(options const& o, parts& self) {
        amqp_consumer::settings s;
        s.routing_check = o.routing_check;
        if (s.routing_check == std::chrono::milliseconds::zero()) {
            s.routing_check = o.heartbeat > std::chrono::seconds::zero() ? o.heartbeat : std::chrono::seconds(30);
        }
        // The publisher outlives every call: amqp_broker stops both (joining their threads) before destroying them.
        s.probe = [&self](std::string key, done_fn done) { self.publisher.probe(std::move(key), std::move(done)); };
        if (!o.presence_exchange.empty()) {
            s.presence = [&self, node = o.node_id](binding_table::presence_change const& p) {
                self.publisher.presence(p.key, p.online ? "online" : "offline", presence_body(p, node));
            };
        }
        s.expect_probe = !o.undelivered_exchange.empty();
        s.link = link(o, "consumer");
        s.exchange = o.exchange;
        s.broadcast_exchange = o.broadcast_exchange;
        s.channel_exchange = o.channel_exchange;
        s.queue = o.queue;
        s.table.unbind_grace = o.unbind_grace;
        s.table.subscribe_timeout = o.subscribe_timeout;
        return s;
    }
    static amqp_publisher::settings publisher_settings(options const& o) {
        amqp_publisher::settings s;
        s.link = link(o, "publisher");
        s.exchange = o.exchange;
        s.broadcast_exchange = o.broadcast_exchange;
        s.channel_exchange = o.channel_exchange;
        s.undelivered_exchange = o.undelivered_exchange;
        s.control_exchange = o.control_exchange;
        s.presence_exchange = o.presence_exchange;
        s.upstream_exchange = o.upstream_exchange;
        s.window = o.publish_window == 0 ? 1 : o.publish_window;
        s.backlog = o.publish_backlog;
        s.timeout = o.publish_timeout;
        return s;
    }

    bool const clustered;
    broker_counters counters;  // before the consumer and publisher: outlives the threads that write to it
    amqp_consumer consumer;
    amqp_publisher publisher;
};

std::string amqp_broker::validate(options const& o) {
    if (auto why = check_amqp_urls(o.url); !why.empty()) {
        return why;
    }
    auto const check_name = [](std::string const& name, char const* what) -> std::string {
        if (name.empty()) {
            return fmt::format("the {} name is empty", what);
        }
        if (name.size() > 255) {
            return fmt::format("the {} name is longer than 255 bytes", what);
        }
        return {};
    };
    if (auto why = check_name(o.exchange, "exchange"); !why.empty()) {
        return why;
    }
    if (auto why = check_name(o.broadcast_exchange, "broadcast exchange"); !why.empty()) {
        return why;
    }
    if (o.exchange == o.broadcast_exchange) {
        return "the exchange and the broadcast exchange must differ";
    }
    if (auto why = check_name(o.channel_exchange, "channel exchange"); !why.empty()) {
        return why;
    }
    if (o.channel_exchange == o.exchange || o.channel_exchange == o.broadcast_exchange ||
        o.channel_exchange == o.undelivered_exchange || o.channel_exchange == o.control_exchange) {
        return "the channel exchange must differ from the other exchanges";
    }
    if (o.undelivered_exchange.size() > 255) {
        return "the undelivered exchange name is longer than 255 bytes";
    }
    if (!o.undelivered_exchange.empty() &&
        (o.undelivered_exchange == o.exchange || o.undelivered_exchange == o.broadcast_exchange)) {
        return "the undelivered exchange must differ from the exchange and the broadcast exchange";
    }
    if (o.control_exchange.size() > 255) {
        return "the control exchange name is longer than 255 bytes";
    }
    if (!o.control_exchange.empty() &&
        (o.control_exchange == o.exchange || o.control_exchange == o.broadcast_exchange ||
         o.control_exchange == o.undelivered_exchange)) {
        return "the control exchange must differ from the other exchanges";
    }
    if (o.upstream_exchange.size() > 255) {
        return "the upstream exchange name is longer than 255 bytes";
    }
    if (o.presence_exchange.size() > 255) {
        return "the presence exchange name is longer than 255 bytes";
    }
    if (o.queue.size() > 255) {
        return "the queue name is longer than 255 bytes";
    }
    return {};
}

amqp_broker::amqp_broker(options o) : parts_(std::make_unique<parts>(o)) {}

amqp_broker::~amqp_broker() {
    stop();
}

void amqp_broker::start(sink& s) {
    parts_->consumer.start(s);
    parts_->publisher.start();
}

void amqp_broker::stop() {
    // The consumer first: its last work still reaches a running publisher (every user still online here goes offline
    // on the presence exchange; what its last deliveries could not deliver goes to the undelivered exchange). The
    // publisher's loop sends what was queued before its own stop closes the connection.
    parts_->consumer.stop();
    parts_->publisher.stop();
}

void amqp_broker::subscribe(std::string_view user, done_fn done) {
    parts_->consumer.subscribe(user, std::move(done));
}

void amqp_broker::unsubscribe(std::string_view user) {
    parts_->consumer.unsubscribe(user);
}

void amqp_broker::subscribe_channel(std::string_view channel, done_fn done) {
    parts_->consumer.subscribe_channel(channel, std::move(done));
}

void amqp_broker::unsubscribe_channel(std::string_view channel) {
    parts_->consumer.unsubscribe_channel(channel);
}

void amqp_broker::publish(publication p, done_fn done) {
    parts_->publisher.publish(std::move(p), std::move(done));
}

void amqp_broker::undeliver(undelivered u) {
    parts_->publisher.undeliver(std::move(u));
}

void amqp_broker::send_control(std::string node, std::string type, std::string body, done_fn done) {
    parts_->publisher.send_control(std::move(node), std::move(type), std::move(body), std::move(done));
}

bool amqp_broker::clustered() const {
    return parts_->clustered;
}

bool amqp_broker::ready() const {
    return parts_->consumer.ready() && parts_->publisher.connected();
}

broker_stats amqp_broker::stats() const {
    return parts_->counters.snapshot();
}
}  // namespace pusher::broker
