#pragma once
// amqp_options: everything amqp_broker can be told, with the one copy of each default (`pusher`'s flags, env and
// TOML keys fill this struct: config::config::broker is one). Plain data; no Asio, no rabbitmq-c.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::broker {
// The URLs of `--amqp-url`: one, or the comma-separated nodes of one RabbitMQ cluster (spaces around each trimmed).
// An empty entry stays in the list as "" so that it is refused by the checks. Defined in amqp_connection.cpp.
std::vector<std::string> amqp_urls(std::string_view list);

struct amqp_options {
    // amqps:// for TLS; several comma-separated = the nodes of one RabbitMQ cluster, tried in order (amqp_link)
    std::string url = "amqp://guest:guest@127.0.0.1:5672/";
    std::string exchange = "pusher";                      // direct, durable: routing key = user
    std::string broadcast_exchange = "pusher.broadcast";  // fanout, durable
    std::string channel_exchange = "pusher.channels";     // direct, durable: routing key = channel name
    std::string queue;                                    // empty = server-named; exclusive, auto-delete
    std::chrono::milliseconds unbind_grace{2000};         // 0 = unbind at once
    std::chrono::seconds heartbeat{30};                   // AMQP heartbeat; 0 = none
    // The consumer, while deliveries flow: read again after this pause (taking all that came meanwhile) instead of
    // waking for each arrival. Each wake-up of the consumer and of the workers it hands to costs more than the
    // message itself; the first delivery after a quiet spell is read at once. 0 = wake for every arrival.
    std::chrono::microseconds read_pause{500};
    std::chrono::milliseconds connect_timeout{5000};  // TCP/TLS connect, login, each setup step, close
    std::chrono::milliseconds reconnect_min{500};     // backoff: min, doubling, capped at max
    std::chrono::milliseconds reconnect_max{30'000};
    std::chrono::milliseconds subscribe_timeout{10'000};  // bind not confirmed by then -> error::subscribe_timeout
    std::chrono::milliseconds publish_timeout{10'000};    // publish not confirmed by then -> error::publish_timeout
    std::size_t publish_window = 1024;                    // unconfirmed messages in flight
    std::size_t publish_backlog = 100'000;                // messages waiting for the window
    std::string tls_ca_file;                              // amqps: PEM CA bundle; empty = the system CA store
    std::string tls_cert_file;                            // amqps: optional client certificate and key (PEM)
    std::string tls_key_file;
    bool tls_verify_peer = true;             // the server's certificate chain
    bool tls_verify_hostname = true;         // ... and that it names the host of the URL
    std::string connection_name = "pusher";  // shown by `rabbitmqctl list_connections name` (+ " consumer", ...)
    // How often the consumer checks that the broker still routes our direct exchange to our queue (a probe through
    // the publisher; lost bindings are restored). 0 = as often as the heartbeat, or every 30 s when heartbeats are
    // off.
    std::chrono::milliseconds routing_check{0};
    // fanout, durable: the direct exchange's alternate exchange (what RabbitMQ routes nowhere goes there), and where
    // undeliver() republishes what reached this node but no session. Empty = off.
    std::string undelivered_exchange = "pusher.undelivered";
    // direct, durable: messages between nodes (session hand-overs). Each node binds its node_id on its own queue.
    // Empty = off (a client that reconnects to another node is not recovered there).
    std::string control_exchange = "pusher.control";
    // topic, durable: `online` / `offline` events with routing key = user id, body {"user","node","sessions","at"}.
    // Empty = off.
    std::string presence_exchange = "pusher.presence";
    // topic, durable: events clients send with an ack (routing key = event name, headers x-pusher-user / -node /
    // -sid). Empty = off.
    std::string upstream_exchange;
    std::string node_id;  // this node's routing key on the control exchange; empty = not reachable (config: random)
};
}  // namespace pusher::broker
