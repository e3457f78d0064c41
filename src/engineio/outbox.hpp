#pragma once
// One queued outgoing packet: a whole text packet (`2`, `42[...]`) or the raw bytes of a binary message. The
// bytes are shared (a frame), so queueing copies a pointer.
#include "common/frame.hpp"

#include <vector>

namespace pusher::engineio {
struct out_item {
    frame data;
    bool binary = false;
};
// A vector rather than a deque: an empty vector allocates nothing, which matters at 20k idle sessions.
using out_queue = std::vector<out_item>;
}  // namespace pusher::engineio
