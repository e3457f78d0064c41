#pragma once
// The Socket.IO CONNECT admission rule: which part of the client's auth payload proves who it is. Pure function, no
// I/O; socketio calls it with the payload of `40{...}` and turns a failure into CONNECT_ERROR {"message": ...}.
#include "auth/verifier.hpp"

#include <boost/json/fwd.hpp>

namespace pusher::auth {

// `payload` is the CONNECT auth object (`io(url, {auth: {token}})`); pass a null value when the packet had none.
// - `payload.token` (a string) is verified by `v`; a token is never ignored, even in dev mode.
// - with `dev_auth`, `payload.user` (1..255 bytes) is trusted when no token is given (local development only).
// - anything else fails with a short message: "missing token", "invalid auth payload", "token expired", ...
// `v` may be null when no token scheme is configured (dev-auth only).
verify_result authenticate(boost::json::value const& payload, verifier const* v, bool dev_auth, clock::time_point now);
// The same rule for a payload already known to be an object (socketio::connect_request::auth), or null for none:
// no copy of the payload.
verify_result authenticate(boost::json::object const* auth, verifier const* v, bool dev_auth, clock::time_point now);

}  // namespace pusher::auth
