#pragma once
// broker errors: what a subscribe or publish `done` may receive, as boost::system error codes in their own category
// ("pusher.broker"), so callers can test `ec == broker::error::not_connected` and log `ec.message()`.
#include <boost/system/error_code.hpp>

#include <type_traits>

namespace pusher::broker {
enum class error {
    stopped = 1,          // the broker was stopped before the operation completed
    not_connected,        // no connection to the broker right now (publish fails fast rather than queueing)
    subscribe_timeout,    // the binding was not confirmed in time (broker unreachable or slow)
    unsubscribed,         // every subscriber of the user left before the binding was confirmed
    nacked,               // the broker refused the message (basic.nack)
    connection_lost,      // the connection dropped before the broker confirmed
    publish_timeout,      // no confirm in time
    overloaded,           // too many publishes waiting for the in-flight window
    invalid_publication,  // no users and not a broadcast, or an invalid user id
    invalid_user,         // a user id that cannot be a routing key: empty or longer than 255 bytes
    unroutable            // a mandatory message the broker could not route to any queue (basic.return)
};

boost::system::error_category const& error_category() noexcept;

inline boost::system::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}
}  // namespace pusher::broker

template <>
struct boost::system::is_error_code_enum<pusher::broker::error> : std::true_type {};
