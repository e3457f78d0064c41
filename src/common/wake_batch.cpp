#include "common/wake_batch.hpp"

#include "common/log.hpp"

#include <exception>
#include <utility>
#include <vector>

namespace pusher {
namespace {
struct pending {
    wake_batch::wake_fn wake;
    void* arg;
};
struct state {
    std::size_t depth = 0;
    std::vector<pending> wakes;  // keeps its capacity: a batch allocates nothing once warm
};
thread_local state batch;
}  // namespace

wake_batch::wake_batch() {
    ++batch.depth;
}

wake_batch::~wake_batch() {
    if (--batch.depth != 0) {
        return;
    }
    // A wake-up only posts a handler; the index loop tolerates one that defers again (it then runs at once).
    for (std::size_t i = 0; i < batch.wakes.size(); ++i) {
        try {
            batch.wakes[i].wake(batch.wakes[i].arg);
        } catch (std::exception const& e) {
            log::error("a deferred wake-up failed: {}", e.what());
        }
    }
    batch.wakes.clear();
}

bool wake_batch::defer(wake_fn wake, void* arg) {
    if (batch.depth == 0) {
        return false;
    }
    batch.wakes.push_back({wake, arg});
    return true;
}
}  // namespace pusher
