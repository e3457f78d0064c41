// Older clients, unmodified from npm: socket.io-client 2.5.0 (Engine.IO v3, Socket.IO protocol v4) with
// `--allow-eio3`, and 3.1.3 (Engine.IO v4, protocol v5, which needs no switch). A 2.x client authenticates with the
// handshake query (`io(url, {query: {token}})`): over websocket, polling and polling-then-upgrade it connects, stays
// connected across several heartbeats (the v3 client pings, the server answers), and receives per-user events in
// order; a bad token is refused with the message that a v4 client would get, as the 2.x client's `error` event; without
// the switch a 2.x client cannot connect; malformed v3 polling payloads are answered with errors and end the session;
// `conformance_server --allow-eio3` echoes text and binary to a 2.x client over both transports.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import ioV2 from 'socket.io-client-v2';
import ioV3 from 'socket.io-client-v3';
import { startPusher } from './lib/browser.mjs';
import { startBinary } from './lib/spawn.mjs';
import { hs256, nowS } from './lib/client.mjs';
import { apiPublish } from './lib/pusher.mjs';

const secret = 'an old clients test secret, 32 bytes or more';
const token = (sub) => hs256({ sub, exp: nowS() + 600 }, secret);
const transportsOf = {
    websocket: ['websocket'],
    polling: ['polling'],
    upgrade: ['polling', 'websocket'],
};

const sockets = [];
function track(socket) {
    sockets.push(socket);
    socket.notes = [];
    socket.on('note', (data) => socket.notes.push(data));
    return socket;
}

// Resolves with the arguments of the first `event` on `emitter`, or rejects after `ms` (or on `failOn`).
function once(emitter, event, { ms = 10000, failOn = [] } = {}) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
        emitter.once(event, (...args) => {
            clearTimeout(timer);
            resolve(args);
        });
        for (const f of failOn) {
            emitter.once(f, (err) => {
                clearTimeout(timer);
                reject(new Error(`${f}: ${err?.message ?? err}`));
            });
        }
    });
}

// Resolves once `socket` has received `n` notes.
function notes(socket, n, ms = 10000) {
    return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`${socket.notes.length} of ${n} notes`)), ms);
        const check = () => {
            if (socket.notes.length >= n) {
                clearTimeout(deadline);
                resolve(socket.notes);
                return;
            }
            socket.once('note', check);
        };
        check();
    });
}

describe('socket.io-client 2.x and 3.x against --allow-eio3', () => {
    let server;
    before(async () => {
        server = await startPusher([
            '--listen', '127.0.0.1:0', '--broker', 'memory', '--jwt-secret', secret, '--allow-eio3',
            '--ping-interval-ms', '300', '--ping-timeout-ms', '400',
        ]);
    });
    after(async () => {
        for (const s of sockets) {
            s.close();
        }
        await server?.stop();
    });

    for (const [kind, transports] of Object.entries(transportsOf)) {
        test(`2.5.0 over ${kind}: query token, heartbeats, events in order`, async () => {
            const user = `v2-${kind}`;
            const socket = track(ioV2(server.url, { query: { token: token(user) }, transports, forceNew: true, reconnection: false }));
            await once(socket, 'connect', { failOn: ['error', 'connect_error'] });
            assert.equal(String(socket.io.engine.transport.query.EIO), '3');
            assert.ok(socket.io.engine.id.includes('.'), `the sid names the node: ${socket.io.engine.id}`);
            if (kind === 'upgrade') {
                if (socket.io.engine.transport.name !== 'websocket') {
                    await once(socket.io.engine, 'upgrade');
                }
                assert.equal(socket.io.engine.transport.name, 'websocket');
            }
            // Three of the client's pings answered (300 ms apart): the session outlives several ping intervals.
            for (let i = 0; i < 3; ++i) {
                await once(socket, 'pong', { failOn: ['disconnect'] });
            }
            for (let i = 0; i < 5; ++i) {
                const r = await apiPublish(server.url, { user, event: 'note', data: { i, text: 'café ☕' } });
                assert.equal(r.status, 202);
            }
            assert.deepEqual(
                (await notes(socket, 5)).map((n) => n.i),
                [0, 1, 2, 3, 4],
            );
            assert.equal(socket.notes[0].text, 'café ☕');
            assert.ok(socket.connected);
        });
    }

    test('2.5.0: broadcasts and channels work as for current clients', async () => {
        const claims = { sub: 'v2-rooms', channels: ['room:*'], exp: nowS() + 600 };
        const socket = track(ioV2(server.url, { query: { token: hs256(claims, secret) }, transports: ['websocket'], forceNew: true, reconnection: false }));
        await once(socket, 'connect', { failOn: ['error'] });
        const reply = await new Promise((resolve) => socket.emit('subscribe', { channel: 'room:1' }, resolve));
        assert.deepEqual(reply, { ok: true });
        assert.equal((await apiPublish(server.url, { channel: 'room:1', event: 'note', data: { i: 'room' } })).status, 202);
        assert.equal((await apiPublish(server.url, { broadcast: true, event: 'note', data: { i: 'all' } })).status, 202);
        assert.deepEqual(
            (await notes(socket, 2)).map((n) => n.i),
            ['room', 'all'],
        );
    });

    test('2.5.0 with a bad token: the error event carries the refusal, nothing is delivered', async () => {
        const socket = track(ioV2(server.url, { query: { token: 'not.a.token' }, transports: ['websocket'], forceNew: true, reconnection: false }));
        const [message] = await once(socket, 'error', { failOn: ['connect'] });
        assert.match(String(message), /token/i);
        assert.equal(socket.connected, false);
        const r = await apiPublish(server.url, { user: 'nobody', event: 'note', data: 1 });
        assert.equal(r.status, 202);
    });

    test('2.5.0 without a token is refused the same way', async () => {
        const socket = track(ioV2(server.url, { transports: ['polling'], forceNew: true, reconnection: false }));
        const [message] = await once(socket, 'error', { failOn: ['connect'] });
        assert.ok(String(message).length > 0);
    });

    for (const [kind, transports] of Object.entries(transportsOf)) {
        test(`3.1.3 over ${kind} (Engine.IO v4): auth token, events in order`, async () => {
            const user = `v3-${kind}`;
            const socket = track(ioV3(server.url, { auth: { token: token(user) }, transports, forceNew: true, reconnection: false }));
            await once(socket, 'connect', { failOn: ['connect_error'] });
            for (let i = 0; i < 3; ++i) {
                assert.equal((await apiPublish(server.url, { user, event: 'note', data: { i } })).status, 202);
            }
            assert.deepEqual(
                (await notes(socket, 3)).map((n) => n.i),
                [0, 1, 2],
            );
        });
    }

    test('malformed v3 polling payloads are answered with an error and end the session', async () => {
        for (const body of ['7:4hello', '4hello', '2:4\u00e9x', '0:', '6:4hello1:']) {
            const hs = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling&token=${token('raw')}`);
            const text = await hs.text();
            const m = /^\d+:0(\{.*\})/.exec(text);
            assert.ok(m, `a v3 handshake payload: ${text}`);
            const open = JSON.parse(m[1]);
            assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout']);
            const post = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling&sid=${open.sid}`, {
                method: 'POST',
                headers: { 'content-type': 'text/plain;charset=UTF-8' },
                body,
            });
            assert.equal(post.status, 400, body);
            assert.deepEqual(await post.json(), { code: 3, message: 'Bad request' });
            const after = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling&sid=${open.sid}`);
            assert.equal(after.status, 400, 'the session is gone');
        }
    });
});

describe('without --allow-eio3', () => {
    let server;
    before(async () => {
        server = await startPusher(['--listen', '127.0.0.1:0', '--broker', 'memory', '--jwt-secret', secret]);
    });
    after(async () => {
        for (const s of sockets) {
            s.close();
        }
        await server?.stop();
    });

    test('a 2.5.0 client cannot connect; EIO=3 gets the reference server answer', async () => {
        for (const transports of [['websocket'], ['polling']]) {
            const socket = track(ioV2(server.url, { query: { token: token('old') }, transports, forceNew: true, reconnection: false }));
            await once(socket, 'connect_error', { failOn: ['connect'] });
        }
        const r = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling`);
        assert.equal(r.status, 400);
        assert.deepEqual(await r.json(), { code: 5, message: 'Unsupported protocol version' });
    });
});

describe('conformance_server --allow-eio3', () => {
    let server;
    before(async () => {
        server = await startBinary('conformance_server', ['--port', '0', '--allow-eio3']);
    });
    after(async () => {
        for (const s of sockets) {
            s.close();
        }
        await server?.stop();
    });

    for (const transports of [['websocket'], ['polling']]) {
        test(`a 2.5.0 client over ${transports[0]}: text and binary echoed, acks answered`, async () => {
            const socket = track(ioV2(server.url, { transports, forceNew: true, reconnection: false }));
            await once(socket, 'connect', { failOn: ['error', 'connect_error'] });
            const back = once(socket, 'message-back');
            socket.emit('message', 'héllo', Buffer.from([1, 2, 3]));
            const [text, bytes] = await back;
            assert.equal(text, 'héllo');
            assert.deepEqual([...bytes], [1, 2, 3]);
            const acked = await new Promise((resolve) => socket.emit('message-with-ack', 7, 'x', (...args) => resolve(args)));
            assert.deepEqual(acked, [7, 'x']);
        });
    }
});
