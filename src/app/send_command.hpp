#pragma once
// `pusher send`: publishes one notification from the command line, either through a running server's
// /api/publish (--server URL) or straight to RabbitMQ with the AMQP contract (--amqp-url URL). Blocking; for people
// and scripts, not the hot path.
#include <string>
#include <vector>

namespace pusher::app {
// `args` are the arguments after `send`. Returns the process exit status; prints the outcome (or one clear error).
int send_command(std::vector<std::string> const& args);
}  // namespace pusher::app
