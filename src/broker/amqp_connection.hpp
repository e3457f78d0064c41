#pragma once
// amqp_connection: one rabbitmq-c connection (amqp_connection_state_t and its TCP or TLS socket), logged in, with
// channel 1 open. It owns the state and frees it in the destructor; it is not thread-safe (neither is rabbitmq-c):
// one owner thread. The blocking setup helpers are for before basic.consume only (docs/dependencies.md §4: a blocking
// RPC on a consuming connection queues every delivery behind it); afterwards the owner drives the connection itself.
#include "broker/amqp_options.hpp"

#include <amqp.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::broker {
// A failed connect or setup step, with a reason fit for a log line.
class amqp_failure : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Checks an AMQP URL without connecting: empty when usable, else why not.
std::string check_amqp_url(std::string_view url);
// Checks every URL of a list (amqp_urls): empty when all are usable, else why not (naming the bad one of several).
std::string check_amqp_urls(std::string_view list);

// "host:port" of a URL, for log lines (never the password).
std::string amqp_url_address(std::string_view url);

// A readable reason for a failed rabbitmq-c call.
std::string describe(amqp_rpc_reply_t const& reply);

// What declare_exchanges did with the direct exchange's `alternate-exchange` argument.
enum class alternate_exchange {
    off,       // the undelivered exchange is off: declared without it
    set,       // declared with alternate-exchange = the undelivered exchange
    missing,   // it exists without that argument (declared before): used as it is (passive)
    unwanted,  // off, but it exists with an alternate-exchange: used as it is (passive)
};

class amqp_connection;

// Declares the exchanges of docs/amqp-contract.md: the undelivered exchange (fanout, durable; when on) first, then the
// direct exchange with the argument alternate-exchange = the undelivered exchange, then the broadcast exchange. A
// direct exchange that already exists with other arguments is used as it is rather than failing (see the result).
alternate_exchange declare_exchanges(amqp_connection& c, amqp_options const& o);

// The one command that gives an existing direct exchange its alternate exchange through a policy:
// rabbitmqctl set_policy [-p VHOST] pusher-undelivered '^pusher$' '{"alternate-exchange":"pusher.undelivered"}'
// --apply-to exchanges (with the configured names, the exchange's regex-escaped).
std::string undelivered_policy_command(amqp_options const& o);

class amqp_connection {
  public:
    // Connects to `url` (one of o.url's; TLS, timeouts and heartbeat as `o` says), logs in and opens channel 1;
    // `name` is the `connection_name` client property that rabbitmqctl shows. Throws amqp_failure.
    amqp_connection(amqp_options const& o, std::string_view url, std::string const& name);
    ~amqp_connection();
    amqp_connection(amqp_connection const&) = delete;
    amqp_connection& operator=(amqp_connection const&) = delete;

    amqp_connection_state_t get() const { return state_; }
    int fd() const { return amqp_get_sockfd(state_); }
    std::chrono::seconds heartbeat() const { return std::chrono::seconds(amqp_get_heartbeat(state_)); }

    // Blocking setup RPCs on channel 1. Throw amqp_failure (the connection is then unusable: destroy it).
    void declare_exchange(std::string const& name, char const* type);  // durable
    // Durable, with `args`. False when the broker refused it with 406 PRECONDITION_FAILED because the exchange exists
    // with another `alternate-exchange` argument: the channel is then open again and nothing was declared.
    bool declare_exchange(std::string const& name, char const* type, amqp_table_t const& args);
    void declare_exchange_passive(std::string const& name);  // it must exist (404 otherwise)
    std::string declare_queue(std::string const& name);      // exclusive, auto-delete; returns the name
    void bind_queue(std::string const& queue, std::string const& exchange, std::string const& key);
    void consume(std::string const& queue);  // no-ack
    void confirm_select();

    // After the broker closed channel 1 (channel.close received by an RPC): close-ok, and open it again.
    void reopen_channel();

    // connection.close, waiting for close-ok at most 1 s. Never throws.
    void close() noexcept;

  private:
    void check(char const* what);

    amqp_connection_state_t state_ = nullptr;
};
}  // namespace pusher::broker
