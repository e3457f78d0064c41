#pragma once
// Builds the Engine.IO frame of one Socket.IO EVENT with a single argument, by splicing: `42["<event>",<payload>]`
// (`42/ns,[...]` outside the main namespace). `payload_json` must already be valid JSON: it is copied as is, never
// re-serialised. This is the one copy of a notification's payload per message; the frame is then shared by every
// recipient's queue, and each transport copies it once more into its own output (the websocket's write buffer, or
// the body of a poll response; docs/architecture.md).
#include "common/frame.hpp"
#include "common/json_text.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace pusher::socketio {
//
// `meta_json` (channel events): when not empty, a second argument, valid JSON spliced as is (`{"channel":"..."}`).
// `offset` (connection state recovery): when not empty, a last argument `"<offset>"`; it must need no escaping (the
// offsets are decimal digits).
inline frame encode_event_frame(std::string_view event, std::string_view payload_json, std::string_view nsp = "/",
                                std::string_view offset = {}, std::string_view meta_json = {}) {
    std::string out;
    out.reserve(payload_json.size() + event.size() + nsp.size() + offset.size() + meta_json.size() + 12);
    out += "42";
    if (nsp != "/") {
        out += nsp;
        out.push_back(',');
    }
    out.push_back('[');
    json_text::append_string(out, event);
    out.push_back(',');
    out += payload_json;
    if (!meta_json.empty()) {
        out.push_back(',');
        out += meta_json;
    }
    if (!offset.empty()) {
        out += ",\"";
        out += offset;
        out.push_back('"');
    }
    out.push_back(']');
    return make_frame(std::move(out));
}

// The inverse, for a frame encode_event_frame made for the main namespace with an offset: the event name (unescaped),
// the payload's bytes and the meta's (views into `frame`; the meta is empty when the frame has none). nullopt for any
// other shape.
struct event_frame_parts {
    std::string event;
    std::string_view payload_json;
    std::string_view meta_json;
};
std::optional<event_frame_parts> decode_event_frame(std::string_view frame);
}  // namespace pusher::socketio
