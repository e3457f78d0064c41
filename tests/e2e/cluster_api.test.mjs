// The cluster API, end to end: every node answers cluster queries over the control exchange (--control-exchange,
// default pusher.control; routing key = --node-id), and learns the other nodes from their `hello`s (one at start,
// then every 5 s). A node asked over HTTP answers its own part, asks every node it knows of, and answers once they
// all did or after 2 s, with `answered` = the nodes whose answer came in time (itself included):
//   GET /api/presence?user=U[&user=V]  -> {"users":{"U":{"online":bool,"sessions":N}},"answered":K} (summed over nodes)
//   GET /api/presence?channel=C        -> {"channel":"C","users":[sorted, unique, subscribed on any node],"answered":K}
//   GET /api/presence                  -> {"nodes":[{"node":ID,"users":N,"sessions":M},...],"answered":K} (asked node first)
//   POST /api/disconnect {"user":U} or {"users":[...]} -> {"disconnected":N,"answered":K}: every session of those users
//     on every node ends with a Socket.IO server disconnect (`io server disconnect`: no reconnection, no recovery)
// Bad requests are 400 {"error"}, another method 405; with --api-key both need `Authorization: Bearer KEY` (401).
//
// Covered: per-user presence and per-node totals over two nodes (asked of either); channel members across nodes,
// before and after an unsubscribe; a logout on one node ending the user's sessions on both (and nobody else's); a
// stopped node (SIGSTOP) delaying an answer by the timeout at most; every refusal; the API key; the embedded broker.
//
// The nodes only know each other after a hello: before the tests, every node is polled until it reports
// `answered: 2`. Between tests, both nodes are polled until they count no session (closed sockets are gone).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startBinary } from './lib/spawn.mjs';
import { connect, waitFor, waitForEvents } from './lib/client.mjs';
import { amqpArgs, amqpMissing, apiPublish, eventually, exchangeNames } from './lib/pusher.mjs';

const ACK_MS = 5000;
const QUERY_TIMEOUT_MS = 2000; // a node's wait for the others
const QUERY_SLACK_MS = 500; // above it: the HTTP round trip, a loaded machine

// Every socket a test opened, closed after each test (a failed test must not leave a client connected).
const opened = new Set();
function closeAll() {
    for (const s of opened) {
        s.close();
    }
    opened.clear();
}

// connect() as `user` (--dev-auth: auth.user), recorded for closeAll(). `socket.ended` resolves with the reason of
// its first disconnect.
async function tab(server, user, { transports = ['websocket'] } = {}) {
    const socket = await connect(server.url, { user }, { transports });
    opened.add(socket);
    socket.user = user;
    socket.ended = new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
    return socket;
}

async function joined(socket, channel) {
    const reply = await socket.timeout(ACK_MS).emitWithAck('subscribe', { channel });
    assert.deepEqual(reply, { ok: true }, `${socket.user} subscribes to ${channel}`);
}

async function left(socket, channel) {
    const reply = await socket.timeout(ACK_MS).emitWithAck('unsubscribe', { channel });
    assert.deepEqual(reply, { ok: true }, `${socket.user} unsubscribes from ${channel}`);
}

// One request to a node's API: resolves { status, body (parsed when JSON), text, headers, ms }. `body` is sent as
// is when a string, as JSON otherwise.
async function api(server, method, path, { body, apiKey, authorization } = {}) {
    const headers = {};
    if (body !== undefined) {
        headers['content-type'] = 'application/json';
    }
    if (apiKey !== undefined) {
        headers.authorization = `Bearer ${apiKey}`;
    }
    if (authorization !== undefined) {
        headers.authorization = authorization;
    }
    const started = performance.now();
    const res = await fetch(`${server.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const ms = performance.now() - started;
    let parsed = text;
    try {
        parsed = JSON.parse(text);
    } catch {
        // keep the text
    }
    return { status: res.status, body: parsed, text, headers: res.headers, ms };
}

// GET /api/presence with these parameters ([[key, value], ...]); asserts 200 and resolves the body.
async function presence(server, params = [], options) {
    const qs = new URLSearchParams(params).toString();
    const path = `/api/presence${qs ? `?${qs}` : ''}`;
    const r = await api(server, 'GET', path, options);
    assert.equal(r.status, 200, `GET ${path}: ${r.text}`);
    return r.body;
}

const usersPresence = (server, users, options) => presence(server, users.map((u) => ['user', u]), options);
const channelPresence = (server, channel, options) => presence(server, [['channel', channel]], options);

// POST /api/disconnect; asserts 200 and resolves the body.
async function disconnect(server, body, options) {
    const r = await api(server, 'POST', '/api/disconnect', { body, ...options });
    assert.equal(r.status, 200, `POST /api/disconnect ${JSON.stringify(body)}: ${r.text}`);
    return r.body;
}

// Asserts a 400 (or `status`) with a body {"error": "<non-empty>"} and nothing else.
function assertError(r, status, what) {
    assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
    assert.ok(r.body !== null && typeof r.body === 'object' && !Array.isArray(r.body), `${what}: a JSON object, got ${r.text}`);
    assert.deepEqual(Object.keys(r.body), ['error'], `${what}: ${r.text}`);
    assert.ok(typeof r.body.error === 'string' && r.body.error !== '', `${what}: ${r.text}`);
}

// A per-user event through `server` (POST /api/publish) that the socket receives: it is still connected, and the
// node has handled everything before.
let trips = 0;
async function roundTrip(server, socket, { apiKey } = {}) {
    const k = ++trips;
    const r = await apiPublish(server.url, { user: socket.user, event: 'trip', data: { k } }, { apiKey });
    assert.equal(r.status, 202, `POST /api/publish to ${socket.user}: ${JSON.stringify(r.body)}`);
    await waitFor(socket, (rec) => rec.some((e) => e.event === 'trip' && e.data?.k === k), { what: `round trip ${k} (${socket.user})` });
}

describe('the cluster API over two nodes (RabbitMQ)', { skip: amqpMissing }, () => {
    const names = exchangeNames('cluster-api');
    // Exchanges of this suite's own: the control plane (the cluster is these nodes only), channels, presence events.
    const control = `${names.exchange}.control`;
    const chx = `${names.exchange}.channels`;
    const presenceExchange = `${names.exchange}.presence`;
    let A;
    let B;
    const nodes = [];

    async function startNode(id, extra = []) {
        const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', ...amqpArgs(names),
            '--control-exchange', control, '--channel-exchange', chx, '--presence-exchange', presenceExchange,
            '--node-id', id, ...extra]);
        nodes.push(server);
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: `${id} ready` });
        return server;
    }

    // Polls until every node of `servers` answers with `answered: n` (they know each other).
    async function acquainted(servers, n) {
        for (const s of servers) {
            let last;
            await eventually(async () => {
                last = await presence(s);
                return last.answered === n;
            }, { timeout: 20000, interval: 100, what: `${s.url} answered ${n} (last ${JSON.stringify(last)})` });
        }
    }

    // Polls until both nodes count no session (the sockets a test closed are gone from their rosters).
    async function quiet() {
        let last;
        await eventually(async () => {
            last = await presence(A);
            return last.answered === 2 && last.nodes.every((n) => n.sessions === 0 && n.users === 0);
        }, { timeout: 10000, interval: 50, what: `no session on either node (last ${JSON.stringify(last)})` });
    }

    before(async () => {
        A = await startNode('node-a');
        B = await startNode('node-b');
        await acquainted([A, B], 2);
    });
    afterEach(async () => {
        closeAll();
        await quiet();
    });
    after(async () => {
        closeAll();
        for (const s of nodes) {
            try {
                process.kill(s.pid, 'SIGCONT'); // never leave one stopped
            } catch {
                // gone already
            }
        }
        await Promise.all(nodes.map((s) => s.stop()));
    });

    test('user presence and per-node totals: sessions summed over both nodes, asked of either', async () => {
        await tab(A, 'alice');
        await tab(A, 'alice', { transports: ['polling'] });
        await tab(B, 'alice');
        await tab(B, 'bob');

        for (const [asked, other] of [[A, B], [B, A]]) {
            const who = asked === A ? 'node A' : 'node B';
            assert.deepEqual(await usersPresence(asked, ['alice', 'bob', 'carol']), {
                users: {
                    alice: { online: true, sessions: 3 },
                    bob: { online: true, sessions: 1 },
                    carol: { online: false, sessions: 0 },
                },
                answered: 2,
            }, `asked of ${who}`);
            // One user, and the same user twice: once.
            assert.deepEqual(await usersPresence(asked, ['bob']), { users: { bob: { online: true, sessions: 1 } }, answered: 2 },
                `bob alone, asked of ${who}`);
            assert.deepEqual(await usersPresence(asked, ['alice', 'alice']),
                { users: { alice: { online: true, sessions: 3 } }, answered: 2 }, `alice twice, asked of ${who}`);

            // Totals: the asked node first.
            const row = (s) => (s === A ? { node: 'node-a', users: 1, sessions: 2 } : { node: 'node-b', users: 2, sessions: 2 });
            assert.deepEqual(await presence(asked), { nodes: [row(asked), row(other)], answered: 2 }, `totals asked of ${who}`);
        }
    });

    test('channel members across nodes, sorted and unique, asked of either; an unsubscribe takes a member out', async () => {
        const alice = await tab(A, 'alice');
        const alice2 = await tab(B, 'alice'); // the same user on the other node, in the same channel: listed once
        const bob = await tab(B, 'bob', { transports: ['polling'] });
        const carol = await tab(B, 'carol');
        await tab(A, 'dave'); // connected, in no channel: in no list
        await joined(bob, 'chat:1');
        await joined(alice, 'chat:1');
        await joined(alice2, 'chat:1');
        await joined(carol, 'chat:2');

        for (const asked of [A, B]) {
            const who = asked === A ? 'node A' : 'node B';
            assert.deepEqual(await channelPresence(asked, 'chat:1'), { channel: 'chat:1', users: ['alice', 'bob'], answered: 2 },
                `chat:1 asked of ${who}`);
            assert.deepEqual(await channelPresence(asked, 'chat:2'), { channel: 'chat:2', users: ['carol'], answered: 2 },
                `chat:2 asked of ${who}`);
            assert.deepEqual(await channelPresence(asked, 'chat:3'), { channel: 'chat:3', users: [], answered: 2 },
                `chat:3 (nobody) asked of ${who}`);
        }

        await left(bob, 'chat:1');
        for (const asked of [A, B]) {
            assert.deepEqual(await channelPresence(asked, 'chat:1'), { channel: 'chat:1', users: ['alice'], answered: 2 },
                `chat:1 after bob left, asked of ${asked === A ? 'node A' : 'node B'}`);
        }
        // One of alice's two members leaving keeps her listed (the other is still in).
        await left(alice, 'chat:1');
        assert.deepEqual(await channelPresence(A, 'chat:1'), { channel: 'chat:1', users: ['alice'], answered: 2 },
            'chat:1 after alice left on node A (still in on node B)');
        await left(alice2, 'chat:1');
        assert.deepEqual(await channelPresence(A, 'chat:1'), { channel: 'chat:1', users: [], answered: 2 },
            'chat:1 after both of alice\'s tabs left');
    });

    test('POST /api/disconnect on node B ends alice\'s sessions on both nodes; bob stays; alice is offline after', async () => {
        const tabs = [await tab(A, 'alice'), await tab(A, 'alice', { transports: ['polling'] }), await tab(B, 'alice')];
        const bob = await tab(B, 'bob');
        const bobOnA = await tab(A, 'bob');
        assert.deepEqual((await usersPresence(B, ['alice'])).users.alice, { online: true, sessions: 3 });
        // An event before the logout: the tab that connects again below has a session id and an offset to offer.
        await roundTrip(B, tabs[2]);
        assert.ok(tabs[2]._pid && tabs[2]._lastOffset, 'recovery is on: the client holds a session id and an offset');

        assert.deepEqual(await disconnect(B, { user: 'alice' }), { disconnected: 3, answered: 2 });
        const reasons = await Promise.all(tabs.map((s) => s.ended));
        assert.deepEqual(reasons, ['io server disconnect', 'io server disconnect', 'io server disconnect'],
            'a Socket.IO server disconnect on every tab of alice (node A and node B)');
        for (const s of tabs) {
            assert.equal(s.connected, false);
        }

        // bob (on both nodes) is still connected and still gets his per-user events.
        for (const [server, s] of [[A, bob], [B, bob], [A, bobOnA]]) {
            assert.equal(s.connected, true, `bob on ${s === bob ? 'node B' : 'node A'}`);
            await roundTrip(server, s);
        }

        // Alice is offline on both nodes (asked of either); bob is not.
        for (const asked of [A, B]) {
            let last;
            await eventually(async () => {
                last = await usersPresence(asked, ['alice', 'bob']);
                return last.users.alice.sessions === 0;
            }, { timeout: 5000, what: `alice offline (last ${JSON.stringify(last)})` });
            assert.deepEqual(last, {
                users: { alice: { online: false, sessions: 0 }, bob: { online: true, sessions: 2 } },
                answered: 2,
            });
        }

        // Not recovered: connecting again (the client offers its session id and offset) is a new session.
        const again = tabs[2];
        const reconnected = new Promise((resolve) => again.once('connect', resolve));
        again.connect();
        await reconnected;
        assert.equal(again.recovered, false, 'a session ended by /api/disconnect is not recovered');
        assert.deepEqual((await usersPresence(A, ['alice'])).users.alice, { online: true, sessions: 1 });

        // {"users": [...]}: several at once; nobody left is 0 (and answered by both).
        assert.deepEqual(await disconnect(A, { users: ['alice', 'bob', 'nobody'] }), { disconnected: 3, answered: 2 });
        assert.deepEqual(await Promise.all([bob, bobOnA].map((s) => s.ended)), ['io server disconnect', 'io server disconnect']);
        assert.deepEqual(await disconnect(A, { users: ['nobody'] }), { disconnected: 0, answered: 2 });
    });

    test('a stopped node (SIGSTOP) delays an answer by the timeout at most: answered 1', async () => {
        await tab(A, 'alice');
        await tab(B, 'alice');
        assert.deepEqual(await usersPresence(A, ['alice']), { users: { alice: { online: true, sessions: 2 } }, answered: 2 });

        process.kill(B.pid, 'SIGSTOP');
        try {
            // Three at once, of every kind: none waits for another.
            const [users, totals, members] = await Promise.all([
                api(A, 'GET', '/api/presence?user=alice'),
                api(A, 'GET', '/api/presence'),
                api(A, 'GET', '/api/presence?channel=chat:1'),
            ]);
            for (const [what, r] of [['users', users], ['totals', totals], ['channel', members]]) {
                assert.equal(r.status, 200, `${what}: ${r.text}`);
                assert.ok(r.ms < QUERY_TIMEOUT_MS + QUERY_SLACK_MS,
                    `${what} answered in ${Math.round(r.ms)} ms with node B stopped (timeout ${QUERY_TIMEOUT_MS} ms)`);
            }
            assert.deepEqual(users.body, { users: { alice: { online: true, sessions: 1 } }, answered: 1 }, 'node A\'s part only');
            assert.deepEqual(totals.body, { nodes: [{ node: 'node-a', users: 1, sessions: 1 }], answered: 1 });
            assert.deepEqual(members.body, { channel: 'chat:1', users: [], answered: 1 });
        } finally {
            process.kill(B.pid, 'SIGCONT');
        }
        // Back: both answer again.
        let last;
        await eventually(async () => {
            last = await usersPresence(A, ['alice']);
            return last.answered === 2;
        }, { timeout: 20000, interval: 100, what: `node B answering again (last ${JSON.stringify(last)})` });
        assert.deepEqual(last, { users: { alice: { online: true, sessions: 2 } }, answered: 2 });
    });

    test('bad requests: 400 {"error"}, GET /api/disconnect 405; nobody is disconnected by them', async () => {
        const dave = await tab(A, 'dave');
        const long = 'c'.repeat(201);
        for (const path of [
            '/api/presence?foo=bar',
            '/api/presence?user=dave&foo=1',
            '/api/presence?users=dave',
            '/api/presence?channel=bad%20name!',
            `/api/presence?channel=${long}`,
            '/api/presence?channel=',
            '/api/presence?user=dave&channel=chat:1',
            '/api/presence?channel=chat:1&user=dave',
        ]) {
            assertError(await api(A, 'GET', path), 400, `GET ${path}`);
        }
        for (const body of [
            '[]',
            '["dave"]',
            '"dave"',
            '42',
            'null',
            'not json',
            '{"user":"dave","extra":1}',
            '{"users":["dave"],"force":true}',
            '{"user":"dave","users":["dave"]}',
        ]) {
            assertError(await api(A, 'POST', '/api/disconnect', { body }), 400, `POST /api/disconnect ${body}`);
        }
        const wrongMethod = await api(A, 'GET', '/api/disconnect');
        assert.equal(wrongMethod.status, 405, `GET /api/disconnect: ${wrongMethod.status} ${wrongMethod.text}`);

        // dave, named in all of them, is still here.
        assert.equal(dave.connected, true);
        await roundTrip(A, dave);
        assert.deepEqual(await usersPresence(B, ['dave']), { users: { dave: { online: true, sessions: 1 } }, answered: 2 });
    });

    test('--api-key: both endpoints need `Authorization: Bearer KEY` (401 otherwise)', async () => {
        const key = 'cluster-api-test-key-0123456789';
        // A node of its own control exchange (its own cluster of one): A and B keep answering for two.
        const C = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', ...amqpArgs(names),
            '--control-exchange', `${control}.keyed`, '--channel-exchange', chx, '--presence-exchange', presenceExchange,
            '--node-id', 'node-c', '--api-key', key]);
        nodes.push(C);
        await eventually(async () => (await fetch(`${C.url}/readyz`)).status === 200, { what: 'node C ready' });
        const erin = await tab(C, 'erin');

        for (const [method, path, body] of [
            ['GET', '/api/presence', undefined],
            ['GET', '/api/presence?user=erin', undefined],
            ['GET', '/api/presence?channel=chat:1', undefined],
            ['POST', '/api/disconnect', { user: 'erin' }],
        ]) {
            for (const [how, options] of [
                ['no Authorization', {}],
                ['a wrong key', { apiKey: `${key}-wrong` }],
                ['the key without Bearer', { authorization: key }],
                ['Basic', { authorization: `Basic ${Buffer.from(`x:${key}`).toString('base64')}` }],
            ]) {
                const r = await api(C, method, path, { body, ...options });
                assertError(r, 401, `${method} ${path} with ${how}`);
            }
        }
        assert.equal(erin.connected, true, 'a refused /api/disconnect disconnects nobody');
        await roundTrip(C, erin, { apiKey: key });

        assert.deepEqual(await usersPresence(C, ['erin'], { apiKey: key }), { users: { erin: { online: true, sessions: 1 } }, answered: 1 });
        assert.deepEqual(await presence(C, [], { apiKey: key }), { nodes: [{ node: 'node-c', users: 1, sessions: 1 }], answered: 1 });
        assert.deepEqual(await disconnect(C, { user: 'erin' }, { apiKey: key }), { disconnected: 1, answered: 1 });
        assert.equal(await erin.ended, 'io server disconnect');
        await C.stop();
    });
});

describe('the cluster API with the embedded broker: one node', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth', '--node-id', 'solo']);
    });
    afterEach(closeAll);
    after(async () => {
        closeAll();
        await server?.stop();
    });

    test('presence, channel members, totals and disconnect answer for the one node (answered 1)', async () => {
        const a1 = await tab(server, 'alice');
        const a2 = await tab(server, 'alice', { transports: ['polling'] });
        const bob = await tab(server, 'bob');
        await joined(a1, 'chat:1');
        await joined(bob, 'chat:1');

        assert.deepEqual(await usersPresence(server, ['alice', 'bob', 'carol']), {
            users: {
                alice: { online: true, sessions: 2 },
                bob: { online: true, sessions: 1 },
                carol: { online: false, sessions: 0 },
            },
            answered: 1,
        });
        assert.deepEqual(await channelPresence(server, 'chat:1'), { channel: 'chat:1', users: ['alice', 'bob'], answered: 1 });
        assert.deepEqual(await presence(server), { nodes: [{ node: 'solo', users: 2, sessions: 3 }], answered: 1 });

        const answer = await api(server, 'GET', '/api/presence?user=alice');
        assert.ok(answer.ms < QUERY_TIMEOUT_MS, `no other node to wait for: answered in ${Math.round(answer.ms)} ms`);

        assert.deepEqual(await disconnect(server, { user: 'alice' }), { disconnected: 2, answered: 1 });
        assert.deepEqual(await Promise.all([a1.ended, a2.ended]), ['io server disconnect', 'io server disconnect']);
        assert.equal(bob.connected, true);
        await roundTrip(server, bob);
        let last;
        await eventually(async () => {
            last = await usersPresence(server, ['alice']);
            return last.users.alice.sessions === 0;
        }, { timeout: 5000, what: `alice offline (last ${JSON.stringify(last)})` });
        assert.deepEqual(last, { users: { alice: { online: false, sessions: 0 } }, answered: 1 });
        assert.deepEqual(await channelPresence(server, 'chat:1'), { channel: 'chat:1', users: ['bob'], answered: 1 });
    });
});
