#pragma once
// amqp_broker: RabbitMQ through rabbitmq-c 0.11. Two connections, each on a thread of its own: the consumer
// (declares the exchanges and an exclusive server-named queue, binds users' routing keys, delivers to the sink) and
// the publisher (confirm mode). Both reconnect with capped exponential backoff; after a reconnect the consumer
// re-binds every subscribed user before ready() turns true again. The AMQP contract is in docs/amqp-contract.md.
// Include this header anywhere: it pulls in neither Asio nor rabbitmq-c.
#include "broker/broker.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace pusher::broker {
class amqp_broker final : public broker {
  public:
    struct options {
        std::string url = "amqp://guest:guest@127.0.0.1:5672/";  // amqps:// for TLS
        std::string exchange = "pusher";                         // direct, durable: routing key = user
        std::string broadcast_exchange = "pusher.broadcast";     // fanout, durable
        std::string queue;                                       // empty = server-named; exclusive, auto-delete
        std::chrono::milliseconds unbind_grace{2000};            // 0 = unbind at once
        std::chrono::seconds heartbeat{10};                      // AMQP heartbeat; 0 = none
        std::chrono::milliseconds connect_timeout{5000};         // TCP/TLS connect, login, each setup step
        std::chrono::milliseconds reconnect_min{500};            // backoff: min, doubling, capped at max
        std::chrono::milliseconds reconnect_max{10000};
        std::chrono::milliseconds subscribe_timeout{10000};  // bind not confirmed by then -> error::subscribe_timeout
        std::chrono::milliseconds publish_timeout{10000};    // publish not confirmed by then -> error::publish_timeout
        std::size_t publish_window = 1024;                   // unconfirmed messages in flight
        std::size_t publish_backlog = 100'000;               // messages waiting for the window
        std::string tls_ca_file;                             // amqps: CA bundle; empty = system CA store
        std::string tls_cert_file;                           // amqps: optional client certificate and key
        std::string tls_key_file;
        bool tls_verify_peer = true;
        bool tls_verify_hostname = true;
        std::string connection_name = "pusher";  // shown by `rabbitmqctl list_connections name`
        // How often the consumer checks that the broker still routes our direct exchange to our queue (a probe
        // through the publisher; lost bindings are restored). 0 = as often as the heartbeat, or every 30 s when
        // heartbeats are off.
        std::chrono::milliseconds routing_check{0};
    };

    // Empty when the options are usable, else a one-line reason (bad URL, empty or too long exchange name...).
    static std::string validate(options const& o);

    explicit amqp_broker(options o);
    ~amqp_broker() override;  // stops
    amqp_broker(amqp_broker const&) = delete;
    amqp_broker& operator=(amqp_broker const&) = delete;

    void start(sink& s) override;
    void stop() override;
    void subscribe(std::string_view user, done_fn done) override;
    void unsubscribe(std::string_view user) override;
    void publish(publication p, done_fn done) override;
    // Consumer connected and consuming with every subscribed user's binding restored, and publisher connected.
    bool ready() const override;
    broker_stats stats() const override;

  private:
    struct parts;
    std::unique_ptr<parts> parts_;
};

// For command-line tools (`pusher send --amqp-url`): one blocking publish with the AMQP contract's properties, on a
// connection of its own (declares both exchanges, confirm mode), waiting at most 10 s for the confirms. Returns the
// exit status: 0 after printing {"accepted":N} on stdout, 1 after printing one error line on stderr.
int publish_once(std::string const& url, std::string const& exchange, std::string const& broadcast_exchange,
                 publication p);
}  // namespace pusher::broker
