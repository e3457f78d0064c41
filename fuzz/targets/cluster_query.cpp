// Fuzz target: the cluster queries nodes exchange (cluster::decode_query / decode_answer / decode_hello, encode).
// Input: [kind][body...]; kind % 3: 0 a query, 1 an answer, 2 a hello.
// Invariants: what decodes is well-formed (node ids valid, users 1-255 bytes of UTF-8, at most max_query_users);
// encoding it gives valid JSON that decodes to the same message; what does not decode comes with a reason.
#include "cluster/cluster_query.hpp"
#include "cluster/handover_message.hpp"
#include "common/json_text.hpp"
#include "fuzz_support.hpp"

namespace cluster = pusher::cluster;
using pusher::fuzz::cursor;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    unsigned const kind = in.byte() % 3;
    std::string_view const body = in.rest();
    std::string why;
    if (kind == 0) {
        auto q = cluster::decode_query(body, why);
        FUZZ_CHECK(q.has_value() == why.empty());
        if (q) {
            FUZZ_CHECK(cluster::valid_node_id(q->from) && q->users.size() <= cluster::max_query_users);
            for (auto const& u : q->users) {
                FUZZ_CHECK(!u.empty() && u.size() <= 255 && pusher::fuzz::reference_utf8(u));
            }
            std::string const again = cluster::encode(*q);
            FUZZ_CHECK_MSG(pusher::json_text::is_valid(again), again);
            auto back = cluster::decode_query(again, why);
            FUZZ_CHECK_MSG(back && back->id == q->id && back->from == q->from && back->kind == q->kind &&
                               back->users == q->users && back->channel == q->channel,
                           again);
        }
    } else if (kind == 1) {
        auto a = cluster::decode_answer(body, why);
        FUZZ_CHECK(a.has_value() == why.empty());
        if (a) {
            FUZZ_CHECK(cluster::valid_node_id(a->from));
            std::string const again = cluster::encode(*a);
            FUZZ_CHECK_MSG(pusher::json_text::is_valid(again), again);
            auto back = cluster::decode_answer(again, why);
            // A repeated key in "sessions" collapses to one on the way back: compare what survives a second trip.
            FUZZ_CHECK_MSG(back && back->members == a->members && back->users == a->users &&
                               back->total_sessions == a->total_sessions && back->disconnected == a->disconnected,
                           again);
        }
    } else {
        auto from = cluster::decode_hello(body, why);
        FUZZ_CHECK(from.has_value() == why.empty());
        if (from) {
            FUZZ_CHECK(cluster::valid_node_id(*from));
            FUZZ_CHECK(cluster::decode_hello(cluster::encode_hello(*from), why) == from);
        }
    }
    return 0;
}
