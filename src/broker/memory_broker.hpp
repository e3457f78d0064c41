#pragma once
// memory_broker: the embedded broker for a single process (the default). publish() routes each message to the sink
// for users subscribed here (or inside their unbind grace), like RabbitMQ would with this node's queue; broadcasts
// always reach the sink; the rest is counted as unroutable. It owns one thread with its own io_context: every
// method posts there, so callbacks never run inside the caller's stack (the same contract as amqp_broker).
#include "broker/broker.hpp"

#include <chrono>
#include <memory>

namespace pusher::broker {
class memory_broker final : public broker {
  public:
    struct options {
        std::chrono::milliseconds unbind_grace{2000};  // 0 = unbind at once
    };

    memory_broker();
    explicit memory_broker(options o);
    ~memory_broker() override;  // stops
    memory_broker(memory_broker const&) = delete;
    memory_broker& operator=(memory_broker const&) = delete;

    void start(sink& s) override;
    void stop() override;
    void subscribe(std::string_view user, done_fn done) override;
    void unsubscribe(std::string_view user) override;
    void subscribe_channel(std::string_view channel, done_fn done) override;
    void unsubscribe_channel(std::string_view channel) override;
    void publish(publication p, done_fn done) override;
    // No exchange here: only counted, by reason (broker_stats::undelivered).
    void undeliver(undelivered u) override;
    bool ready() const override;
    broker_stats stats() const override;

  private:
    struct state;
    std::unique_ptr<state> state_;
};
}  // namespace pusher::broker
