#pragma once
// Token verification seam: socketio asks a `verifier` who a client is; `jwt_verifier` is the production one, tests
// and future schemes (opaque tokens checked against a backend) can plug in others. No OpenSSL here.
#include <boost/system/result.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::auth {

using clock = std::chrono::system_clock;

inline constexpr std::size_t max_user_bytes = 255;  // the user id is an AMQP routing key: a shortstr

// Who the client is: the user id (JWT `sub`) is the hub key and the AMQP routing key, hence at most 255 bytes.
struct identity {
    std::string user;
    // When the credential stops being valid; time_point::max() when it never expires (no `exp`, or dev auth).
    clock::time_point expires = clock::time_point::max();
    // The `channels` claim: channel names, or prefixes ending in `*`, this user may subscribe to.
    std::vector<std::string> channels;
    // The `channel` claim of a per-channel token: the one channel it grants (empty when absent).
    std::string channel;
};
inline constexpr std::size_t max_channel_grants = 1000;  // entries in a `channels` claim

// Why a client was refused. `kind` is for counting (metrics labels, logs); `message` is what the client sees in its
// Socket.IO CONNECT_ERROR, so it is short, human and never echoes secrets.
enum class failure_kind {
    missing_credentials,  // no token (and no dev-auth user)
    bad_request,          // auth payload of the wrong shape
    malformed,            // not three base64url parts, not JSON objects, too large
    algorithm,            // alg none, unknown, or not pinned by the configured key material
    signature,            // signature does not verify
    expired,              // exp in the past (beyond the leeway)
    not_yet_valid,        // nbf in the future (beyond the leeway)
    claims,               // sub / aud / iss / exp missing or invalid
    not_configured,       // a token was presented but no verifier is configured
};

struct failure {
    failure_kind kind;
    std::string message;
};

// The short metric-friendly name of a failure kind ("expired", "signature", ...).
std::string_view to_string(failure_kind kind) noexcept;

// boost::system::result<T, failure>::value() on an error throws this (found by ADL); prefer `if (r)` + `*r`.
[[noreturn]] inline void throw_exception_from_error(failure const& f, boost::source_location const&) {
    throw std::runtime_error(f.message);
}

using verify_result = boost::system::result<identity, failure>;

// Verifies a bearer credential. Implementations are immutable after construction and safe to call from any number
// of threads at once; `now` is passed in so that tests control time.
class verifier {
  public:
    virtual ~verifier() = default;
    virtual verify_result verify(std::string_view token, clock::time_point now) const = 0;
};

}  // namespace pusher::auth
