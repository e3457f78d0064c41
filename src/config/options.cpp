// The option table: names, defaults, help and one parser per option; the checks across options; warnings; usage.
#include "cluster/handover_message.hpp"
#include "common/json_text.hpp"
#include "common/text.hpp"
#include "config/option_table.hpp"
#include "httpd/trusted_proxies.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace pusher::config {
namespace detail {
namespace {

// `, got "x"` with the value quoted and escaped, so a control character cannot forge the rest of a log line.
std::string got(std::string_view text) {
    return ", got " + json_text::quote(text);
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::optional<std::uint64_t> parse_uint(std::string_view text) {
    std::uint64_t v = 0;
    if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) {
        return std::nullopt;  // from_chars would accept neither '+' nor ' ', but say so explicitly
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

template <class T>
concept duration = requires(T t) {
    t.count();
};

// An integer option in [min, max] into a plain integer or a std::chrono duration (its unit is the option's unit).
template <class Out>
std::string set_uint(std::string_view text, std::uint64_t min, std::uint64_t max, Out& out) {
    auto v = parse_uint(text);
    if (!v || *v < min || *v > max) {
        return "expected an integer in " + std::to_string(min) + ".." + std::to_string(max) + got(text);
    }
    if constexpr (duration<Out>) {
        out = Out(static_cast<typename Out::rep>(*v));
    } else {
        out = static_cast<Out>(*v);
    }
    return {};
}

std::string set_bool(std::string_view text, bool& out) {
    auto v = parse_bool(text);
    if (!v) {
        return "expected true or false (or 1/0, yes/no, on/off)" + got(text);
    }
    out = *v;
    return {};
}

bool is_ipv4(std::string_view s) {
    in_addr a{};
    return s.size() < 16 && inet_pton(AF_INET, std::string(s).c_str(), &a) == 1;
}
bool is_ipv6(std::string_view s) {
    in6_addr a{};
    return s.size() < 46 && inet_pton(AF_INET6, std::string(s).c_str(), &a) == 1;
}

// HOST:PORT of a listener into `host` and `port`; empty when it parses, else why not.
std::string parse_listen(std::string_view text, std::string& host_out, std::uint16_t& port_out) {
    auto const colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return "expected HOST:PORT" + got(text);
    }
    auto host = text.substr(0, colon);
    auto port = parse_uint(text.substr(colon + 1));
    if (!port || *port > 65535) {
        return "expected HOST:PORT with PORT in 0..65535" + got(text);
    }
    if (host.size() > 2 && host.front() == '[' && host.back() == ']' && is_ipv6(host.substr(1, host.size() - 2))) {
        host = host.substr(1, host.size() - 2);
    } else if (host != "localhost" && !is_ipv4(host)) {
        return "expected HOST:PORT with HOST an IP address or localhost (IPv6 in brackets: [::1]:8080)" + got(text);
    }
    host_out = std::string(host);
    port_out = static_cast<std::uint16_t>(*port);
    return {};
}

std::string set_listen(config& c, std::string_view text) {
    return parse_listen(text, c.server.listen_host, c.server.listen_port);
}

// An origin as browsers send it (RFC 6454 §6.2): scheme://host[:port], no path. Compared in lower case.
bool is_origin(std::string_view o) {
    std::string_view rest;
    if (o.starts_with("http://")) {
        rest = o.substr(7);
    } else if (o.starts_with("https://")) {
        rest = o.substr(8);
    } else {
        return false;
    }
    // Split host and optional :port; an IPv6 host is bracketed ([::1]:8443).
    std::string_view host = rest;
    std::string_view port;
    bool has_port = false;
    if (rest.starts_with('[')) {
        auto close = rest.find(']');
        if (close == std::string_view::npos || !is_ipv6(rest.substr(1, close - 1))) {
            return false;
        }
        host = rest.substr(0, close + 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') {
                return false;
            }
            has_port = true;
            port = rest.substr(close + 2);
        }
    } else {
        auto colon = rest.find(':');
        host = rest.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port = rest.substr(colon + 1);
        }
        if (host.empty()) {
            return false;
        }
        for (char ch : host) {
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '.') {
                return false;
            }
        }
    }
    if (has_port) {
        auto p = parse_uint(port);
        if (!p || *p == 0 || *p > 65535) {
            return false;
        }
    }
    return true;
}

std::string set_origins(config& c, std::string_view text) {
    std::vector<std::string> out;
    bool any = false;
    for (auto item : text::split_list(text)) {
        if (item == "*") {
            any = true;
        } else if (!item.empty()) {
            auto o = lower(item);
            if (!is_origin(o)) {
                return json_text::quote(item) + " is not an origin (expected scheme://host[:port] or *)";
            }
            if (std::find(out.begin(), out.end(), o) == out.end()) {
                out.push_back(std::move(o));
            }
        }
    }
    c.server.allowed_origins = any ? std::vector<std::string>{} : std::move(out);
    return {};
}

// AMQP 0-9-1 exchange / queue names: letters, digits, '-', '_', '.', ':'; RabbitMQ reserves the "amq." prefix.
std::string check_amqp_name(std::string_view text, bool allow_empty) {
    if (text.empty()) {
        return allow_empty ? std::string() : "must not be empty";
    }
    if (text.size() > 255) {
        return "longer than 255 bytes" + got(text.substr(0, 32));
    }
    for (char ch : text) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.' && ch != ':') {
            return "expected letters, digits, '-', '_', '.', ':'" + got(text);
        }
    }
    if (text.starts_with("amq.")) {
        return "names starting with \"amq.\" are reserved by the broker" + got(text);
    }
    return {};
}

std::string set_text(std::string_view text, std::string& out) {
    out = std::string(text);
    return {};
}

std::string set_choice(std::string_view text, std::initializer_list<std::string_view> choices, std::string& out) {
    for (auto c : choices) {
        if (text == c) {
            out = std::string(text);
            return {};
        }
    }
    std::string list;
    for (auto c : choices) {
        list += list.empty() ? "" : ", ";
        list += c;
    }
    return "expected one of " + list + got(text);
}

std::string env_name(std::string_view flag) {
    std::string out = "PUSHER_";
    for (char c : flag.substr(2)) {
        out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
    return out;
}
std::string toml_key(std::string_view flag) {
    std::string out(flag.substr(2));
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
}

option make(std::string_view section, std::string_view flag, std::string_view value_name, value_type type,
            std::string_view default_text, std::string_view help,
            std::function<std::string(config&, std::string_view)> apply) {
    return option{
        {section, flag, env_name(flag), toml_key(flag), value_name, default_text, help}, type, std::move(apply)};
}

constexpr std::uint64_t hour_ms = 3'600'000;

std::vector<option> build_table() {
    using vt = value_type;
    std::vector<option> t;
    // Server
    t.push_back(make("Server", "--listen", "HOST:PORT", vt::text, "127.0.0.1:8080",
                     "HTTP + Socket.IO listener; HOST is an IP address or localhost, IPv6 in brackets; port 0 = any "
                     "free port (logged as `listening on HOST:PORT`)",
                     set_listen));
    t.push_back(make(
        "Server", "--metrics-listen", "HOST:PORT", vt::text, "none",
        "serve /metrics, /healthz and /readyz on this internal listener instead of the public one "
        "(logged as `metrics endpoints on HOST:PORT`)",
        [](config& c, std::string_view s) { return parse_listen(s, c.server.metrics_host, c.server.metrics_port); }));
    t.push_back(make("Server", "--threads", "N", vt::integer, "number of cores", "worker threads (0 = number of cores)",
                     [](config& c, std::string_view s) { return set_uint(s, 0, 1024, c.server.threads); }));
    t.push_back(make("Server", "--node-id", "ID", vt::text, "random at start",
                     "this node's name in the cluster (1-64 of A-Z a-z 0-9 _ -): its key on the control exchange, the "
                     "prefix of the recovery ids it issues, and in its logs",
                     [](config& c, std::string_view s) {
                         if (!cluster::valid_node_id(s)) {
                             return "expected 1 to 64 of A-Z a-z 0-9 _ -" + got(s);
                         }
                         return set_text(s, c.broker.node_id);
                     }));
    t.push_back(make("Server", "--tls-cert", "FILE", vt::text, "none",
                     "PEM certificate chain: serve HTTPS / WSS directly (needs --tls-key)",
                     [](config& c, std::string_view s) { return set_text(s, c.server.tls_cert); }));
    t.push_back(make("Server", "--tls-key", "FILE", vt::text, "none", "PEM private key of --tls-cert",
                     [](config& c, std::string_view s) { return set_text(s, c.server.tls_key); }));
    t.push_back(make("Server", "--allowed-origins", "LIST", vt::list, "any",
                     "comma-separated origins (scheme://host[:port]) allowed for websocket and polling (CORS); "
                     "* = any",
                     set_origins));
    t.push_back(
        make("Server", "--max-connections", "N", vt::integer, "100000",
             "open connections at once; beyond it new ones are refused (0 = unlimited)",
             [](config& c, std::string_view s) { return set_uint(s, 0, 100'000'000, c.server.max_connections); }));
    t.push_back(make(
        "Server", "--max-connections-per-ip", "N", vt::integer, "0",
        "open connections per client IP (0 = unlimited; behind a proxy all clients share its IP)",
        [](config& c, std::string_view s) { return set_uint(s, 0, 100'000'000, c.server.max_connections_per_ip); }));
    t.push_back(make("Server", "--connection-rate-per-ip", "N", vt::integer, "0",
                     "new connections per second per client IP (0 = unlimited)", [](config& c, std::string_view s) {
                         return set_uint(s, 0, 100'000'000, c.server.connection_rate_per_ip);
                     }));
    t.push_back(make("Server", "--trusted-proxies", "CIDR[,CIDR...]", vt::list, "none",
                     "proxies (nginx) whose X-Forwarded-For / Forwarded header names the client: its address is the "
                     "one per-IP limits, logs and metrics use, and the per-IP limits then apply per session",
                     [](config& c, std::string_view s) {
                         std::string error;
                         if (!httpd::trusted_proxies::parse(s, error)) {
                             return error;
                         }
                         return set_text(s, c.server.trusted_proxies);
                     }));
    t.push_back(make("Server", "--channels-per-session", "N", vt::integer, "100",
                     "channels one connection may be subscribed to at once (1-100000)",
                     [](config& c, std::string_view s) { return set_uint(s, 1, 100'000, c.channels.per_session); }));
    t.push_back(make("Server", "--upstream-rate", "N", vt::integer, "10",
                     "upstream events one connection may send per second (bursts of up to N; 1-100000)",
                     [](config& c, std::string_view s) { return set_uint(s, 1, 100'000, c.channels.upstream_rate); }));
    // Engine.IO
    t.push_back(make("Engine.IO", "--ping-interval-ms", "N", vt::integer, "25000",
                     "heartbeat: the server pings each session this often",
                     [](config& c, std::string_view s) { return set_uint(s, 10, hour_ms, c.engineio.ping_interval); }));
    t.push_back(make("Engine.IO", "--ping-timeout-ms", "N", vt::integer, "20000",
                     "heartbeat: a session that does not answer a ping within this is closed",
                     [](config& c, std::string_view s) { return set_uint(s, 10, hour_ms, c.engineio.ping_timeout); }));
    t.push_back(
        make("Engine.IO", "--upgrade-timeout-ms", "N", vt::integer, "10000",
             "a polling session's websocket probe must complete the upgrade within this",
             [](config& c, std::string_view s) { return set_uint(s, 10, hour_ms, c.engineio.upgrade_timeout); }));
    t.push_back(
        make("Engine.IO", "--connect-timeout-ms", "N", vt::integer, "45000",
             "a session that joins no namespace (Socket.IO CONNECT) within this is closed",
             [](config& c, std::string_view s) { return set_uint(s, 10, hour_ms, c.engineio.connect_timeout); }));
    t.push_back(make("Engine.IO", "--allow-eio3", "", vt::boolean, "off",
                     "also serve socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4; the token in the "
                     "handshake query: io(url, {query: {token}})); such sessions are not recovered",
                     [](config& c, std::string_view s) { return set_bool(s, c.engineio.allow_eio3); }));
    t.push_back(make("Engine.IO", "--max-payload", "BYTES", vt::integer, "1000000",
                     "largest HTTP POST body / websocket message from a client; larger closes the session",
                     [](config& c, std::string_view s) { return set_uint(s, 64, 1u << 30, c.engineio.max_payload); }));
    t.push_back(
        make("Engine.IO", "--outbox-max-frames", "N", vt::integer, "4096",
             "frames queued for one session before it is closed as a slow consumer",
             [](config& c, std::string_view s) { return set_uint(s, 1, 10'000'000, c.engineio.outbox_max_frames); }));
    t.push_back(make("Engine.IO", "--outbox-max-bytes", "BYTES", vt::integer, "4194304",
                     "bytes queued for one session before it is closed as a slow consumer (4 MiB)",
                     [](config& c, std::string_view s) {
                         return set_uint(s, 1024, std::uint64_t{1} << 34, c.engineio.outbox_max_bytes);
                     }));
    t.push_back(
        make("Engine.IO", "--max-frames-per-write", "N", vt::integer, "0",
             "at most N queued frames per websocket write (0 = all of them in one write); only for "
             "measuring what batching buys (1 = the one-write-per-frame baseline of docs/benchmarks.md)",
             [](config& c, std::string_view s) { return set_uint(s, 0, 1'000'000, c.engineio.max_frames_per_write); }));
    // Broker
    t.push_back(make("Broker", "--broker", "memory|amqp", vt::text, "memory",
                     "embedded in-process broker (one node), or RabbitMQ", [](config& c, std::string_view s) {
                         if (s == "memory" || s == "amqp") {
                             c.broker.kind = s == "memory" ? broker_kind::memory : broker_kind::amqp;
                             return std::string();
                         }
                         return "expected memory or amqp" + got(s);
                     }));
    t.push_back(make("Broker", "--amqp-url", "URL", vt::text, "amqp://guest:guest@127.0.0.1:5672/",
                     "RabbitMQ address, amqp://USER:PASS@HOST:PORT/VHOST (amqps:// for TLS); several "
                     "comma-separated = the nodes of one cluster: the first that answers, the next when it is lost",
                     [](config& c, std::string_view s) {
                         for (auto const& url : broker::amqp_urls(s)) {
                             auto l = lower(std::string_view(url).substr(0, 8));
                             if (!l.starts_with("amqp://") && !l.starts_with("amqps://")) {
                                 // The URL may carry a password: do not echo it.
                                 return std::string("expected amqp:// or amqps:// URLs, comma-separated");
                             }
                         }
                         c.broker.url = std::string(s);
                         return std::string();
                     }));
    t.push_back(make("Broker", "--exchange", "NAME", vt::text, "pusher",
                     "direct exchange for per-user events (routing key = user id)", [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, false);
                         return e.empty() ? set_text(s, c.broker.exchange) : e;
                     }));
    t.push_back(make("Broker", "--broadcast-exchange", "NAME", vt::text, "pusher.broadcast",
                     "fanout exchange for events to every connected user", [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, false);
                         return e.empty() ? set_text(s, c.broker.broadcast_exchange) : e;
                     }));
    t.push_back(make("Broker", "--channel-exchange", "NAME", vt::text, "pusher.channels",
                     "direct exchange for channel events (routing key = channel name)",
                     [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, false);
                         return e.empty() ? set_text(s, c.broker.channel_exchange) : e;
                     }));
    t.push_back(make("Broker", "--presence-exchange", "NAME", vt::text, "pusher.presence",
                     "topic exchange for online / offline events (routing key = user id); empty = off",
                     [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, true);
                         return e.empty() ? set_text(s, c.broker.presence_exchange) : e;
                     }));
    t.push_back(make("Broker", "--upstream-exchange", "NAME", vt::text, "none",
                     "topic exchange for events clients send with an ack (routing key = event name; needs --broker "
                     "amqp); empty = off",
                     [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, true);
                         return e.empty() ? set_text(s, c.broker.upstream_exchange) : e;
                     }));
    t.push_back(make("Broker", "--undelivered-exchange", "NAME", vt::text, "pusher.undelivered",
                     "fanout exchange for events that reach no connected user: the exchange's alternate exchange, "
                     "and where a node republishes events for users with no session (empty = off)",
                     [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, true);
                         return e.empty() ? set_text(s, c.broker.undelivered_exchange) : e;
                     }));
    t.push_back(make("Broker", "--control-exchange", "NAME", vt::text, "pusher.control",
                     "direct exchange for messages between nodes (session hand-overs; routing key = node id); empty "
                     "= off",
                     [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, true);
                         return e.empty() ? set_text(s, c.broker.control_exchange) : e;
                     }));
    t.push_back(make("Broker", "--amqp-queue", "NAME", vt::text, "server-named",
                     "this node's exclusive, auto-delete queue (empty = let the broker name it)",
                     [](config& c, std::string_view s) {
                         auto e = check_amqp_name(s, true);
                         return e.empty() ? set_text(s, c.broker.queue) : e;
                     }));
    t.push_back(make("Broker", "--unbind-grace-ms", "N", vt::integer, "2000",
                     "keep a user's binding this long after the last connection leaves (0 = unbind at once)",
                     [](config& c, std::string_view s) { return set_uint(s, 0, hour_ms, c.broker.unbind_grace); }));
    t.push_back(make("Broker", "--amqp-heartbeat-s", "N", vt::integer, "30", "AMQP heartbeat interval (0 = off)",
                     [](config& c, std::string_view s) { return set_uint(s, 0, 65535, c.broker.heartbeat); }));
    t.push_back(make("Broker", "--amqp-read-pause-us", "N", vt::integer, "500",
                     "while deliveries flow, read them this often rather than on each arrival: fewer wake-ups (CPU) "
                     "for at most this much latency (0 = on each arrival)",
                     [](config& c, std::string_view s) { return set_uint(s, 0, 100'000, c.broker.read_pause); }));
    t.push_back(make("Broker", "--amqp-reconnect-max-ms", "N", vt::integer, "30000",
                     "longest wait between reconnect attempts (the back-off doubles up to this)",
                     [](config& c, std::string_view s) { return set_uint(s, 100, hour_ms, c.broker.reconnect_max); }));
    t.push_back(make("Broker", "--amqp-reconnect-min-ms", "N", vt::integer, "500",
                     "first wait before reconnecting (doubles on each failure, up to --amqp-reconnect-max-ms)",
                     [](config& c, std::string_view s) { return set_uint(s, 10, hour_ms, c.broker.reconnect_min); }));
    t.push_back(
        make("Broker", "--amqp-connect-timeout-ms", "N", vt::integer, "5000",
             "TCP/TLS connect, AMQP login and each setup step (declare, bind, consume)",
             [](config& c, std::string_view s) { return set_uint(s, 100, hour_ms, c.broker.connect_timeout); }));
    t.push_back(
        make("Broker", "--amqp-subscribe-timeout-ms", "N", vt::integer, "10000",
             "a user's binding not confirmed by RabbitMQ within this refuses the connection (CONNECT_ERROR)",
             [](config& c, std::string_view s) { return set_uint(s, 100, hour_ms, c.broker.subscribe_timeout); }));
    t.push_back(
        make("Broker", "--amqp-publish-timeout-ms", "N", vt::integer, "10000",
             "a publish (POST /api/publish) not confirmed by RabbitMQ within this fails (503)",
             [](config& c, std::string_view s) { return set_uint(s, 100, hour_ms, c.broker.publish_timeout); }));
    t.push_back(make("Broker", "--amqp-publish-window", "N", vt::integer, "1024",
                     "published messages awaiting RabbitMQ's confirm at once; more wait in the backlog",
                     [](config& c, std::string_view s) { return set_uint(s, 1, 1'000'000, c.broker.publish_window); }));
    t.push_back(
        make("Broker", "--amqp-publish-backlog", "N", vt::integer, "100000",
             "messages waiting for the publish window; beyond it a publish fails at once (503)",
             [](config& c, std::string_view s) { return set_uint(s, 0, 100'000'000, c.broker.publish_backlog); }));
    t.push_back(make("Broker", "--amqp-connection-name", "NAME", vt::text, "pusher",
                     "shown by `rabbitmqctl list_connections name` (as NAME consumer and NAME publisher)",
                     [](config& c, std::string_view s) { return set_text(s, c.broker.connection_name); }));
    t.push_back(make("Broker", "--amqp-tls-ca-file", "FILE", vt::text, "system CA store",
                     "amqps://: PEM file of the CA(s) that signed RabbitMQ's certificate (a private CA)",
                     [](config& c, std::string_view s) { return set_text(s, c.broker.tls_ca_file); }));
    t.push_back(make("Broker", "--amqp-tls-cert", "FILE", vt::text, "none",
                     "amqps://: client certificate (PEM) for RabbitMQ's peer verification (needs --amqp-tls-key)",
                     [](config& c, std::string_view s) { return set_text(s, c.broker.tls_cert_file); }));
    t.push_back(make("Broker", "--amqp-tls-key", "FILE", vt::text, "none",
                     "amqps://: private key (PEM) of --amqp-tls-cert",
                     [](config& c, std::string_view s) { return set_text(s, c.broker.tls_key_file); }));
    t.push_back(make("Broker", "--amqp-tls-verify", "full|peer|none", vt::text, "full",
                     "amqps://: full = the certificate chain and that it names the URL's host; peer = the chain "
                     "only; none = no verification (tests only: anyone on the path can read the traffic)",
                     [](config& c, std::string_view s) {
                         if (s != "full" && s != "peer" && s != "none") {
                             return "expected full, peer or none" + got(s);
                         }
                         c.broker.tls_verify_peer = s != "none";
                         c.broker.tls_verify_hostname = s == "full";
                         return std::string();
                     }));
    // Authentication
    t.push_back(make("Authentication", "--jwt-secret", "SECRET", vt::text, "none",
                     "accept HS256 tokens signed with this secret (prefer the env or the file: flags show in ps)",
                     [](config& c, std::string_view s) { return set_text(s, c.auth.jwt_secret); }));
    t.push_back(make("Authentication", "--jwt-secret-file", "FILE", vt::text, "none",
                     "accept HS256 tokens signed with any secret of this file (one per line); re-read on SIGHUP, so "
                     "that secrets rotate without a restart",
                     [](config& c, std::string_view s) { return set_text(s, c.auth.jwt_secret_file); }));
    t.push_back(make("Authentication", "--jwt-public-key", "FILE|DIR", vt::text, "none",
                     "accept RS256 (RSA >= 2048 bits) or ES256 (P-256) tokens verified with this PEM public key, or "
                     "with any *.pem of this directory (kid = the file name without .pem); re-read on SIGHUP",
                     [](config& c, std::string_view s) { return set_text(s, c.auth.jwt_public_key_file); }));
    t.push_back(make("Authentication", "--jwt-leeway-s", "N", vt::integer, "30",
                     "clock skew tolerated when checking a token's exp and nbf",
                     [](config& c, std::string_view s) { return set_uint(s, 0, 3600, c.auth.leeway); }));
    t.push_back(make("Authentication", "--jwt-audience", "AUD", vt::text, "none",
                     "when set, a token's aud must be (or contain) this",
                     [](config& c, std::string_view s) { return set_text(s, c.auth.audience); }));
    t.push_back(make("Authentication", "--jwt-issuer", "ISS", vt::text, "none",
                     "when set, a token's iss must equal this",
                     [](config& c, std::string_view s) { return set_text(s, c.auth.issuer); }));
    t.push_back(make("Authentication", "--jwt-require-exp", "", vt::boolean, "off",
                     "refuse tokens without an exp claim",
                     [](config& c, std::string_view s) { return set_bool(s, c.auth.require_exp); }));
    t.push_back(make("Authentication", "--dev-auth", "", vt::boolean, "off",
                     "trust auth.user from the client without a token; refuses to start unless --listen is "
                     "loopback; logs a warning",
                     [](config& c, std::string_view s) { return set_bool(s, c.auth.dev_auth); }));
    // HTTP API
    t.push_back(make("HTTP API", "--api-key", "KEY[,KEY...]", vt::list, "none",
                     "required as `Authorization: Bearer KEY` on /api/*; several keys are each accepted (rotate "
                     "without downtime); without one, a listener that is not loopback refuses to start",
                     [](config& c, std::string_view s) {
                         std::vector<std::string> keys;
                         auto const items = text::split_list(s);
                         if (items.size() == 1 && items[0].empty()) {
                             c.api.api_keys.clear();  // `--api-key ""`: none (clears a key from the file or env)
                             return std::string();
                         }
                         for (auto const k : items) {
                             for (char ch : k) {
                                 if (ch <= ' ' || ch > '~') {  // it travels in a header: token68-ish, no spaces
                                     return std::string("must be printable ASCII without spaces");
                                 }
                             }
                             if (k.empty()) {
                                 return std::string("an empty key in the list");
                             }
                             keys.emplace_back(k);
                         }
                         c.api.api_keys = std::move(keys);
                         return std::string();
                     }));
    t.push_back(make("HTTP API", "--api-insecure", "", vt::boolean, "off",
                     "serve /api/* without a key on a listener that is not loopback (anyone who reaches it can "
                     "publish to any user); for a network you control by other means",
                     [](config& c, std::string_view s) { return set_bool(s, c.api.insecure); }));
    // Logging
    t.push_back(
        make("Logging", "--log-level", "LEVEL", vt::text, "info", "trace, debug, info, warn, error, critical or off",
             [](config& c, std::string_view s) {
                 return set_choice(s, {"trace", "debug", "info", "warn", "error", "critical", "off"}, c.log.level);
             }));
    t.push_back(make("Logging", "--log-format", "plain|json", vt::text, "plain",
                     "plain text lines, or one JSON object per line", [](config& c, std::string_view s) {
                         if (s == "plain" || s == "json") {
                             c.log.format = s == "plain" ? log_format::plain : log_format::json;
                             return std::string();
                         }
                         return "expected plain or json" + got(s);
                     }));
    // Shutdown
    t.push_back(make("Recovery", "--recovery-ms", "N", vt::integer, "120000",
                     "connection state recovery window: a client that lost its connection and is back within it gets "
                     "what it missed (0 = off)",
                     [](config& c, std::string_view s) { return set_uint(s, 0, 24 * hour_ms, c.recovery.window); }));
    t.push_back(make("Recovery", "--recovery-max-events", "N", vt::integer, "1000",
                     "events kept for recovery per user (and for the broadcasts); past it the oldest go",
                     [](config& c, std::string_view s) { return set_uint(s, 1, 10'000'000, c.recovery.max_events); }));
    t.push_back(make(
        "Recovery", "--recovery-max-bytes", "N", vt::integer, "1048576",
        "bytes kept for recovery per user (and for the broadcasts); past it the oldest go",
        [](config& c, std::string_view s) { return set_uint(s, 1024, std::uint64_t{1} << 40, c.recovery.max_bytes); }));
    t.push_back(make("Recovery", "--recovery-node-max-bytes", "N", vt::integer, "268435456",
                     "bytes kept for recovery by the whole node; past it a user's oldest go first",
                     [](config& c, std::string_view s) {
                         return set_uint(s, 1 << 16, std::uint64_t{1} << 44, c.recovery.node_max_bytes);
                     }));
    t.push_back(make("Shutdown", "--drain-ms", "N", vt::integer, "10000",
                     "on SIGTERM, stop accepting and give clients this long to reconnect elsewhere before closing "
                     "them",
                     [](config& c, std::string_view s) { return set_uint(s, 0, hour_ms, c.shutdown.drain); }));
    return t;
}

}  // namespace

std::vector<option> const& option_table() {
    static std::vector<option> const table = build_table();
    return table;
}

std::optional<bool> parse_bool(std::string_view text) {
    auto l = lower(text);
    if (l == "1" || l == "true" || l == "yes" || l == "on") {
        return true;
    }
    if (l == "0" || l == "false" || l == "no" || l == "off") {
        return false;
    }
    return std::nullopt;
}

void cross_check(config const& cfg, std::vector<std::string>& errors) {
    auto const& a = cfg.auth;
    if (a.dev_auth && !is_loopback(cfg.server.listen_host)) {
        errors.push_back("--dev-auth requires a loopback --listen address (got " +
                         json_text::quote(cfg.server.listen_host) + ")");
    }
    if (a.jwt_secret.empty() && a.jwt_secret_file.empty() && a.jwt_public_key_file.empty() && !a.dev_auth) {
        errors.push_back(
            "no authentication configured: set --jwt-secret (or --jwt-secret-file) and/or --jwt-public-key (or "
            "--dev-auth for local development)");
    }
    if (cfg.server.tls_cert.empty() != cfg.server.tls_key.empty()) {
        errors.push_back("--tls-cert and --tls-key must be set together");
    }
    if (cfg.broker.exchange == cfg.broker.broadcast_exchange) {
        errors.push_back("--exchange and --broadcast-exchange must differ (both " +
                         json_text::quote(cfg.broker.exchange) + ")");
    }
    if (auto const& u = cfg.broker.undelivered_exchange;
        !u.empty() && (u == cfg.broker.exchange || u == cfg.broker.broadcast_exchange)) {
        errors.push_back("--undelivered-exchange must differ from --exchange and --broadcast-exchange (got " +
                         json_text::quote(u) + ")");
    }
    if (auto const& ch = cfg.broker.channel_exchange;
        ch == cfg.broker.exchange || ch == cfg.broker.broadcast_exchange || ch == cfg.broker.undelivered_exchange ||
        ch == cfg.broker.control_exchange) {
        errors.push_back("--channel-exchange must differ from the other exchanges (got " + json_text::quote(ch) + ")");
    }
    if (auto const& up = cfg.broker.upstream_exchange; !up.empty()) {
        if (cfg.broker.kind != broker_kind::amqp) {
            errors.push_back(
                "--upstream-exchange needs --broker amqp (the embedded broker has no exchange to publish to)");
        }
        if (up == cfg.broker.exchange || up == cfg.broker.broadcast_exchange || up == cfg.broker.undelivered_exchange ||
            up == cfg.broker.control_exchange || up == cfg.broker.channel_exchange ||
            up == cfg.broker.presence_exchange) {
            errors.push_back("--upstream-exchange must differ from the other exchanges (got " + json_text::quote(up) +
                             ")");
        }
    }
    if (auto const& pr = cfg.broker.presence_exchange;
        !pr.empty() &&
        (pr == cfg.broker.exchange || pr == cfg.broker.broadcast_exchange || pr == cfg.broker.undelivered_exchange ||
         pr == cfg.broker.control_exchange || pr == cfg.broker.channel_exchange)) {
        errors.push_back("--presence-exchange must differ from the other exchanges (got " + json_text::quote(pr) + ")");
    }
    if (auto const& ctl = cfg.broker.control_exchange;
        !ctl.empty() && (ctl == cfg.broker.exchange || ctl == cfg.broker.broadcast_exchange ||
                         ctl == cfg.broker.undelivered_exchange)) {
        errors.push_back("--control-exchange must differ from the other exchanges (got " + json_text::quote(ctl) + ")");
    }
    // (With --dev-auth off loopback, the line above already refuses the listener.)
    if (!is_loopback(cfg.server.listen_host) && cfg.api.api_keys.empty() && !cfg.api.insecure && !a.dev_auth) {
        errors.push_back("--listen " + cfg.server.listen_host +
                         " is not loopback and /api/* has no key: set --api-key KEY[,KEY...] (or, to let anyone who "
                         "reaches it publish to any user, --api-insecure)");
    }
    if (cfg.broker.tls_cert_file.empty() != cfg.broker.tls_key_file.empty()) {
        errors.push_back("--amqp-tls-cert and --amqp-tls-key go together (set both or neither)");
    }
    if (cfg.broker.reconnect_min > cfg.broker.reconnect_max) {
        errors.push_back("--amqp-reconnect-min-ms must not exceed --amqp-reconnect-max-ms");
    }
}

}  // namespace detail

bool is_loopback(std::string_view host) {
    if (host == "localhost") {
        return true;
    }
    std::string h(host);
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
        return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    }
    return false;
}

env_lookup process_env() {
    return [](std::string const& name) -> std::optional<std::string> {
        char const* v = std::getenv(name.c_str());  // read once, at startup, before any thread exists
        return v == nullptr ? std::nullopt : std::optional<std::string>(v);
    };
}

std::string load_error::message() const {
    std::string out;
    for (auto const& e : errors) {
        out += out.empty() ? "" : "\n";
        out += e;
    }
    return out;
}

std::vector<option_info> const& options() {
    static std::vector<option_info> const all = [] {
        std::vector<option_info> v;
        v.push_back({"General", "--config", "PUSHER_CONFIG", "", "FILE", "none",
                     "TOML file of options (keys named like the flags); flags override env, env overrides the file"});
        for (auto const& o : detail::option_table()) {
            v.push_back(o.info);
        }
        return v;
    }();
    return all;
}

std::string usage() {
    std::string out =
        "Usage: pusher [OPTIONS]\n\n"
        "Unite Pusher: realtime notifications from RabbitMQ to Socket.IO clients.\n"
        "Every option is also read from the environment as PUSHER_<NAME> (--amqp-url: PUSHER_AMQP_URL) and from the\n"
        "TOML file of --config as a top-level key (amqp_url = \"...\"). Flags override env, env overrides the file.\n"
        "Switches take an optional value: --dev-auth, --dev-auth=false (also 1/0, yes/no, on/off).\n"
        "See docs/configuration.md.\n";
    std::string_view section;
    // "  --flag VALUE   help text, wrapped at 120 columns [default: x]"
    constexpr std::size_t indent = 36;
    constexpr std::size_t width = 120;
    auto line = [&out](std::string head, std::string_view help, std::string_view def) {
        out += "  ";
        out += head;
        out += head.size() + 2 < indent ? std::string(indent - 2 - head.size(), ' ')
                                        : std::string("\n") + std::string(indent, ' ');
        std::string text(help);
        if (!def.empty()) {
            text += " [default: ";
            text += def;
            text += "]";
        }
        std::size_t col = indent;
        std::size_t pos = 0;
        while (pos < text.size()) {
            auto space = text.find(' ', pos);
            auto word = text.substr(pos, space == std::string::npos ? std::string::npos : space - pos);
            if (col > indent && col + 1 + word.size() > width) {
                out += "\n" + std::string(indent, ' ');
                col = indent;
            } else if (col > indent) {
                out += ' ';
                ++col;
            }
            out += word;
            col += word.size();
            pos = space == std::string::npos ? text.size() : space + 1;
        }
        out += "\n";
    };
    for (auto const& o : options()) {
        if (o.section != section) {
            section = o.section;
            out += "\n";
            out += section;
            out += ":\n";
            if (section == "General") {
                line("-h, --help", "print this help and exit", "");
            }
        }
        std::string head(o.flag);
        if (!o.value_name.empty()) {
            head += " ";
            head += o.value_name;
        }
        line(std::move(head), o.help, o.default_text);
    }
    return out;
}

std::vector<std::string> warnings(config const& cfg) {
    std::vector<std::string> out;
    bool const loopback = is_loopback(cfg.server.listen_host);
    if (cfg.auth.dev_auth) {
        out.push_back(
            "--dev-auth is on: clients choose their own user id (auth.user) without a token; "
            "for local development only");
    }
    if (cfg.engineio.max_frames_per_write != 0) {
        out.push_back("--max-frames-per-write is " + std::to_string(cfg.engineio.max_frames_per_write) +
                      ": a benchmark baseline, slower on purpose");
    }
    if (cfg.broker.kind == broker_kind::amqp && !cfg.broker.tls_verify_hostname &&
        cfg.broker.url.find("amqps") != std::string::npos) {
        out.push_back(cfg.broker.tls_verify_peer
                          ? "--amqp-tls-verify peer: RabbitMQ's certificate is not checked against the URL's host"
                          : "--amqp-tls-verify none: RabbitMQ's certificate is not checked at all");
    }
    if (!cfg.auth.jwt_secret.empty() && cfg.auth.jwt_secret.size() < 32) {
        out.push_back(
            "--jwt-secret is shorter than 32 bytes; HS256 wants a key of at least 256 bits "
            "(RFC 7518 section 3.2)");
    }
    if (!loopback && cfg.api.api_keys.empty()) {
        out.push_back("--api-insecure: /api/* has no key while listening on " + cfg.server.listen_host +
                      ": anyone who reaches it can publish to any user");
    }
    if (!loopback && cfg.server.allowed_origins.empty()) {
        out.push_back("no --allowed-origins while listening on " + cfg.server.listen_host +
                      ": web pages from any origin may connect");
    }
    return out;
}

}  // namespace pusher::config
