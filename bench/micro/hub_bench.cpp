// The hub: attach/detach (a connection arriving and leaving), deliver to one user (the RabbitMQ path: one message
// per user), and the whole fan-out of one notification to N sessions (encode once, deliver_all, frame per session).
#include "app/fanout.hpp"
#include "fake_session.hpp"
#include "hub/hub.hpp"

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

namespace {
using namespace pusher;
using micro::counting_session;

// A 100-byte notification body, as the load generator sends them.
std::string body_100() {
    std::string body = R"({"t":1764191655123456789,"u":"*","seq":1,"p":")";
    body.append(100 - body.size() - 2, 'x');
    body += "\"}";
    return body;
}

std::vector<std::string> user_names(std::size_t n) {
    std::vector<std::string> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        std::string s = "user-";
        s += std::to_string(i);
        v.push_back(std::move(s));
    }
    return v;
}

void hub_attach_detach(benchmark::State& state) {
    // A hub already holding `range(0)` users; one more user connects and leaves.
    hub::hub h;
    auto const users = user_names(static_cast<std::size_t>(state.range(0)));
    std::vector<std::shared_ptr<counting_session>> sessions;
    for (auto const& u : users) {
        sessions.push_back(std::make_shared<counting_session>());
        h.attach(u, sessions.back());
    }
    auto s = std::make_shared<counting_session>();
    for (auto _ : state) {
        h.attach("newcomer", s);
        h.detach("newcomer", *s);
    }
}
BENCHMARK(hub_attach_detach)->Arg(0)->Arg(10000);

void hub_attach_second_tab(benchmark::State& state) {
    // A user who already has a session opens another one (copy-on-write of a 1-element list) and closes it.
    hub::hub h;
    auto first = std::make_shared<counting_session>();
    h.attach("alice", first);
    auto s = std::make_shared<counting_session>();
    for (auto _ : state) {
        h.attach("alice", s);
        h.detach("alice", *s);
    }
}
BENCHMARK(hub_attach_second_tab);

void hub_deliver_user(benchmark::State& state) {
    // The RabbitMQ path: each message is for one user among 10,000 (shard lock, lookup, one send).
    hub::hub h;
    auto const users = user_names(10000);
    std::vector<std::shared_ptr<counting_session>> sessions;
    for (auto const& u : users) {
        sessions.push_back(std::make_shared<counting_session>());
        h.attach(u, sessions.back());
    }
    auto const f = make_frame(R"(42["bench",{"n":1}])");
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(h.deliver(users[i], f));
        i = (i + 7919) % users.size();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(hub_deliver_user);

void fanout_broadcast(benchmark::State& state) {
    // One 100-byte notification to N sessions: encode once, deliver_all, one websocket frame per session.
    std::size_t const n = static_cast<std::size_t>(state.range(0));
    hub::hub h;
    auto const users = user_names(n);
    std::vector<std::shared_ptr<counting_session>> sessions;
    for (auto const& u : users) {
        sessions.push_back(std::make_shared<counting_session>());
        h.attach(u, sessions.back());
    }
    std::string const body = body_100();
    for (auto _ : state) {
        auto const f = app::fanout::encode("bench", body, true, nullptr);
        benchmark::DoNotOptimize(h.deliver_all(f));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));  // frames
}
BENCHMARK(fanout_broadcast)->Arg(100)->Arg(1000)->Arg(10000);

void fanout_channel(benchmark::State& state) {
    // The same notification to a channel of N members (and meta {"channel":...} in the frame): encode once,
    // deliver_channel, one frame per member. Against fanout_broadcast at the same N.
    std::size_t const n = static_cast<std::size_t>(state.range(0));
    hub::hub h;
    auto const users = user_names(n);
    std::vector<std::shared_ptr<counting_session>> sessions;
    for (auto const& u : users) {
        sessions.push_back(std::make_shared<counting_session>());
        h.attach(u, sessions.back());
        h.join("chat:lobby", sessions.back());
    }
    std::string const body = body_100();
    for (auto _ : state) {
        auto const f = app::fanout::encode("bench", body, true, nullptr, {}, R"({"channel":"chat:lobby"})");
        benchmark::DoNotOptimize(h.deliver_channel("chat:lobby", f));
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));  // frames
}
BENCHMARK(fanout_channel)->Arg(100)->Arg(1000)->Arg(10000);
}  // namespace
