// socketio::server over an in-memory Engine.IO session: CONNECT and auth, asynchronous admission, events, acks both
// ways, binary both ways, connect timeout, disconnects, invalid input. Frames are compared as exact strings
// (`4` = Engine.IO message, then the Socket.IO packet), as the checker of docs/conformance.md does.
#include "socketio/server.hpp"
#include "socketio/client.hpp"
#include "unit/socketio/fakes.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <thread>

namespace pusher::socketio {
namespace {
using namespace std::chrono_literals;
using fakes::fake_session;
using fakes::manual_scheduler;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

// Behaves like the conformance application, with knobs for the admission.
class test_handler : public namespace_handler {
  public:
    enum class mode { accept, hold, reject, drop };
    mode decide = mode::accept;
    bool throw_on_event = false;
    std::vector<admission> held;
    std::vector<socket_ptr> connected;
    std::vector<std::string> auths;
    std::vector<std::pair<socket_ptr, disconnect_reason>> left;
    std::vector<std::string> events;  // "name args-json"

    void on_connect(socket_ptr const& s, connect_request const& req, admission a) override {
        connected.push_back(s);
        auths.emplace_back(req.auth_json);
        switch (decide) {
            case mode::accept:
                a.accept();
                s->emit("auth", {std::string("[").append(req.auth_json).append("]"), {}});
                break;
            case mode::hold:
                held.push_back(a);
                break;
            case mode::reject:
                a.reject("not allowed");
                break;
            case mode::drop:
                break;
        }
    }
    void on_event(socket_ptr const& s, event& e) override {
        events.push_back(e.name + " " + e.args.json);
        if (throw_on_event) {
            throw std::runtime_error("boom");
        }
        if (e.name == "message") {
            s->emit("message-back", std::move(e.args));
        } else if (e.name == "message-with-ack" && e.ack_id) {
            s->ack(*e.ack_id, std::move(e.args));
        }
    }
    void on_disconnect(socket_ptr const& s, disconnect_reason why) override { left.emplace_back(s, why); }
};

class socketio_server : public ::testing::Test {
  protected:
    socketio_server() : srv(timers, make_options()) {
        srv.add_namespace("/", main);
        srv.add_namespace("/custom", custom);
        session->open(srv);
    }
    // A real Engine.IO server always ends its sessions (on_close breaks the session <-> handler cycle).
    ~socketio_server() override { session->drop(engineio::disconnect_reason::server_shutdown); }
    static options make_options() {
        options o;
        o.connect_timeout = 1000ms;
        o.random = [n = std::uint64_t{0}]() mutable { return ++n * 0x9e3779b97f4a7c15ull; };
        return o;
    }
    std::vector<std::string> take() { return session->take(); }

    manual_scheduler timers;
    test_handler main;
    test_handler custom;
    server srv;
    std::shared_ptr<fake_session> session = std::make_shared<fake_session>();
};

constexpr char const* sid_re = "[A-Za-z0-9_-]{20}";

TEST_F(socketio_server, connect_main_namespace_replies_sid_then_auth_event) {
    session->message("0");
    auto out = take();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_THAT(out[0], MatchesRegex(std::string(R"(40\{"sid":")") + sid_re + R"("\})"));
    EXPECT_EQ(out[1], R"(42["auth",{}])");
    ASSERT_EQ(main.connected.size(), 1u);
    EXPECT_TRUE(main.connected[0]->connected());
    EXPECT_EQ(main.connected[0]->nsp(), "/");
    EXPECT_EQ(out[0], R"(40{"sid":")" + std::string(main.connected[0]->id()) + R"("})");
    EXPECT_EQ(main.connected[0]->session(), session);
    EXPECT_EQ(srv.stats().connects.load(), 1u);
}

TEST_F(socketio_server, connect_custom_namespace_echoes_auth_unchanged) {
    session->message(R"(0/custom,{"user":"x","n":1,"f":1.0,"o":{"b":[true,null]}})");
    auto out = take();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_THAT(out[0], MatchesRegex(std::string(R"(40/custom,\{"sid":")") + sid_re + R"("\})"));
    EXPECT_EQ(out[1], R"(42/custom,["auth",{"user":"x","n":1,"f":1.0,"o":{"b":[true,null]}}])");
    EXPECT_THAT(custom.auths, ElementsAre(R"({"user":"x","n":1,"f":1.0,"o":{"b":[true,null]}})"));
}

TEST_F(socketio_server, namespace_without_trailing_comma) {
    session->message("0/custom");
    auto out = take();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1], R"(42/custom,["auth",{}])");
}

TEST_F(socketio_server, socket_ids_are_fresh_per_namespace_socket) {
    session->message("0");
    session->message("0/custom");
    ASSERT_EQ(main.connected.size(), 1u);
    ASSERT_EQ(custom.connected.size(), 1u);
    EXPECT_NE(main.connected[0]->id(), custom.connected[0]->id());
    EXPECT_EQ(main.connected[0]->id().size(), 20u);
}

TEST_F(socketio_server, invalid_namespace_is_refused_and_the_connection_stays_open) {
    session->message("0/foo");
    EXPECT_THAT(take(), ElementsAre(R"(44/foo,{"message":"Invalid namespace"})"));
    session->message(R"(0/bar,{"x":1})");
    EXPECT_THAT(take(), ElementsAre(R"(44/bar,{"message":"Invalid namespace"})"));
    EXPECT_FALSE(session->closed);
    session->message("0");
    EXPECT_EQ(take().size(), 2u);
    EXPECT_EQ(srv.stats().invalid_namespaces.load(), 2u);
}

TEST_F(socketio_server, message_is_echoed_with_all_arguments) {
    session->message("0");
    take();
    session->message(R"(2["message",7,"x",{"k":[null]}])");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back",7,"x",{"k":[null]}])"));
    session->message(R"(2["message"])");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back"])"));
    session->message("2[ \"message\" , 1.50 , \"a b\" ]");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back",1.50,"a b"])"));
    EXPECT_THAT(main.events, ElementsAre(R"(message [7,"x",{"k":[null]}])", "message []", "message [1.50,\"a b\"]"));
}

TEST_F(socketio_server, message_with_ack_is_acknowledged_with_the_same_id) {
    session->message("0");
    take();
    session->message(R"(217["message-with-ack","a",2])");
    EXPECT_THAT(take(), ElementsAre(R"(4317["a",2])"));
    session->message(R"(218446744073709551615["message-with-ack"])");
    EXPECT_THAT(take(), ElementsAre(R"(4318446744073709551615[])"));
    session->message(R"(2["message-with-ack","no id"])");
    EXPECT_THAT(take(), IsEmpty());
}

TEST_F(socketio_server, events_in_custom_namespace_reach_its_handler) {
    session->message("0/custom,");
    take();
    session->message(R"(2/custom,5["message-with-ack",true])");
    EXPECT_THAT(take(), ElementsAre(R"(43/custom,5[true])"));
    session->message(R"(2/custom,["message",1])");
    EXPECT_THAT(take(), ElementsAre(R"(42/custom,["message-back",1])"));
    EXPECT_THAT(main.events, IsEmpty());
}

TEST_F(socketio_server, binary_event_is_echoed_as_binary) {
    session->message("0");
    take();
    session->message(R"(51-["message",{"_placeholder":true,"num":0}])");
    EXPECT_THAT(take(), IsEmpty());  // waiting for the attachment
    session->binary(std::string("\x01\x02\x03\x00", 4));
    EXPECT_THAT(take(), ElementsAre(R"(451-["message-back",{"_placeholder":true,"num":0}])",
                                    "bin:" + std::string("\x01\x02\x03\x00", 4)));
}

TEST_F(socketio_server, binary_ack_with_attachments_in_placeholder_order) {
    session->message("0");
    take();
    session->message(R"(52-33["message-with-ack",{"num":1,"_placeholder":true},"t",{"_placeholder":true,"num":0}])");
    session->binary("first");
    EXPECT_THAT(take(), IsEmpty());
    session->binary("second");
    EXPECT_THAT(take(), ElementsAre(R"(462-33[{"_placeholder":true,"num":0},"t",{"_placeholder":true,"num":1}])",
                                    "bin:second", "bin:first"));
}

TEST_F(socketio_server, binary_packet_whose_placeholders_are_unused_goes_out_as_text) {
    session->message("0");
    take();
    session->message(R"(51-["message","no binary here"])");
    session->binary("ignored");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back","no binary here"])"));
    session->message(R"(50-["message",1])");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back",1])"));
}

TEST_F(socketio_server, binary_event_in_custom_namespace_with_ack) {
    session->message("0/custom");
    take();
    session->message(R"(51-/custom,4["message-with-ack",{"_placeholder":true,"num":0}])");
    session->binary("B");
    EXPECT_THAT(take(), ElementsAre(R"(461-/custom,4[{"_placeholder":true,"num":0}])", "bin:B"));
}

TEST_F(socketio_server, async_admission_accepted_from_another_thread) {
    main.decide = test_handler::mode::hold;
    session->message(R"(0{"token":"t"})");
    EXPECT_THAT(take(), IsEmpty());
    ASSERT_EQ(main.held.size(), 1u);
    socket_ptr s = main.connected[0];
    EXPECT_FALSE(s->connected());

    // Events before the admission are dropped.
    session->message(R"(2["message",1])");
    EXPECT_THAT(take(), IsEmpty());

    std::thread([a = main.held[0]] { a.accept(); }).join();
    EXPECT_THAT(take(), IsEmpty());  // the decision hops to the session thread
    EXPECT_EQ(session->run_pending(), 1u);
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], R"(40{"sid":")" + std::string(s->id()) + R"("})");
    EXPECT_TRUE(s->connected());

    // Only the first decision counts.
    main.held[0].reject("too late");
    main.held[0].accept();
    EXPECT_THAT(take(), IsEmpty());

    session->message(R"(2["message",1])");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back",1])"));
}

TEST_F(socketio_server, async_admission_rejected_keeps_the_connection_open) {
    main.decide = test_handler::mode::hold;
    session->message("0");
    main.held[0].reject("bad token");
    EXPECT_THAT(take(), ElementsAre(R"(44{"message":"bad token"})"));
    EXPECT_FALSE(session->closed);
    EXPECT_FALSE(main.connected[0]->connected());
    EXPECT_THAT(main.left, IsEmpty());  // a rejected socket is not reported as disconnected
    EXPECT_EQ(srv.stats().rejects.load(), 1u);

    main.decide = test_handler::mode::accept;
    session->message("0");
    EXPECT_EQ(take().size(), 2u);
}

TEST_F(socketio_server, synchronous_reject) {
    custom.decide = test_handler::mode::reject;
    session->message("0/custom,");
    EXPECT_THAT(take(), ElementsAre(R"(44/custom,{"message":"not allowed"})"));
}

TEST_F(socketio_server, admission_dropped_undecided_is_a_reject) {
    main.decide = test_handler::mode::drop;
    session->message("0");
    EXPECT_THAT(take(), ElementsAre(R"(44{"message":"Connection refused"})"));
}

TEST_F(socketio_server, admission_after_the_client_left_is_a_no_op_and_the_app_is_told) {
    main.decide = test_handler::mode::hold;
    session->message("0");
    socket_ptr s = main.connected[0];
    session->drop(engineio::disconnect_reason::transport_close);
    ASSERT_EQ(main.left.size(), 1u);
    EXPECT_EQ(main.left[0].first, s);
    EXPECT_EQ(main.left[0].second, disconnect_reason::transport_close);

    std::thread([a = main.held[0]] { a.accept(); }).join();
    session->run_pending();
    EXPECT_THAT(take(), IsEmpty());
    EXPECT_FALSE(s->connected());
    EXPECT_EQ(main.left.size(), 1u);
}

TEST_F(socketio_server, admission_after_namespace_disconnect_is_a_no_op) {
    main.decide = test_handler::mode::hold;
    session->message("0");
    session->message("1");
    ASSERT_EQ(main.left.size(), 1u);
    EXPECT_EQ(main.left[0].second, disconnect_reason::client_namespace_disconnect);
    main.held[0].accept();
    EXPECT_THAT(take(), IsEmpty());
}

TEST_F(socketio_server, second_connect_for_a_joined_namespace_replaces_the_socket) {
    session->message("0");
    take();
    session->message(R"(0{"again":true})");
    auto out = take();
    ASSERT_EQ(out.size(), 2u);
    ASSERT_EQ(main.connected.size(), 2u);
    EXPECT_EQ(out[0], R"(40{"sid":")" + std::string(main.connected[1]->id()) + R"("})");
    EXPECT_EQ(out[1], R"(42["auth",{"again":true}])");
    ASSERT_EQ(main.left.size(), 1u);
    EXPECT_EQ(main.left[0].first, main.connected[0]);
    EXPECT_EQ(main.left[0].second, disconnect_reason::client_namespace_disconnect);
    EXPECT_FALSE(main.connected[0]->connected());
    EXPECT_TRUE(main.connected[1]->connected());
    session->message(R"(2["message",1])");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back",1])"));
}

TEST_F(socketio_server, second_connect_while_the_first_awaits_admission) {
    main.decide = test_handler::mode::hold;
    session->message("0");
    session->message("0");
    ASSERT_EQ(main.held.size(), 2u);
    main.held[0].accept();  // the replaced socket: no effect
    EXPECT_THAT(take(), IsEmpty());
    main.held[1].accept();
    EXPECT_EQ(take().size(), 1u);
    EXPECT_EQ(main.left.size(), 1u);
}

TEST_F(socketio_server, client_namespace_disconnect_is_silent_and_keeps_other_namespaces) {
    session->message("0");
    session->message("0/custom,");
    take();
    session->message("1/custom,");
    EXPECT_THAT(take(), IsEmpty());
    ASSERT_EQ(custom.left.size(), 1u);
    EXPECT_EQ(custom.left[0].second, disconnect_reason::client_namespace_disconnect);
    EXPECT_FALSE(custom.left[0].first->connected());
    EXPECT_FALSE(session->closed);

    session->message(R"(2["message","still here"])");
    EXPECT_THAT(take(), ElementsAre(R"(42["message-back","still here"])"));
    session->message(R"(2/custom,["message",1])");  // no longer joined: dropped
    EXPECT_THAT(take(), IsEmpty());

    session->message("1");  // the last namespace: the connection still stays open
    EXPECT_THAT(take(), IsEmpty());
    EXPECT_FALSE(session->closed);
    session->message("1/nothing");  // unknown namespace: ignored
    EXPECT_FALSE(session->closed);
    timers.advance(5000ms);
    EXPECT_FALSE(session->closed);  // joined once: the connect timeout no longer applies
}

TEST_F(socketio_server, server_side_disconnect_sends_disconnect_packet) {
    session->message("0/custom");
    take();
    socket_ptr s = custom.connected[0];
    s->disconnect();
    EXPECT_THAT(take(), ElementsAre("41/custom,"));
    ASSERT_EQ(custom.left.size(), 1u);
    EXPECT_EQ(custom.left[0].second, disconnect_reason::server_namespace_disconnect);
    EXPECT_FALSE(session->closed);
    s->emit("late");  // dropped
    EXPECT_THAT(take(), IsEmpty());
    s->disconnect();  // idempotent
    EXPECT_THAT(take(), IsEmpty());
    EXPECT_EQ(custom.left.size(), 1u);
}

TEST_F(socketio_server, server_side_disconnect_can_close_the_session) {
    session->message("0");
    take();
    main.connected[0]->disconnect(true);
    EXPECT_THAT(take(), ElementsAre("41"));
    EXPECT_EQ(session->closed, engineio::disconnect_reason::server_close);
    EXPECT_EQ(main.left.size(), 1u);
}

TEST_F(socketio_server, transport_close_reports_every_socket) {
    session->message("0");
    session->message("0/custom");
    session->drop(engineio::disconnect_reason::ping_timeout);
    ASSERT_EQ(main.left.size(), 1u);
    ASSERT_EQ(custom.left.size(), 1u);
    EXPECT_EQ(main.left[0].second, disconnect_reason::ping_timeout);
    EXPECT_EQ(to_string(main.left[0].second), "ping timeout");
    EXPECT_FALSE(main.connected[0]->connected());
}

TEST_F(socketio_server, emit_with_ack_gets_the_client_answer) {
    session->message("0");
    take();
    socket_ptr s = main.connected[0];
    std::vector<std::pair<ack_status, std::string>> got;
    auto record = [&](ack_status st, arguments a) { got.emplace_back(st, a.json); };
    s->emit_with_ack("ping", {"[1]", {}}, 5000ms, record);
    s->emit_with_ack("ping", {}, 5000ms, record);
    EXPECT_THAT(take(), ElementsAre(R"(420["ping",1])", R"(421["ping"])"));

    session->message(R"(31["second"])");
    session->message(R"(30["first",{"a":1}])");
    session->message(R"(30["again"])");  // already answered: ignored
    session->message(R"(37["unknown"])");
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], std::make_pair(ack_status::ok, std::string(R"(["second"])")));
    EXPECT_EQ(got[1], std::make_pair(ack_status::ok, std::string(R"(["first",{"a":1}])")));
    timers.advance(10s);
    EXPECT_EQ(got.size(), 2u);  // answered acks do not time out
}

TEST_F(socketio_server, emit_with_ack_binary_both_ways) {
    session->message("0/custom,");
    take();
    socket_ptr s = custom.connected[0];
    std::vector<std::string> got;
    s->emit_with_ack("file", {R"([{"_placeholder":true,"num":0}])", {make_frame("PNG")}}, 0ms,
                     [&](ack_status st, arguments a) {
                         EXPECT_EQ(st, ack_status::ok);
                         got.push_back(a.json);
                         for (auto const& b : a.binary) {
                             got.push_back(*b);
                         }
                     });
    EXPECT_THAT(take(), ElementsAre(R"(451-/custom,0["file",{"_placeholder":true,"num":0}])", "bin:PNG"));
    session->message(R"(61-/custom,0[{"_placeholder":true,"num":0}])");
    session->binary("OK");
    EXPECT_THAT(got, ElementsAre(R"([{"_placeholder":true,"num":0}])", "OK"));
}

TEST_F(socketio_server, emit_with_ack_times_out) {
    session->message("0");
    take();
    socket_ptr s = main.connected[0];
    std::vector<ack_status> got;
    s->emit_with_ack("ping", {}, 200ms, [&](ack_status st, arguments) { got.push_back(st); });
    timers.advance(199ms);
    EXPECT_THAT(got, IsEmpty());
    timers.advance(1ms);
    EXPECT_THAT(got, ElementsAre(ack_status::timeout));
    session->message(R"(30["late"])");
    EXPECT_THAT(got, ElementsAre(ack_status::timeout));
}

TEST_F(socketio_server, emit_with_ack_fails_on_disconnect_and_when_not_connected) {
    session->message("0");
    take();
    socket_ptr s = main.connected[0];
    std::vector<ack_status> got;
    s->emit_with_ack("ping", {}, 1000ms, [&](ack_status st, arguments) { got.push_back(st); });
    session->drop();
    EXPECT_THAT(got, ElementsAre(ack_status::disconnected));
    s->emit_with_ack("ping", {}, 1000ms, [&](ack_status st, arguments) { got.push_back(st); });
    EXPECT_THAT(got, ElementsAre(ack_status::disconnected, ack_status::disconnected));
    timers.advance(2s);
    EXPECT_EQ(got.size(), 2u);
}

TEST_F(socketio_server, emit_from_another_thread_hops_to_the_session_thread) {
    session->message("0");
    take();
    socket_ptr s = main.connected[0];
    std::thread([s] { s->emit("news", {R"([{"n":1}])", {make_frame("x")}}); }).join();
    EXPECT_THAT(take(), IsEmpty());
    session->run_pending();
    EXPECT_THAT(take(), ElementsAre(R"(451-["news",{"n":1}])", "bin:x"));
}

TEST_F(socketio_server, connect_timeout_closes_a_session_that_joins_nothing) {
    timers.advance(999ms);
    EXPECT_FALSE(session->closed);
    timers.advance(1ms);
    EXPECT_EQ(session->closed, engineio::disconnect_reason::server_close);
    EXPECT_EQ(srv.stats().connect_timeouts.load(), 1u);
}

TEST_F(socketio_server, connect_timeout_after_only_refused_connects) {
    session->message("0/nope");
    timers.advance(1000ms);
    EXPECT_TRUE(session->closed);
}

TEST_F(socketio_server, connect_timeout_spares_joined_and_pending_sessions) {
    session->message("0");
    timers.advance(2000ms);
    EXPECT_FALSE(session->closed);

    auto pending = std::make_shared<fake_session>();
    main.decide = test_handler::mode::hold;
    pending->open(srv);
    pending->message("0");
    timers.advance(2000ms);
    EXPECT_FALSE(pending->closed);  // the CONNECT arrived in time; the application is still deciding
    pending->drop();
}

TEST_F(socketio_server, connect_timeout_after_the_session_ended_does_nothing) {
    session->drop();
    timers.advance(2000ms);
    EXPECT_EQ(session->closed, engineio::disconnect_reason::transport_close);
    EXPECT_EQ(srv.stats().connect_timeouts.load(), 0u);
}

// docs/conformance.md §3 "Invalid input closes the connection".
struct invalid_case {
    char const* name;
    bool connect_first;
    char const* text;
};

class socketio_server_invalid : public socketio_server, public ::testing::WithParamInterface<invalid_case> {};

TEST_P(socketio_server_invalid, closes_the_connection) {
    if (GetParam().connect_first) {
        session->message("0");
        take();
    }
    session->message(GetParam().text);
    EXPECT_EQ(session->closed, engineio::disconnect_reason::parse_error);
    EXPECT_THAT(take(), IsEmpty());
    EXPECT_EQ(srv.stats().decode_errors.load(), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    cases, socketio_server_invalid,
    ::testing::Values(
        invalid_case{"unknown_type_before_connect", false, "9"}, invalid_case{"letter_before_connect", false, "x"},
        invalid_case{"unknown_type_after_connect", true, "7[\"message\"]"}, invalid_case{"empty_message", true, ""},
        invalid_case{"event_with_object", true, R"(2{"message":1})"},
        invalid_case{"event_with_empty_array", true, "2[]"}, invalid_case{"event_without_payload", true, "2"},
        invalid_case{"garbage_ack_id", true, R"(2abc["message"])"},
        invalid_case{"trailing_garbage", true, R"(2["message"]]])"}, invalid_case{"connect_with_array", false, "0[1]"},
        invalid_case{"disconnect_with_payload", true, "1{}"},
        invalid_case{"binary_without_count", true, R"(5["message"])"},
        invalid_case{"illegal_placeholder", true, R"(51-["message",{"_placeholder":true,"num":3}])"},
        invalid_case{"reserved_event", true, R"(2["disconnect"])"}),
    [](auto const& info) { return std::string(info.param.name); });

TEST_F(socketio_server, binary_without_a_binary_packet_closes) {
    session->message("0");
    take();
    session->binary("stray");
    EXPECT_EQ(session->closed, engineio::disconnect_reason::parse_error);
}

TEST_F(socketio_server, text_while_waiting_for_attachments_closes) {
    session->message("0");
    take();
    session->message(R"(52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
    session->binary("one");
    session->message(R"(2["message"])");
    EXPECT_EQ(session->closed, engineio::disconnect_reason::parse_error);
    EXPECT_THAT(take(), IsEmpty());
}

TEST_F(socketio_server, exception_in_a_handler_closes_only_that_session) {
    session->message("0");
    take();
    main.throw_on_event = true;
    session->message(R"(2["message"])");
    EXPECT_EQ(session->closed, engineio::disconnect_reason::server_close);
    EXPECT_EQ(main.left.size(), 1u);
}

TEST_F(socketio_server, socket_keeps_application_data) {
    session->message("0");
    socket_ptr s = main.connected[0];
    s->data() = std::string("alice");
    EXPECT_EQ(std::any_cast<std::string>(main.connected[0]->data()), "alice");
}

TEST_F(socketio_server, per_session_state_stays_small) {
    // A pusher holds tens of thousands of idle sessions: keep Socket.IO's share to a few hundred bytes.
    EXPECT_LE(sizeof(socket), 128u);
    EXPECT_LE(sizeof(detail::client), 112u);
    EXPECT_LE(sizeof(detail::client_link), 24u);
}

TEST_F(socketio_server, handler_and_sockets_are_released_after_close) {
    session->message("0");
    std::weak_ptr<socket> w = main.connected[0];
    session->drop();
    main.connected.clear();
    main.left.clear();
    EXPECT_TRUE(w.expired());
}
}  // namespace
}  // namespace pusher::socketio
