#pragma once
// Socket.IO's own event names: the client library emits these itself (connect, disconnect...) or uses them for its
// listeners, so an application event with one of these names cannot be received as such. The one list: the decoder
// refuses them from clients (decode_error::reserved_event_name), POST /api/publish refuses them, and the fan-out
// drops them from the broker. Header only (plain data), so that api and app can use it without linking socketio.
#include <algorithm>
#include <array>
#include <string_view>

namespace pusher::socketio {
inline constexpr std::array<std::string_view, 6> reserved_events = {"connect",       "connect_error", "disconnect",
                                                                    "disconnecting", "newListener",   "removeListener"};

constexpr bool is_reserved_event(std::string_view name) {
    return std::find(reserved_events.begin(), reserved_events.end(), name) != reserved_events.end();
}
}  // namespace pusher::socketio
