#include "auth/authenticate.hpp"

#include <boost/json/value.hpp>

namespace pusher::auth {

verify_result authenticate(boost::json::value const& payload, verifier const* v, bool dev_auth, clock::time_point now) {
    boost::json::object const* auth = payload.if_object();
    if (auth == nullptr && !payload.is_null()) {
        return failure{failure_kind::bad_request, "invalid auth payload: expected an object"};
    }
    return authenticate(auth, v, dev_auth, now);
}

verify_result authenticate(boost::json::object const* auth, verifier const* v, bool dev_auth, clock::time_point now) {
    boost::json::value const* token = auth != nullptr ? auth->if_contains("token") : nullptr;
    // A null token is how some clients say "none" (`{token: null}`); treat it as absent.
    if (token != nullptr && !token->is_null()) {
        if (!token->is_string()) {
            return failure{failure_kind::bad_request, "token must be a string"};
        }
        if (token->get_string().empty()) {
            return failure{failure_kind::missing_credentials, "missing token"};
        }
        if (v == nullptr) {
            return failure{failure_kind::not_configured, "token authentication is not configured"};
        }
        // Never fall back to `user` when a token was given but fails: the client meant the token.
        std::string_view t(token->get_string().data(), token->get_string().size());
        return v->verify(t, now);
    }
    if (!dev_auth) {
        return failure{failure_kind::missing_credentials, "missing token"};
    }
    boost::json::value const* user = auth != nullptr ? auth->if_contains("user") : nullptr;
    if (user == nullptr || user->is_null()) {
        return failure{failure_kind::missing_credentials, "missing token or user"};
    }
    if (!user->is_string() || user->get_string().empty() || user->get_string().size() > max_user_bytes) {
        return failure{failure_kind::bad_request, "user must be a string of 1..255 bytes"};
    }
    return identity{
        std::string(user->get_string().data(), user->get_string().size()), clock::time_point::max(), {}, {}};
}

}  // namespace pusher::auth
