#pragma once
// broker_counters: the live counters behind broker::stats(), written by a broker's threads (memory_broker's, or
// amqp_broker's consumer and publisher) and read from any thread. Relaxed atomics: each value is exact, the
// snapshot is not a single instant.
#include "broker/broker.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace pusher::broker {
// A latency_histogram being counted.
struct live_histogram {
    using counter = std::atomic<std::uint64_t>;
    static constexpr auto relaxed = std::memory_order_relaxed;
    using bounds = latency_histogram;

    counter us_sum{0}, count{0};
    std::array<counter, bounds::bounds_ms.size() + 1> buckets{};

    void record(std::chrono::steady_clock::duration d) {
        auto const us = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
        us_sum.fetch_add(static_cast<std::uint64_t>(us), relaxed);
        count.fetch_add(1, relaxed);
        std::size_t i = 0;
        while (i < bounds::bounds_ms.size() && us > static_cast<std::int64_t>(bounds::bounds_ms[i]) * 1000) {
            ++i;
        }
        buckets[i].fetch_add(1, relaxed);
    }

    latency_histogram snapshot() const {
        latency_histogram h;
        h.us_sum = us_sum.load(relaxed);
        h.count = count.load(relaxed);
        for (std::size_t i = 0; i < buckets.size(); ++i) {
            h.buckets[i] = buckets[i].load(relaxed);
        }
        return h;
    }
};

struct broker_counters {
    using counter = std::atomic<std::uint64_t>;
    static constexpr auto relaxed = std::memory_order_relaxed;

    counter received{0}, invalid{0}, unroutable{0}, published{0}, confirmed{0}, failed{0};
    counter binds{0}, unbinds{0}, subscribe_timeouts{0};
    live_histogram bind_latency, unbind_latency;
    counter reconnects{0}, connection_failures{0}, routing_check_failures{0};
    counter bound_users{0}, subscriptions{0};
    counter bound_channels{0}, channel_subscriptions{0};
    std::array<counter, undelivered_reason_count> undelivered{};  // by undelivered_reason
    counter undelivered_failed{0};
    counter presence_events{0}, presence_failed{0};
    std::atomic<bool> consumer_connected{false}, publisher_connected{false};

    static void add(counter& c, std::uint64_t n = 1) { c.fetch_add(n, relaxed); }
    void add(undelivered_reason r) { add(undelivered[static_cast<std::size_t>(r)]); }

    broker_stats snapshot() const {
        broker_stats s;
        s.messages_received = received.load(relaxed);
        s.messages_invalid = invalid.load(relaxed);
        s.messages_unroutable = unroutable.load(relaxed);
        s.messages_published = published.load(relaxed);
        s.messages_confirmed = confirmed.load(relaxed);
        s.messages_failed = failed.load(relaxed);
        s.binds = binds.load(relaxed);
        s.unbinds = unbinds.load(relaxed);
        s.subscribe_timeouts = subscribe_timeouts.load(relaxed);
        s.bind_latency = bind_latency.snapshot();
        s.unbind_latency = unbind_latency.snapshot();
        s.reconnects = reconnects.load(relaxed);
        s.connection_failures = connection_failures.load(relaxed);
        s.routing_check_failures = routing_check_failures.load(relaxed);
        s.bound_users = bound_users.load(relaxed);
        s.subscriptions = subscriptions.load(relaxed);
        s.bound_channels = bound_channels.load(relaxed);
        s.channel_subscriptions = channel_subscriptions.load(relaxed);
        for (std::size_t i = 0; i < undelivered.size(); ++i) {
            s.undelivered[i] = undelivered[i].load(relaxed);
        }
        s.undelivered_failed = undelivered_failed.load(relaxed);
        s.presence_events = presence_events.load(relaxed);
        s.presence_failed = presence_failed.load(relaxed);
        s.consumer_connected = consumer_connected.load(relaxed);
        s.publisher_connected = publisher_connected.load(relaxed);
        return s;
    }
};
}  // namespace pusher::broker
