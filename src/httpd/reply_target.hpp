#pragma once
// The connection side of a reply (private to httpd): what reply::send and reply::take_upgrade talk to.
#include "httpd/route.hpp"

#include <memory>

namespace pusher::httpd::detail {
class reply_target {
  public:
    virtual ~reply_target() = default;
    // Writes the response for the current request. Any thread (posts to the connection's thread).
    virtual void deliver(response r) = 0;
    // Hands the socket over (websocket upgrade). Connection's thread, inside route::handle only.
    virtual std::unique_ptr<upgrade> take_upgrade() = 0;
};
}  // namespace pusher::httpd::detail
