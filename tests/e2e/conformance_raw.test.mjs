// docs/conformance.md point by point, with a raw HTTP client (fetch) and a raw WebSocket client (ws) against the real
// conformance_server: exact status codes, exact frames, timing of the heartbeat. Section numbers refer to that file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PollingSession, RS, WsClient, eioUrl, request, sleep, wsUrl } from './lib/eio.mjs';
import { startBinary } from './lib/spawn.mjs';

let server;
let base;
const SIO = '/socket.io/';
const EIO = '/engine.io/';
const SID = /^[A-Za-z0-9_-]{20}$/;

before(async () => {
    // trace: the server logs `engineio: SID holds a GET`, which tests await instead of sleeping (heldGet below).
    server = await startBinary('conformance_server', ['--port', '0', '--log-level', 'trace']);
    base = server.url;
});
after(async () => {
    const { code, signal } = await server.stop();
    assert.equal(code, 0, `conformance_server exited with ${code} / ${signal}; output:\n${server.output()}`);
});

// Resolves once the server holds the n-th long-poll GET of `sid` (its trace line), so that what a test sends next
// reaches a held GET, not one still on its way.
function heldGet(sid, n = 1) {
    const line = `engineio: ${sid} holds a GET`;
    return server.untilOutput((out) => out.split(line).length - 1 >= n, { what: line });
}

function connectReply(frame, nsp = '') {
    const prefix = `40${nsp ? `${nsp},` : ''}`;
    assert.ok(frame.startsWith(`${prefix}{`), `expected a CONNECT reply for ${nsp || '/'}, got ${frame}`);
    const body = JSON.parse(frame.slice(prefix.length));
    assert.deepEqual(Object.keys(body), ['sid']);
    assert.match(body.sid, SID);
    return body.sid;
}

// A websocket session on /socket.io/ that joined `/` (the reply and the auth event consumed).
async function sioWs() {
    const ws = await WsClient.open(wsUrl(base, SIO));
    assert.match(await ws.next(), /^0\{/);
    ws.send('40');
    connectReply(await ws.next());
    assert.equal(await ws.next(), '42["auth",{}]');
    return ws;
}

describe('§1 process and endpoints', () => {
    test('prints "listening on HOST:PORT" and serves both paths, with and without the trailing slash', async () => {
        assert.match(server.output(), /^listening on \S+:\d+\n/);
        for (const path of [SIO, EIO, '/socket.io', '/engine.io']) {
            const res = await request('GET', eioUrl(base, path, { EIO: 4, transport: 'polling' }));
            assert.equal(res.status, 200, path);
            assert.match(res.body, /^0\{/);
        }
    });

    test('localhost, 127.0.0.1 and ::1 reach the server', async () => {
        for (const host of ['localhost', '127.0.0.1', '[::1]']) {
            const res = await request('GET', eioUrl(`http://${host}:${server.port}`, SIO, { EIO: 4, transport: 'polling' }));
            assert.equal(res.status, 200, host);
        }
    });

    test('--mode serves one endpoint; SIGINT and SIGTERM exit 0', async () => {
        for (const [mode, served, missing, signal] of [
            ['socketio', SIO, EIO, 'SIGINT'],
            ['engineio', EIO, SIO, 'SIGTERM'],
        ]) {
            const other = await startBinary('conformance_server', ['--port', '0', '--mode', mode]);
            try {
                const ok = await request('GET', eioUrl(other.url, served, { EIO: 4, transport: 'polling' }));
                assert.equal(ok.status, 200, `${mode}: ${served}`);
                const no = await request('GET', eioUrl(other.url, missing, { EIO: 4, transport: 'polling' }));
                assert.equal(no.status, 404, `${mode}: ${missing}`);
                // An open websocket and a held poll must not keep the process from exiting.
                const ws = await WsClient.open(wsUrl(other.url, served));
                const s = new PollingSession(other.url, served);
                await s.open();
                const held = s.get().catch(() => null);
                await sleep(20);
                const { code, signal: sig } = await other.stop(signal);
                assert.equal(code, 0, `${mode}: exit code ${code} (signal ${sig}); output:\n${other.output()}`);
                await held;
                await ws.waitClosed(1000);
            } finally {
                await other.stop('SIGKILL');
            }
        }
    });
});

describe('§5 handshake', () => {
    for (const path of [SIO, EIO]) {
        test(`${path} polling handshake has exactly the five keys`, async () => {
            const res = await request('GET', eioUrl(base, path, { EIO: 4, transport: 'polling', t: 'Nx1a2b' }));
            assert.equal(res.status, 200);
            assert.match(res.headers.get('content-type'), /^text\/plain/);
            assert.equal(res.body[0], '0');
            const open = JSON.parse(res.body.slice(1));
            assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
            assert.equal(typeof open.sid, 'string');
            assert.deepEqual(open.upgrades, ['websocket']);
            assert.equal(open.pingInterval, 300);
            assert.equal(open.pingTimeout, 200);
            assert.equal(open.maxPayload, 1000000);
        });

        test(`${path} websocket handshake: the first frame is the open packet with no upgrades`, async () => {
            const ws = await WsClient.open(wsUrl(base, path, { t: 'x' }));
            const first = await ws.next();
            assert.equal(typeof first, 'string');
            assert.equal(first[0], '0');
            const open = JSON.parse(first.slice(1));
            assert.deepEqual(Object.keys(open).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
            assert.deepEqual(open.upgrades, []);
            assert.equal(open.pingInterval, 300);
            assert.equal(open.pingTimeout, 200);
            assert.equal(open.maxPayload, 1000000);
            ws.close();
        });

        test(`${path} answers 400 to bad handshakes`, async () => {
            const cases = [
                ['GET', { transport: 'polling' }],
                ['GET', { EIO: 3, transport: 'polling' }],
                ['GET', { EIO: 'abc', transport: 'polling' }],
                ['GET', { EIO: 5, transport: 'polling' }],
                ['GET', { EIO: 4 }],
                ['GET', { EIO: 4, transport: 'carrier-pigeon' }],
                ['POST', { EIO: 4, transport: 'polling' }],
                ['PUT', { EIO: 4, transport: 'polling' }],
                ['GET', { EIO: 4, transport: 'polling', sid: 'no-such-sid' }],
                ['POST', { EIO: 4, transport: 'polling', sid: 'no-such-sid' }],
            ];
            for (const [method, params] of cases) {
                const res = await request(method, eioUrl(base, path, params), method === 'GET' ? undefined : '4hi');
                assert.equal(res.status, 400, `${method} ${JSON.stringify(params)} answered ${res.status}`);
            }
        });

        test(`${path} websocket with a bad query is refused or closed at once`, async () => {
            for (const params of [{ EIO: 3 }, { EIO: 4, sid: 'no-such-sid' }]) {
                const url = eioUrl(base.replace('http', 'ws'), path, { transport: 'websocket', ...params });
                try {
                    const ws = await WsClient.open(url, { autoPong: false });
                    await ws.waitClosed(1000);
                    assert.deepEqual(ws.queue.filter((m) => typeof m === 'string' && m.startsWith('0')), []);
                } catch (err) {
                    assert.match(String(err), /HTTP 400/);
                }
            }
        });
    }
});

describe('§5 long-polling', () => {
    test('POST with several packets answers ok; one GET returns the echoes in order', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const res = await s.post(['4one', '4two', '4three'].join(RS));
        assert.equal(res.status, 200);
        assert.equal(res.body, 'ok');
        assert.match(res.headers.get('content-type'), /^text\/plain/);
        const got = await s.get();
        assert.equal(got.status, 200);
        assert.equal(got.body, ['4one', '4two', '4three'].join(RS));
        await s.post('1');
    });

    test('a held GET is answered as soon as a packet is queued', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const held = s.get();
        await heldGet(s.sid);
        const t0 = performance.now();
        assert.equal((await s.post('4late')).body, 'ok');
        const res = await held;
        assert.equal(res.status, 200);
        assert.equal(res.body, '4late');
        assert.ok(performance.now() - t0 < 150, 'the held GET was answered promptly');
        await s.post('1');
    });

    test('binary travels as b<base64> and comes back the same', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        await s.post(['bAQIDBA==', '4text', 'b/w=='].join(RS));
        assert.equal((await s.get()).body, ['bAQIDBA==', '4text', 'b/w=='].join(RS));
        await s.post('1');
    });

    test('a second GET while one is held: 400, the held one gets the close packet, the sid is gone', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const held = s.get();
        await heldGet(s.sid);
        const second = await s.get();
        assert.ok(second.status === 400 || second.status === 500, `second GET answered ${second.status}`);
        const first = await held;
        assert.equal(first.status, 200);
        assert.equal(first.body, '1');
        assert.equal((await s.get()).status, 400);
        assert.equal((await s.post('4x')).status, 400);
    });

    test('a close packet in a POST completes the held GET with a noop and closes the session', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const held = s.get();
        await heldGet(s.sid);
        assert.equal((await s.post('1')).status, 200);
        const res = await held;
        assert.equal(res.status, 200);
        assert.equal(res.body, '6');
        await sleep(250); // past the optional grace time
        assert.equal((await s.get()).status, 400);
        assert.equal((await s.post('4x')).status, 400);
    });

    test('a malformed packet in a POST answers 400 and closes the session', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const res = await s.post('x-not-a-packet').catch(() => ({ status: 'dropped' }));
        assert.ok(res.status === 400 || res.status === 'dropped', `answered ${res.status}`);
        assert.equal((await s.get()).status, 400);
    });

    test('a pong sent by POST gets 200 ok', async () => {
        const s = new PollingSession(base, SIO);
        await s.open();
        const ping = await s.get();
        assert.equal(ping.body, '2');
        const res = await s.post('3');
        assert.equal(res.status, 200);
        assert.equal(res.body, 'ok');
        await s.post('1');
    });
});

describe('§5 heartbeat', () => {
    test('polling: ping at handshake + 300 ms, then 300 ms after each pong', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const first = await s.get();
        const t1 = performance.now() - s.openedAt;
        assert.equal(first.body, '2');
        assert.ok(t1 >= 280 && t1 < 420, `first ping after ${t1.toFixed(0)} ms`);
        const pongAt = performance.now();
        await s.post('3');
        const second = await s.get();
        const t2 = performance.now() - pongAt;
        assert.equal(second.body, '2');
        assert.ok(t2 >= 270 && t2 < 420, `second ping ${t2.toFixed(0)} ms after the pong`);
        await s.post('1');
    });

    test('polling: no pong within pingTimeout closes the session (checked at handshake + 500 ms)', async () => {
        const s = new PollingSession(base, SIO);
        await s.open();
        const ping = await s.get(); // the ping is queued at +300 ms; its deadline is 200 ms after it was sent
        const pingAt = performance.now(); // the ping was sent before this: its deadline is before pingAt + 200
        assert.equal(ping.body, '2');
        await sleep(pingAt + 200 + 30 - performance.now()); // the waiting is the test
        assert.equal((await s.get()).status, 400);
    });

    test('polling: a session that is never polled is closed after ~500 ms too', async () => {
        const s = new PollingSession(base, SIO);
        await s.open();
        await sleep(560);
        assert.equal((await s.get()).status, 400);
    });

    test('websocket: pings every 300 ms while pongs come back', async () => {
        const ws = await WsClient.open(wsUrl(base, EIO));
        await ws.next(); // open packet
        await sleep(1000);
        assert.ok(ws.isOpen());
        assert.ok(ws.pings.length >= 2 && ws.pings.length <= 4, `${ws.pings.length} pings in ~1 s`);
        const first = ws.pings[0] - ws.openedAt;
        assert.ok(first >= 250 && first < 420, `first ping after ${first.toFixed(0)} ms`);
        for (let i = 1; i < ws.pings.length; i++) {
            const gap = ws.pings[i] - ws.pings[i - 1];
            assert.ok(gap >= 270 && gap < 450, `ping gap ${gap.toFixed(0)} ms`);
        }
        ws.close();
    });

    test('websocket: no pong closes the socket about 500 ms after the handshake', async () => {
        const ws = await WsClient.open(wsUrl(base, SIO), { autoPong: false });
        await ws.next(); // open packet
        assert.equal(await ws.next(1000), '2');
        const { at } = await ws.waitClosed(1500);
        const elapsed = at - ws.openedAt;
        assert.ok(elapsed >= 450 && elapsed < 800, `closed ${elapsed.toFixed(0)} ms after the handshake`);
    });
});

describe('§5 upgrade polling -> websocket', () => {
    for (const path of [SIO, EIO]) {
        test(`${path} probe, noop for the held GET, upgrade, then polling is refused`, async () => {
            const s = new PollingSession(base, path);
            await s.open();
            const held = s.get();
            await heldGet(s.sid);
            const ws = await WsClient.open(wsUrl(base, path, { sid: s.sid }));
            ws.send('2probe');
            assert.equal(await ws.next(), '3probe');
            const t0 = performance.now();
            const noop = await held;
            assert.equal(noop.status, 200);
            assert.equal(noop.body, '6');
            assert.ok(performance.now() - t0 < 150, 'the held GET was answered promptly');
            const later = await s.get(); // upgrading: a GET that arrives now is answered with noop too
            assert.equal(later.status, 200);
            assert.equal(later.body, '6');
            ws.send('5');
            await sleep(50);
            assert.equal((await s.get()).status, 400);
            assert.equal((await s.post('4x')).status, 400);
            if (path === EIO) {
                ws.send('4over websocket');
                assert.equal(await ws.next(), '4over websocket');
            } else {
                ws.send('40');
                connectReply(await ws.next());
                assert.equal(await ws.next(), '42["auth",{}]');
            }
            assert.deepEqual(await ws.quiet(50), [], 'no open packet on an upgrade websocket');
            ws.close();
        });
    }

    test('probe and upgrade back to back; packets queued before the upgrade go out on the websocket', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const ws = await WsClient.open(wsUrl(base, EIO, { sid: s.sid }));
        await s.post('4queued');
        ws.send('2probe');
        ws.send('5');
        assert.equal(await ws.next(), '3probe');
        // The echo of `4queued` may have been collected by no GET: it must arrive on the websocket.
        assert.equal(await ws.next(), '4queued');
        ws.send('4after');
        assert.equal(await ws.next(), '4after');
        ws.close();
    });

    test('a second websocket for an upgraded sid gets 101 and is closed at once; the first keeps working', async () => {
        const s = new PollingSession(base, EIO);
        await s.open();
        const ws = await WsClient.open(wsUrl(base, EIO, { sid: s.sid }));
        ws.send('2probe');
        assert.equal(await ws.next(), '3probe');
        ws.send('5');
        await sleep(30);
        const dup = await WsClient.open(wsUrl(base, EIO, { sid: s.sid }), { autoPong: false }); // 101, or this throws
        await dup.waitClosed(1000);
        assert.deepEqual(dup.queue, []);
        ws.send('4still here');
        assert.equal(await ws.next(), '4still here');
        ws.close();
    });
});

describe('§5 websocket transport', () => {
    test('unknown packet type in a text frame closes the socket', async () => {
        const ws = await WsClient.open(wsUrl(base, EIO));
        await ws.next();
        ws.send('x');
        await ws.waitClosed(1000);
    });

    test('a close packet closes the socket promptly', async () => {
        const ws = await WsClient.open(wsUrl(base, EIO));
        await ws.next();
        const t0 = performance.now();
        ws.send('1');
        const { at } = await ws.waitClosed(1000);
        assert.ok(at - t0 < 200, `closed after ${(at - t0).toFixed(0)} ms`);
    });
});

describe('§4 bare Engine.IO echo', () => {
    test('text stays text, binary stays binary, in order', async () => {
        const ws = await WsClient.open(wsUrl(base, EIO));
        await ws.next();
        ws.send('4hello');
        ws.sendBinary([1, 2, 3, 4]);
        ws.send('4');
        ws.send('4ünïcødé €');
        assert.equal(await ws.next(), '4hello');
        const bin = await ws.next();
        assert.ok(Buffer.isBuffer(bin));
        assert.equal(bin.toString('hex'), '01020304');
        assert.equal(await ws.next(), '4');
        assert.equal(await ws.next(), '4ünïcødé €');
        ws.close();
    });
});

describe('§3 Socket.IO over websocket', () => {
    test('CONNECT to / and /custom, with and without the trailing comma, echo the auth', async () => {
        const ws = await WsClient.open(wsUrl(base, SIO));
        await ws.next();
        ws.send('40');
        const main = connectReply(await ws.next());
        assert.equal(await ws.next(), '42["auth",{}]');
        ws.send('40/custom');
        const custom = connectReply(await ws.next(), '/custom');
        assert.equal(await ws.next(), '42/custom,["auth",{}]');
        assert.notEqual(main, custom);
        ws.send('41/custom,');
        ws.send('40/custom,{"user":"x","n":1,"f":1.5,"deep":{"b":[true,null,"s"]}}');
        connectReply(await ws.next(), '/custom');
        assert.equal(await ws.next(), '42/custom,["auth",{"user":"x","n":1,"f":1.5,"deep":{"b":[true,null,"s"]}}]');
        ws.close();
    });

    test('CONNECT with auth on the main namespace', async () => {
        const ws = await WsClient.open(wsUrl(base, SIO));
        await ws.next();
        ws.send('40{"token":"abc","z":0,"a":-1}');
        connectReply(await ws.next());
        assert.equal(await ws.next(), '42["auth",{"token":"abc","z":0,"a":-1}]');
        ws.close();
    });

    test('an unknown namespace gets CONNECT_ERROR and the connection stays open', async () => {
        const ws = await WsClient.open(wsUrl(base, SIO));
        await ws.next();
        ws.send('40/foo');
        assert.equal(await ws.next(), '44/foo,{"message":"Invalid namespace"}');
        ws.send('40/bar,{"x":1}');
        assert.equal(await ws.next(), '44/bar,{"message":"Invalid namespace"}');
        ws.send('40');
        connectReply(await ws.next());
        assert.equal(await ws.next(), '42["auth",{}]');
        ws.close();
    });

    test('message -> message-back with the arguments unchanged', async () => {
        const ws = await sioWs();
        const cases = [
            ['42["message",7,"x",{"k":[null]}]', '42["message-back",7,"x",{"k":[null]}]'],
            ['42["message"]', '42["message-back"]'],
            ['42["message",1,1.5,-2,0,true,false,null,"",[],{}]', '42["message-back",1,1.5,-2,0,true,false,null,"",[],{}]'],
            ['42["message",{"z":1,"a":{"y":[1,[2,[3]]],"b":"q\\"uote"}}]', '42["message-back",{"z":1,"a":{"y":[1,[2,[3]]],"b":"q\\"uote"}}]'],
            ['42["message","héllo wörld €"]', '42["message-back","héllo wörld €"]'],
        ];
        for (const [send, want] of cases) {
            ws.send(send);
            assert.equal(await ws.next(), want);
        }
        ws.close();
    });

    test('message-with-ack is acknowledged with the same id and arguments', async () => {
        const ws = await sioWs();
        ws.send('4217["message-with-ack","a",2]');
        assert.equal(await ws.next(), '4317["a",2]');
        ws.send('420["message-with-ack"]');
        assert.equal(await ws.next(), '430[]');
        ws.send('429007199254740993["message-with-ack",{"k":1}]');
        assert.equal(await ws.next(), '439007199254740993[{"k":1}]');
        ws.close();
    });

    test('binary event: attachments in their own frames, echoed as BINARY_EVENT', async () => {
        const ws = await sioWs();
        ws.send('451-["message",{"_placeholder":true,"num":0}]');
        ws.sendBinary([1, 2, 3]);
        assert.equal(await ws.next(), '451-["message-back",{"_placeholder":true,"num":0}]');
        assert.equal((await ws.next()).toString('hex'), '010203');

        ws.send('452-["message","t",{"a":{"_placeholder":true,"num":0}},[{"_placeholder":true,"num":1}]]');
        ws.sendBinary([0xaa]);
        ws.sendBinary([0xbb, 0xcc]);
        assert.equal(
            await ws.next(),
            '452-["message-back","t",{"a":{"_placeholder":true,"num":0}},[{"_placeholder":true,"num":1}]]',
        );
        assert.equal((await ws.next()).toString('hex'), 'aa');
        assert.equal((await ws.next()).toString('hex'), 'bbcc');
        ws.close();
    });

    test('binary ack: BINARY_ACK with the same id', async () => {
        const ws = await sioWs();
        ws.send('451-33["message-with-ack",{"_placeholder":true,"num":0}]');
        ws.sendBinary([9, 8, 7]);
        assert.equal(await ws.next(), '461-33[{"_placeholder":true,"num":0}]');
        assert.equal((await ws.next()).toString('hex'), '090807');
        ws.close();
    });

    test('namespace DISCONNECT is silent, other namespaces keep working, pings continue with none left', async () => {
        const ws = await sioWs();
        ws.send('40/custom,');
        connectReply(await ws.next(), '/custom');
        await ws.next(); // auth
        ws.send('41/custom,');
        assert.deepEqual(await ws.quiet(100), []);
        ws.send('42["message","still"]');
        assert.equal(await ws.next(), '42["message-back","still"]');
        ws.send('41');
        const pingsBefore = ws.pings.length;
        await sleep(1300); // past pings and past the connect timeout
        assert.deepEqual(ws.queue, []);
        assert.ok(ws.isOpen(), 'the Engine.IO connection stays open');
        assert.ok(ws.pings.length >= pingsBefore + 3, 'heartbeat continues');
        ws.close();
    });

    test('namespace DISCONNECT without the comma', async () => {
        const ws = await sioWs();
        ws.send('40/custom');
        connectReply(await ws.next(), '/custom');
        await ws.next();
        ws.send('41/custom');
        ws.send('42/custom,["message",1]'); // no longer joined: ignored
        ws.send('42["message",2]');
        assert.equal(await ws.next(), '42["message-back",2]');
        ws.close();
    });

    const invalid = [
        ['unknown type before CONNECT', false, '9'],
        ['letter before CONNECT', false, 'x'],
        ['unknown type after CONNECT', true, '47["message"]'],
        ['EVENT with an object', true, '42{"message":1}'],
        ['EVENT with an empty array', true, '42[]'],
        ['garbage where the ack id would be', true, '42abc["message"]'],
        ['garbage after the ack id', true, '4212abc["message"]'],
    ];
    for (const [name, connectFirst, frame] of invalid) {
        test(`invalid packet closes the connection: ${name}`, async () => {
            let ws;
            if (connectFirst) {
                ws = await sioWs();
            } else {
                ws = await WsClient.open(wsUrl(base, SIO));
                await ws.next();
            }
            ws.send(frame);
            await ws.waitClosed(1000);
        });
    }

    test('connect timeout: no CONNECT within 1000 ms closes the connection', async () => {
        const ws = await WsClient.open(wsUrl(base, SIO)); // answers pings, so only the connect timeout can close it
        await ws.next();
        const { at } = await ws.waitClosed(2000);
        const elapsed = at - ws.openedAt;
        assert.ok(elapsed >= 950 && elapsed < 1400, `closed after ${elapsed.toFixed(0)} ms`);
    });
});

describe('§3 Socket.IO over polling', () => {
    test('CONNECT, auth, echo, ack and binary through POST and GET', async () => {
        const s = new PollingSession(base, SIO);
        await s.open();
        await s.post('40/custom,{"u":1}');
        let got = await s.collect(2);
        connectReply(got[0], '/custom');
        assert.equal(got[1], '42/custom,["auth",{"u":1}]');

        await s.post(['40', '42["message",1,"two"]', '4212["message-with-ack",[3]]'].join(RS));
        got = await s.collect(4);
        connectReply(got[0]);
        assert.deepEqual(got.slice(1), ['42["auth",{}]', '42["message-back",1,"two"]', '4312[[3]]']);

        await s.post(['451-["message",{"_placeholder":true,"num":0}]', 'bAQIDBA=='].join(RS));
        got = await s.collect(2);
        assert.deepEqual(got, ['451-["message-back",{"_placeholder":true,"num":0}]', 'bAQIDBA==']);
        await s.post('1');
    });

    test('an invalid Socket.IO packet in a POST closes the session', async () => {
        const s = new PollingSession(base, SIO);
        await s.open();
        await s.post('40');
        await s.collect(2);
        await s.post('42{"not":"an array"}');
        await sleep(20);
        assert.equal((await s.get()).status, 400);
    });
});

describe('robustness', () => {
    test('dozens of sessions, many abandoned or malformed, leave the server serving', async () => {
        const jobs = [];
        for (let i = 0; i < 40; i++) {
            jobs.push(
                (async () => {
                    const s = new PollingSession(base, i % 2 ? SIO : EIO);
                    await s.open();
                    if (i % 3 === 0) {
                        await s.post('garbage');
                    } else if (i % 3 === 1) {
                        await s.post('4abandoned');
                    }
                })(),
            );
            if (i % 4 === 0) {
                jobs.push(
                    WsClient.open(wsUrl(base, SIO), { autoPong: false }).then((ws) => {
                        ws.send('451-["message",{"_placeholder":true,"num":0}]'); // never sends the attachment
                    }),
                );
            }
        }
        await Promise.all(jobs);
        const ws = await sioWs();
        ws.send('42["message","alive"]');
        assert.equal(await ws.next(), '42["message-back","alive"]');
        ws.close();
    });
});
