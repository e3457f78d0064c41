#pragma once
// A pusher-load child process: holds one share of the connections (at most ~9,000, so that client and server both
// stay under the 20,000-file limit of one process) and obeys the coordinator over a line_channel.
//
// Protocol, one JSON object per line. Coordinator -> child:
//   {"cmd":"wave","n":1,"timeout_ms":60000}   open wave n (1: first connection of each user, 2: the others)
//   {"cmd":"publish"}                          publishing starts: report progress every 20 ms
//   {"cmd":"published","count":M,"users":U,"failed":[...]}   what went out: report "drained" once all arrived
//   {"cmd":"finish"}                           close everything, send the final counts, exit
// Child -> coordinator: {"type":"ready",...}, {"type":"progress","delivered":D,"misrouted":X},
//   {"type":"drained"}, {"type":"final",...}.
#include "control.hpp"
#include "receiver.hpp"

#include <cstdint>
#include <vector>

namespace pusher::load {
struct child_plan {
    receiver_config cfg;
    bool amqp_drain = false;
    std::vector<std::vector<std::uint32_t>> waves;  // user index per connection, per wave
};

// Runs until "finish" (returns 0) or until the coordinator goes away (returns 1).
int child_main(child_plan const& plan, line_channel& ch);
}  // namespace pusher::load
