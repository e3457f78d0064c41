#pragma once
// Pusher's configuration: one `config` with a nested struct per module, every default stated here (the AMQP ones in
// broker/amqp_options.hpp) and in docs/configuration.md. Built once at startup by `load` from the TOML file, PUSHER_*
// environment variables and flags (flags win over env, env over the file, the file over defaults), then read-only:
// share it freely across threads.
#include "broker/amqp_options.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::config {

enum class broker_kind { memory, amqp };
enum class log_format { plain, json };

struct config {
    struct server {
        std::string listen_host = "127.0.0.1";  // an IP literal (IPv6 without brackets) or "localhost"
        std::uint16_t listen_port = 8080;       // 0 = any free port
        // --metrics-listen: /metrics, /healthz and /readyz on a listener of their own (then not on the public one).
        std::string metrics_host;  // empty = off
        std::uint16_t metrics_port = 0;
        unsigned threads = 0;                      // worker threads; `load` resolves 0 to the number of cores
        std::string tls_cert;                      // PEM certificate chain file; empty = plain HTTP
        std::string tls_key;                       // PEM private key file (set both or neither)
        std::vector<std::string> allowed_origins;  // "scheme://host[:port]", lower case; empty = any origin
        std::size_t max_connections = 100'000;     // open connections at once; 0 = unlimited
        std::size_t max_connections_per_ip = 0;    // 0 = unlimited (behind a proxy every client shares its IP)
        std::size_t connection_rate_per_ip = 0;    // new connections per second per client IP; 0 = unlimited
        std::string
            trusted_proxies;  // CIDRs whose X-Forwarded-For / Forwarded names the client (httpd/trusted_proxies)
    } server;

    struct engineio {
        std::chrono::milliseconds ping_interval{25'000};
        std::chrono::milliseconds ping_timeout{20'000};
        std::chrono::milliseconds upgrade_timeout{10'000};  // a websocket probe must complete the upgrade by then
        std::chrono::milliseconds connect_timeout{45'000};  // a session must join a namespace (CONNECT) by then
        std::size_t max_payload = 1'000'000;                // bytes per HTTP POST body / websocket message
        std::size_t outbox_max_frames = 4096;               // per session, queued unwritten frames before
        std::size_t outbox_max_bytes = 4u << 20;            // ... the session is closed as a slow consumer
        std::size_t max_frames_per_write = 0;               // websocket batching cap; 0 = none (a benchmark knob)
        bool allow_eio3 = false;  // also serve EIO=3 clients (socket.io-client 2.x, Socket.IO protocol v4)
    } engineio;

    // The broker: every AMQP option with its default is broker::amqp_options (one copy, which amqp_broker takes as
    // it is); unbind_grace also applies to the embedded broker.
    struct broker : ::pusher::broker::amqp_options {
        broker_kind kind = broker_kind::memory;
    } broker;

    struct auth {
        std::string jwt_secret;           // HS256 secret; empty = HS256 off
        std::string jwt_public_key_file;  // PEM public key, or a directory of them (kid = file name); empty = off
        std::string jwt_secret_file;      // HS256 secrets, one per line; empty = off (both re-read on SIGHUP)
        std::chrono::seconds leeway{30};  // clock skew tolerated on exp / nbf
        std::string audience;             // required `aud` when set
        std::string issuer;               // required `iss` when set
        bool require_exp = false;         // refuse tokens without `exp`
        bool dev_auth = false;            // trust `auth.user` without a token (loopback only)
    } auth;

    struct api {
        // Each accepted as `Authorization: Bearer KEY` on /api/* (several: rotate without downtime). None on a
        // listener that is not loopback refuses to start, unless `insecure` says so on purpose.
        std::vector<std::string> api_keys;
        bool insecure = false;  // --api-insecure: /api/* open to whoever reaches the listener
    } api;

    struct log {
        std::string level = "info";  // trace, debug, info, warn, error, critical, off
        log_format format = log_format::plain;
    } log;

    // Channels (channels/channel.hpp).
    struct channels {
        std::size_t per_session = 100;   // channels one connection may be subscribed to at once
        std::size_t upstream_rate = 10;  // upstream events per second per connection (and the burst)
    } channels;
    // Connection state recovery (hub/history.hpp): the window, and the caps on what is kept for it.
    struct recovery {
        std::chrono::milliseconds window{120'000};  // 0 = off
        std::size_t max_events = 1000;              // per user, and for the node's broadcasts
        std::size_t max_bytes = 1u << 20;           // per user, and for the node's broadcasts
        std::size_t node_max_bytes = 256u << 20;    // everything kept, on this node
    } recovery;

    struct shutdown {
        std::chrono::milliseconds drain{10'000};  // on SIGTERM: how long to let clients leave before closing them
    } shutdown;

    std::string config_file;  // the TOML file that was read, if any (for the startup log)
};

// Looks up one environment variable; nullopt when unset. Tests pass a map, the app `process_env()`.
using env_lookup = std::function<std::optional<std::string>(std::string const& name)>;
env_lookup process_env();

// Why `load` produced no config: either --help (print `usage` to stdout, exit 0), or errors (one line each, to
// stderr, exit non-zero).
struct load_error {
    std::vector<std::string> errors;
    std::string usage;
    bool is_help() const { return errors.empty(); }
    std::string message() const;  // the errors joined by newlines
};
[[noreturn]] inline void throw_exception_from_error(load_error const& e, boost::source_location const&) {
    throw std::invalid_argument(e.message());
}

// `args` are the command-line arguments without argv[0]. Reads the TOML file named by --config or PUSHER_CONFIG.
// Never prints and never exits; every problem found is reported (not just the first).
boost::system::result<config, load_error> load(std::vector<std::string> const& args, env_lookup const& env);

// The usage text that --help prints.
std::string usage();

// Advice about a valid but risky configuration (dev-auth on, short HS256 secret, ...): log these at startup.
std::vector<std::string> warnings(config const& cfg);

// Whether `host` (as in config::server::listen_host) is a loopback address.
bool is_loopback(std::string_view host);

// One option as documented: for --help, docs/configuration.md and its test.
struct option_info {
    std::string_view section;     // "Server", "Engine.IO", ...
    std::string_view flag;        // "--listen"
    std::string env;              // "PUSHER_LISTEN"
    std::string toml_key;         // "listen" (also accepted with '_' for '-')
    std::string_view value_name;  // "HOST:PORT"; empty for switches
    std::string_view default_text;
    std::string_view help;
};
std::vector<option_info> const& options();

}  // namespace pusher::config
