#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ from the protocol specs (engine.io-protocol v4,
socket.io-protocol v5), docs/conformance.md-style exchanges and docs/configuration.md. Each seed is named
`seed-<what>`; rerun after changing a target's input format. Inputs the fuzzers found worth keeping (regressions)
live next to them as `regress-*` and are never touched here."""
import hashlib
import hmac
import os
import struct
import sys

top = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(top, "corpus")


def write(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clear_seeds(target):
    d = os.path.join(corpus, target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if n.startswith("seed-"):
                os.remove(os.path.join(d, n))


RS = "\x1e"

# --- Engine.IO packets and polling payloads (engine.io-protocol v4, docs/conformance.md §4) -----------------------
eio = {
    "open": '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,'
            '"maxPayload":1000000}',
    "close": "1", "ping": "2", "probe": "2probe", "pong-probe": "3probe", "pong": "3", "upgrade": "5", "noop": "6",
    "message": "4HelloWorld", "sio-connect": "40", "two-events": '42["hello"]' + RS + '42["world"]',
    "binary": "bAQIDBA==", "binary-unpadded": "bAQIDBA", "mixed": "4hello" + RS + "bAQIDBA==" + RS + "2",
    "empty-binary": "b", "binary-event": '451-["message",{"_placeholder":true,"num":0}]' + RS + "bAQIDBA==",
    "utf8": "4\u00e9\u20ac\U0001f600", "bad-empty-record": "4a" + RS + RS + "4b", "bad-type": "7",
    "bad-base64": "bA===",
    # Engine.IO v3 polling payloads (engineio/payload_v3.hpp): `len:packet`, lengths in UTF-16 code units
    "v3-text": '6:4hello1:214:42["a","caf\u00e9"]', "v3-surrogate": "3:4\U0001f600",
    "v3-binary-b64": "6:b4AQID", "v3-binary-form": b"\x00\x06\xff4hello\x01\x04\xff\x04\x01\x02\x03",
    "v3-bad-length": "7:4hello", "v3-cut": "6:4hello1:",
}

# --- websocket frames (RFC 6455 §5) --------------------------------------------------------------------------------
MASK = b"\x37\xfa\x21\x3d"


def frame(opcode, payload, fin=True, mask=MASK, rsv=0):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def ws(max_sel, split, *frames):
    return bytes([max_sel, split]) + b"".join(frames)


ws_seeds = {
    "probe": ws(6, 0, frame(1, "2probe"), frame(1, "5")),
    "message": ws(6, 3, frame(1, '42["message",7,"x",{"k":[null]}]')),
    "binary": ws(6, 5, frame(1, '451-["message",{"_placeholder":true,"num":0}]'), frame(2, b"\x01\x02\x03\x04")),
    "ping-close": ws(4, 1, frame(9, "hi"), frame(8, struct.pack(">H", 1000) + b"bye")),
    "fragmented": ws(6, 2, frame(1, "4hel", fin=False), frame(9, ""), frame(0, "lo", fin=True)),
    "len126": ws(6, 7, frame(1, "4" + "x" * 300)),
    "utf8": ws(6, 9, frame(1, "4\u00e9\u20ac\U0001f600")),
    "close-empty": ws(6, 0, frame(8, "")),
    "too-big": ws(3, 0, frame(1, "4" + "y" * 40)),
    "unmasked": ws(6, 0, frame(1, "4x", mask=None)),
    "rsv1": ws(6, 0, frame(1, "4x", rsv=0x40)),
    "bad-utf8": ws(6, 0, frame(1, b"4\xc3\x28")),
    "bad-close-code": ws(6, 0, frame(8, struct.pack(">H", 1005))),
    "pong": ws(6, 4, frame(0xA, "p"), frame(1, "3")),
}

# --- Socket.IO packets (socket.io-protocol v5 "Packet encoding", docs/conformance.md §3), without Engine.IO's `4` -
sio = {
    "connect": "0", "connect-sid": '0{"sid":"wZX3oN0bSVIhsaknAAAI"}', "connect-admin": "0/admin,",
    "connect-admin-token": '0/admin,{"token":"123"}', "connect-custom-nocomma": "0/custom",
    "connect-error": '4{"message":"Not authorized"}', "event": '2["foo"]', "event-admin": '2/admin,["bar"]',
    "binary-event": '51-["baz",{"_placeholder":true,"num":0}]',
    "binary-event-2": '52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
    "event-ack": '212["foo"]', "ack-empty": "312[]", "event-admin-ack": '2/admin,13["foo"]',
    "ack-admin": '3/admin,13["bar"]', "binary-event-ack": '51-14["foo",{"_placeholder":true,"num":0}]',
    "binary-ack": '61-15["bar",{"_placeholder":true,"num":0}]', "disconnect": "1", "disconnect-admin": "1/admin,",
    "conformance-message": '2["message",7,"x",{"k":[null]}]', "conformance-ack": '217["message-with-ack","a",2]',
    "conformance-binary-ack": '52-33["message-with-ack",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]',
    "numbers": '2["n",1,1.0,-0,1e400,0e9,12345678901234567890,[],{}]',
    "escapes": '2["e\\u0041\\n\\ud83d\\ude00","\\"\\\\\\/"]', "number-event": "2[42,true]",
    "nested-placeholder": '51-["x",{"_placeholder":true,"num":0,"a":{"_placeholder":true,"num":5}}]',
    "reserved": '2["connect"]', "whitespace": '2 [ "a" , { "b" : 1 } ] ',
}

# --- JWT: [mode] then a raw token (mode & 3 == 0) or `header\nclaims` the target signs ---------------------------
SECRET = b"fuzz-target-secret-not-a-real-one-0123456789"


def b64url(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256(header, claims):
    signing = b64url(header.encode()) + "." + b64url(claims.encode())
    return signing + "." + b64url(hmac.new(SECRET, signing.encode(), hashlib.sha256).digest())


HS = '{"alg":"HS256","typ":"JWT"}'
jwt = {
    "raw-hs256": bytes([0]) + hs256(HS, '{"sub":"alice","exp":1800000000}').encode(),
    "raw-expired": bytes([0]) + hs256(HS, '{"sub":"alice","exp":1600000000}').encode(),
    "raw-alg-none": bytes([0]) + (b64url(b'{"alg":"none"}') + "." + b64url(b'{"sub":"x"}') + ".").encode(),
    "raw-garbage": bytes([0]) + b"a.b.c",
    "hs256": bytes([1]) + b'{"alg":"HS256"}\n{"sub":"alice","iat":1700000000}',
    "hs256-claims": bytes([1 | 12]) + b'{"alg":"HS256","typ":"JWT"}\n{"sub":"bob","aud":["x","pusher"],"nbf":1699999990,"exp":1700000100.5}',
    "rs256": bytes([2 | 4]) + b'{"alg":"RS256","kid":"k1"}\n{"sub":"carol","exp":1700003600,"aud":"pusher","iss":"https://auth.example"}',
    "es256": bytes([3 | 8]) + b'{"alg":"ES256"}\n{"sub":"dave","exp":1700000004}',
    "crit": bytes([1]) + b'{"alg":"HS256","crit":["b64"]}\n{"sub":"x"}',
    "wrong-alg": bytes([2]) + b'{"alg":"HS256"}\n{"sub":"x"}',
    "sub-number": bytes([1]) + b'{"alg":"HS256"}\n{"sub":12}',
    "deep-claims": bytes([1]) + b'{"alg":"HS256"}\n{"sub":"a","x":' + b"[" * 40 + b"]" * 40 + b"}",
}

# --- AMQP deliveries: [flags][u8 rk len][rk][u16 props len][basic properties][body] --------------------------------
def shortstr(s):
    s = s.encode() if isinstance(s, str) else s
    return bytes([len(s)]) + s


def table(entries):
    body = b""
    for key, kind, value in entries:
        body += shortstr(key) + kind.encode()
        if kind == "l":
            body += struct.pack(">q", value)
        elif kind == "I":
            body += struct.pack(">i", value)
        elif kind == "T":
            body += struct.pack(">Q", value)
        elif kind == "d":
            body += struct.pack(">d", value)
        elif kind == "S":
            body += struct.pack(">I", len(value)) + value.encode()
        elif kind == "t":
            body += bytes([value])
    return struct.pack(">I", len(body)) + body


def props(content_type=None, headers=None, message_id=None, timestamp=None, type_=None, delivery_mode=None):
    flags = 0
    out = b""
    if content_type is not None:
        flags |= 0x8000
        out += shortstr(content_type)
    if headers is not None:
        flags |= 0x2000
        out += table(headers)
    if delivery_mode is not None:
        flags |= 0x1000
        out += bytes([delivery_mode])
    if message_id is not None:
        flags |= 0x0080
        out += shortstr(message_id)
    if timestamp is not None:
        flags |= 0x0040
        out += struct.pack(">Q", timestamp)
    if type_ is not None:
        flags |= 0x0020
        out += shortstr(type_)
    return struct.pack(">H", flags) + out


def delivery(flags, rk, p, body):
    body = body.encode() if isinstance(body, str) else body
    return bytes([flags]) + shortstr(rk) + struct.pack(">H", len(p)) + p + body


amqp = {
    "user-json": delivery(0, "alice", props("application/json", [("timestamp_ms", "l", 1700000000000)], "m-1",
                                            1700000000, "mail.new", 1), '{"subject":"hi","n":1.50}'),
    "broadcast": delivery(1, "", props(type_="maintenance"), '"at 22:00"'),
    "text-body": delivery(0, "alice", props("text/plain"), "plain text, not JSON"),
    "not-utf8": delivery(0, "alice", props(), b"\xff\xfe bytes \xc3\x28 \xed\xa0\x80"),
    "empty-body": delivery(0, "alice", props(type_="ping"), ""),
    "no-props": delivery(0, "bob", b"", "[1,2,3]"),
    "reserved": delivery(0, "alice", props(type_="connect"), "{}"),
    "other-exchange": delivery(2, "alice", props(), "{}"),
    "no-routing-key": delivery(0, "", props(), "{}"),
    "header-kinds": delivery(4, "bob", props("application/vnd.x+json; charset=utf-8",
                                             [("timestamp_ms", "S", "1700000000123"), ("x", "t", 1)]), " {\"a\":[]} "),
    "header-double": delivery(0, "alice", props(headers=[("timestamp_ms", "d", 1.7e12)]), "null"),
    "deep": delivery(0, "alice", props(), "[" * 40 + "]" * 40),
}

# --- /api/publish: [flags]Authorization\nbody ---------------------------------------------------------------------
api = {
    "user": b"\x00\n" + b'{"user":"alice","event":"mail.new","data":{"subject":"hi","n":1.50}}',
    "users": b"\x00\n" + b'{"users":["a","b","a"],"data":[1,2]}',
    "broadcast": b"\x00\n" + b'{"broadcast":true,"event":"maintenance","data":"at 22:00","id":"m-1"}',
    "key": b"\x01Bearer k3y-for-fuzzing\n" + b'{"user":"alice"}',
    "key-wrong": b"\x01bearer  nope \n" + b'{"user":"alice"}',
    "small": b"\x02\n" + b'{"users":["a","b","c","d"]}',
    "duplicate": b"\x00\n" + b'{"user":"a","user":"b"}',
    "unknown": b"\x00\n" + b'{"user":"a","payload":1}',
    "reserved": b"\x00\n" + b'{"user":"a","event":"disconnect"}',
    "two-targets": b"\x00\n" + b'{"user":"a","broadcast":true}',
    "broadcast-false": b"\x00\n" + b'{"user":"a","broadcast":false, "data" : 1e3 }',
    "get": b"\x04\n{}",
    "deep-data": b"\x00\n" + b'{"user":"a","data":' + b"[" * 40 + b"]" * 40 + b"}",
}

# --- configuration: [option][value]\n[TOML]\0[flags per line]\0[env per line] -------------------------------------
TOML = """# Unite Pusher: keys are the flag names (with _ or -); flags and PUSHER_* env override them.
listen = "0.0.0.0:8080"
threads = 4
allowed_origins = ["https://app.example.com", "https://admin.example.com"]
max_connections = 200000

broker = "amqp"
amqp_url = "amqp://pusher:change-me@rabbitmq.internal:5672/"
exchange = "pusher"
broadcast_exchange = "pusher.broadcast"
unbind_grace_ms = 2000

jwt_public_key = "/etc/pusher/jwt.pub.pem"
jwt_issuer = "https://id.example.com"
jwt_audience = "pusher"
jwt_require_exp = true

api_key = "change-me-too"
log_level = "info"
log_format = "json"
drain_ms = 10000
"""
config = {
    "docs-example": b"\x00127.0.0.1:9000\n" + TOML.encode() + b"\0--threads\n8\0PUSHER_LOG_LEVEL=debug",
    "dev": b"\x01" + b"2\n" + b"" + b"\0--broker\nmemory\n--dev-auth\n--listen\n127.0.0.1:8080\0",
    "errors": b"\x05" + b"yes\n" + b"threads = -1\n[table]\nx = 1\nlisten = 5\n" + b"\0--bogus\0PUSHER_BROKER=kafka",
    "origins": b"\x04" + b"https://a.example,https://b.example\n" + b'allowed-origins = "*"\n' + b"\0\0",
    "help": b"\x02" + b"10\n" + b"\0--help\0",
    "syntax": b"\x03" + b"amqp://x\n" + b'listen = "unterminated\n' + b"\0\0",
    "ipv6": b"\x00" + b"[::1]:0\n" + b'listen = "[::1]:0"\ndev_auth = true\n' + b"\0\0",
}

# --- HTTP requests to the Engine.IO endpoint (socket.io-protocol "Sample session", docs/conformance.md §4) --------
def req(method, query, headers=(), body=None, path="/socket.io/"):
    lines = ["%s %s?%s HTTP/1.1" % (method, path, query) if query is not None else "%s %s HTTP/1.1" % (method, path),
             "Host: localhost:3000"]
    lines += list(headers)
    data = body.encode() if isinstance(body, str) else body
    if data is not None:
        lines.append("Content-Length: %d" % len(data))
        lines.append("Content-Type: text/plain;charset=UTF-8")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (data or b"")


POLL = "EIO=4&transport=polling&t=N8hyd7H&sid=$SID"
http_seeds = {
    "handshake": req("GET", "EIO=4&transport=polling&t=N8hyd6w"),
    "handshake-origin": req("GET", "EIO=4&transport=polling", ["Origin: https://app.example"]),
    "handshake-bad-origin": req("GET", "EIO=4&transport=polling", ["Origin: https://evil.example"]),
    "post-poll": req("POST", POLL, body="40") + req("GET", POLL),
    "sample-session": req("POST", POLL, body='42["hello"]\x1e42["world"]') + req("GET", POLL),
    "binary": req("POST", POLL, body="451-[\"m\",{\"_placeholder\":true,\"num\":0}]\x1ebAQIDBA==") + req("GET", POLL),
    "pong": req("POST", POLL, body="3") + req("GET", POLL),
    "close-while-held": req("GET", POLL) + req("POST", POLL, body="1") + req("GET", POLL),
    "double-get": req("GET", POLL) + req("GET", POLL),
    "no-eio": req("GET", "transport=polling"),
    "eio3": req("GET", "EIO=3&transport=polling"),
    "eio-abc": req("GET", "EIO=abc&transport=polling"),
    "unknown-transport": req("GET", "EIO=4&transport=flashsocket"),
    "no-query": req("GET", None),
    "post-handshake": req("POST", "EIO=4&transport=polling", body="40"),
    "put": req("PUT", POLL, body="40"),
    "unknown-sid": req("GET", "EIO=4&transport=polling&sid=nope"),
    "preflight": req("OPTIONS", "EIO=4&transport=polling",
                     ["Origin: https://app.example", "Access-Control-Request-Method: POST",
                      "Access-Control-Request-Headers: content-type"]),
    "upgrade": req("GET", "EIO=4&transport=websocket&sid=$SID",
                   ["Connection: keep-alive, Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="]),
    "ws-without-upgrade": req("GET", "EIO=4&transport=websocket"),
    "too-large": req("POST", POLL, body="4" + "x" * 5000) + req("GET", POLL),
    "chunked": ("POST /socket.io/?%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "3\r\n4ab\r\n2\r\n\x1e4\r\n0\r\n\r\n" % POLL).encode() + req("GET", POLL),
    "percent": req("GET", "EIO=%34&transport=poll%69ng&sid=$SID&t=a%20b"),
    "bad-payload": req("POST", POLL, body="4a\x1e\x1e4b") + req("GET", POLL),
    "bad-base64": req("POST", POLL, body="bA===") + req("GET", POLL),
    "header-case": req("GET", POLL, ["origin: https://app.example", "ORIGIN: https://other.example"]),
}

# --- Socket.IO sessions: [flags] then records [kind][u16 length][bytes] ---------------------------------------------
def rec(kind, data):
    data = data.encode() if isinstance(data, str) else data
    return bytes([kind]) + struct.pack(">H", len(data)) + data


T, B = 0, 1
sio_session = {
    "connect-event": bytes([0]) + rec(T, "0") + rec(T, '2["message",7,"x",{"k":[null]}]'),
    "ack": bytes([0]) + rec(T, "0") + rec(T, '217["message-with-ack","a",2]'),
    "binary": bytes([0]) + rec(T, "0") + rec(T, '51-["message",{"_placeholder":true,"num":0}]') + rec(B, b"\x01\x02\x03\x04"),
    "binary-ack": bytes([0]) + rec(T, "0") + rec(T, '52-33["message-with-ack",{"_placeholder":true,"num":1},'
                                                 '{"_placeholder":true,"num":0}]') + rec(B, b"\x01") + rec(B, b"\x02\x03"),
    "custom": bytes([0]) + rec(T, '0/custom,{"user":"x"}') + rec(T, '2/custom,["message",1]') + rec(T, "1/custom,") +
              rec(T, '2/custom,["message",2]'),
    "later": bytes([1]) + rec(T, "0/later,") + rec(T, '2/later,["message"]'),
    "deny": bytes([0]) + rec(T, '0/deny,{"token":"123"}') + rec(T, "0"),
    "invalid-namespace": bytes([0]) + rec(T, "0/foo,") + rec(T, "0"),
    "event-before-connect": bytes([0]) + rec(T, '2["message"]'),
    "unexpected-binary": bytes([0]) + rec(T, "0") + rec(B, b"\x00"),
    "unexpected-text": bytes([0]) + rec(T, "0") + rec(T, '51-["m",{"_placeholder":true,"num":0}]') + rec(T, "2[\"x\"]"),
    "ack-from-client": bytes([2]) + rec(T, "0") + rec(T, '2["ask"]') + rec(T, '30["fine"]'),
    "disconnect": bytes([0]) + rec(T, "0") + rec(T, "1") + rec(T, '2["message"]'),
    "timeout": bytes([4]) + rec(T, "0/later,"),
}


# --- hand-over messages between nodes: [kind: 0 request, 1 reply][JSON body] (cluster/handover_message.hpp) ------
handover = {
    "request": b"\x00" + b'{"v":1,"op":"request","id":"7","from":"node-b","user":"alice","pid":"node-a.'
               + b"0123456789abcdef0123456789abcdef" + b'","offset":18446744073709551615,"hops":0}',
    "request-no-offset": b"\x00" + b'{"v":1,"op":"request","id":"8","from":"b","user":"bob","pid":"a.x","hops":4}',
    "request-bad-hops": b"\x00" + b'{"v":1,"op":"request","id":"8","from":"b","user":"bob","pid":"a.x","hops":5}',
    "request-bad-node": b"\x00" + b'{"v":1,"op":"request","id":"8","from":"a.b","user":"bob","pid":"a.x","hops":0}',
    "reply": b"\x01" + b'{"v":1,"op":"reply","id":"7","from":"node-a","ok":true,"sid":"s1","events":['
             + b'{"k":1,"e":"mail.new","d":"{\\"n\\":1}"},{"k":18446744073709551615,"e":"\\u00e9","d":"\\"x\\""}]}',
    "reply-refused": b"\x01" + b'{"v":1,"op":"reply","id":"7","from":"node-a","ok":false,"error":"unknown"}',
    "reply-bad-payload": b"\x01" + b'{"v":1,"op":"reply","id":"7","from":"a","ok":true,"sid":"s","events":'
                         + b'[{"k":1,"e":"m","d":"{"}]}',
    "reply-empty": b"\x01" + b'{"v":1,"op":"reply","id":"7","from":"a","ok":true,"sid":"s","events":[]}',
}


# --- channel subscribe / unsubscribe arguments: [flags: bit 0 unsubscribe, bit 1 dev mode][grant set][JSON] -------
channel_request = {
    "subscribe": b"\x00\x01" + b'[{"channel":"chat:42"}]',
    "subscribe-token": b"\x00\x00" + b'[{"channel":"room:9","token":"a.b.c"}]',
    "subscribe-null-token": b"\x00\x02" + b'[{"channel":"a","token":null}]',
    "subscribe-dev": b"\x02\x00" + b'[{"channel":"AZaz09_-:.@/"}]',
    "unsubscribe": b"\x01\x03" + b'[{"channel":"room:1x","token":"ignored"}]',
    "bad-name": b"\x00\x01" + b'[{"channel":"bad name"}]',
    "not-object": b"\x00\x01" + b'["chat:42"]',
    "empty": b"\x00\x01" + b"[]",
    "extra-args": b"\x00\x01" + b'[{"channel":"news"},1,{"channel":"x"}]',
}


# --- cluster queries between nodes: [kind: 0 query, 1 answer, 2 hello][JSON body] (cluster/cluster_query.hpp) -----
cluster_query = {
    "users": b"\x00" + b'{"v":1,"op":"query","id":"na-1","from":"na","kind":"users","users":["alice","bob"]}',
    "channel": b"\x00" + b'{"v":1,"op":"query","id":"na-2","from":"na","kind":"channel","channel":"chat:1"}',
    "totals": b"\x00" + b'{"v":1,"op":"query","id":"na-3","from":"na","kind":"totals"}',
    "disconnect": b"\x00" + b'{"v":1,"op":"query","id":"na-4","from":"na","kind":"disconnect","users":["alice"]}',
    "answer": b"\x01" + b'{"v":1,"op":"answer","id":"na-1","from":"nb","sessions":{"alice":2},"members":["bob"],'
              + b'"users":3,"total_sessions":4,"disconnected":0}',
    "answer-bad-count": b"\x01" + b'{"v":1,"op":"answer","id":"na-1","from":"nb","users":-1}',
    "hello": b"\x02" + b'{"v":1,"op":"hello","from":"node-b"}',
}


def main():
    for name, seeds in (("eio_packet", eio), ("ws_frame", ws_seeds), ("sio_packet", sio), ("jwt", jwt),
                        ("amqp_fanout", amqp), ("api_publish", api), ("config_load", config), ("http_handshake", http_seeds),
                        ("sio_session", sio_session), ("handover", handover), ("channel_request", channel_request),
                        ("cluster_query", cluster_query)):
        clear_seeds(name)
        for k, v in seeds.items():
            write(name, k, v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
