#pragma once
// What a route receives when it takes over a websocket upgrade request (reply::take_upgrade): the TCP socket, the
// parsed upgrade request (Sec-WebSocket-Key and friends) and any bytes the connection read past the request.
// Includes Beast's HTTP message and Asio's socket: include it only where the websocket is accepted.
// Before common/aliases.hpp, whose `using tcp = boost::asio::ip::tcp` needs the declaration.
#include <boost/asio/ip/tcp.hpp>

#include "common/aliases.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace pusher::httpd {
struct upgrade {
    tcp::socket socket;
    http::request<http::string_body> request;
    std::string buffered;  // bytes after the request (normally empty: a client waits for the 101)
};
}  // namespace pusher::httpd
