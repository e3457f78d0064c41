// Fuzz target: the subscribe / unsubscribe arguments a client sends (channels::parse) and the decision on them
// (channels::authorize, channels::granted). Input: [flags][grant byte][arguments JSON...]; flags bit 0: unsubscribe,
// bit 1: dev mode; the grant byte picks the connection's `channels` claim from a fixed set.
// Invariants: an accepted request names a valid channel (1-200 of the alphabet, checked here independently) and
// carries a token only for a subscribe; a refusal has a known reason and a message; without a token the decision is
// exactly "dev mode or granted" (checked against an independent prefix rule); a token with no verifier is refused;
// nothing crashes.
#include "channels/channel.hpp"
#include "fuzz_support.hpp"

#include <array>
#include <string>
#include <variant>
#include <vector>

namespace channels = pusher::channels;
using pusher::fuzz::cursor;

namespace {
bool reference_name(std::string_view s) {
    if (s.empty() || s.size() > 200) {
        return false;
    }
    for (unsigned char c : s) {
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == ':' || c == '.' || c == '@' || c == '/')) {
            return false;
        }
    }
    return true;
}

bool reference_granted(std::vector<std::string> const& grants, std::string const& name) {
    for (auto const& g : grants) {
        if (g == name || (!g.empty() && g.back() == '*' && name.compare(0, g.size() - 1, g, 0, g.size() - 1) == 0 &&
                          name.size() >= g.size() - 1)) {
            return true;
        }
    }
    return false;
}

bool known_reason(std::string_view r) {
    for (std::string_view k : {"bad_request", "bad_name", "not_allowed", "bad_token", "too_many", "unavailable"}) {
        if (r == k) {
            return true;
        }
    }
    return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    static std::array<std::vector<std::string>, 4> const grant_sets{
        std::vector<std::string>{}, std::vector<std::string>{"chat:*"}, std::vector<std::string>{"a", "b:*", "*"},
        std::vector<std::string>{"room:1", "room:1*", "news"}};
    cursor in(pusher::fuzz::as_text(data, size));
    unsigned const flags = in.byte();
    auto const& grants = grant_sets[in.byte() % grant_sets.size()];
    bool const unsubscribe = (flags & 1) != 0;
    bool const dev = (flags & 2) != 0;
    std::string_view const args = in.rest();

    auto const what = unsubscribe ? channels::action::unsubscribe : channels::action::subscribe;
    auto parsed = channels::parse(what, args);
    if (auto const* no = std::get_if<channels::refusal>(&parsed)) {
        FUZZ_CHECK(known_reason(no->reason) && !no->message.empty());
        return 0;
    }
    auto const& r = std::get<channels::request>(parsed);
    FUZZ_CHECK_MSG(reference_name(r.channel) && channels::valid_name(r.channel), r.channel);
    FUZZ_CHECK(r.what == what);
    FUZZ_CHECK(!unsubscribe || r.token.empty());
    FUZZ_CHECK(channels::granted(grants, r.channel) == reference_granted(grants, r.channel));

    pusher::auth::identity who;
    who.user = "alice";
    who.channels = grants;
    auto const no = channels::authorize(who, r, nullptr, dev, pusher::auth::clock::now());
    if (!r.token.empty()) {
        FUZZ_CHECK(no && no->reason == "bad_token");
    } else {
        FUZZ_CHECK_MSG(no.has_value() == !(dev || reference_granted(grants, r.channel)), r.channel);
    }
    if (no) {
        FUZZ_CHECK(known_reason(no->reason) && !no->message.empty());
    }
    return 0;
}
