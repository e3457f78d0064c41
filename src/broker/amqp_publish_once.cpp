// publish_once: the blocking one-shot publish behind `pusher send --amqp-url` (declared in amqp_broker.hpp).
#include "broker/amqp_broker.hpp"
#include "broker/amqp_connection.hpp"
#include "broker/amqp_message.hpp"
#include "broker/binding_table.hpp"
#include "broker/message_id.hpp"

#include <amqp_framing.h>
#include <fmt/format.h>

#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string_view>

namespace pusher::broker {
namespace {
std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Publishes every message of `p` and waits for all confirms; throws amqp_failure.
std::size_t publish_confirmed(amqp_connection& c, amqp_options const& o, publication const& p) {
    std::string const id = p.message_id.empty() ? message_id_generator().next() : p.message_id;
    outgoing_properties props(p.event, id, p.timestamp_ms != 0 ? p.timestamp_ms : now_ms());
    std::size_t const n = p.broadcast ? 1 : p.users.size();
    for (std::size_t i = 0; i < n; ++i) {
        std::string_view const ex = p.broadcast ? o.broadcast_exchange : o.exchange;
        std::string_view const key = p.broadcast ? std::string_view() : std::string_view(p.users[i]);
        int const rc = amqp_basic_publish(c.get(), 1, bytes(ex), bytes(key), 0, 0, props.get(), bytes(p.payload));
        if (rc != AMQP_STATUS_OK) {
            throw amqp_failure(fmt::format("basic.publish: {}", amqp_error_string2(rc)));
        }
    }
    // Delivery tags run 1..n on this fresh channel; wait until the broker has confirmed tag n.
    auto const deadline = std::chrono::steady_clock::now() + o.publish_timeout;
    std::uint64_t confirmed = 0;
    while (confirmed < n) {
        auto const left =
            std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw amqp_failure("the broker did not confirm in time");
        }
        timeval tv{static_cast<time_t>(left.count() / 1'000'000), static_cast<suseconds_t>(left.count() % 1'000'000)};
        amqp_maybe_release_buffers(c.get());
        amqp_frame_t f;
        int const rc = amqp_simple_wait_frame_noblock(c.get(), &f, &tv);
        if (rc != AMQP_STATUS_OK) {
            throw amqp_failure(fmt::format("waiting for confirms: {}", amqp_error_string2(rc)));
        }
        if (f.frame_type != AMQP_FRAME_METHOD) {
            continue;
        }
        switch (f.payload.method.id) {
            case AMQP_BASIC_ACK_METHOD: {
                auto const* m = static_cast<amqp_basic_ack_t const*>(f.payload.method.decoded);
                confirmed = m->multiple ? std::max(confirmed, m->delivery_tag) : confirmed + 1;
                break;
            }
            case AMQP_BASIC_NACK_METHOD:
                throw amqp_failure("the broker refused the message (basic.nack)");
            case AMQP_CHANNEL_CLOSE_METHOD: {
                auto const* m = static_cast<amqp_channel_close_t const*>(f.payload.method.decoded);
                throw amqp_failure(
                    fmt::format("channel closed by the broker: {} {}", m->reply_code, view(m->reply_text)));
            }
            case AMQP_CONNECTION_CLOSE_METHOD: {
                auto const* m = static_cast<amqp_connection_close_t const*>(f.payload.method.decoded);
                throw amqp_failure(
                    fmt::format("connection closed by the broker: {} {}", m->reply_code, view(m->reply_text)));
            }
            default:
                break;
        }
    }
    return n;
}
}  // namespace

int publish_once(amqp_options const& options, publication p) {
    if (!p.broadcast && (p.users.empty() || !std::ranges::all_of(p.users, binding_table::valid_key))) {
        std::fprintf(stderr, "pusher send: no user, or a user id that is empty or longer than 255 bytes\n");
        return 1;
    }
    auto o = options;
    o.heartbeat = std::chrono::seconds(0);  // one short exchange: nothing to keep alive
    if (auto why = amqp_broker::validate(o); !why.empty()) {
        std::fprintf(stderr, "pusher send: %s\n", why.c_str());
        return 1;
    }
    // The nodes of a cluster in order: the first that answers. A failure after the connection (a refused publish,
    // no confirm) is final: trying the next node could publish the message twice.
    std::string reasons;
    for (auto const& url : amqp_urls(o.url)) {
        std::unique_ptr<amqp_connection> c;
        try {
            c = std::make_unique<amqp_connection>(o, url, "pusher send");
        } catch (amqp_failure const& e) {
            reasons += fmt::format("{}{}", reasons.empty() ? "" : "; ", e.what());  // each names its address
            continue;
        }
        try {
            declare_exchanges(*c, o);  // with the server's arguments: a different alternate-exchange would be refused
            c->confirm_select();
            auto const n = publish_confirmed(*c, o, p);
            c->close();
            std::printf("{\"accepted\":%zu}\n", n);
            return 0;
        } catch (amqp_failure const& e) {
            std::fprintf(stderr, "pusher send: %s\n", e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "pusher send: %s\n", reasons.c_str());
    return 1;
}
}  // namespace pusher::broker
