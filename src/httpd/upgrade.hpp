#pragma once
// What a route receives when it takes over a websocket upgrade request (reply::take_upgrade): the TCP socket, the
// connection's TLS state when the listener speaks TLS, the parsed upgrade request (Sec-WebSocket-Key and friends),
// any bytes the connection read past the request, and the connection's place in the limits.
// Includes Beast's HTTP message and Asio's socket: include it only where the websocket is accepted.
// Before common/aliases.hpp, whose `using tcp = boost::asio::ip::tcp` needs the declaration.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"
#include "httpd/limits.hpp"
#include "httpd/tls.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace pusher::httpd {
struct upgrade {
    tcp::socket socket;
    http::request<http::string_body> request;
    std::string buffered;  // bytes after the request (normally empty: a client waits for the 101); decrypted if TLS
    // TLS connections: the handshaken TLS state, bound to the socket's descriptor (wrap both in an
    // httpd::tls_socket, httpd/tls_socket.hpp). Null on a plain connection.
    ssl_handle tls;
    // Counts the connection against max_connections / max_connections_per_ip: keep it until the socket closes.
    connection_ticket ticket;
};
}  // namespace pusher::httpd
