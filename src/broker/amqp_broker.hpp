#pragma once
// amqp_broker: RabbitMQ through rabbitmq-c 0.11. Two connections, each on a thread of its own: the consumer
// (declares the exchanges and an exclusive server-named queue, binds users' routing keys, delivers to the sink) and
// the publisher (confirm mode). Both reconnect with capped exponential backoff; after a reconnect the consumer
// re-binds every subscribed user before ready() turns true again. The AMQP contract is in docs/amqp-contract.md.
// Include this header anywhere: it pulls in neither Asio nor rabbitmq-c.
#include "broker/amqp_options.hpp"
#include "broker/broker.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace pusher::broker {
class amqp_broker final : public broker {
  public:
    using options = amqp_options;  // every field and default: broker/amqp_options.hpp

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
    void subscribe_channel(std::string_view channel, done_fn done) override;
    void unsubscribe_channel(std::string_view channel) override;
    void publish(publication p, done_fn done) override;
    // Republishes on o.undelivered_exchange (nothing when it is empty): see amqp_publisher::undeliver.
    void undeliver(undelivered u) override;
    void send_control(std::string node, std::string type, std::string body, done_fn done) override;
    bool clustered() const override;
    // Consumer connected and consuming with every subscribed user's binding restored, and publisher connected.
    bool ready() const override;
    broker_stats stats() const override;

  private:
    struct parts;
    std::unique_ptr<parts> parts_;
};

// For command-line tools (`pusher send --amqp-url`): one blocking publish with the AMQP contract's properties, on a
// connection of its own (declares the exchanges as the server does, confirm mode; `o` gives the URL, exchanges and
// TLS), waiting at most o.publish_timeout for the confirms. Returns the exit status: 0 after printing {"accepted":N} on
// stdout, 1 after printing one error line on stderr.
int publish_once(amqp_options const& o, publication p);
}  // namespace pusher::broker
