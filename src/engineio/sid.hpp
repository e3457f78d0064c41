#pragma once
// Session ids: 15 bytes from the kernel's CSPRNG (getrandom, buffered per thread), base64url: 20 characters, as
// long as the reference server's ids. Unguessable, because a sid is all a polling request needs to act as a session.
#include <string>

namespace pusher::engineio {
std::string make_sid();
}
