#include "broker/amqp_connection.hpp"

#include "common/text.hpp"

#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <openssl/ssl.h>

#include <fmt/format.h>

#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace pusher::broker {
namespace {
timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

// A parsed URL; amqp_parse_url writes into (and points into) its own copy of the text.
struct parsed_url {
    std::vector<char> text;
    amqp_connection_info info{};
    int status = AMQP_STATUS_BAD_URL;

    explicit parsed_url(std::string_view url) : text(url.begin(), url.end()) {
        text.push_back('\0');
        status = amqp_parse_url(text.data(), &info);
        // "amqp://host/" parses as the empty vhost; nobody means that: it is the default vhost "/".
        if (status == AMQP_STATUS_OK && (info.vhost == nullptr || info.vhost[0] == '\0')) {
            info.vhost = const_cast<char*>("/");
        }
    }
};

std::string_view text_of(amqp_bytes_t b) {
    return b.len == 0 ? std::string_view() : std::string_view(static_cast<char const*>(b.bytes), b.len);
}
}  // namespace

std::string check_amqp_url(std::string_view url) {
    parsed_url p(url);
    if (p.status != AMQP_STATUS_OK) {
        return fmt::format("invalid AMQP URL (expected amqp://user:password@host:port/vhost or amqps://...): {}",
                           amqp_error_string2(p.status));
    }
    if (p.info.host == nullptr || p.info.host[0] == '\0') {
        return "invalid AMQP URL: no host";
    }
    return {};
}

std::vector<std::string> amqp_urls(std::string_view list) {
    auto const items = text::split_list(list);
    return {items.begin(), items.end()};
}

std::string check_amqp_urls(std::string_view list) {
    auto const urls = amqp_urls(list);
    for (std::size_t i = 0; i < urls.size(); ++i) {
        if (auto why = check_amqp_url(urls[i]); !why.empty()) {
            return urls.size() == 1 ? why : fmt::format("--amqp-url entry {} of {}: {}", i + 1, urls.size(), why);
        }
    }
    return {};
}

std::string amqp_url_address(std::string_view url) {
    parsed_url p(url);
    if (p.status != AMQP_STATUS_OK) {
        return "(invalid URL)";
    }
    return fmt::format("{}{}:{}", p.info.ssl ? "amqps://" : "", p.info.host, p.info.port);
}

std::string describe(amqp_rpc_reply_t const& reply) {
    switch (reply.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return "ok";
        case AMQP_RESPONSE_NONE:
            return "no reply from the broker";
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return amqp_error_string2(reply.library_error);
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                auto const* m = static_cast<amqp_connection_close_t const*>(reply.reply.decoded);
                return fmt::format("connection closed by the broker: {} {}", m->reply_code, text_of(m->reply_text));
            }
            if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                auto const* m = static_cast<amqp_channel_close_t const*>(reply.reply.decoded);
                return fmt::format("channel closed by the broker: {} {}", m->reply_code, text_of(m->reply_text));
            }
            return fmt::format("unexpected method 0x{:08x} from the broker", reply.reply.id);
    }
    return "unknown reply";
}

amqp_connection::amqp_connection(amqp_options const& o, std::string_view url_text, std::string const& name) {
    parsed_url url(url_text);
    if (url.status != AMQP_STATUS_OK) {
        throw amqp_failure(check_amqp_url(url_text));
    }
    state_ = amqp_new_connection();
    if (state_ == nullptr) {
        throw amqp_failure("out of memory (amqp_new_connection)");
    }
    try {
        auto const address = fmt::format("{}:{}", url.info.host, url.info.port);
        amqp_socket_t* socket = nullptr;
        if (url.info.ssl) {
            socket = amqp_ssl_socket_new(state_);
            if (socket == nullptr) {
                throw amqp_failure("cannot create a TLS socket");
            }
            if (!o.tls_ca_file.empty()) {
                if (amqp_ssl_socket_set_cacert(socket, o.tls_ca_file.c_str()) != AMQP_STATUS_OK) {
                    throw amqp_failure(fmt::format("cannot load the CA file {}", o.tls_ca_file));
                }
            } else {
                // No CA file: trust the system store (rabbitmq-c 0.11 does not load it by itself).
                auto* ctx = static_cast<SSL_CTX*>(amqp_ssl_socket_get_context(socket));
                if (ctx == nullptr || SSL_CTX_set_default_verify_paths(ctx) != 1) {
                    throw amqp_failure("cannot load the system CA store");
                }
            }
            if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
                if (amqp_ssl_socket_set_key(socket, o.tls_cert_file.c_str(), o.tls_key_file.c_str()) !=
                    AMQP_STATUS_OK) {
                    throw amqp_failure(
                        fmt::format("cannot load the client certificate {} / key {}", o.tls_cert_file, o.tls_key_file));
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, o.tls_verify_peer ? 1 : 0);
            amqp_ssl_socket_set_verify_hostname(socket, o.tls_verify_hostname ? 1 : 0);
            // TLS 1.2 and newer; 0.11's enum has no 1.3 entry, AMQP_TLSvLATEST covers it.
            amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST);
        } else {
            socket = amqp_tcp_socket_new(state_);
            if (socket == nullptr) {
                throw amqp_failure("cannot create a TCP socket");
            }
        }
        timeval tv = to_timeval(o.connect_timeout);
        amqp_set_handshake_timeout(state_, &tv);
        // Without an RPC timeout a blocking rabbitmq-c call waits forever (docs/dependencies.md §4).
        amqp_set_rpc_timeout(state_, &tv);
        int const rc = amqp_socket_open_noblock(socket, url.info.host, url.info.port, &tv);
        if (rc != AMQP_STATUS_OK) {
            // rabbitmq-c only says "a socket error occurred"; errno says which, except after its non-blocking
            // connect, where the real error (SO_ERROR) is not passed on and errno is still EINPROGRESS.
            int const err = errno;
            std::string why;
            if (rc == AMQP_STATUS_SOCKET_ERROR && err == EINPROGRESS) {
                why = " (connection refused or host unreachable)";
            } else if (rc == AMQP_STATUS_SOCKET_ERROR && err != 0) {
                why = fmt::format(" ({})", std::strerror(err));
            }
            throw amqp_failure(fmt::format("cannot connect to {}: {}{}", address, amqp_error_string2(rc), why));
        }
        // Capabilities (merged by rabbitmq-c with its own): without consumer_cancel_notify RabbitMQ drops our
        // consumer silently when the queue is deleted; with it we get basic.cancel and start over. connection.blocked
        // tells us when a resource alarm stops publishing.
        amqp_table_entry_t capabilities[2];
        capabilities[0].key = amqp_cstring_bytes("consumer_cancel_notify");
        capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        capabilities[0].value.value.boolean = 1;
        capabilities[1].key = amqp_cstring_bytes("connection.blocked");
        capabilities[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
        capabilities[1].value.value.boolean = 1;
        amqp_table_entry_t props_entries[2];
        props_entries[0].key = amqp_cstring_bytes("capabilities");
        props_entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
        props_entries[0].value.value.table = amqp_table_t{2, capabilities};
        props_entries[1].key = amqp_cstring_bytes("connection_name");
        props_entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
        props_entries[1].value.value.bytes = amqp_cstring_bytes(name.c_str());
        amqp_table_t props{name.empty() ? 1 : 2, props_entries};
        auto const heartbeat = static_cast<int>(o.heartbeat.count());
        amqp_rpc_reply_t r =
            amqp_login_with_properties(state_, url.info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, heartbeat, &props,
                                       AMQP_SASL_METHOD_PLAIN, url.info.user, url.info.password);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            throw amqp_failure(fmt::format("login to {} (vhost {}, user {}) failed: {}", address, url.info.vhost,
                                           url.info.user, describe(r)));
        }
        amqp_channel_open(state_, 1);
        check("channel.open");
    } catch (...) {
        amqp_destroy_connection(state_);
        state_ = nullptr;
        throw;
    }
}

amqp_connection::~amqp_connection() {
    if (state_ != nullptr) {
        amqp_destroy_connection(state_);  // closes the socket; no close handshake
    }
}

void amqp_connection::check(char const* what) {
    auto const r = amqp_get_rpc_reply(state_);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        throw amqp_failure(fmt::format("{} failed: {}", what, describe(r)));
    }
}

void amqp_connection::declare_exchange(std::string const& name, char const* type) {
    amqp_exchange_declare(state_, 1, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type), /*passive*/ 0,
                          /*durable*/ 1, /*auto_delete*/ 0, /*internal*/ 0, amqp_empty_table);
    try {
        check("exchange.declare");
    } catch (amqp_failure const& e) {
        throw amqp_failure(fmt::format("declaring the {} exchange '{}': {}", type, name, e.what()));
    }
}

bool amqp_connection::declare_exchange(std::string const& name, char const* type, amqp_table_t const& args) {
    amqp_exchange_declare(state_, 1, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type), /*passive*/ 0,
                          /*durable*/ 1, /*auto_delete*/ 0, /*internal*/ 0, args);
    auto const r = amqp_get_rpc_reply(state_);
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto const* m = static_cast<amqp_channel_close_t const*>(r.reply.decoded);
        // "inequivalent arg 'alternate-exchange' for exchange 'pusher' in vhost '/': received ... but current is ..."
        if (m->reply_code == AMQP_PRECONDITION_FAILED &&
            text_of(m->reply_text).find("alternate-exchange") != std::string_view::npos) {
            reopen_channel();
            return false;
        }
    }
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        throw amqp_failure(
            fmt::format("declaring the {} exchange '{}': exchange.declare failed: {}", type, name, describe(r)));
    }
    return true;
}

void amqp_connection::declare_exchange_passive(std::string const& name) {
    amqp_exchange_declare(state_, 1, amqp_cstring_bytes(name.c_str()), amqp_empty_bytes, /*passive*/ 1,
                          /*durable*/ 0, /*auto_delete*/ 0, /*internal*/ 0, amqp_empty_table);
    try {
        check("exchange.declare (passive)");
    } catch (amqp_failure const& e) {
        throw amqp_failure(fmt::format("the exchange '{}': {}", name, e.what()));
    }
}

void amqp_connection::reopen_channel() {
    amqp_channel_close_ok_t ok{};
    if (amqp_send_method(state_, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) != AMQP_STATUS_OK) {
        throw amqp_failure("sending channel.close-ok failed");
    }
    amqp_channel_open(state_, 1);
    check("channel.open (again)");
}

alternate_exchange declare_exchanges(amqp_connection& c, amqp_options const& o) {
    auto result = alternate_exchange::off;
    if (o.undelivered_exchange.empty()) {
        if (!c.declare_exchange(o.exchange, "direct", amqp_empty_table)) {
            c.declare_exchange_passive(o.exchange);
            result = alternate_exchange::unwanted;
        }
    } else {
        c.declare_exchange(o.undelivered_exchange, "fanout");
        amqp_table_entry_t ae;
        ae.key = amqp_cstring_bytes("alternate-exchange");
        ae.value.kind = AMQP_FIELD_KIND_UTF8;
        ae.value.value.bytes = amqp_cstring_bytes(o.undelivered_exchange.c_str());
        if (c.declare_exchange(o.exchange, "direct", amqp_table_t{1, &ae})) {
            result = alternate_exchange::set;
        } else {
            c.declare_exchange_passive(o.exchange);
            result = alternate_exchange::missing;
        }
    }
    c.declare_exchange(o.broadcast_exchange, "fanout");
    c.declare_exchange(o.channel_exchange, "direct");
    if (!o.presence_exchange.empty()) {
        c.declare_exchange(o.presence_exchange, "topic");
    }
    if (!o.upstream_exchange.empty()) {
        c.declare_exchange(o.upstream_exchange, "topic");
    }
    if (!o.control_exchange.empty()) {
        c.declare_exchange(o.control_exchange, "direct");
    }
    return result;
}

std::string undelivered_policy_command(amqp_options const& o) {
    std::string pattern = "^";
    for (char ch : o.exchange) {
        if (ch != '\0' && std::strchr(".^$*+?()[]{}|\\", ch) != nullptr) {
            pattern += '\\';
        }
        pattern += ch;
    }
    pattern += '$';
    std::string vhost;
    parsed_url url(amqp_urls(o.url).front());  // the nodes of one cluster share their vhosts
    if (url.status == AMQP_STATUS_OK && std::string_view(url.info.vhost) != "/") {
        vhost = fmt::format("-p '{}' ", url.info.vhost);
    }
    return fmt::format(
        "rabbitmqctl set_policy {}{}-undelivered '{}' '{{\"alternate-exchange\":\"{}\"}}' --apply-to exchanges", vhost,
        o.exchange, pattern, o.undelivered_exchange);
}

std::string amqp_connection::declare_queue(std::string const& name) {
    auto* ok = amqp_queue_declare(state_, 1, amqp_cstring_bytes(name.c_str()), /*passive*/ 0, /*durable*/ 0,
                                  /*exclusive*/ 1, /*auto_delete*/ 1, amqp_empty_table);
    check("queue.declare");
    if (ok == nullptr) {
        throw amqp_failure("queue.declare: no reply");
    }
    return std::string(text_of(ok->queue));
}

void amqp_connection::bind_queue(std::string const& queue, std::string const& exchange, std::string const& key) {
    amqp_queue_bind(state_, 1, amqp_cstring_bytes(queue.c_str()), amqp_cstring_bytes(exchange.c_str()),
                    amqp_cstring_bytes(key.c_str()), amqp_empty_table);
    check("queue.bind");
}

void amqp_connection::consume(std::string const& queue) {
    amqp_basic_consume(state_, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, /*no_local*/ 0,
                       /*no_ack*/ 1, /*exclusive*/ 1, amqp_empty_table);
    check("basic.consume");
}

void amqp_connection::confirm_select() {
    amqp_confirm_select(state_, 1);
    check("confirm.select");
}

void amqp_connection::close() noexcept {
    if (state_ != nullptr) {
        // Bounded (a frozen broker must not hold up shutdown); deliveries arriving meanwhile are dropped with us.
        timeval tv{1, 0};
        amqp_set_rpc_timeout(state_, &tv);
        amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
}
}  // namespace pusher::broker
