#pragma once
// channels: the rules of channels (chat rooms and other streams that many users share), sans I/O. A client asks with
// `socket.emit("subscribe", {channel, token?}, ack)` and `socket.emit("unsubscribe", {channel}, ack)`; this module
// reads those arguments, checks the name, and decides whether the connection's user may subscribe:
// - the connection token's `channels` claim lists the name, or a prefix of it with a trailing `*` ("chat:*");
// - or `token` is a per-channel JWT, verified like connection tokens, whose `sub` is the same user and whose
//   `channel` claim is the name (a backend hands these out per room);
// - in dev mode (--dev-auth, loopback only) every valid name is allowed.
// The gate (app/gate.hpp) does the rest: caps, the broker subscription, the hub membership, the ack.
#include "auth/verifier.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pusher::channels {
inline constexpr std::size_t max_name_bytes = 200;

// 1-200 bytes of A-Z a-z 0-9 _ - : . @ /
bool valid_name(std::string_view name) noexcept;

// The connection's `channels` claim grants `name`: an entry equal to it, or an entry `prefix*` that it starts with.
bool granted(std::vector<std::string> const& grants, std::string_view name) noexcept;

enum class action : std::uint8_t { subscribe, unsubscribe };

// What a client asked for. `token` is empty when it sent none (never for unsubscribe).
struct request {
    action what = action::subscribe;
    std::string channel;
    std::string token;
};

// Why a request is refused: `reason` is a metric label, `message` what the client's ack says (`{"error": message}`).
struct refusal {
    std::string_view reason;  // "bad_request", "bad_name", "not_allowed", "bad_token", "too_many", "unavailable"
    std::string message;
};

// The event name, when it is one of ours.
std::optional<action> action_of(std::string_view event) noexcept;

// Reads the event's arguments: the JSON array text `[{"channel": "...", "token": "..."}, ...]` (socketio::arguments).
std::variant<request, refusal> parse(action what, std::string_view args_json);

// Decides a subscribe: empty when allowed. `who` is the connection's identity (its claims), `v` verifies a
// per-channel token (may be null when no token scheme is configured).
std::optional<refusal> authorize(auth::identity const& who, request const& r, auth::verifier const* v, bool dev_auth,
                                 auth::clock::time_point now);
}  // namespace pusher::channels
