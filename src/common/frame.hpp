#pragma once
// A frame: the encoded, immutable bytes of one Engine.IO packet (e.g. `42["mail.new",{...}]`), built once and shared
// by every recipient's queue. Copying a frame copies a pointer, never the bytes; a transport copies the bytes once,
// into its own output, when it writes them.
#include <memory>
#include <string>

namespace pusher {
using frame = std::shared_ptr<const std::string>;

inline frame make_frame(std::string bytes) {
    return std::make_shared<const std::string>(std::move(bytes));
}
}  // namespace pusher
