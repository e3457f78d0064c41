// app::gate, the main namespace's door, driven directly: a Socket.IO server over in-memory Engine.IO sessions, a real
// hub, and a broker whose subscriptions are confirmed (or failed) by the test, from another thread as the real
// brokers do. Pins the ordering: the CONNECT reply only after the binding is confirmed; a client that leaves while
// its bind is in flight; a bind that fails; a second connection of a user whose bind is pending. And the two rounds
// of a hand-over of a session with channels, on both sides (the test plays the other node).
#include "app/gate.hpp"

#include "app/handover.hpp"
#include "app/held_sessions.hpp"
#include "broker/broker.hpp"
#include "broker/error.hpp"
#include "cluster/handover_message.hpp"
#include "hub/hub.hpp"
#include "metrics/registry.hpp"
#include "socketio/event_frame.hpp"
#include "socketio/server.hpp"
#include "unit/socketio/fakes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace pusher::app {
namespace {
using namespace std::chrono_literals;
using socketio::fakes::fake_session;
using socketio::fakes::manual_scheduler;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::UnorderedElementsAre;

// A broker whose subscriptions wait for the test: confirm(i) / fail(i) run subscription i's done on a thread of
// their own (the real brokers call back from theirs).
class held_broker final : public pusher::broker::broker {
  public:
    struct subscription {
        std::string user;
        done_fn done;
    };
    std::vector<subscription> subscribed;
    std::vector<std::string> unsubscribed;

    void start(pusher::broker::sink&) override {}
    void stop() override {}
    void subscribe(std::string_view user, done_fn done) override {
        subscribed.push_back({std::string(user), std::move(done)});
    }
    void unsubscribe(std::string_view user) override { unsubscribed.emplace_back(user); }
    // Channels: the same, in lists of their own.
    std::vector<subscription> channel_subscribed;
    std::vector<std::string> channel_unsubscribed;
    void subscribe_channel(std::string_view channel, done_fn done) override {
        channel_subscribed.push_back({std::string(channel), std::move(done)});
    }
    void unsubscribe_channel(std::string_view channel) override { channel_unsubscribed.emplace_back(channel); }
    void publish(pusher::broker::publication, done_fn done) override { done({}); }
    bool ready() const override { return true; }
    // Control messages to other nodes (the hand-over): recorded, and routed at once.
    struct control {
        std::string node, type, body;
    };
    std::vector<control> sent_control;
    void send_control(std::string node, std::string type, std::string body, done_fn done) override {
        sent_control.push_back({std::move(node), std::move(type), std::move(body)});
        if (done) {
            done({});
        }
    }

    void confirm(std::size_t i) { finish(subscribed, i, {}); }
    void fail(std::size_t i) { finish(subscribed, i, pusher::broker::error::subscribe_timeout); }
    void confirm_channel(std::size_t i) { finish(channel_subscribed, i, {}); }
    void fail_channel(std::size_t i) { finish(channel_subscribed, i, pusher::broker::error::subscribe_timeout); }

  private:
    static void finish(std::vector<subscription>& list, std::size_t i, boost::system::error_code ec) {
        ASSERT_LT(i, list.size());
        auto done = std::move(list[i].done);
        ASSERT_TRUE(done) << "subscription " << i << " already finished";
        std::thread([&] { done(ec); }).join();
    }
};

class gate_test : public ::testing::Test {
  protected:
    gate_test() : srv(timers, socketio::options{}) { srv.add_namespace("/", door); }
    ~gate_test() override {
        for (auto& s : sessions) {
            s->drop(engineio::disconnect_reason::server_shutdown);
        }
    }

    // A new session that sends the main namespace's CONNECT as `user` (dev mode: auth.user).
    std::shared_ptr<fake_session> connect(std::string const& user) {
        auto s = std::make_shared<fake_session>();
        sessions.push_back(s);
        s->open(srv);
        s->message("0{\"user\":\"" + user + "\"}");
        return s;
    }
    std::size_t delivered_to(std::string_view user) { return h.deliver(user, make_frame("42[\"ping\"]")); }

    manual_scheduler timers;
    hub::hub h;
    held_broker bus;
    gate door{h, bus, nullptr, /*dev_auth*/ true};
    socketio::server srv;
    std::vector<std::shared_ptr<fake_session>> sessions;
};

constexpr char const* connect_ok = R"(40\{"sid":"[A-Za-z0-9_-]+"\})";

TEST_F(gate_test, the_connect_reply_waits_for_the_binding) {
    auto s = connect("alice");
    ASSERT_EQ(bus.subscribed.size(), 1u);
    EXPECT_EQ(bus.subscribed[0].user, "alice");
    EXPECT_THAT(s->take(), IsEmpty()) << "no reply before the broker confirmed";
    EXPECT_EQ(delivered_to("alice"), 0u) << "not in the hub yet";

    bus.confirm(0);                     // from the broker's thread: the decision is dispatched to the session
    EXPECT_THAT(s->take(), IsEmpty());  // ... and taken there
    EXPECT_EQ(s->run_pending(), 1u);
    EXPECT_THAT(s->take(), ElementsAre(MatchesRegex(connect_ok)));
    EXPECT_EQ(delivered_to("alice"), 1u);
    EXPECT_THAT(s->take(), ElementsAre(R"(42["ping"])")) << "hub frames come after the CONNECT reply";
    EXPECT_EQ(door.stats().admitted.load(), 1u);

    s->drop();
    EXPECT_EQ(delivered_to("alice"), 0u);
    EXPECT_THAT(bus.unsubscribed, ElementsAre("alice"));
}

TEST_F(gate_test, a_client_that_leaves_while_its_bind_is_in_flight_gives_the_subscription_back_once) {
    auto s = connect("alice");
    ASSERT_EQ(bus.subscribed.size(), 1u);
    s->drop();
    EXPECT_THAT(bus.unsubscribed, ElementsAre("alice")) << "given back at once, not when the bind completes";

    bus.confirm(0);
    s->run_pending();
    EXPECT_THAT(s->take(), IsEmpty());
    EXPECT_EQ(delivered_to("alice"), 0u) << "a session that left never joins the hub";
    EXPECT_THAT(bus.unsubscribed, ElementsAre("alice")) << "and is not unsubscribed twice";
    EXPECT_EQ(door.stats().admitted.load(), 0u);
}

TEST_F(gate_test, a_bind_that_fails_refuses_the_connect_and_gives_the_subscription_back) {
    auto s = connect("alice");
    bus.fail(0);
    s->run_pending();
    EXPECT_THAT(s->take(), ElementsAre(R"(44{"message":"service unavailable, retry later"})"));
    EXPECT_THAT(bus.unsubscribed, ElementsAre("alice"));
    EXPECT_EQ(delivered_to("alice"), 0u);
    EXPECT_EQ(door.stats().subscribe_failures.load(), 1u);

    s->drop();  // the session goes on (only the namespace was refused); when it ends, nothing more to give back
    EXPECT_THAT(bus.unsubscribed, ElementsAre("alice"));
}

TEST_F(gate_test, a_second_connection_of_a_user_whose_bind_is_pending_is_admitted_on_its_own_confirmation) {
    auto first = connect("alice");
    auto second = connect("alice");
    ASSERT_EQ(bus.subscribed.size(), 2u) << "one subscription per connection: the broker counts them";

    bus.confirm(1);  // the broker answers both once the one bind is confirmed, in any order
    second->run_pending();
    first->run_pending();
    EXPECT_THAT(second->take(), ElementsAre(MatchesRegex(connect_ok)));
    EXPECT_THAT(first->take(), IsEmpty());
    EXPECT_EQ(delivered_to("alice"), 1u);

    bus.confirm(0);
    first->run_pending();
    EXPECT_THAT(first->take(), ElementsAre(MatchesRegex(connect_ok)));
    second->take();
    EXPECT_EQ(delivered_to("alice"), 2u);

    first->drop();
    EXPECT_EQ(delivered_to("alice"), 1u);
    second->drop();
    EXPECT_EQ(delivered_to("alice"), 0u);
    EXPECT_THAT(bus.unsubscribed, ElementsAre("alice", "alice"));
}

TEST_F(gate_test, a_connect_without_a_user_is_refused_without_touching_the_broker) {
    auto s = std::make_shared<fake_session>();
    sessions.push_back(s);
    s->open(srv);
    s->message("0{}");
    auto out = s->take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_THAT(out[0], MatchesRegex(R"(44\{"message":".+"\})"));
    EXPECT_THAT(bus.subscribed, IsEmpty());
    EXPECT_EQ(door.stats().auth_failures.load(), 1u);
    s->drop();
    EXPECT_THAT(bus.unsubscribed, IsEmpty());
}

// ---- channels ----

TEST_F(gate_test, a_subscribe_is_answered_once_the_channel_is_bound_and_then_gets_its_events) {
    auto s = connect("alice");
    bus.confirm(0);
    s->run_pending();
    s->take();

    s->message(R"(21["subscribe",{"channel":"chat:1"}])");
    ASSERT_EQ(bus.channel_subscribed.size(), 1u);
    EXPECT_EQ(bus.channel_subscribed[0].user, "chat:1");
    EXPECT_THAT(s->take(), IsEmpty()) << "no answer before the broker confirmed the binding";
    EXPECT_EQ(h.deliver_channel("chat:1", make_frame("42[\"x\"]")), 0u);

    bus.confirm_channel(0);
    s->run_pending();
    EXPECT_THAT(s->take(), ElementsAre(R"(431[{"ok":true}])"));
    EXPECT_EQ(h.deliver_channel("chat:1", make_frame("42[\"x\"]")), 1u);
    EXPECT_EQ(h.channels(), 1u);

    s->message(R"(22["subscribe",{"channel":"chat:1"}])");  // again: the same answer, no second subscription
    s->run_pending();
    EXPECT_THAT(s->take(), ElementsAre(R"(42["x"])", R"(432[{"ok":true}])"));
    EXPECT_EQ(bus.channel_subscribed.size(), 1u);

    s->message(R"(23["unsubscribe",{"channel":"chat:1"}])");
    s->run_pending();
    EXPECT_THAT(s->take(), ElementsAre(R"(433[{"ok":true}])"));
    EXPECT_THAT(bus.channel_unsubscribed, ElementsAre("chat:1"));
    EXPECT_EQ(h.deliver_channel("chat:1", make_frame("42[\"x\"]")), 0u);
    EXPECT_EQ(door.stats().channel_subscribes.load(), 1u);
}

TEST_F(gate_test, bad_subscribes_get_an_error_answer_and_touch_nothing) {
    door.limit_channels(1);
    auto s = connect("alice");
    bus.confirm(0);
    s->run_pending();
    s->take();

    s->message(R"(21["subscribe",{"channel":"bad name"}])");
    s->message(R"(22["subscribe","chat:1"])");
    s->message(R"(23["subscribe",{"channel":"a","token":"not.a.jwt"}])");  // no verifier here: refused
    s->message(R"(24["subscribe",{"channel":"a"}])");
    s->message(R"(25["subscribe",{"channel":"b"}])");  // over the cap of 1 (a is being subscribed)
    s->run_pending();
    auto out = s->take();
    ASSERT_EQ(out.size(), 4u);
    EXPECT_THAT(out[0], MatchesRegex(R"(431\[\{"error":"invalid channel name.*"\}\])"));
    EXPECT_THAT(out[1], MatchesRegex(R"(432\[\{"error":"expected .*"\}\])"));
    EXPECT_THAT(out[2], MatchesRegex(R"(433\[\{"error":"channel tokens are not accepted here"\}\])"));
    EXPECT_THAT(out[3], MatchesRegex(R"(435\[\{"error":"too many channels.*"\}\])"));
    ASSERT_EQ(bus.channel_subscribed.size(), 1u);
    EXPECT_EQ(door.stats().channel_refusals[0].load(), 1u);  // bad_request
    EXPECT_EQ(door.stats().channel_refusals[1].load(), 1u);  // bad_name
    EXPECT_EQ(door.stats().channel_refusals[3].load(), 1u);  // bad_token
    EXPECT_EQ(door.stats().channel_refusals[4].load(), 1u);  // too_many

    bus.fail_channel(0);
    s->run_pending();
    EXPECT_THAT(s->take(), ElementsAre(R"(434[{"error":"service unavailable, retry later"}])"));
    EXPECT_THAT(bus.channel_unsubscribed, ElementsAre("a")) << "the failed subscription is given back";
}

TEST_F(gate_test, a_disconnect_gives_every_channel_subscription_back_pending_or_not) {
    auto s = connect("alice");
    bus.confirm(0);
    s->run_pending();
    s->message(R"(21["subscribe",{"channel":"a"}])");
    s->message(R"(22["subscribe",{"channel":"b"}])");
    bus.confirm_channel(0);
    s->run_pending();
    s->take();
    EXPECT_EQ(h.channel_members(), 1u);

    s->drop(engineio::disconnect_reason::transport_close);  // recovery is off here: nothing is held
    EXPECT_THAT(bus.channel_unsubscribed, UnorderedElementsAre("a", "b"));
    EXPECT_EQ(h.channel_members(), 0u);
    bus.confirm_channel(1);  // b's late confirmation joins nothing
    s->run_pending();
    EXPECT_EQ(h.deliver_channel("b", make_frame("42[\"x\"]")), 0u);
    EXPECT_EQ(bus.channel_unsubscribed.size(), 2u);
}

// ---- the hand-over of a session with channels between nodes ----

// A pid node A issued: a node-b that sees it asks node A.
std::string const moving_pid = "node-a." + std::string(32, 'a');
// The CONNECT reply of a client connected anew on node B (a sid and a pid of its own).
constexpr char const* connected_anew_on_b = R"(40\{"sid":"[A-Za-z0-9_-]{20}","pid":"node-b\.[0-9a-f]{32}"\})";

// One node with recovery on: a hub that records, held sessions, the hand-over transport over the test's broker.
class handover_node {
  public:
    explicit handover_node(std::string id, hub::history_limits per_user = {})
        : h(4, recovery(per_user)),
          transport(bus, timers, reg, id, 3000ms),
          door(h, bus, nullptr, /*dev_auth*/ true, auth::clock::now,
               gate_recovery{&held, &timers, 120000ms,
                             [this](broker::undelivered u) { undelivered.push_back(std::move(u)); }, &transport, id}),
          srv(timers, socketio::options{}) {
        srv.add_namespace("/", door);
    }
    ~handover_node() {
        for (auto& s : sessions) {
            s->drop(engineio::disconnect_reason::server_shutdown);
        }
    }
    static hub::recovery_options recovery(hub::history_limits per_user) {
        hub::recovery_options r;
        r.enabled = true;
        r.first_seq = 1000;
        r.per_user = per_user;
        return r;
    }
    std::shared_ptr<fake_session> connect(std::string const& auth_json) {
        auto s = std::make_shared<fake_session>();
        sessions.push_back(s);
        s->open(srv);
        s->message("0" + auth_json);
        return s;
    }
    // A channel event as the fanout records it (the frame carries its meta and offset).
    void to_channel(std::string const& channel, int i, std::uint64_t key) {
        auto const seq = h.next_seq();
        std::string const payload = "{\"i\":" + std::to_string(i) + "}";
        h.deliver_channel_recorded(
            channel,
            socketio::encode_event_frame("c", payload, "/", std::to_string(seq), "{\"channel\":\"" + channel + "\"}"),
            seq, key);
    }
    // The last hand-over request this node sent.
    cluster::handover_request last_request() {
        EXPECT_FALSE(bus.sent_control.empty());
        EXPECT_EQ(bus.sent_control.back().type, cluster::handover_request_type);
        std::string why;
        auto r = cluster::decode_request(bus.sent_control.back().body, why);
        EXPECT_TRUE(r) << why;
        return r ? *r : cluster::handover_request{};
    }
    void reply(cluster::handover_reply r) {
        r.from = "node-a";
        transport.on_control(cluster::handover_reply_type, cluster::encode(r));
    }
    // A client of `user` reconnecting with moving_pid: once its binding here is confirmed, this node asks node A.
    std::shared_ptr<fake_session> reconnect_from_a(std::string const& user) {
        auto s = connect(R"({"user":")" + user + R"(","pid":")" + moving_pid + R"("})");
        bus.confirm(bus.subscribed.size() - 1);
        s->run_pending();
        return s;
    }
    // Node A's first-round answer to the last request: bind these channels, then ask again.
    void reply_bind_first(std::vector<std::string> channels) {
        cluster::handover_reply bind;
        bind.id = last_request().id;
        bind.error = cluster::handover_bind_channels_first;
        bind.channels = std::move(channels);
        reply(bind);
    }

    manual_scheduler timers;
    metrics::registry reg;
    std::vector<broker::undelivered> undelivered;  // what the gate sent to the undelivered exchange
    hub::hub h;
    held_broker bus;
    held_sessions held;
    handover transport;
    gate door;
    socketio::server srv;
    std::vector<std::shared_ptr<fake_session>> sessions;
};

TEST(gate_handover, the_asking_node_binds_the_sessions_channels_then_asks_again_and_the_socket_is_a_member) {
    handover_node b("node-b");
    auto s = b.reconnect_from_a("alice");
    EXPECT_EQ(b.bus.sent_control.back().node, "node-a");
    EXPECT_TRUE(b.last_request().channels.empty());

    b.reply_bind_first({"chat:1"});
    ASSERT_EQ(b.bus.channel_subscribed.size(), 1u);
    EXPECT_EQ(b.bus.channel_subscribed[0].user, "chat:1");
    EXPECT_EQ(b.bus.sent_control.size(), 1u) << "no second request before the channel is bound";
    b.to_channel("chat:1", 3, 33);  // reaches this node while it binds: kept for the socket

    b.bus.confirm_channel(0);
    s->run_pending();
    auto second = b.last_request();
    EXPECT_THAT(second.channels, ElementsAre("chat:1"));
    EXPECT_THAT(s->take(), IsEmpty()) << "no CONNECT reply before the hand-over";

    cluster::handover_reply ok;
    ok.id = second.id;
    ok.ok = true;
    ok.sid = "old-sid-0123456789ab";  // a Socket.IO id: 20 characters
    ok.events = {{11, "n", R"({"i":1})", ""}, {22, "c", R"({"i":2})", "chat:1"}, {33, "c", R"({"i":3})", "chat:1"}};
    b.reply(ok);
    auto out = s->take();
    ASSERT_EQ(out.size(), 4u);
    EXPECT_THAT(out[0], MatchesRegex(R"(40\{"sid":"old-sid-0123456789ab","pid":"node-a\.a{32}","missed":3\})"));
    EXPECT_THAT(out[1], MatchesRegex(R"(42\["n",\{"i":1\},"[0-9]+"\])"));
    EXPECT_THAT(out[2], MatchesRegex(R"(42\["c",\{"i":2\},\{"channel":"chat:1"\},"[0-9]+"\])"));
    EXPECT_THAT(out[3], MatchesRegex(R"(42\["c",\{"i":3\},\{"channel":"chat:1"\},"1000"\])"))
        << "the copy that reached this node, with this node's offset, once";
    EXPECT_EQ(b.door.stats().recovered_other_node.load(), 1u);
    EXPECT_EQ(b.h.channel_members(), 1u) << "a member of the channel here";
    EXPECT_EQ(b.h.held_sessions(), 0u);

    s->message(R"(21["unsubscribe",{"channel":"chat:1"}])");
    EXPECT_THAT(s->take(), ElementsAre(R"(431[{"ok":true}])"));
    EXPECT_THAT(b.bus.channel_unsubscribed, ElementsAre("chat:1")) << "its subscription is the socket's own";
}

TEST(gate_handover, a_socket_that_leaves_while_its_channels_bind_gives_them_back) {
    handover_node b("node-b");
    auto s = b.reconnect_from_a("alice");
    b.reply_bind_first({"chat:2", "chat:1", "chat:1"});  // duplicates are bound once
    ASSERT_EQ(b.bus.channel_subscribed.size(), 2u);

    s->drop(engineio::disconnect_reason::transport_close);
    EXPECT_THAT(b.bus.channel_unsubscribed, UnorderedElementsAre("chat:1", "chat:2"));
    EXPECT_THAT(b.bus.unsubscribed, ElementsAre("alice"));
    EXPECT_EQ(b.h.held_sessions(), 0u);
    b.to_channel("chat:1", 1, 1);
    EXPECT_EQ(b.h.history_bytes(), 0u) << "no record is kept for the channels";
    b.bus.confirm_channel(0);
    b.bus.confirm_channel(1);
    s->run_pending();
    EXPECT_EQ(b.bus.sent_control.size(), 1u) << "nobody to ask for any more";
    EXPECT_EQ(b.bus.channel_unsubscribed.size(), 2u);
}

TEST(gate_handover, a_channel_that_does_not_bind_connects_the_client_anew_without_it) {
    handover_node b("node-b");
    auto s = b.reconnect_from_a("alice");
    b.reply_bind_first({"chat:1", "bad name"});
    EXPECT_TRUE(b.bus.channel_subscribed.empty()) << "a name this node refuses: nothing is bound";
    EXPECT_THAT(s->take(), ElementsAre(MatchesRegex(connected_anew_on_b)));

    auto t = b.reconnect_from_a("bob");
    b.reply_bind_first({"chat:1"});
    b.bus.fail_channel(0);
    t->run_pending();
    EXPECT_THAT(t->take(), ElementsAre(MatchesRegex(connected_anew_on_b)));
    EXPECT_THAT(b.bus.channel_unsubscribed, ElementsAre("chat:1"));
    EXPECT_EQ(b.h.channel_members(), 0u);
    EXPECT_EQ(b.bus.sent_control.size(), 2u) << "no second round";
}

TEST(gate_handover, events_handed_over_to_a_node_whose_own_record_capped_out_go_to_the_undelivered_exchange) {
    handover_node b("node-b", hub::history_limits{2, 1 << 20});
    auto s = b.reconnect_from_a("alice");
    for (int i = 0; i < 3; ++i) {  // reach this node while it asks: the third pushes the first out of its record
        auto const seq = b.h.next_seq();
        b.h.deliver_recorded("alice", make_frame("42[\"n\",{},\"" + std::to_string(seq) + "\"]"), seq,
                             [] { return std::make_shared<broker::undelivered const>(); });
    }
    cluster::handover_reply ok;
    ok.id = b.last_request().id;
    ok.ok = true;
    ok.sid = "old-sid-0123456789ab";
    ok.events = {{11, "mail.new", R"({"i":1})", ""}, {22, "c", R"({"i":2})", "chat:1"}};
    b.reply(ok);
    EXPECT_THAT(s->take(), ElementsAre(MatchesRegex(connected_anew_on_b))) << "connected anew";
    // What waited here for the socket (the two this node still had) goes as no_session, as before; what the old
    // node handed over, as recovery_overflow.
    std::vector<broker::undelivered> overflow;
    for (auto const& u : b.undelivered) {
        if (u.reason == broker::undelivered_reason::recovery_overflow) {
            overflow.push_back(u);
        }
    }
    EXPECT_EQ(b.undelivered.size(), 3u);
    ASSERT_EQ(overflow.size(), 1u) << "the user's handed-over event; channel events are never undelivered";
    EXPECT_EQ(overflow[0].user, "alice");
    EXPECT_EQ(overflow[0].event, "mail.new");
    EXPECT_EQ(overflow[0].payload, R"({"i":1})");
    EXPECT_EQ(b.door.stats().recovery_overflow.load(), 1u);
}

TEST(gate_handover, the_holder_names_the_channels_first_then_hands_over_their_events_and_lets_them_go) {
    handover_node a("node-a");
    auto s = a.connect(R"({"user":"alice"})");
    a.bus.confirm(0);
    s->run_pending();
    auto const reply = s->take();
    ASSERT_EQ(reply.size(), 1u);
    std::smatch m;
    std::regex const pid_re(R"re("pid":"([^"]+)")re");
    ASSERT_TRUE(std::regex_search(reply[0], m, pid_re)) << reply[0];
    std::string const pid = m[1];
    s->message(R"(21["subscribe",{"channel":"chat:1"}])");
    a.bus.confirm_channel(0);
    s->run_pending();
    s->take();
    s->drop(engineio::disconnect_reason::transport_close);  // held
    ASSERT_EQ(a.h.held_sessions(), 1u);
    a.to_channel("chat:1", 1, 77);

    std::vector<cluster::handover_reply> answers;
    auto answer = [&answers](cluster::handover_reply r) { answers.push_back(std::move(r)); };
    cluster::handover_request r;
    r.from = "node-b";
    r.user = "alice";
    r.pid = pid;
    a.door.serve_handover(r, answer);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_FALSE(answers[0].ok);
    EXPECT_EQ(answers[0].error, cluster::handover_bind_channels_first);
    EXPECT_THAT(answers[0].channels, ElementsAre("chat:1"));
    EXPECT_EQ(a.h.held_sessions(), 1u) << "nothing given up in the first round";
    EXPECT_TRUE(a.bus.unsubscribed.empty());

    r.channels = {"chat:1"};
    a.door.serve_handover(r, answer);
    ASSERT_EQ(answers.size(), 2u);
    ASSERT_TRUE(answers[1].ok) << answers[1].error;
    ASSERT_EQ(answers[1].events.size(), 1u);
    EXPECT_EQ(answers[1].events[0].key, 77u);
    EXPECT_EQ(answers[1].events[0].event, "c");
    EXPECT_EQ(answers[1].events[0].payload, R"({"i":1})");
    EXPECT_EQ(answers[1].events[0].channel, "chat:1");
    EXPECT_EQ(a.h.held_sessions(), 0u);
    EXPECT_THAT(a.bus.unsubscribed, ElementsAre("alice"));
    EXPECT_THAT(a.bus.channel_unsubscribed, ElementsAre("chat:1"));
    EXPECT_EQ(a.h.history_bytes(), 0u) << "the user's and the channel's records went";
}
}  // namespace
}  // namespace pusher::app
