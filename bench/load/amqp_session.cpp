#include "amqp_session.hpp"

#include "endpoint.hpp"

#include <amqp_tcp_socket.h>

#include <vector>

namespace pusher::load {
amqp_session::~amqp_session() {
    if (conn_ != nullptr) {
        amqp_destroy_connection(conn_);
    }
}

std::string amqp_session::describe(amqp_rpc_reply_t const& r, char const* what) {
    std::string out = what;
    switch (r.reply_type) {
        case AMQP_RESPONSE_NORMAL:
            return {};
        case AMQP_RESPONSE_NONE:
            return out + ": missing RPC reply";
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return out + ": " + amqp_error_string2(r.library_error);
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                auto const* m = static_cast<amqp_connection_close_t const*>(r.reply.decoded);
                return out + ": connection closed by broker: " + std::to_string(m->reply_code) + " " +
                       std::string(static_cast<char const*>(m->reply_text.bytes), m->reply_text.len);
            }
            if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                auto const* m = static_cast<amqp_channel_close_t const*>(r.reply.decoded);
                return out + ": channel closed by broker: " + std::to_string(m->reply_code) + " " +
                       std::string(static_cast<char const*>(m->reply_text.bytes), m->reply_text.len);
            }
            return out + ": broker error";
    }
    return out + ": unknown reply";
}

std::string amqp_session::open(std::string const& url) {
    auto ep = parse_url(url);
    if (!ep || ep->scheme != "amqp") {
        return "bad AMQP URL (want amqp://user:pass@host:port/vhost): " + url;
    }
    if (!is_loopback_host(ep->host)) {
        return "refusing a non-loopback broker: " + ep->host;
    }
    std::vector<char> buf(url.begin(), url.end());
    buf.push_back('\0');
    amqp_connection_info info{};
    if (amqp_parse_url(buf.data(), &info) != AMQP_STATUS_OK) {
        return "bad AMQP URL: " + url;
    }
    // amqp://host:port/ names the default vhost "/" (what every client library does, and the default URL of
    // docs/amqp-contract.md relies on); rabbitmq-c would read it as the empty vhost.
    char const* vhost = (info.vhost == nullptr || info.vhost[0] == '\0') ? "/" : info.vhost;
    conn_ = amqp_new_connection();
    amqp_socket_t* sock = amqp_tcp_socket_new(conn_);
    if (sock == nullptr) {
        return "amqp: cannot create a socket";
    }
    if (int const rc = amqp_socket_open(sock, info.host, info.port); rc != AMQP_STATUS_OK) {
        return std::string("amqp connect ") + info.host + ":" + std::to_string(info.port) + ": " +
               amqp_error_string2(rc);
    }
    auto r = amqp_login(conn_, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        return describe(r, "amqp login");
    }
    amqp_channel_open(conn_, 1);
    r = amqp_get_rpc_reply(conn_);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        return describe(r, "amqp channel.open");
    }
    return {};
}

std::string amqp_session::declare_exchange(std::string const& name, char const* type) {
    // Passive first: the pusher declares its per-user exchange with an alternate-exchange argument, which a plain
    // declaration here would contradict (406 PRECONDITION_FAILED). Only when it does not exist yet (404, which
    // closes the channel) is it declared, durable and without arguments.
    amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type), /*passive*/ 1, 0, 0, 0,
                          amqp_empty_table);
    auto const r = amqp_get_rpc_reply(conn_);
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD) {
        return describe(r, "amqp exchange.declare (passive)");
    }
    amqp_channel_close_ok_t ok{};
    amqp_send_method(conn_, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    amqp_channel_open(conn_, 1);
    if (auto err = describe(amqp_get_rpc_reply(conn_), "amqp channel.open"); !err.empty()) {
        return err;
    }
    amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type), 0, 1, 0, 0,
                          amqp_empty_table);
    return describe(amqp_get_rpc_reply(conn_), "amqp exchange.declare");
}

std::string amqp_session::close() {
    if (conn_ == nullptr) {
        return {};
    }
    std::string err = describe(amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS), "amqp channel.close");
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
    conn_ = nullptr;
    return err;
}
}  // namespace pusher::load
