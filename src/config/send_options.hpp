#pragma once
// `pusher send`'s command line: what to publish, and where. Parsed by config::load_send with the same machinery as
// the server's options (CLI11 for the flags; the server's own option parsers, environment variables and defaults for
// every option the two share: --amqp-url, the exchanges, the AMQP TLS and timeout options, --api-key), so that a
// publisher configured like the server reaches it the same way.
#include "config/config.hpp"

#include <string>
#include <vector>

namespace pusher::config {
struct send_options {
    std::string server;               // a running pusher, http://HOST:PORT (POST /api/publish); empty: amqp
    bool amqp = false;                // straight to RabbitMQ with the AMQP contract (--amqp-url or PUSHER_AMQP_URL)
    decltype(config::broker) broker;  // the AMQP options, parsed as the server parses them
    std::string api_key;              // sent as Authorization: Bearer KEY
    std::vector<std::string> users;   // --user / --users (repeatable, comma-separated)
    bool broadcast = false;           // --broadcast: every connected user
    std::string event = "notification";
    std::string data = "null";  // JSON text as given; "-" = standard input (read by the caller)
};

// `args` are the arguments after `send`. On --help the error holds only the usage text (load_error::is_help).
// Checks what needs no I/O: one of --server / --amqp-url, one of --user(s) / --broadcast, a non-empty event.
boost::system::result<send_options, load_error> load_send(std::vector<std::string> const& args, env_lookup const& env);
}  // namespace pusher::config
