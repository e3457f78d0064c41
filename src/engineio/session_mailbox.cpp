#include "engineio/session_mailbox.hpp"

#include "common/wake_batch.hpp"
#include "engineio/server_session.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>

namespace pusher::engineio {
void session_mailbox::notify(std::shared_ptr<server_session> s) {
    bool post = false;
    {
        std::lock_guard lock(mutex_);
        waiting_.push_back(std::move(s));
        post = !posted_;
        posted_ = true;
    }
    if (post && !wake_batch::defer(&session_mailbox::post_drain, this)) {
        post_drain(this);
    }
}

void session_mailbox::post_drain(void* self) {
    auto* m = static_cast<session_mailbox*>(self);
    boost::asio::post(static_cast<boost::asio::io_context&>(m->context()), [m] { m->drain(); });
}

void session_mailbox::drain() {
    if (next_ == draining_.size() && !refill()) {
        return;
    }
    std::size_t const end = std::min(draining_.size(), next_ + slice);
    for (; next_ < end; ++next_) {
        auto s = std::move(draining_[next_]);
        s->drain_inbox();
    }
    if (next_ == draining_.size() && !refill()) {
        return;  // the usual end of a trickle: no second handler just to find the list empty
    }
    boost::asio::post(static_cast<boost::asio::io_context&>(context()), [this] { drain(); });
}

bool session_mailbox::refill() {
    draining_.clear();  // keeps its capacity: the next burst allocates nothing
    next_ = 0;
    std::lock_guard lock(mutex_);
    draining_.swap(waiting_);
    if (draining_.empty()) {
        posted_ = false;
        return false;
    }
    return true;
}

void session_mailbox::shutdown() {
    std::lock_guard lock(mutex_);
    waiting_.clear();
    draining_.clear();
    next_ = 0;
}
}  // namespace pusher::engineio
