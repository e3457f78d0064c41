#pragma once
// Namespace aliases used everywhere. Declares the namespaces only: including this costs nothing.
#include <boost/system/error_code.hpp>

namespace boost::asio::ip {
class tcp;
}
namespace boost::beast::http {}
namespace boost::beast::websocket {}
namespace boost::json {}

namespace pusher {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace json = boost::json;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
}  // namespace pusher
