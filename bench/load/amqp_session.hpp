#pragma once
// amqp_session: one rabbitmq-c connection with channel 1 open (no heartbeats: the benchmark's connections are busy
// or short-lived, and rabbitmq-c only sends heartbeats inside its own calls). Owned and used by one thread.
#include <amqp.h>

#include <string>

namespace pusher::load {
class amqp_session {
  public:
    amqp_session() = default;
    ~amqp_session();
    amqp_session(amqp_session const&) = delete;
    amqp_session& operator=(amqp_session const&) = delete;

    // Connects, logs in and opens channel 1. Returns an empty string on success, else what went wrong.
    std::string open(std::string const& url);
    // Closes channel and connection politely (the channel close waits for the broker to process what was sent).
    std::string close();
    amqp_connection_state_t get() const { return conn_; }
    bool is_open() const { return conn_ != nullptr; }

    // Declares the direct (or fanout) durable exchange the way the server does, so either may come first.
    std::string declare_exchange(std::string const& name, char const* type);

    static std::string describe(amqp_rpc_reply_t const& r, char const* what);

  private:
    amqp_connection_state_t conn_ = nullptr;
};
}  // namespace pusher::load
