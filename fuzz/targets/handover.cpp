// Fuzz target: the hand-over messages nodes exchange (cluster::decode_request / decode_reply, encode).
// Input: [kind][body...]; kind bit 0: a reply (else a request).
// Invariants: what decodes is well-formed (node ids valid, event names and channels UTF-8, payloads valid JSON, at
// most max_handover_hops); encoding it gives valid JSON that decodes to the same message (a round trip); what does not
// decode comes with a reason; nothing crashes.
#include "cluster/handover_message.hpp"
#include "common/json_text.hpp"
#include "fuzz_support.hpp"

namespace cluster = pusher::cluster;
using pusher::fuzz::cursor;

namespace {
bool same(cluster::handover_request const& a, cluster::handover_request const& b) {
    return a.id == b.id && a.from == b.from && a.user == b.user && a.pid == b.pid && a.offset == b.offset &&
           a.hops == b.hops && a.channels == b.channels;
}

bool same(cluster::handover_reply const& a, cluster::handover_reply const& b) {
    if (a.id != b.id || a.from != b.from || a.ok != b.ok || a.sid != b.sid || a.events.size() != b.events.size()) {
        return false;
    }
    if (!a.ok && (a.error != b.error || a.channels != b.channels)) {
        return false;
    }
    for (std::size_t i = 0; i < a.events.size(); ++i) {
        auto const& x = a.events[i];
        auto const& y = b.events[i];
        if (x.key != y.key || x.event != y.event || x.payload != y.payload || x.channel != y.channel) {
            return false;
        }
    }
    return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    bool const reply = (in.byte() & 1) != 0;
    std::string_view const body = in.rest();
    std::string why;
    if (!reply) {
        auto r = cluster::decode_request(body, why);
        FUZZ_CHECK(r.has_value() == why.empty());
        if (r) {
            FUZZ_CHECK(cluster::valid_node_id(r->from) && r->hops <= cluster::max_handover_hops);
            FUZZ_CHECK(pusher::fuzz::reference_utf8(r->user) && !r->user.empty() && r->user.size() <= 255);
            for (auto const& c : r->channels) {
                FUZZ_CHECK(!c.empty() && c.size() <= 255 && pusher::fuzz::reference_utf8(c));
            }
            std::string const again = cluster::encode(*r);
            FUZZ_CHECK_MSG(pusher::json_text::is_valid(again), again);
            auto back = cluster::decode_request(again, why);
            FUZZ_CHECK_MSG(back && same(*back, *r), again);
        }
        return 0;
    }
    auto r = cluster::decode_reply(body, why);
    FUZZ_CHECK(r.has_value() == why.empty());
    if (r) {
        FUZZ_CHECK(cluster::valid_node_id(r->from));
        for (auto const& e : r->events) {
            FUZZ_CHECK(!e.event.empty() && pusher::fuzz::reference_utf8(e.event));
            FUZZ_CHECK(e.channel.size() <= 255 && pusher::fuzz::reference_utf8(e.channel));
            FUZZ_CHECK(pusher::fuzz::parse_json(e.payload).has_value());
        }
        std::string const again = cluster::encode(*r);
        FUZZ_CHECK_MSG(pusher::json_text::is_valid(again), again);
        auto back = cluster::decode_reply(again, why);
        FUZZ_CHECK_MSG(back && same(*back, *r), again);
    }
    return 0;
}
