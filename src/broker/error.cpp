#include "broker/error.hpp"

#include <string>

namespace pusher::broker {
namespace {
class category final : public boost::system::error_category {
  public:
    char const* name() const noexcept override { return "pusher.broker"; }
    std::string message(int ev) const override {
        switch (static_cast<error>(ev)) {
            case error::stopped:
                return "the broker was stopped";
            case error::not_connected:
                return "not connected to the message broker";
            case error::subscribe_timeout:
                return "the broker did not confirm the binding in time";
            case error::unsubscribed:
                return "unsubscribed before the binding was confirmed";
            case error::nacked:
                return "the broker refused the message (basic.nack)";
            case error::connection_lost:
                return "the connection to the broker was lost before it confirmed";
            case error::publish_timeout:
                return "the broker did not confirm the message in time";
            case error::overloaded:
                return "too many publishes waiting for the broker";
            case error::invalid_publication:
                return "invalid publication (no user, or an invalid user id)";
            case error::invalid_user:
                return "invalid user id (empty, or longer than 255 bytes: AMQP routing keys are short strings)";
            case error::unroutable:
                return "the broker could not route the message to any queue";
        }
        return "unknown broker error";
    }
};
}  // namespace

boost::system::error_category const& error_category() noexcept {
    static category const instance;
    return instance;
}
}  // namespace pusher::broker
