#include "auth/verifier.hpp"

namespace pusher::auth {

std::string_view to_string(failure_kind kind) noexcept {
    switch (kind) {
        case failure_kind::missing_credentials:
            return "missing_credentials";
        case failure_kind::bad_request:
            return "bad_request";
        case failure_kind::malformed:
            return "malformed";
        case failure_kind::algorithm:
            return "algorithm";
        case failure_kind::signature:
            return "signature";
        case failure_kind::expired:
            return "expired";
        case failure_kind::not_yet_valid:
            return "not_yet_valid";
        case failure_kind::claims:
            return "claims";
        case failure_kind::not_configured:
            return "not_configured";
    }
    return "unknown";
}

}  // namespace pusher::auth
