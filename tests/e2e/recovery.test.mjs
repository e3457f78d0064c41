// Connection state recovery with the unmodified socket.io-client (its connectionStateRecovery protocol: the CONNECT
// reply carries `pid`, every event its offset as the last argument, a reconnecting client sends pid and offset):
// a connection cut at the TCP level (a proxy between client and server) while events are published gets them all
// back, exactly once and in order, over websocket and over polling; a session whose network vanished silently is
// taken over at once; the window passes; `io client disconnect` is not recovered; forged, foreign and malformed
// pids and offsets are normal connections that never see another user's events. Channel events are recovered too
// (missed ones once, in order with the user's own, still a member afterwards, nothing from before the subscribe),
// also across nodes: a session with channels reconnecting to another node is handed over with them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startBinary } from './lib/spawn.mjs';
import { startProxy } from './lib/tcp_proxy.mjs';
import amqplib from 'amqplib';
import { amqpArgs, amqpMissing, amqpSend, amqpUrl, apiPublish, boundKeys, eventually, exchangeNames, metric, undeliveredQueue } from './lib/pusher.mjs';

// Every recorder made, closed after each suite (a failed test must not leave a client reconnecting forever, which
// would keep this file's process alive).
const opened = new Set();
function closeAll() {
    for (const s of opened) {
        s.close();
    }
    opened.clear();
}

// A socket.io-client socket that records every event with all its arguments, and every connect.
function recorder(url, auth, transports, extra = {}) {
    const socket = io(url, {
        auth,
        transports,
        forceNew: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 200,
        randomizationFactor: 0,
        timeout: 5000,
        ...extra,
    });
    opened.add(socket);
    socket.events = [];
    socket.connects = [];
    const wake = () => socket.waiters.forEach((w) => w());
    socket.waiters = new Set();
    socket.onAny((event, ...args) => {
        socket.events.push({ event, args });
        wake();
    });
    socket.on('connect', () => {
        socket.connects.push({ id: socket.id, recovered: socket.recovered });
        wake();
    });
    socket.disconnects = 0;
    socket.on('disconnect', (reason) => {
        socket.lastDisconnect = reason;
        socket.disconnects += 1;
        wake();
    });
    return socket;
}

function until(socket, predicate, what, timeout = 10000) {
    return new Promise((resolve, reject) => {
        const check = () => {
            if (predicate(socket)) {
                socket.waiters.delete(check);
                clearTimeout(timer);
                resolve();
            }
        };
        const timer = setTimeout(() => {
            socket.waiters.delete(check);
            reject(new Error(`timed out waiting for ${what}; events ${JSON.stringify(socket.events.map((e) => e.args[0]))}, connects ${JSON.stringify(socket.connects)}`));
        }, timeout);
        socket.waiters.add(check);
        check();
    });
}

const numbers = (socket, event = 'n') => socket.events.filter((e) => e.event === event).map((e) => e.args[0].i);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, k) => a + k);

async function publish(server, user, from, to, event = 'n') {
    for (let i = from; i <= to; i++) {
        const r = await apiPublish(server.url, { user, event, data: { i } });
        assert.equal(r.status, 202);
    }
}

// Joins a channel: the ack is {ok: true} once the node's binding is confirmed.
async function subscribe(socket, channel) {
    assert.deepEqual(await socket.timeout(5000).emitWithAck('subscribe', { channel }), { ok: true }, `subscribe to ${channel}`);
}

// A socket's stream as `n<i>` (a per-user event `n`) and `c<i>` (a channel event `c`), each checked for its shape: a
// channel event is (data, {channel}, offset), a per-user one (data, offset).
function stream(socket, channel) {
    return socket.events.map(({ event, args }) => {
        assert.ok(event === 'n' || event === 'c', `unexpected event ${event}`);
        if (event === 'c') {
            assert.equal(args.length, 3, `channel event (data, meta, offset): ${JSON.stringify(args)}`);
            assert.deepEqual(args[1], { channel });
        } else {
            assert.equal(args.length, 2, `per-user event (data, offset): ${JSON.stringify(args)}`);
        }
        assert.match(args.at(-1), /^\d+$/);
        return `${event}${args[0].i}`;
    });
}

const has = (name) => (socket) => socket.events.some((e) => `${e.event}${e.args[0]?.i}` === name);

// Publishes to channels through RabbitMQ (routing key = channel, `type` = event name), each confirmed by the broker.
async function channelPublisher(exchange) {
    const conn = await amqplib.connect(amqpUrl);
    const ch = await conn.createConfirmChannel();
    return {
        send: (channel, event, data) =>
            new Promise((resolve, reject) =>
                ch.publish(exchange, channel, Buffer.from(JSON.stringify(data)), { type: event, contentType: 'application/json' },
                    (err) => (err ? reject(err) : resolve())),
            ),
        close: () => conn.close(),
    };
}

// Recovery covers channel events, on one node: a socket subscribed to a channel (and getting its per-user events)
// is cut at the proxy while both kinds are published, and recovers: every missed event once, in publish order across
// both kinds (one node, one order), channel events with their meta; it is still a member afterwards without
// subscribing again; the channel events published before it subscribed (between its last offset and its join) are
// never replayed; a live member of the channel (connected directly, not through the proxy) gets every channel event
// once, at once. `toUser(user, i)` / `toChannel(channel, i)` publish event `n` / `c` with data {i}, resolving once
// accepted; `waitHeld` waits for the server to hold the session before publishing the missed events.
async function channelEventsRecovered({ server, proxy, transports, tag, toUser, toChannel, waitHeld }) {
    const user = `${tag}-${transports}`;
    const channel = `room:${tag}-${transports}`;
    const live = recorder(server.url, { user: `${user}-live` }, ['websocket']);
    await until(live, (x) => x.connects.length === 1, 'the live member connects');
    await subscribe(live, channel);
    const s = recorder(proxy.url, { user }, transports);
    await until(s, (x) => x.connects.length === 1, 'the first connect');
    await toUser(user, 1);
    await until(s, has('n1'), 'event n1');
    // Published before it subscribes (the live member has them, so the channel's history has them): after its last
    // offset (n1), before its join.
    await toChannel(channel, 2);
    await toChannel(channel, 3);
    await until(live, has('c3'), 'the live member gets c2, c3');
    await subscribe(s, channel);
    proxy.down();
    await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
    if (waitHeld) {
        await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) >= 1, { what: 'the session held' });
    }
    await toChannel(channel, 4);
    await toUser(user, 5);
    await toChannel(channel, 6);
    await toChannel(channel, 7);
    await toUser(user, 8);
    await until(live, has('c7'), 'the live member gets c4, c6, c7 while the other member is away');
    proxy.up();
    await until(s, (x) => x.connects.length === 2, 'the reconnect');
    assert.deepEqual(s.connects[1], { id: s.connects[0].id, recovered: true });
    // Still a member: c9 reaches it without a new subscribe. n10 comes last from the same node: anything published
    // before it (a duplicate, a replay of c2 / c3) would have arrived by then.
    await toChannel(channel, 9);
    await toUser(user, 10);
    await until(s, has('n10'), 'events up to n10');
    assert.deepEqual(stream(s, channel), ['n1', 'c4', 'n5', 'c6', 'c7', 'n8', 'c9', 'n10']);
    const offsets = s.events.map((e) => BigInt(e.args.at(-1)));
    assert.deepEqual(offsets, [...offsets].sort((a, b) => (a < b ? -1 : 1)), 'offsets grow');
    await until(live, has('c9'), 'the live member gets c9');
    assert.deepEqual(stream(live, channel), ['c2', 'c3', 'c4', 'c6', 'c7', 'c9'], 'the live member: each channel event once, in order');
    s.close();
    live.close();
}

describe('connection state recovery, one node (embedded broker)', () => {
    let server;
    let proxy;
    before(async () => {
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--ping-interval-ms', '1000',
            '--ping-timeout-ms', '1000']);
        proxy = await startProxy(Number(new URL(server.url).port));
    });
    after(async () => {
        closeAll();
        await proxy?.close();
        await server?.stop();
    });

    for (const transports of [['websocket'], ['polling']]) {
        test(`a connection cut while events are published gets each of them once, in order (${transports})`, async () => {
            const user = `cut-${transports}`;
            const s = recorder(proxy.url, { user }, transports);
            await until(s, (x) => x.connects.length === 1, 'the first connect');
            assert.equal(s.connects[0].recovered, false);
            await publish(server, user, 1, 5);
            await until(s, (x) => numbers(x).length === 5, 'events 1..5');
            // Every event carries its offset (a string) as its last argument.
            for (const e of s.events) {
                assert.equal(e.args.length, 2);
                assert.match(e.args[1], /^\d+$/);
            }
            proxy.down();
            await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
            await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) >= 1, { what: 'the session held' });
            await publish(server, user, 6, 10);
            proxy.up();
            await until(s, (x) => x.connects.length === 2, 'the reconnect');
            assert.deepEqual(s.connects[1], { id: s.connects[0].id, recovered: true });
            await publish(server, user, 11, 12);
            await until(s, (x) => numbers(x).length >= 12, 'events 6..12');
            assert.deepEqual(numbers(s), range(1, 12));
            const offsets = s.events.map((e) => BigInt(e.args[1]));
            assert.deepEqual(offsets, [...offsets].sort((a, b) => (a < b ? -1 : 1)), 'offsets grow');
            s.close();
        });
    }

    for (const transports of [['websocket'], ['polling']]) {
        test(`a socket in a channel, cut while channel and per-user events are published, gets each once, in order, and stays a member (${transports})`, async () => {
            const publishOne = async (body) => {
                const r = await apiPublish(server.url, body);
                assert.equal(r.status, 202, JSON.stringify(r.body));
            };
            await channelEventsRecovered({
                server, proxy, transports, tag: 'chan-cut', waitHeld: true,
                toUser: (user, i) => publishOne({ user, event: 'n', data: { i } }),
                toChannel: (channel, i) => publishOne({ channel, event: 'c', data: { i } }),
            });
        });
    }

    for (const transports of [['polling'], ['websocket']]) {
        test(`repeated cuts with the network up at once (the client's reconnection races its own close) lose nothing (${transports})`, async () => {
            // Over polling, socket.io-client answers a failed request with an Engine.IO close packet on a new
            // connection, then reconnects: that close must not end the recoverable state.
            const user = `recut-${transports}`;
            const s = recorder(proxy.url, { user }, transports);
            await until(s, (x) => x.connects.length === 1, 'the first connect');
            let n = 0;
            for (let cut = 1; cut <= 6; cut++) {
                await publish(server, user, n + 1, n + 3);
                n += 3;
                // A polling client between two requests has no connection to lose: cut again until it notices.
                const drops = s.disconnects;
                for (let tries = 0; s.disconnects === drops; tries++) {
                    assert.ok(tries < 50, 'the cut is noticed');
                    proxy.cut();
                    await until(s, (x) => x.disconnects > drops, 'the disconnect', 200).catch(() => {});
                }
                await publish(server, user, n + 1, n + 2);
                n += 2;
                await until(s, (x) => x.connects.length === cut + 1, `reconnect ${cut}`);
            }
            await until(s, (x) => numbers(x).length >= n, `all ${n} events`);
            assert.deepEqual(numbers(s), range(1, n));
            assert.deepEqual(s.connects.slice(1).map((c) => c.recovered), Array(6).fill(true));
            assert.ok(s.connects.every((c) => c.id === s.connects[0].id), 'the same socket id throughout');
            s.close();
        });
    }

    test('events written to a connection whose network vanished are replayed, and the old session is taken over at once', async () => {
        const user = 'vanish';
        const s = recorder(proxy.url, { user }, ['websocket'], { reconnection: false });
        await until(s, (x) => x.connects.length === 1, 'the first connect');
        await publish(server, user, 1, 3);
        await until(s, (x) => numbers(x).length === 3, 'events 1..3');
        const takeovers = await metric(server, 'pusher_recovery_takeovers_total');
        proxy.blackhole(); // the server still believes the session open: what it writes now is never read
        await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
        await publish(server, user, 4, 6);
        s.connect(); // the same socket: it sends its pid and last offset
        await until(s, (x) => x.connects.length === 2, 'the reconnect', 3000); // well before the 2 s ping timeout
        assert.equal(s.connects[1].recovered, true);
        await publish(server, user, 7, 7);
        await until(s, (x) => numbers(x).length >= 7, 'events 4..7');
        assert.deepEqual(numbers(s), range(1, 7));
        assert.equal(await metric(server, 'pusher_recovery_takeovers_total'), takeovers + 1);
        proxy.release();
        s.close();
    });

    test('a client that never received an event is recovered too (it sends no offset)', async () => {
        const user = 'quiet';
        const s = recorder(proxy.url, { user }, ['websocket']);
        await until(s, (x) => x.connects.length === 1, 'the first connect');
        proxy.down();
        await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
        await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) >= 1, { what: 'the session held' });
        await publish(server, user, 1, 2);
        proxy.up();
        await until(s, (x) => x.connects.length === 2 && numbers(x).length === 2, 'the recovery');
        assert.equal(s.connects[1].recovered, true);
        assert.deepEqual(numbers(s), [1, 2]);
        s.close();
    });

    test('io client disconnect is not recovered', async () => {
        const user = 'leaver';
        const s = recorder(server.url, { user }, ['websocket'], { reconnection: false });
        await until(s, (x) => x.connects.length === 1, 'the first connect');
        await publish(server, user, 1, 1);
        await until(s, (x) => numbers(x).length === 1, 'event 1');
        s.disconnect();
        s.connect(); // still sends its pid and offset
        await until(s, (x) => x.connects.length === 2, 'the second connect');
        assert.equal(s.connects[1].recovered, false);
        assert.notEqual(s.connects[1].id, s.connects[0].id);
        s.close();
    });

    test('forged, foreign and malformed pids and offsets connect normally and never see another user\'s events', async () => {
        const alice = recorder(proxy.url, { user: 'alice-r' }, ['websocket']);
        await until(alice, (x) => x.connects.length === 1, 'alice connects');
        await publish(server, 'alice-r', 1, 2);
        await until(alice, (x) => numbers(x).length === 2, 'alice events');
        const pid = alice._pid;
        assert.match(pid, /^[A-Za-z0-9_-]+\.[0-9a-f]{32}$/);
        proxy.down();
        await until(alice, (x) => x.lastDisconnect !== undefined, 'alice disconnects');
        await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) >= 1, { what: 'alice held' });
        await publish(server, 'alice-r', 3, 3);
        const tries = [
            { user: 'mallory', pid, offset: '0' }, // alice's real pid, another user
            { user: 'mallory', pid },
            { user: 'mallory', pid: 'f'.repeat(32), offset: '1' },
            { user: 'mallory', pid: `${pid.split('.')[0]}.${'f'.repeat(32)}`, offset: '1' },
            { user: 'mallory', pid: `othernode.${'f'.repeat(32)}` },
            { user: 'mallory', pid: 'x'.repeat(100000) },
            { user: 'mallory', pid: 42, offset: 7 },
            { user: 'mallory', pid: { nested: true } },
            { user: 'alice-r', pid, offset: 'not a number' },
            { user: 'alice-r', pid, offset: '99999999999999999999999' },
        ];
        for (const auth of tries) {
            const m = recorder(server.url, auth, ['websocket'], { reconnection: false });
            await until(m, (x) => x.connects.length === 1, `connect with ${JSON.stringify(auth).slice(0, 80)}`);
            assert.equal(m.connects[0].recovered, false, JSON.stringify(auth).slice(0, 80));
            assert.deepEqual(m.events, []);
            m.close();
        }
        // alice's state is still there for alice.
        proxy.up();
        await until(alice, (x) => x.connects.length === 2, 'alice reconnects');
        assert.equal(alice.connects[1].recovered, true);
        await until(alice, (x) => numbers(x).length === 3, 'alice gets event 3');
        assert.deepEqual(numbers(alice), [1, 2, 3]);
        alice.close();
    });
});

describe('connection state recovery: the window', () => {
    let server;
    let proxy;
    before(async () => {
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--recovery-ms', '300']);
        proxy = await startProxy(Number(new URL(server.url).port));
    });
    after(async () => {
        closeAll();
        await proxy?.close();
        await server?.stop();
    });

    test('a client back after the window connects anew, and what it missed is counted as expired', async () => {
        const user = 'late';
        const s = recorder(proxy.url, { user }, ['websocket']);
        await until(s, (x) => x.connects.length === 1, 'the first connect');
        proxy.down();
        await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
        await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) === 1, { what: 'held' });
        await publish(server, user, 1, 2);
        await eventually(async () => (await metric(server, 'pusher_recoveries_total{outcome="expired"}')) === 1, { what: 'the window to end' });
        assert.equal(await metric(server, 'pusher_recovery_sessions_held'), 0);
        proxy.up();
        await until(s, (x) => x.connects.length === 2, 'the reconnect');
        assert.equal(s.connects[1].recovered, false);
        assert.deepEqual(numbers(s), []);
        s.close();
    });
});

describe('connection state recovery off (--recovery-ms 0)', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--recovery-ms', '0']);
    });
    after(() => {
        closeAll();
        return server?.stop();
    });

    test('no pid, no offset argument', async () => {
        const s = recorder(server.url, { user: 'plain' }, ['websocket']);
        await until(s, (x) => x.connects.length === 1, 'connect');
        await publish(server, 'plain', 1, 1);
        await until(s, (x) => numbers(x).length === 1, 'event');
        assert.equal(s._pid, undefined);
        assert.equal(s.events[0].args.length, 1);
        s.close();
    });
});

describe('connection state recovery through RabbitMQ', { skip: amqpMissing }, () => {
    const names = exchangeNames('recovery');
    const chx = `${names.exchange}.channels`;
    let server;
    let proxy;
    let lost;
    let pub;
    before(async () => {
        // No unbind grace: the binding that stays through a disconnect is the recovery window's doing.
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', ...amqpArgs(names),
            '--channel-exchange', chx, '--unbind-grace-ms', '0', '--recovery-ms', '3000']);
        proxy = await startProxy(Number(new URL(server.url).port));
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: 'ready (exchanges declared)' });
        lost = await undeliveredQueue(names);
        pub = await channelPublisher(chx);
    });
    after(async () => {
        closeAll();
        await pub?.close();
        await lost?.close();
        await proxy?.close();
        await server?.stop();
    });

    for (const transports of [['polling'], ['websocket']]) {
        test(`events published to RabbitMQ during a cut are recovered once, in order, and the binding stays (${transports})`, async () => {
            const user = `amqp-cut-${transports}`;
            const s = recorder(proxy.url, { user }, transports);
            await until(s, (x) => x.connects.length === 1, 'the first connect');
            for (let i = 1; i <= 3; i++) {
                await amqpSend(names, { user }, 'n', { i });
            }
            await until(s, (x) => numbers(x).length === 3, 'events 1..3');
            proxy.down();
            await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
            if (transports[0] === 'websocket') {
                // The server sees the websocket close at once and holds the session. A polling session has no
                // connection to lose: the server would notice only at the ping timeout, so the recovering CONNECT
                // takes it over.
                await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) >= 1, { what: 'held' });
            }
            assert.ok((await boundKeys(names.exchange)).has(user), 'still bound');
            for (let i = 4; i <= 6; i++) {
                await amqpSend(names, { user }, 'n', { i });
            }
            proxy.up();
            await until(s, (x) => x.connects.length === 2, 'the reconnect');
            assert.equal(s.connects[1].recovered, true);
            await amqpSend(names, { user }, 'n', { i: 7 });
            await until(s, (x) => numbers(x).length >= 7, 'events 4..7');
            assert.deepEqual(numbers(s), range(1, 7));
            assert.deepEqual(lost.got.filter((g) => g.routingKey === user), []);
            s.close();
        });
    }

    for (const transports of [['polling'], ['websocket']]) {
        test(`a socket in a channel, cut while channel and per-user events are published to RabbitMQ, gets each once, in order, and stays a member (${transports})`, async () => {
            await channelEventsRecovered({
                server, proxy, transports, tag: 'amqp-chan-cut',
                // As above: a polling session's cut is noticed only at the ping timeout, the recovery takes it over.
                waitHeld: transports[0] === 'websocket',
                toUser: (user, i) => amqpSend(names, { user }, 'n', { i }),
                toChannel: (channel, i) => pub.send(channel, 'c', { i }),
            });
            assert.deepEqual(lost.got.filter((g) => g.routingKey.includes('amqp-chan-cut')), [], 'nothing undelivered');
        });
    }

    test('what a session missed goes to the undelivered exchange as recovery_expired when the window ends, and the binding goes', async () => {
        const user = 'amqp-late';
        const s = recorder(proxy.url, { user }, ['websocket']);
        await until(s, (x) => x.connects.length === 1, 'the first connect');
        proxy.down();
        await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
        await eventually(async () => (await metric(server, 'pusher_recovery_sessions_held')) >= 1, { what: 'held' });
        for (let i = 1; i <= 3; i++) {
            await amqpSend(names, { user }, 'late.n', { i });
        }
        const mine = () => lost.got.filter((g) => g.routingKey === user);
        await eventually(() => mine().length === 3, { what: 'three messages on the undelivered exchange', timeout: 10000 });
        assert.deepEqual(mine().map((g) => [g.type, g.reason, JSON.parse(g.body).i]),
            [['late.n', 'recovery_expired', 1], ['late.n', 'recovery_expired', 2], ['late.n', 'recovery_expired', 3]]);
        await eventually(async () => !(await boundKeys(names.exchange)).has(user), { what: 'the binding removed' });
        proxy.up();
        await until(s, (x) => x.connects.length === 2, 'the reconnect');
        assert.equal(s.connects[1].recovered, false);
        assert.deepEqual(numbers(s), []);
        assert.equal(mine().length, 3, 'each once');
        s.close();
    });
});

// Two nodes on one RabbitMQ: a client whose reconnection lands on the other node (the proxy switched to it) gets its
// state from the node that held it (a hand-over through the control exchange), exactly once and in order; with its
// channels, which the new node binds before the old one lets them go.
describe('connection state recovery across two nodes (RabbitMQ)', { skip: amqpMissing }, () => {
    const names = exchangeNames('handover');
    const control = `${names.exchange}.control`;
    const chx = `${names.exchange}.channels`;
    const nodes = {};
    let proxy;
    let lost;
    let pub;
    const portOf = (server) => Number(new URL(server.url).port);
    async function startNode(id) {
        const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', ...amqpArgs(names),
            '--channel-exchange', chx, '--control-exchange', control, '--node-id', id, '--unbind-grace-ms', '0', '--recovery-ms', '10000',
            '--ping-interval-ms', '1000', '--ping-timeout-ms', '1000', '--drain-ms', '10000']);
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: `${id} ready` });
        nodes[id] = server;
        return server;
    }
    before(async () => {
        await startNode('node-a');
        await startNode('node-b');
        proxy = await startProxy(portOf(nodes['node-a']));
        lost = await undeliveredQueue(names);
        pub = await channelPublisher(chx);
    });
    after(async () => {
        closeAll();
        await pub?.close();
        await lost?.close();
        await proxy?.close();
        await Promise.all(Object.values(nodes).map((n) => n.stop()));
    });

    // Publishes events `from`..`to` for `user` to RabbitMQ (they reach whichever nodes are bound).
    async function send(user, from, to) {
        for (let i = from; i <= to; i++) {
            await amqpSend(names, { user }, 'n', { i });
        }
    }

    for (const transports of [['polling'], ['websocket']]) {
        test(`a client cut from node A that reconnects to node B gets what it missed from A, once, in order (${transports})`, async () => {
            const [a, b] = [nodes['node-a'], nodes['node-b']];
            const user = `moving-${transports}`;
            proxy.target = portOf(a);
            const s = recorder(proxy.url, { user }, transports);
            await until(s, (x) => x.connects.length === 1, 'the first connect (node A)');
            assert.match(s._pid, /^node-a\.[0-9a-f]{32}$/);
            const pid = s._pid;
            await send(user, 1, 3);
            await until(s, (x) => numbers(x).length === 3, 'events 1..3');
            const before = { other: await metric(b, 'pusher_recoveries_total{outcome="other_node"}'),
                handed: await metric(a, 'pusher_recoveries_total{outcome="handed_over"}') };
            proxy.down();
            await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
            if (transports[0] === 'websocket') {
                await eventually(async () => (await metric(a, 'pusher_recovery_sessions_held')) >= 1, { what: 'held on A' });
            } // (a polling session is taken over: A notices the cut only at its ping timeout)
            await send(user, 4, 6);
            proxy.target = portOf(b);
            proxy.up();
            await until(s, (x) => x.connects.length === 2, 'the reconnect (node B)');
            assert.deepEqual(s.connects[1], { id: s.connects[0].id, recovered: true });
            await send(user, 7, 8);
            await until(s, (x) => numbers(x).length >= 8, 'events 4..8');
            assert.deepEqual(numbers(s), range(1, 8));
            assert.equal(await metric(b, 'pusher_recoveries_total{outcome="other_node"}'), before.other + 1);
            assert.equal(await metric(a, 'pusher_recoveries_total{outcome="handed_over"}'), before.handed + 1);
            assert.deepEqual(lost.got.filter((g) => g.routingKey === user), [], 'nothing undelivered');
            // Cut again, back to node A: A passes the request on to B, which holds the session now.
            proxy.down();
            await until(s, (x) => x.disconnects === 2, 'the second disconnect');
            await send(user, 9, 9);
            proxy.target = portOf(a);
            proxy.up();
            await until(s, (x) => x.connects.length === 3, 'the reconnect (node A again)');
            assert.equal(s.connects[2].recovered, true);
            await send(user, 10, 10);
            await until(s, (x) => numbers(x).length >= 10, 'events 9..10');
            assert.deepEqual(numbers(s), range(1, 10));
            assert.equal(s._pid, pid, 'the same pid throughout');
            s.close();
        });
    }

    for (const transports of [['polling'], ['websocket']]) {
        test(`a client in a channel, cut from node A, reconnects to node B and gets what it missed, channel events included, once, in order, and stays a member; and back to A (${transports})`, async () => {
            const [a, b] = [nodes['node-a'], nodes['node-b']];
            const user = `moving-chan-${transports}`;
            const channel = `room:moving-${transports}`;
            // Live members of the channel on both nodes, connected directly (not through the proxy).
            const live = [a, b].map((n) => recorder(n.url, { user: `${user}-live-${portOf(n)}` }, ['websocket']));
            for (const m of live) {
                await until(m, (x) => x.connects.length === 1, 'a live member connects');
                await subscribe(m, channel);
            }
            proxy.target = portOf(a);
            const s = recorder(proxy.url, { user }, transports);
            await until(s, (x) => x.connects.length === 1, 'the first connect (node A)');
            assert.match(s._pid, /^node-a\.[0-9a-f]{32}$/);
            const pid = s._pid;
            await subscribe(s, channel);
            await pub.send(channel, 'c', { i: 1 });
            await send(user, 2, 2);
            await until(s, has('n2'), 'c1, n2');
            const before = { other: await metric(b, 'pusher_recoveries_total{outcome="other_node"}'),
                handed: await metric(a, 'pusher_recoveries_total{outcome="handed_over"}') };
            proxy.down();
            await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
            // Held before the missed events are published, also over polling (A notices the cut at its ping timeout).
            await eventually(async () => (await metric(a, 'pusher_recovery_sessions_held')) >= 1, { what: 'held on A' });
            await pub.send(channel, 'c', { i: 3 });
            await send(user, 4, 5);
            await pub.send(channel, 'c', { i: 6 });
            for (const m of live) {
                await until(m, has('c6'), 'the live members get c3, c6 while the other member is away');
            }
            proxy.target = portOf(b);
            proxy.up();
            await until(s, (x) => x.connects.length === 2, 'the reconnect (node B)');
            assert.deepEqual(s.connects[1], { id: s.connects[0].id, recovered: true }, 'handed over, channels and all');
            assert.equal(await metric(b, 'pusher_recoveries_total{outcome="other_node"}'), before.other + 1);
            assert.equal(await metric(a, 'pusher_recoveries_total{outcome="handed_over"}'), before.handed + 1);
            // A member on B without subscribing again, and on its own subscription there: B's other member leaves.
            live[1].close();
            await pub.send(channel, 'c', { i: 7 });
            await send(user, 8, 8);
            await until(s, has('n8'), 'c7, n8 on node B');
            assert.deepEqual(stream(s, channel), ['c1', 'n2', 'c3', 'n4', 'n5', 'c6', 'c7', 'n8']);
            // A gave the session's channel subscription up: once its own live member leaves, A is bound to no channel.
            await until(live[0], has('c7'), 'A\'s live member gets c7');
            live[0].close();
            await eventually(async () => (await metric(a, 'pusher_channel_bindings')) === 0, { what: 'no channel bound on A' });
            // Cut again, back to node A: A asks B (where the pid went), binds the channel, and gets it all back.
            proxy.down();
            await until(s, (x) => x.disconnects === 2, 'the second disconnect');
            await eventually(async () => (await metric(b, 'pusher_recovery_sessions_held')) >= 1, { what: 'held on B' });
            await pub.send(channel, 'c', { i: 9 });
            await send(user, 10, 10);
            proxy.target = portOf(a);
            proxy.up();
            await until(s, (x) => x.connects.length === 3, 'the reconnect (node A again)');
            assert.equal(s.connects[2].recovered, true);
            await pub.send(channel, 'c', { i: 11 });
            await until(s, has('c11'), 'c9, n10, c11 on node A');
            assert.deepEqual(stream(s, channel), ['c1', 'n2', 'c3', 'n4', 'n5', 'c6', 'c7', 'n8', 'c9', 'n10', 'c11']);
            assert.equal(s._pid, pid, 'the same pid throughout');
            assert.deepEqual(lost.got.filter((g) => g.routingKey === user || g.routingKey === channel), [], 'nothing undelivered');
            // Still an ordinary member: unsubscribe stops the channel's events, the user's own go on.
            assert.deepEqual(await s.timeout(5000).emitWithAck('unsubscribe', { channel }), { ok: true });
            await pub.send(channel, 'c', { i: 12 });
            await send(user, 13, 13);
            await until(s, has('n13'), 'n13');
            assert.deepEqual(stream(s, channel).slice(-2), ['c11', 'n13']);
            s.close();
        });
    }

    test('a client in a channel whose old socket node A still believes open is taken over there and handed to node B, channel and all', async () => {
        const [a, b] = [nodes['node-a'], nodes['node-b']];
        const user = 'vanishing-chan';
        const channel = 'room:vanishing';
        proxy.target = portOf(a);
        const s = recorder(proxy.url, { user }, ['websocket'], { reconnection: false });
        await until(s, (x) => x.connects.length === 1, 'the first connect (node A)');
        await subscribe(s, channel);
        await pub.send(channel, 'c', { i: 1 });
        await send(user, 2, 2);
        await until(s, has('n2'), 'c1, n2');
        const before = { takeovers: await metric(a, 'pusher_recovery_takeovers_total'),
            first: await metric(a, 'pusher_recovery_handovers_served_total{outcome="channels_first"}'),
            handed: await metric(a, 'pusher_recovery_handovers_served_total{outcome="handed_over"}') };
        proxy.blackhole(); // A still believes the socket open: what it writes now is never read
        await until(s, (x) => x.lastDisconnect !== undefined, 'the disconnect');
        await pub.send(channel, 'c', { i: 3 });
        await send(user, 4, 4);
        proxy.target = portOf(b);
        s.connect(); // well before A's ping timeout (2 s): A closes the old socket for the take-over
        await until(s, (x) => x.connects.length === 2, 'the reconnect (node B)', 3000);
        assert.deepEqual(s.connects[1], { id: s.connects[0].id, recovered: true });
        await pub.send(channel, 'c', { i: 5 });
        await until(s, has('c5'), 'c3, n4, c5');
        assert.deepEqual(stream(s, channel), ['c1', 'n2', 'c3', 'n4', 'c5']);
        assert.equal(await metric(a, 'pusher_recovery_takeovers_total'), before.takeovers + 1);
        assert.equal(await metric(a, 'pusher_recovery_handovers_served_total{outcome="channels_first"}'), before.first + 1);
        assert.equal(await metric(a, 'pusher_recovery_handovers_served_total{outcome="handed_over"}'), before.handed + 1);
        proxy.release();
        s.close();
    });

    test('a hand-over asked for another user is refused; a pid naming a node that does not exist connects anew', async () => {
        const [a, b] = [nodes['node-a'], nodes['node-b']];
        proxy.target = portOf(a);
        const alice = recorder(proxy.url, { user: 'alice-h' }, ['websocket']);
        await until(alice, (x) => x.connects.length === 1, 'alice connects');
        await send('alice-h', 1, 1);
        await until(alice, (x) => numbers(x).length === 1, 'alice event 1');
        const pid = alice._pid;
        proxy.down();
        await until(alice, (x) => x.lastDisconnect !== undefined, 'alice disconnects');
        await eventually(async () => (await metric(a, 'pusher_recovery_sessions_held')) >= 1, { what: 'alice held' });
        await send('alice-h', 2, 2);
        const refused = await metric(a, 'pusher_recovery_handovers_served_total{outcome="refused"}');
        for (const auth of [{ user: 'mallory', pid, offset: '0' }, { user: 'mallory', pid: `ghost.${'e'.repeat(32)}` }]) {
            const m = recorder(b.url, auth, ['websocket'], { reconnection: false });
            await until(m, (x) => x.connects.length === 1, `connect with ${JSON.stringify(auth)}`);
            assert.equal(m.connects[0].recovered, false);
            assert.deepEqual(m.events, []);
            m.close();
        }
        assert.equal(await metric(a, 'pusher_recovery_handovers_served_total{outcome="refused"}'), refused + 1);
        // alice's state is still on A, for alice.
        proxy.up();
        await until(alice, (x) => x.connects.length === 2, 'alice reconnects');
        assert.equal(alice.connects[1].recovered, true);
        await until(alice, (x) => numbers(x).length === 2, 'alice event 2');
        assert.deepEqual(numbers(alice), [1, 2]);
        alice.close();
    });

    test('malformed control messages are refused and counted; the node goes on', async () => {
        const a = nodes['node-a'];
        const conn = await amqplib.connect(amqpUrl);
        const ch = await conn.createConfirmChannel();
        const before = await metric(a, 'pusher_recovery_handover_malformed_total');
        for (const [type, body] of [['pusher.handover.request', 'not json'], ['pusher.handover.request', '{"v":1,"op":"request"}'],
            ['pusher.handover.reply', '{"v":1,"op":"reply","id":"1","from":"x","ok":true,"sid":"s","events":[{"k":1,"e":"m","d":"{"}]}'],
            ['something.else', '{}']]) {
            ch.publish(control, 'node-a', Buffer.from(body), { type });
        }
        await ch.waitForConfirms();
        await conn.close();
        await eventually(async () => (await metric(a, 'pusher_recovery_handover_malformed_total')) === before + 4, { what: 'four refusals' });
        assert.equal((await fetch(`${a.url}/readyz`)).status, 200);
    });

    test('SIGTERM of the node that holds the sessions: their clients recover on the other node, nothing lost', async () => {
        const c = await startNode('node-c');
        const b = nodes['node-b'];
        proxy.target = portOf(c);
        const clients = [['websocket'], ['polling']].map((t) => recorder(proxy.url, { user: `drained-${t}` }, t));
        for (const s of clients) {
            await until(s, (x) => x.connects.length === 1, 'connect to node C');
            await send(s.auth.user, 1, 2);
            await until(s, (x) => numbers(x).length === 2, 'events 1..2');
        }
        proxy.target = portOf(b);
        const exited = c.stop('SIGTERM');
        for (const s of clients) {
            await send(s.auth.user, 3, 4);
        }
        for (const s of clients) {
            await until(s, (x) => x.connects.length === 2, 'the reconnect (node B)');
            assert.equal(s.connects[1].recovered, true);
            await send(s.auth.user, 5, 5);
            await until(s, (x) => numbers(x).length >= 5, 'events 3..5');
            assert.deepEqual(numbers(s), range(1, 5));
        }
        assert.equal((await exited).code, 0);
        delete nodes['node-c'];
        for (const s of clients) {
            assert.deepEqual(lost.got.filter((g) => g.routingKey === s.auth.user), [], 'nothing undelivered');
            s.close();
        }
    });
});
