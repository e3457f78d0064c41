#pragma once
// Unguessable bytes from the kernel's CSPRNG (getrandom), fetched 4 KiB at a time per thread: one system call per
// ~270 session ids instead of one per id (and none of the fork checks a user-space generator makes per call). For
// session ids and recovery ids, which are all a request needs to act as a session.
#include <cstddef>
#include <cstdint>

namespace pusher {
void random_bytes(std::uint8_t* out, std::size_t n);
}
