// Codec tables from the Socket.IO v5 protocol (socket.io-protocol README, "Packet encoding") and
// docs/conformance.md §3.
#include "socketio/packet.hpp"
#include "socketio/event_frame.hpp"

#include <gtest/gtest.h>

#include <string>

namespace pusher::socketio {
namespace {
using namespace std::string_literals;

packet ok(std::string_view text) {
    auto r = decode(text);
    EXPECT_TRUE(r.has_value()) << "decode failed for: " << text << ": " << (r ? "" : r.error().message());
    return r ? std::move(*r) : packet{};
}

decode_error err(std::string_view text) {
    auto r = decode(text);
    EXPECT_FALSE(r.has_value()) << "decode should fail for: " << text;
    return r ? decode_error{} : static_cast<decode_error>(r.error().value());
}

TEST(socketio_packet, connect_main_namespace_without_payload) {
    packet p = ok("0");
    EXPECT_EQ(p.type, packet_type::connect);
    EXPECT_EQ(p.nsp, "/");
    EXPECT_FALSE(p.id);
    EXPECT_EQ(p.data, "");
}

TEST(socketio_packet, connect_namespace_with_and_without_trailing_comma) {
    EXPECT_EQ(ok("0/custom").nsp, "/custom");
    EXPECT_EQ(ok("0/custom,").nsp, "/custom");
    packet p = ok(R"(0/admin,{"token":"123"})");
    EXPECT_EQ(p.nsp, "/admin");
    EXPECT_EQ(p.data, R"({"token":"123"})");
}

TEST(socketio_packet, connect_auth_keeps_key_order_and_numbers) {
    EXPECT_EQ(ok(R"(0{"z":1,"a":[1.0,2e3,-0],"m":{"b":null,"a":true}})").data,
              R"({"z":1,"a":[1.0,2e3,-0],"m":{"b":null,"a":true}})");
}

TEST(socketio_packet, disconnect) {
    EXPECT_EQ(ok("1").type, packet_type::disconnect);
    EXPECT_EQ(ok("1/custom,").nsp, "/custom");
    EXPECT_EQ(ok("1/custom").nsp, "/custom");
}

TEST(socketio_packet, event_splits_name_and_arguments) {
    packet p = ok(R"(2["message",7,"x",{"k":[null]}])");
    EXPECT_EQ(p.type, packet_type::event);
    EXPECT_EQ(p.event, "message");
    EXPECT_EQ(p.data, R"([7,"x",{"k":[null]}])");
    EXPECT_FALSE(p.id);

    packet none = ok(R"(2["bare"])");
    EXPECT_EQ(none.event, "bare");
    EXPECT_EQ(none.data, "[]");
}

TEST(socketio_packet, event_with_namespace_and_ack_id) {
    packet p = ok(R"(2/custom,33["a",{"b":[null,true,false,1.5e3,"x"]}])");
    EXPECT_EQ(p.nsp, "/custom");
    ASSERT_TRUE(p.id);
    EXPECT_EQ(*p.id, 33u);
    EXPECT_EQ(p.event, "a");
    EXPECT_EQ(p.data, R"([{"b":[null,true,false,1.5e3,"x"]}])");

    packet q = ok(R"(217["message-with-ack","a",2])");
    EXPECT_EQ(*q.id, 17u);
    EXPECT_EQ(q.data, R"(["a",2])");
    EXPECT_EQ(*ok(R"(20["x"])").id, 0u);
    EXPECT_EQ(*ok(R"(218446744073709551615["x"])").id, 18446744073709551615ull);
}

TEST(socketio_packet, event_json_is_made_compact_but_otherwise_kept) {
    EXPECT_EQ(ok("2[ \"a\" ,\n 1 , { \"k\" : [ null ] } ]").data, R"([1,{"k":[null]}])");
    EXPECT_EQ(ok(R"(2["a",1,1.0,1e2,-0,12345678901234567890123,0.1])").data,
              R"([1,1.0,1e2,-0,12345678901234567890123,0.1])");
    // Strings get the escapes JSON.stringify writes (what the reference server would echo).
    EXPECT_EQ(ok(R"(2["a","\u0041\n\"\/\\\u0001"])").data, R"(["A\n\"/\\\u0001"])");
    EXPECT_EQ(ok("2[\"a\",\"h\xc3\xa9llo \xe2\x82\xac\"]").data, "[\"h\xc3\xa9llo \xe2\x82\xac\"]");
    EXPECT_EQ(ok(R"(2["a",{"k\"q":"v"}])").data, R"([{"k\"q":"v"}])");
}

TEST(socketio_packet, event_name_may_be_a_number) {
    packet p = ok("2[42,1]");
    EXPECT_EQ(p.event, "42");
    EXPECT_EQ(p.data, "[1]");
}

TEST(socketio_packet, placeholders_in_a_text_event_are_plain_objects) {
    EXPECT_EQ(ok(R"(2["a",{"num":0,"_placeholder":true}])").data, R"([{"num":0,"_placeholder":true}])");
}

TEST(socketio_packet, ack) {
    packet p = ok(R"(3/custom,5["x",1])");
    EXPECT_EQ(p.type, packet_type::ack);
    EXPECT_EQ(*p.id, 5u);
    EXPECT_EQ(p.data, R"(["x",1])");
    EXPECT_EQ(ok("312[]").data, "[]");
    EXPECT_EQ(ok("31").data, "");  // no arguments at all
}

TEST(socketio_packet, connect_error) {
    EXPECT_EQ(ok(R"(4{"message":"x"})").type, packet_type::connect_error);
    EXPECT_EQ(ok(R"(4/custom,"x")").data, R"("x")");
}

TEST(socketio_packet, binary_event_with_one_attachment) {
    packet p = ok(R"(51-["message",{"_placeholder":true,"num":0}])");
    EXPECT_EQ(p.type, packet_type::binary_event);
    EXPECT_EQ(p.attachments, 1u);
    EXPECT_EQ(p.event, "message");
    EXPECT_EQ(p.data, R"([{"_placeholder":true,"num":0}])");
    EXPECT_EQ(p.sources, (std::vector<std::uint32_t>{0}));
}

TEST(socketio_packet, binary_placeholders_are_renumbered_in_order_of_appearance) {
    packet p = ok(R"(52-/custom,9["a",{"num":1,"_placeholder":true},[{ "_placeholder" : true , "num" : 0 }]])");
    EXPECT_EQ(p.nsp, "/custom");
    EXPECT_EQ(*p.id, 9u);
    EXPECT_EQ(p.attachments, 2u);
    EXPECT_EQ(p.data, R"([{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]])");
    EXPECT_EQ(p.sources, (std::vector<std::uint32_t>{1, 0}));

    std::vector<frame> received = {make_frame("zero"), make_frame("one")};
    arguments args = take_arguments(p, received);
    EXPECT_EQ(args.json, R"([{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]])");
    ASSERT_EQ(args.binary.size(), 2u);
    EXPECT_EQ(*args.binary[0], "one");
    EXPECT_EQ(*args.binary[1], "zero");
}

TEST(socketio_packet, binary_placeholder_used_twice_gives_two_attachments) {
    packet p = ok(R"(51-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}])");
    EXPECT_EQ(p.sources, (std::vector<std::uint32_t>{0, 0}));
    EXPECT_EQ(p.data, R"([{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
}

// Regression (found by fuzz/targets/sio_packet.cpp): placeholders were unbounded. Each one becomes an attachment when
// the arguments are sent on, so `51-[..., 16 placeholders of num 0]` came back as a packet announcing 16 attachments,
// which this decoder itself refuses (and one attachment could be multiplied without limit).
TEST(socketio_packet, binary_placeholders_are_bounded_like_attachments) {
    std::string ten = R"(51-["a")";
    for (int i = 0; i < 10; ++i) {
        ten += R"(,{"_placeholder":true,"num":0})";
    }
    EXPECT_EQ(ok(ten + "]").sources.size(), 10u);  // the limit (decode_limits::max_attachments) itself is fine
    EXPECT_EQ(err(ten + R"(,{"_placeholder":true,"num":0}])"), decode_error::too_many_attachments);
}

TEST(socketio_packet, binary_placeholder_object_replaces_what_it_contains) {
    // Like reconstructPacket: the outer placeholder wins, anything inside it goes.
    packet p = ok(R"(52-["a",{"_placeholder":true,"num":1,"x":{"_placeholder":true,"num":0}}])");
    EXPECT_EQ(p.data, R"([{"_placeholder":true,"num":0}])");
    EXPECT_EQ(p.sources, (std::vector<std::uint32_t>{1}));
    // `_placeholder` must be exactly true; the last duplicate key wins.
    EXPECT_EQ(ok(R"(51-["a",{"_placeholder":1,"num":0}])").sources.size(), 0u);
    EXPECT_EQ(ok(R"(51-["a",{"_placeholder":true,"_placeholder":false,"num":0}])").sources.size(), 0u);
}

TEST(socketio_packet, binary_ack_and_zero_attachments) {
    packet p = ok(R"(61-33[{"_placeholder":true,"num":0}])");
    EXPECT_EQ(p.type, packet_type::binary_ack);
    EXPECT_EQ(*p.id, 33u);
    EXPECT_EQ(p.attachments, 1u);
    packet z = ok(R"(50-["a",1])");
    EXPECT_EQ(z.attachments, 0u);
    EXPECT_EQ(z.data, "[1]");
}

TEST(socketio_packet, invalid_type) {
    EXPECT_EQ(err(""), decode_error::empty_packet);
    EXPECT_EQ(err("7"), decode_error::unknown_type);
    EXPECT_EQ(err("9[]"), decode_error::unknown_type);
    EXPECT_EQ(err("a"), decode_error::unknown_type);
    EXPECT_EQ(err(R"(x2["a"])"), decode_error::unknown_type);
    EXPECT_EQ(err(R"( 2["a"])"), decode_error::unknown_type);
}

TEST(socketio_packet, invalid_event_payloads) {
    EXPECT_EQ(err("2"), decode_error::invalid_payload);
    EXPECT_EQ(err("2/custom,"), decode_error::invalid_payload);
    EXPECT_EQ(err(R"(2{"a":1})"), decode_error::invalid_payload);
    EXPECT_EQ(err("2[]"), decode_error::invalid_payload);
    EXPECT_EQ(err(R"(2"x")"), decode_error::invalid_payload);
    EXPECT_EQ(err("2[{}]"), decode_error::invalid_payload);
    EXPECT_EQ(err("2[null]"), decode_error::invalid_payload);
    EXPECT_EQ(err("2[[\"a\"]]"), decode_error::invalid_payload);
    EXPECT_EQ(err(R"(2["connect"])"), decode_error::reserved_event_name);
    EXPECT_EQ(err(R"(2["disconnect",1])"), decode_error::reserved_event_name);
}

TEST(socketio_packet, garbage_where_the_ack_id_would_be) {
    EXPECT_EQ(err(R"(2abc["message"])"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(212x["message"])"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(2/custom,abc["message"])"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(299999999999999999999999["x"])"), decode_error::bad_ack_id);
}

TEST(socketio_packet, invalid_json) {
    EXPECT_EQ(err(R"(2["a"]x)"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(2["a"] ["b"])"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(2["a",])"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(2["a")"), decode_error::invalid_json);
    EXPECT_EQ(err("2[\"\xff\"]"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(2["a",NaN])"), decode_error::invalid_json);
    EXPECT_EQ(err(R"(2["a"/*c*/])"), decode_error::invalid_json);
    EXPECT_EQ(err("2[\"a\"," + std::string(100, '[') + std::string(100, ']') + "]"), decode_error::invalid_json);
    // 60 levels are fine (the default Boost.JSON limit of 32 is raised to 64).
    EXPECT_EQ(ok("2[\"a\"," + std::string(60, '[') + std::string(60, ']') + "]").event, "a");
}

TEST(socketio_packet, invalid_connect_and_disconnect_payloads) {
    EXPECT_EQ(err("0[]"), decode_error::invalid_payload);
    EXPECT_EQ(err(R"(0"x")"), decode_error::invalid_payload);
    EXPECT_EQ(err("0null"), decode_error::invalid_payload);
    EXPECT_EQ(err(R"(0/custom,"x")"), decode_error::invalid_payload);
    EXPECT_EQ(err("1{}"), decode_error::invalid_payload);
    EXPECT_EQ(err(R"(1/custom,"x")"), decode_error::invalid_payload);
}

TEST(socketio_packet, invalid_binary_headers) {
    EXPECT_EQ(err(R"(5["a"])"), decode_error::bad_attachments);
    EXPECT_EQ(err(R"(5x-["a"])"), decode_error::bad_attachments);
    EXPECT_EQ(err(R"(51["a"])"), decode_error::bad_attachments);
    EXPECT_EQ(err("51"), decode_error::bad_attachments);
    EXPECT_EQ(err(R"(511-["a"])"), decode_error::too_many_attachments);
    EXPECT_EQ(err(R"(599999999999999999999999-["a"])"), decode_error::bad_attachments);
}

TEST(socketio_packet, illegal_placeholders) {
    EXPECT_EQ(err(R"(51-["a",{"_placeholder":true,"num":1}])"), decode_error::illegal_attachments);
    EXPECT_EQ(err(R"(51-["a",{"_placeholder":true}])"), decode_error::illegal_attachments);
    EXPECT_EQ(err(R"(51-["a",{"_placeholder":true,"num":"0"}])"), decode_error::illegal_attachments);
    EXPECT_EQ(err(R"(51-["a",{"_placeholder":true,"num":-1}])"), decode_error::illegal_attachments);
    EXPECT_EQ(err(R"(51-["a",{"_placeholder":true,"num":0.5}])"), decode_error::illegal_attachments);
    EXPECT_EQ(err(R"(51-["a",{"_placeholder":true,"num":[0]}])"), decode_error::illegal_attachments);
}

TEST(socketio_packet, encode_connect_and_errors) {
    EXPECT_EQ(*encode_connect("/", "abc"), R"(40{"sid":"abc"})");
    EXPECT_EQ(*encode_connect("/custom", "abc"), R"(40/custom,{"sid":"abc"})");
    EXPECT_EQ(*encode_connect_error("/foo", "Invalid namespace"), R"(44/foo,{"message":"Invalid namespace"})");
    EXPECT_EQ(*encode_connect_error("/", "say \"no\""), R"(44{"message":"say \"no\""})");
    EXPECT_EQ(*encode_disconnect("/"), "41");
    EXPECT_EQ(*encode_disconnect("/custom"), "41/custom,");
}

TEST(socketio_packet, encode_event) {
    EXPECT_EQ(*encode_event("/", "auth", {"[{}]", {}}), R"(42["auth",{}])");
    EXPECT_EQ(*encode_event("/custom", "auth", {R"([{"user":"x"}])", {}}), R"(42/custom,["auth",{"user":"x"}])");
    EXPECT_EQ(*encode_event("/", "message-back", {}), R"(42["message-back"])");
    EXPECT_EQ(*encode_event("/", "e", {"[ ]", {}}), R"(42["e"])");
    EXPECT_EQ(*encode_event("/", "q\"", {"[1,2]", {}}, 12), R"(4212["q\"",1,2])");
    arguments bin{R"([{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
                  {make_frame("a"), make_frame("b")}};
    EXPECT_EQ(*encode_event("/", "message-back", bin),
              R"(452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
    EXPECT_EQ(*encode_event("/custom", "up", bin, 4),
              R"(452-/custom,4["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])");
}

TEST(socketio_packet, encode_ack) {
    EXPECT_EQ(*encode_ack("/", 17, {R"(["a",2])", {}}), R"(4317["a",2])");
    EXPECT_EQ(*encode_ack("/custom", 0, {}), "43/custom,0[]");
    EXPECT_EQ(*encode_ack("/", 33, {R"([{"_placeholder":true,"num":0}])", {make_frame("x")}}),
              R"(461-33[{"_placeholder":true,"num":0}])");
}

TEST(socketio_packet, decoded_arguments_echo_byte_exact) {
    std::string const in = R"(2["message",7,"x",{"k":[null]},1.0,[],{}])";
    packet p = ok(in);
    arguments args = take_arguments(p, {});
    EXPECT_EQ(*encode_event("/", "message-back", args), R"(42["message-back",7,"x",{"k":[null]},1.0,[],{}])");
}

// decode_event_frame is the inverse of encode_event_frame with an offset (the hand-over reads frames back).
TEST(EventFrame, DecodesWhatItEncodes) {
    for (auto [event, payload] :
         {std::pair{"mail.new"s, R"({"a":[1,2.50,"x\"y"]})"s}, std::pair{"q\"uote\\s"s, "null"s},
          std::pair{"caf\xc3\xa9"s, R"("a string, with \"quotes\" and ,\"")"s}}) {
        auto const f = encode_event_frame(event, payload, "/", "18446744073709551615");
        auto const parts = decode_event_frame(*f);
        ASSERT_TRUE(parts) << *f;
        EXPECT_EQ(parts->event, event);
        EXPECT_EQ(parts->payload_json, payload);
        EXPECT_EQ(parts->meta_json, "");
        // A channel event: the meta comes apart from the payload, whatever the payload's shape.
        auto const c = encode_event_frame(event, payload, "/", "7", R"({"channel":"room:1"})");
        auto const cparts = decode_event_frame(*c);
        ASSERT_TRUE(cparts) << *c;
        EXPECT_EQ(cparts->event, event);
        EXPECT_EQ(cparts->payload_json, payload);
        EXPECT_EQ(cparts->meta_json, R"({"channel":"room:1"})");
    }
    auto const object_payload = decode_event_frame(R"(42["e",{"a":1},{"channel":"x"},"12"])");
    ASSERT_TRUE(object_payload);
    EXPECT_EQ(object_payload->payload_json, R"({"a":1})");
    EXPECT_EQ(object_payload->meta_json, R"({"channel":"x"})");
    for (std::string_view bad : {"", "42", R"(42["e"])", R"(42["e",1])", R"(42/ns,["e",1,"5"])", R"(43["e",1,"5"])",
                                 R"(42[1,1,"5"])", R"(42["e,1,"5"])", R"(42["e",1,""])", R"(42["e",1,"x5"])",
                                 R"(42["e",1,2,"5"])", R"(42["e",1,{"c":"5"])", R"(42["e",{"a":1,"5"])"}) {
        EXPECT_FALSE(decode_event_frame(bad)) << bad;
    }
}
}  // namespace
}  // namespace pusher::socketio
