#pragma once
// Session ids: 15 bytes from the kernel's CSPRNG (common/random_bytes), base64url: 20 characters, as
// long as the reference server's ids. Unguessable, because a sid is all a polling request needs to act as a session.
// A prefix (the node id and a dot) goes in front, for proxies that route by sid.
#include <string>
#include <string_view>

namespace pusher::engineio {
std::string make_sid(std::string_view prefix = {});
}
