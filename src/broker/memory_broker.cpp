#include "broker/memory_broker.hpp"

#include "broker/binding_table.hpp"
#include "broker/error.hpp"
#include "broker/loop_thread.hpp"
#include "broker/message_id.hpp"
#include "broker/subscriptions.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace pusher::broker {
namespace {
std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
constexpr std::string_view who = "memory_broker";
}  // namespace

// The broker's thread and what it touches: the subscriptions (whose "link" is always up and whose binds are
// confirmed as they are sent), the sink, the message ids. The counters are read by stats() from any thread.
struct memory_broker::state {
    explicit state(options o)
        : subs(loop, table_options(o), counters, who, confirm_at_once(subs), subscriptions::of_users(counters)),
          channel_subs(loop, table_options(o), counters, who, confirm_at_once(channel_subs),
                       subscriptions::of_channels(counters)) {
        // No presence exchange here: presence events are only counted.
        subs.on_presence([this](binding_table::presence_change const&) { counters.add(counters.presence_events); });
        auto const sent = subs.link_up() + channel_subs.link_up();
        assert(sent == 0);
        (void)sent;
    }

    static binding_table::options table_options(options const& o) {
        return {.unbind_grace = o.unbind_grace, .subscribe_timeout = std::chrono::seconds(10)};
    }
    // In memory, a bind or unbind takes effect at once.
    static subscriptions::send_fn confirm_at_once(subscriptions& s) {
        return [&s](binding_table::command const& cmd) {
            s.confirmed(cmd.key);
            return true;
        };
    }

    broker_counters counters;  // before the loop: outlives its thread
    loop_thread loop;
    subscriptions subs;          // users
    subscriptions channel_subs;  // channels
    // thread-only
    sink* out = nullptr;
    message_id_generator ids;

    void on_publish(publication& p, done_fn& done) {
        if (loop.stopped() || out == nullptr) {
            complete(done, error::stopped, who);
            return;
        }
        if (!binding_table::valid_publication(p) || !p.upstream_key.empty()) {  // no upstream exchange here
            complete(done, error::invalid_publication, who);
            return;
        }
        std::string generated;
        if (p.message_id.empty()) {
            generated = ids.next();
        }
        message m;
        m.event = p.event.empty() ? std::string_view("notification") : std::string_view(p.event);
        m.payload = p.payload;
        m.content_is_json = true;
        m.message_id = p.message_id.empty() ? std::string_view(generated) : std::string_view(p.message_id);
        m.timestamp_ms = p.timestamp_ms != 0 ? p.timestamp_ms : now_ms();
        if (p.broadcast) {
            m.broadcast = true;
            counters.add(counters.published);
            deliver(m);
        } else {
            counters.add(counters.published, p.users.size() + p.channels.size());
            for (auto const& user : p.users) {
                if (!subs.table().routed(user)) {
                    counters.add(counters.unroutable);
                    continue;
                }
                m.user = user;
                deliver(m);
            }
            m.user = {};
            for (auto const& channel : p.channels) {
                if (channel_subs.table().routed(channel)) {
                    m.channel = channel;
                    deliver(m);
                }  // else: a channel without subscribers here, as RabbitMQ drops it (not unroutable: no one asked)
            }
        }
        complete(done, {}, who);
    }

    void deliver(message const& m) {
        counters.add(counters.received);
        hand_to(*out, m, who);
    }
};

memory_broker::memory_broker() : memory_broker(options{}) {}

memory_broker::memory_broker(options o) : state_(std::make_unique<state>(o)) {}

memory_broker::~memory_broker() {
    stop();
}

void memory_broker::start(sink& s) {
    if (state_->loop.stopped()) {
        return;
    }
    state_->out = &s;  // before the thread starts: happens-before every handler
    state_->loop.start({}, "broker-memory");
}

void memory_broker::stop() {
    state_->loop.stop([st = state_.get()] {
        st->subs.abort();
        st->channel_subs.abort();
    });
}

void memory_broker::subscribe(std::string_view user, done_fn done) {
    state_->subs.subscribe(user, std::move(done));
}

void memory_broker::unsubscribe(std::string_view user) {
    state_->subs.unsubscribe(user);
}

void memory_broker::subscribe_channel(std::string_view channel, done_fn done) {
    state_->channel_subs.subscribe(channel, std::move(done));
}

void memory_broker::unsubscribe_channel(std::string_view channel) {
    state_->channel_subs.unsubscribe(channel);
}

void memory_broker::publish(publication p, done_fn done) {
    if (state_->loop.stopped()) {
        complete(done, error::stopped, who);
        return;
    }
    state_->loop.post(
        [st = state_.get(), p = std::move(p), done = std::move(done)]() mutable { st->on_publish(p, done); });
}

bool memory_broker::ready() const {
    return state_->loop.running();
}

void memory_broker::undeliver(undelivered u) {
    state_->counters.add(u.reason);
}

broker_stats memory_broker::stats() const {
    auto out = state_->counters.snapshot();
    out.messages_confirmed = out.messages_published;
    out.consumer_connected = out.publisher_connected = ready();
    return out;
}
}  // namespace pusher::broker
