#include "receiver.hpp"

namespace pusher::load {
expectations::expectations(publish_summary const& pub, bool broadcast) : pub_(pub), broadcast_(broadcast) {
    for (auto const seq : pub.failed) {
        if (seq >= pub.count) {
            continue;
        }
        auto& e = failed_[broadcast ? 0 : seq % (pub.users == 0 ? 1 : pub.users)];
        ++e.count;
        e.seq_sum += seq;
    }
}

expectation expectations::for_user(std::uint64_t user) const {
    expectation e;
    std::uint64_t const m = pub_.count;
    if (broadcast_) {
        e.count = m;
        e.seq_sum = m == 0 ? 0 : m * (m - 1) / 2;
    } else {
        std::uint64_t const u_count = pub_.users == 0 ? 1 : pub_.users;
        if (user < m) {
            // Messages user, user + U, user + 2U, ... below m.
            std::uint64_t const n = (m - 1 - user) / u_count + 1;
            e.count = n;
            e.seq_sum = n * user + u_count * (n * (n - 1) / 2);
        }
    }
    if (auto it = failed_.find(broadcast_ ? 0 : user); it != failed_.end()) {
        e.count -= it->second.count;
        e.seq_sum -= it->second.seq_sum;
    }
    return e;
}
}  // namespace pusher::load
