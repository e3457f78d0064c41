#pragma once
// wake_batch: while one is open on a thread, the cross-thread wake-ups that thread would post (a worker's mailbox
// drain) wait until it closes, and then go out once each. The AMQP consumer opens one around each read batch: the
// deliveries of one read reach each worker with one wake-up, after the whole batch is queued, instead of waking a
// worker at the first one and again for those that arrive while it drains (docs/architecture.md, "the life of a
// notification"). Nested batches close with the outermost. Header only for callers; no Asio.
#include <cstddef>

namespace pusher {
class wake_batch {
  public:
    wake_batch();
    ~wake_batch();  // runs every deferred wake-up, in the order they were deferred
    wake_batch(wake_batch const&) = delete;
    wake_batch& operator=(wake_batch const&) = delete;

    using wake_fn = void (*)(void* arg);
    // With a batch open on this thread: keeps `wake(arg)` for its end and returns true. Without: returns false, and
    // the caller wakes at once. The caller defers each target at most once per batch (its own "already posted" flag).
    static bool defer(wake_fn wake, void* arg);
};
}  // namespace pusher
