// Presence events, end to end: with `--presence-exchange NAME` (default `pusher.presence`, a topic exchange the node
// declares; empty = off) a node publishes there, routing key = user id, AMQP `type` = `online` when the first
// connection of a user arrives on that node (its binding is made) and `offline` when that binding goes
// (--unbind-grace-ms after the last connection left; a connection lost by a transport error is first held for
// --recovery-ms, a clean `socket.disconnect()` is not). The body is
// {"user":"alice","node":"<--node-id>","sessions":N,"at":<ms since the epoch>} (N = the user's connections on the
// node at that moment: 1 for an `online`, 0 for an `offline`). A reload inside the grace sends neither. Every event
// is counted in `pusher_presence_events_total`; with the embedded broker that count is all there is.
//
// Covered: one online per node per user (not per tab), each node's offline after its own grace and not before, the
// other node's user staying online; a reload inside the grace; the routing key; the exchange declared by the node;
// `--presence-exchange ''` (nothing on the default exchange, the metric 0, beside a default node that does publish
// there); the recovery window before the grace after a transport error; the embedded broker's count.
//
// Absence is checked after a barrier: a per-user event round trip through the node (the node handled the
// connection before it), then a marker of our own published to the presence exchange and consumed from the same
// queue (whatever the node published before is in the queue ahead of it).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import amqplib from 'amqplib';
import { startBinary } from './lib/spawn.mjs';
import { startProxy } from './lib/tcp_proxy.mjs';
import { connect, waitFor } from './lib/client.mjs';
import { amqpArgs, amqpMissing, amqpUrl, apiPublish, boundKeys, eventually, exchangeNames, metric, rabbitmqctl } from './lib/pusher.mjs';
import { sleep } from './lib/faults.mjs';

const GRACE_MS = 300;
const RECOVERY_MS = 1500; // node A's recovery window (the held-session test)
// `at` is taken on the node's wall clock when the event is made, the disconnect time on ours (same host): a little
// slack for the clocks' granularity.
const SLACK_MS = 25;
const DEFAULT_PRESENCE_EXCHANGE = 'pusher.presence';
const METRIC = 'pusher_presence_events_total';

// Every socket a test opened, closed after each test (a failed test must not leave a client connected).
const opened = new Set();
function closeAll() {
    for (const s of opened) {
        s.close();
    }
    opened.clear();
}

// connect() as `user` (--dev-auth: auth.user), recorded for closeAll().
async function tab(server, user, { transports = ['websocket'], url = server.url } = {}) {
    const socket = await connect(url, { user }, { transports });
    opened.add(socket);
    socket.user = user;
    return socket;
}

// A per-user event through `server` (POST /api/publish) that every socket of `sockets` receives: the node has
// handled their connections (and published any presence event they caused) before.
let trips = 0;
async function roundTrip(server, sockets) {
    const k = ++trips;
    for (const user of new Set(sockets.map((s) => s.user))) {
        const r = await apiPublish(server.url, { user, event: 'trip', data: { k } });
        assert.equal(r.status, 202, `POST /api/publish to ${user}: ${JSON.stringify(r.body)}`);
    }
    for (const s of sockets) {
        await waitFor(s, (rec) => rec.some((e) => e.event === 'trip' && e.data?.k === k), { what: `round trip ${k} (${s.user})` });
    }
}

// A queue of our own on a presence exchange, bound with each of `keys`: every presence event that lands there
// ({routingKey, type, body (parsed), raw}), in queue order. `barrier()` publishes a marker of ours to the exchange
// (bound to this queue with a key of its own) and resolves once it is consumed: every message routed to the queue
// before it has arrived by then.
async function presenceQueue(exchange, keys) {
    const conn = await amqplib.connect(amqpUrl);
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertExchange(exchange, 'topic', { durable: true }); // as the node declares it
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const markerKey = `pusher-test-marker-${randomBytes(4).toString('hex')}`;
    for (const key of [...keys, markerKey]) {
        await ch.bindQueue(queue, exchange, key);
    }
    const got = [];
    const markers = new Set();
    const waiters = new Set();
    await ch.consume(
        queue,
        (msg) => {
            if (msg.properties.type === 'marker') {
                markers.add(msg.content.toString());
            } else {
                const raw = msg.content.toString();
                let body;
                try {
                    body = JSON.parse(raw);
                } catch {
                    body = undefined;
                }
                got.push({ routingKey: msg.fields.routingKey, type: msg.properties.type, body, raw });
            }
            for (const w of [...waiters]) {
                w();
            }
        },
        { noAck: true },
    );
    const show = () => JSON.stringify(got.map((e) => [e.routingKey, e.type, e.raw]));
    // Resolves once `predicate()` holds (checked now and on every message).
    const until = (predicate, what, timeout = 10000) =>
        new Promise((resolve, reject) => {
            const check = () => {
                if (predicate()) {
                    cleanup();
                    resolve();
                }
            };
            const timer = setTimeout(() => {
                cleanup();
                reject(new Error(`timed out waiting for ${what}; presence events so far: ${show()}`));
            }, timeout);
            const cleanup = () => {
                clearTimeout(timer);
                waiters.delete(check);
            };
            waiters.add(check);
            check();
        });
    let n = 0;
    return {
        got,
        show,
        until,
        // The events of `user` (its routing key), optionally of one type and one node.
        of: (user, { type, node } = {}) =>
            got.filter((e) => e.routingKey === user && (type === undefined || e.type === type) && (node === undefined || e.body?.node === node)),
        // Resolves with the `count`-th event of `user` of that type (from that node).
        async next(user, type, node, count = 1) {
            const pick = () => got.filter((e) => e.routingKey === user && e.type === type && (node === undefined || e.body?.node === node));
            await until(() => pick().length >= count, `${type} #${count} of ${user}${node ? ` from ${node}` : ''}`);
            return pick()[count - 1];
        },
        async barrier() {
            const id = `m${++n}`;
            await new Promise((resolve, reject) =>
                ch.publish(exchange, markerKey, Buffer.from(id), { type: 'marker' }, (err) => (err ? reject(err) : resolve())),
            );
            await until(() => markers.has(id), `marker ${id}`);
        },
        close: async () => {
            try {
                await conn.close();
            } catch {
                // closed already
            }
        },
    };
}

// Asserts a presence event's shape: `type`, routing key and body.user = user, body.node = node, body.sessions =
// sessions, body.at a whole number of ms close to now (and not after it).
function checkEvent(e, { user, type, node, sessions }) {
    assert.ok(e, `a ${type} event of ${user}`);
    const what = `${type} of ${user}: ${e.routingKey} ${e.type} ${e.raw}`;
    assert.equal(e.type, type, what);
    assert.equal(e.routingKey, user, `routing key = user id; ${what}`);
    assert.ok(e.body !== null && typeof e.body === 'object', `a JSON object body; ${what}`);
    assert.deepEqual(Object.keys(e.body).sort(), ['at', 'node', 'sessions', 'user'], what);
    assert.equal(e.body.user, user, what);
    assert.equal(e.body.node, node, what);
    assert.equal(e.body.sessions, sessions, what);
    assert.ok(Number.isInteger(e.body.at), `at is whole ms; ${what}`);
    const now = Date.now();
    assert.ok(e.body.at <= now + SLACK_MS && e.body.at > now - 5000, `at ${e.body.at} within a few seconds of now (${now}); ${what}`);
}

describe('presence events over two nodes (RabbitMQ)', { skip: amqpMissing }, () => {
    const names = exchangeNames('presence');
    // A presence exchange of this suite's own (the default one only with run-unique user ids, in the `off` test).
    const presenceExchange = `${names.exchange}.presence`;
    let A;
    let B;
    let proxyA; // in front of node A: a connection lost by a transport error
    const queues = [];

    async function startNode(extra) {
        const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--unbind-grace-ms',
            String(GRACE_MS), ...amqpArgs(names), ...extra]);
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: 'readyz 200' });
        return server;
    }
    const nodes = [];
    async function node(extra) {
        const server = await startNode(extra);
        nodes.push(server);
        return server;
    }
    async function queueOn(exchange, keys) {
        const q = await presenceQueue(exchange, keys);
        queues.push(q);
        return q;
    }

    before(async () => {
        A = await node(['--node-id', 'node-a', '--presence-exchange', presenceExchange, '--recovery-ms', String(RECOVERY_MS)]);
        B = await node(['--node-id', 'node-b', '--presence-exchange', presenceExchange]);
        proxyA = await startProxy(Number(new URL(A.url).port));
    });
    afterEach(async () => {
        closeAll();
        await Promise.all(queues.splice(0).map((q) => q.close()));
    });
    after(async () => {
        closeAll();
        await Promise.all(queues.splice(0).map((q) => q.close()));
        await proxyA?.close();
        await Promise.all(nodes.map((s) => s.stop()));
    });

    test('one online per node for a user\'s first connection, one offline per node after its grace; the other node keeps it online', async () => {
        // The node declared the exchange (before anybody else could): a durable topic exchange.
        const listed = await rabbitmqctl('list_exchanges', '-q', '--no-table-headers', 'name', 'type', 'durable');
        const row = listed.split('\n').map((l) => l.split('\t').map((f) => f.trim())).find((r) => r[0] === presenceExchange);
        assert.deepEqual(row, [presenceExchange, 'topic', 'true'], `${presenceExchange} declared by the node`);

        const q = await queueOn(presenceExchange, ['#']);
        const a1 = await tab(A, 'alice');
        const online = await q.next('alice', 'online', 'node-a');
        checkEvent(online, { user: 'alice', type: 'online', node: 'node-a', sessions: 1 });

        // A second tab on the same node: nothing.
        const a2 = await tab(A, 'alice', { transports: ['polling'] });
        await roundTrip(A, [a1, a2]);
        await q.barrier();
        assert.equal(q.of('alice').length, 1, `one event for two tabs on node A: ${q.show()}`);

        // On node B too: an online of node B's own.
        const b1 = await tab(B, 'alice');
        checkEvent(await q.next('alice', 'online', 'node-b'), { user: 'alice', type: 'online', node: 'node-b', sessions: 1 });

        // Node A's tabs leave, one after the other: one offline, the grace after the last one.
        a1.disconnect();
        await roundTrip(A, [a2]);
        const left = Date.now();
        a2.disconnect();
        const offline = await q.next('alice', 'offline', 'node-a');
        checkEvent(offline, { user: 'alice', type: 'offline', node: 'node-a', sessions: 0 });
        assert.ok(offline.body.at - left >= GRACE_MS - SLACK_MS,
            `node A's offline ${offline.body.at - left} ms after its last tab left: not before the grace (${GRACE_MS} ms)`);

        // Node B keeps alice online (and bound: she still gets her events there).
        await roundTrip(B, [b1]);
        await q.barrier();
        assert.deepEqual(q.of('alice').map((e) => [e.type, e.body?.node]),
            [['online', 'node-a'], ['online', 'node-b'], ['offline', 'node-a']], `exactly these so far: ${q.show()}`);

        const leftB = Date.now();
        b1.disconnect();
        const offlineB = await q.next('alice', 'offline', 'node-b');
        checkEvent(offlineB, { user: 'alice', type: 'offline', node: 'node-b', sessions: 0 });
        assert.ok(offlineB.body.at - leftB >= GRACE_MS - SLACK_MS, `node B's offline ${offlineB.body.at - leftB} ms after alice left`);
        await q.barrier();
        assert.equal(q.of('alice').length, 4, `two online, two offline: ${q.show()}`);
        assert.deepEqual(q.got.map((e) => e.routingKey), ['alice', 'alice', 'alice', 'alice'], 'nobody else');
    });

    test('a reload inside the grace sends neither offline nor online', async () => {
        const q = await queueOn(presenceExchange, ['#']);
        const first = await tab(A, 'rosa');
        checkEvent(await q.next('rosa', 'online', 'node-a'), { user: 'rosa', type: 'online', node: 'node-a', sessions: 1 });

        // The reload: the page's socket goes, the new page's connects.
        const left = Date.now();
        first.disconnect();
        const again = await tab(A, 'rosa');
        const took = Date.now() - left;
        assert.ok(took < GRACE_MS, `the reload took ${took} ms: not inside the grace (${GRACE_MS} ms), nothing to conclude`);

        // Not synchronisation: a negative check. Had the node let rosa go, the offline would be out by now.
        await sleep(GRACE_MS * 3);
        await roundTrip(A, [again]);
        await q.barrier();
        assert.deepEqual(q.of('rosa').map((e) => e.type), ['online'], `no offline / online pair for the reload: ${q.show()}`);

        // The queue does see rosa go for real.
        again.disconnect();
        checkEvent(await q.next('rosa', 'offline', 'node-a'), { user: 'rosa', type: 'offline', node: 'node-a', sessions: 0 });
        await q.barrier();
        assert.deepEqual(q.of('rosa').map((e) => e.type), ['online', 'offline']);
    });

    test('the routing key is the user id: a queue bound with `bob` sees only bob\'s events', async () => {
        const all = await queueOn(presenceExchange, ['#']);
        const onlyBob = await queueOn(presenceExchange, ['bob']);
        const bob = await tab(A, 'bob');
        const carol = await tab(A, 'carol');
        const bobby = await tab(B, 'bobby');
        checkEvent(await onlyBob.next('bob', 'online', 'node-a'), { user: 'bob', type: 'online', node: 'node-a', sessions: 1 });
        for (const [user, nodeId] of [['carol', 'node-a'], ['bobby', 'node-b']]) {
            await all.next(user, 'online', nodeId);
        }
        for (const s of [bob, carol, bobby]) {
            s.disconnect();
        }
        for (const [user, nodeId] of [['bob', 'node-a'], ['carol', 'node-a'], ['bobby', 'node-b']]) {
            await all.next(user, 'offline', nodeId);
        }
        checkEvent(await onlyBob.next('bob', 'offline', 'node-a'), { user: 'bob', type: 'offline', node: 'node-a', sessions: 0 });
        await onlyBob.barrier();
        assert.deepEqual(onlyBob.got.map((e) => [e.routingKey, e.type, e.body?.user]), [['bob', 'online', 'bob'], ['bob', 'offline', 'bob']],
            `only bob's events: ${onlyBob.show()}`);
    });

    test('a connection lost by a transport error is held for --recovery-ms, then the grace runs: offline after both', async () => {
        const q = await queueOn(presenceExchange, ['#']);
        const tess = await tab(A, 'tess', { url: proxyA.url });
        checkEvent(await q.next('tess', 'online', 'node-a'), { user: 'tess', type: 'online', node: 'node-a', sessions: 1 });
        const lost = new Promise((resolve) => tess.once('disconnect', resolve));
        const cut = Date.now();
        proxyA.cut();
        await lost;
        const offline = await q.next('tess', 'offline', 'node-a');
        checkEvent(offline, { user: 'tess', type: 'offline', node: 'node-a', sessions: 0 });
        assert.ok(offline.body.at - cut >= RECOVERY_MS + GRACE_MS - SLACK_MS,
            `offline ${offline.body.at - cut} ms after the cut: not before the recovery window (${RECOVERY_MS} ms) and the grace (${GRACE_MS} ms)`);
        await q.barrier();
        assert.deepEqual(q.of('tess').map((e) => e.type), ['online', 'offline'], q.show());
    });

    test('a node that stops (SIGTERM) says offline for every user still online on it, once, long before their grace', async () => {
        const q = await queueOn(presenceExchange, ['#']);
        // A node of its own, with a grace far longer than the test: an offline can only come from its stop.
        const C = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--unbind-grace-ms', '600000',
            ...amqpArgs(names), '--node-id', 'node-c', '--presence-exchange', presenceExchange, '--drain-ms', '2000']);
        nodes.push(C);
        await eventually(async () => (await fetch(`${C.url}/readyz`)).status === 200, { what: 'node C ready' });
        const carol = [await tab(C, 'carol'), await tab(C, 'carol', { transports: ['polling'] })];
        const dave = await tab(C, 'dave');
        checkEvent(await q.next('carol', 'online', 'node-c'), { user: 'carol', type: 'online', node: 'node-c', sessions: 1 });
        checkEvent(await q.next('dave', 'online', 'node-c'), { user: 'dave', type: 'online', node: 'node-c', sessions: 1 });
        // Dave leaves before the stop: inside his (long) grace he is still online on node C.
        dave.disconnect();
        await roundTrip(C, carol);
        for (const s of [...carol, dave]) {
            s.io.opts.reconnection = false; // node C is going away: no reconnection attempts to it
        }
        const { code } = await C.stop();
        assert.equal(code, 0, 'a clean exit');
        for (const user of ['carol', 'dave']) {
            checkEvent(await q.next(user, 'offline', 'node-c'), { user, type: 'offline', node: 'node-c', sessions: 0 });
        }
        await q.barrier();
        for (const user of ['carol', 'dave']) {
            assert.deepEqual(q.of(user, { node: 'node-c' }).map((e) => e.type), ['online', 'offline'], q.show());
        }
    });

    test('--presence-exchange \'\' turns it off: nothing on the default exchange, the metric stays 0', async () => {
        const run = randomBytes(3).toString('hex');
        const offUser = `presence-off-${run}`;
        const onUser = `presence-on-${run}`;
        const C = await node(['--node-id', 'node-c', '--presence-exchange', '']);
        const D = await node(['--node-id', 'node-d']); // the default: pusher.presence
        // The default exchange is shared by runs on this broker: run-unique user ids, bound one by one.
        const q = await queueOn(DEFAULT_PRESENCE_EXCHANGE, [offUser, onUser]);

        // The control: a node with the default does publish there.
        const on = await tab(D, onUser);
        checkEvent(await q.next(onUser, 'online', 'node-d'), { user: onUser, type: 'online', node: 'node-d', sessions: 1 });
        assert.equal(await metric(D, METRIC), 1, `${METRIC} on node D`);

        // Node C: connect (its per-user events round trip proves it handled the connection), then leave until its
        // binding is gone (where the offline would be made).
        const off = await tab(C, offUser);
        await roundTrip(C, [off]);
        off.disconnect();
        await eventually(async () => !(await boundKeys(names.exchange)).has(offUser), { what: `node C unbinds ${offUser}` });
        // Not synchronisation: a bounded wait for anything late, then the marker.
        await sleep(GRACE_MS);
        await q.barrier();
        assert.deepEqual(q.of(offUser), [], `nothing from node C: ${q.show()}`);
        assert.equal(await metric(C, METRIC), 0, `${METRIC} on node C`);

        on.disconnect();
        await q.next(onUser, 'offline', 'node-d');
        await eventually(async () => (await metric(D, METRIC)) === 2, { what: `${METRIC} 2 on node D` });
        assert.equal(await metric(C, METRIC), 0, `${METRIC} on node C`);
    });
});

describe('presence with the embedded broker: only counted', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth',
            '--unbind-grace-ms', String(GRACE_MS)]);
    });
    afterEach(closeAll);
    after(async () => {
        closeAll();
        await server?.stop();
    });

    test('pusher_presence_events_total counts online (per node, not per tab) and offline (after the grace)', async () => {
        assert.equal(await metric(server, METRIC), 0, `${METRIC} before anybody connects`);
        const t1 = await tab(server, 'alice');
        await eventually(async () => (await metric(server, METRIC)) === 1, { what: `${METRIC} 1 (online)` });
        const t2 = await tab(server, 'alice', { transports: ['polling'] });
        await roundTrip(server, [t1, t2]);
        assert.equal(await metric(server, METRIC), 1, 'a second tab is no event');

        t1.disconnect();
        await roundTrip(server, [t2]);
        const left = Date.now();
        t2.disconnect();
        await eventually(async () => (await metric(server, METRIC)) >= 2, { what: `${METRIC} 2 (offline)`, interval: 20 });
        const took = Date.now() - left;
        assert.ok(took >= GRACE_MS - SLACK_MS, `the offline counted ${took} ms after the last tab left (grace ${GRACE_MS} ms)`);
        // Not synchronisation: nothing more comes.
        await sleep(GRACE_MS * 2);
        assert.equal(await metric(server, METRIC), 2, 'one online, one offline');
    });
});
