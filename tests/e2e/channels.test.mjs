// Channels, end to end: two pusher nodes on a real RabbitMQ (scripts/test.sh starts it), the unmodified
// socket.io-client and an independent AMQP publisher (amqplib). A socket joins a channel with
// `emit("subscribe", {channel, token?}, ack)`, allowed by a `channels` claim of its connection token (entries ending in
// `*` are prefixes) or by a per-channel token ({sub, channel, exp}, HS256 with the same secret); the ack is
// {"ok":true} or {"error":"..."}. A node binds the channel name on the channel exchange (to its own queue) when its
// first member joins and unbinds it --unbind-grace-ms after the last one left; an event published to the channel
// exchange (routing key = channel, `type` = event name) or through POST /api/publish {"channel"|"channels"} reaches
// each member on every node once, as `(data, {"channel": name}, offset)`, and nobody else.
//
// Covered: members on both nodes over both transports with AMQP and HTTP publishers at once; every refusal (the
// connection stays up and still gets its per-user events), names and the per-session cap; per-channel tokens; the
// binding made before the subscribe ack, removed after the grace on unsubscribe and on disconnect (per node);
// and a seeded random sequence of subscribe / unsubscribe / publish over six sockets and five channels, checked
// against the exact expected multiset of (channel, n) per socket (PUSHER_TEST_SEED=N replays a run).
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startBinary } from './lib/spawn.mjs';
import { connect, hs256, nowS, waitFor, waitForEvents } from './lib/client.mjs';
import { amqpArgs, amqpMissing, apiPublish, eventually, exchangeNames, rabbitmqctl } from './lib/pusher.mjs';
import { amqpPublisher, sleep } from './lib/faults.mjs';

const secret = 'e2e-channels-secret-0123456789-0123456789';
const GRACE_MS = 300;
const ACK_MS = 5000;
const DEFAULT_CHANNEL_EXCHANGE = 'pusher.channels';

// A connection token; `channels` (when given) becomes the `channels` claim.
const token = (user, channels) => hs256({ sub: user, exp: nowS() + 600, ...(channels ? { channels } : {}) }, secret);
// A per-channel token: `sub` and `channel`, signed like connection tokens.
const channelToken = (user, channel, { exp = nowS() + 600, key = secret } = {}) => hs256({ sub: user, channel, exp }, key);

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, k) => a + k);

// Every socket a test opened, closed after each test (a failed test must not leave a client connected).
const opened = new Set();
function closeAll() {
    for (const s of opened) {
        s.close();
    }
    opened.clear();
}

// connect() as `user` with an HS256 token; besides connect()'s `received` ([{event, data}]), the socket records every
// event with all its arguments in `calls` ([{event, args}]): a channel event's meta and offset.
async function join(server, user, { channels, transports = ['websocket'] } = {}) {
    const socket = await connect(server.url, { token: token(user, channels) }, { transports });
    opened.add(socket);
    socket.user = user;
    socket.calls = [];
    socket.onAny((event, ...args) => socket.calls.push({ event, args }));
    return socket;
}

const subscribe = (socket, channel, tok) =>
    socket.timeout(ACK_MS).emitWithAck('subscribe', tok === undefined ? { channel } : { channel, token: tok });
const unsubscribe = (socket, channel) => socket.timeout(ACK_MS).emitWithAck('unsubscribe', { channel });

async function joined(socket, channel, tok) {
    const reply = await subscribe(socket, channel, tok);
    assert.deepEqual(reply, { ok: true }, `${socket.user} subscribes to ${channel}`);
}

async function left(socket, channel) {
    assert.deepEqual(await unsubscribe(socket, channel), { ok: true }, `${socket.user} unsubscribes from ${channel}`);
}

// Asserts that this subscribe is refused with {"error": "..."}; resolves the message.
async function refusedSubscribe(socket, payload, why) {
    const reply = await socket.timeout(ACK_MS).emitWithAck('subscribe', payload);
    assert.ok(
        reply !== null && typeof reply === 'object' && typeof reply.error === 'string' && reply.error !== '' && reply.ok === undefined,
        `${why}: expected {"error":"..."}, got ${JSON.stringify(reply)}`,
    );
    return reply.error;
}

// The events named `event` a socket received, each checked to be a channel event: (data, meta, offset) with
// meta = {channel} and a string offset (connection state recovery is on by default).
function channelEvents(socket, event) {
    return socket.calls
        .filter((c) => c.event === event)
        .map(({ args }) => {
            assert.equal(args.length, 3, `${socket.user}: ${event} has (data, meta, offset): ${JSON.stringify(args)}`);
            const [data, meta, offset] = args;
            assert.equal(typeof meta?.channel, 'string', `${socket.user}: meta ${JSON.stringify(meta)}`);
            assert.deepEqual(Object.keys(meta), ['channel'], `${socket.user}: meta ${JSON.stringify(meta)}`);
            assert.equal(typeof offset, 'string', `${socket.user}: offset ${JSON.stringify(offset)}`);
            return { data, meta, offset };
        });
}

// Every binding on the broker, per rabbitmqctl list_bindings: resolves `(exchange, key) -> Set of queue names`.
async function bindings() {
    const out = await rabbitmqctl('list_bindings', '-p', '/', '-q', '--no-table-headers', 'source_name', 'routing_key',
        'destination_name', 'destination_kind');
    const rows = out
        .split('\n')
        .map((line) => line.split('\t').map((f) => f.trim()))
        .filter((r) => r.length >= 4 && r[3] === 'queue');
    return (exchange, key) => new Set(rows.filter(([source, k]) => source === exchange && k === key).map((r) => r[2]));
}

// Polls list_bindings until, for each [key, queues] of `want`, the queues bound with `key` on `exchange` are exactly
// `queues` (one rabbitmqctl call per round: each takes a while).
async function boundAll(exchange, want, what) {
    const show = (queues) => JSON.stringify([...queues].sort());
    let wrong = [];
    try {
        await eventually(
            async () => {
                const bound = await bindings();
                wrong = want
                    .filter(([key, queues]) => show(bound(exchange, key)) !== show(queues))
                    .map(([key, queues]) => `${key} bound to ${show(bound(exchange, key))}, want ${show(queues)}`);
                return wrong.length === 0;
            },
            { timeout: 15000, interval: 100, what },
        );
    } catch (err) {
        throw new Error(`${err.message}: ${wrong.join('; ')}`);
    }
}

const boundTo = (exchange, key, queues, what) => boundAll(exchange, [[key, queues]], what);

// A small seeded PRNG (mulberry32): the same seed, the same run.
function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

describe('channels over two nodes (RabbitMQ)', { skip: amqpMissing }, () => {
    const names = exchangeNames('channels');
    // A channel exchange of this suite's own (the default one is checked on node C, with run-unique names).
    const chx = `${names.exchange}.channels`;
    let A;
    let B;
    let C; // one node, --channels-per-session 2, the default channel exchange
    let pub;
    let qA; // the nodes' own queues (where their per-user keys are bound)
    let qB;

    async function startNode(extra) {
        const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--jwt-secret', secret,
            '--unbind-grace-ms', String(GRACE_MS), ...amqpArgs(names), ...extra]);
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: 'readyz 200' });
        return server;
    }

    // Publishes one event to a channel through RabbitMQ; resolves once the broker confirmed it.
    const toChannel = (channel, type, body, exchange = chx) =>
        new Promise((resolve, reject) =>
            pub.channel.publish(exchange, channel, Buffer.from(JSON.stringify(body)), { type, contentType: 'application/json' },
                (err) => (err ? reject(err) : resolve())),
        );

    // POST /api/publish to channels; asserts 202 {"accepted": number of channels}.
    async function apiToChannels(server, channels, event, data) {
        const body = channels.length === 1 ? { channel: channels[0], event, data } : { channels, event, data };
        const r = await apiPublish(server.url, body);
        assert.equal(r.status, 202, `POST /api/publish ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
        assert.deepEqual(r.body, { accepted: channels.length });
    }

    before(async () => {
        A = await startNode(['--channel-exchange', chx]);
        B = await startNode(['--channel-exchange', chx]);
        C = await startNode(['--channels-per-session', '2']);
        pub = await amqpPublisher(names);
        const probeA = await join(A, 'probe-a');
        const probeB = await join(B, 'probe-b');
        const bound = await bindings();
        [qA] = bound(names.exchange, 'probe-a');
        [qB] = bound(names.exchange, 'probe-b');
        assert.ok(qA && qB && qA !== qB, `each node has a queue of its own (${qA}, ${qB})`);
        probeA.close();
        probeB.close();
    });
    afterEach(closeAll);
    after(async () => {
        closeAll();
        await pub?.close();
        await Promise.all([A, B, C].filter(Boolean).map((s) => s.stop()));
    });

    test('a channel event reaches every member on both nodes once, in order per publisher; nobody else', async () => {
        const claims = ['chat:*'];
        const alice = await join(A, 'alice', { channels: claims });
        const bob = await join(B, 'bob', { channels: claims, transports: ['polling'] });
        const carol = await join(A, 'carol', { channels: claims });
        const dave = await join(B, 'dave', { channels: claims }); // may join chat:*, joins nothing
        await joined(alice, 'chat:1');
        await joined(bob, 'chat:1');
        await joined(carol, 'chat:2');
        const bound = await bindings();
        assert.deepEqual(bound(chx, 'chat:1'), new Set([qA, qB]), 'chat:1: bound once per node, to the node\'s own queue');
        assert.deepEqual(bound(chx, 'chat:2'), new Set([qA]));

        // 20 through RabbitMQ and 20 through node B's /api/publish, at the same time.
        const viaAmqp = async () => {
            for (let n = 0; n < 20; n++) {
                await toChannel('chat:1', 'chat.message', { src: 'amqp', n });
            }
        };
        const viaApi = async () => {
            for (let n = 0; n < 20; n++) {
                await apiToChannels(B, ['chat:1'], 'chat.message', { src: 'api', n });
            }
        };
        await Promise.all([viaAmqp(), viaApi()]);
        for (const s of [alice, bob]) {
            await waitForEvents(s, 'chat.message', 40);
        }
        // The marker to chat:2 comes after everything for chat:1 in node A's queue: once carol has it, anything of
        // chat:1 routed to her would have arrived.
        await toChannel('chat:2', 'chat.message', { src: 'marker' });
        await waitForEvents(carol, 'chat.message', 1);
        // Per-user events still work alongside, and close every socket's stream (one queue per node, in order).
        for (const s of [alice, bob, carol, dave]) {
            await pub.toUser(s.user, 'mail.new', { to: s.user });
        }
        for (const s of [alice, bob, carol, dave]) {
            assert.deepEqual(await waitForEvents(s, 'mail.new', 1), [{ to: s.user }]);
            const perUser = s.calls.filter((c) => c.event === 'mail.new');
            assert.equal(perUser[0].args.length, 2, 'a per-user event: (data, offset), no channel meta');
        }

        for (const s of [alice, bob]) {
            const got = channelEvents(s, 'chat.message');
            assert.equal(got.length, 40, `${s.user}: exactly 40 (${JSON.stringify(got.map((g) => g.data))})`);
            for (const g of got) {
                assert.deepEqual(g.meta, { channel: 'chat:1' });
            }
            for (const src of ['amqp', 'api']) {
                assert.deepEqual(got.filter((g) => g.data.src === src).map((g) => g.data.n), range(0, 19),
                    `${s.user}: the ${src} events once each, in order`);
            }
        }
        assert.deepEqual(channelEvents(carol, 'chat.message').map((g) => [g.meta.channel, g.data.src]), [['chat:2', 'marker']]);
        assert.deepEqual(dave.received.map((e) => e.event), ['mail.new'], 'dave (no subscription) gets no channel event');
    });

    test('refusals answer {"error"} and keep the connection; names; the per-session cap; the default exchange', async () => {
        // Node C uses the default channel exchange, shared by runs on this broker: run-unique names.
        const run = randomBytes(3).toString('hex');
        const ok = (i) => `ok:${run}:${i}`;
        const rita = await join(C, 'rita', { channels: [`ok:${run}:*`, `exact:${run}`] });
        const nora = await join(C, 'nora'); // no channels claim

        // Not allowed.
        await refusedSubscribe(nora, { channel: ok(1) }, 'no claim and no channel token');
        await refusedSubscribe(rita, { channel: `other:${run}` }, 'a name its claim does not cover');
        await refusedSubscribe(rita, { channel: `exact:${run}:1` }, 'an entry without * is no prefix');
        await refusedSubscribe(nora, { channel: ok(1), token: channelToken('rita', ok(1)) }, 'a channel token of another user');
        await refusedSubscribe(nora, { channel: ok(1), token: channelToken('nora', ok(2)) }, 'a channel token for another channel');
        await refusedSubscribe(nora, { channel: ok(1), token: channelToken('nora', ok(1), { exp: nowS() - 600 }) },
            'an expired channel token (well beyond the leeway)');
        await refusedSubscribe(nora, { channel: ok(1), token: channelToken('nora', ok(1), { key: `${secret}-other` }) },
            'a channel token signed with another key');
        await refusedSubscribe(nora, { channel: ok(1), token: 'not.a.jwt' }, 'a malformed channel token');
        await refusedSubscribe(nora, { channel: ok(1), token: token('nora') }, 'a connection token (no channel claim) as channel token');

        // Bad names: refused even where the claim (rita's prefix) or a channel token (nora) would allow them.
        const long = (len) => `ok:${run}:`.padEnd(len, 'x');
        for (const channel of [`ok:${run}:bad name!`, long(201), `ok:${run}:\u00e9`, `ok:${run}:tab\t`]) {
            await refusedSubscribe(rita, { channel }, `bad name ${JSON.stringify(channel.slice(0, 40))} (claim)`);
            await refusedSubscribe(nora, { channel, token: channelToken('nora', channel) },
                `bad name ${JSON.stringify(channel.slice(0, 40))} (channel token)`);
        }
        for (const channel of ['bad name!', '']) {
            await refusedSubscribe(nora, { channel, token: channelToken('nora', channel) }, `bad name ${JSON.stringify(channel)}`);
        }
        await refusedSubscribe(rita, {}, 'no channel');
        await refusedSubscribe(rita, { channel: 42 }, 'a channel that is not a string');

        // Both sockets are still up, and the refusals counted nothing: 1..200 bytes of the allowed characters pass.
        assert.ok(rita.connected && nora.connected, 'refusals keep the connection');
        await joined(rita, long(200));
        await left(rita, long(200));
        const allChars = `ok:${run}:AZaz09_-:.@/`;
        await joined(rita, allChars);
        await joined(rita, ok(1));
        await refusedSubscribe(rita, { channel: ok(3) }, 'a third channel over --channels-per-session 2');
        await left(rita, ok(1));
        await joined(rita, ok(3)); // the cap counts the channels subscribed now
        await joined(nora, ok(2), channelToken('nora', ok(2)));

        // Bound on the default exchange right after the acks, to node C's own queue; nothing refused is bound.
        const bound = await bindings();
        const qC = bound(names.exchange, 'rita');
        assert.equal(qC.size, 1);
        assert.deepEqual(bound(DEFAULT_CHANNEL_EXCHANGE, ok(3)), qC, `${ok(3)} bound on ${DEFAULT_CHANNEL_EXCHANGE}`);
        assert.deepEqual(bound(DEFAULT_CHANNEL_EXCHANGE, allChars), qC);
        assert.deepEqual(bound(DEFAULT_CHANNEL_EXCHANGE, ok(2)), qC);
        for (const key of [`other:${run}`, `exact:${run}:1`, `ok:${run}:bad name!`]) {
            assert.equal(bound(DEFAULT_CHANNEL_EXCHANGE, key).size, 0, `${key} is not bound`);
        }

        // Events to channels they were refused (or left) reach neither; their own channels and per-user events do.
        await apiToChannels(C, [`other:${run}`, `exact:${run}:1`, ok(1)], 'chan', { n: 'refused' });
        await toChannel(ok(3), 'chan', { n: 'ok3' }, DEFAULT_CHANNEL_EXCHANGE);
        await toChannel(ok(2), 'chan', { n: 'ok2' }, DEFAULT_CHANNEL_EXCHANGE);
        for (const s of [rita, nora]) {
            const r = await apiPublish(C.url, { user: s.user, event: 'mail.new', data: { after: 'refusals' } });
            assert.equal(r.status, 202);
        }
        for (const s of [rita, nora]) {
            assert.deepEqual(await waitForEvents(s, 'mail.new', 1), [{ after: 'refusals' }], `${s.user} still gets its events`);
        }
        assert.deepEqual(channelEvents(rita, 'chan').map((g) => [g.meta.channel, g.data.n]), [[ok(3), 'ok3']]);
        assert.deepEqual(channelEvents(nora, 'chan').map((g) => [g.meta.channel, g.data.n]), [[ok(2), 'ok2']]);
    });

    test('a per-channel token lets a socket without a channels claim join, on either node', async () => {
        const tess = await join(A, 'tess');
        const ugo = await join(B, 'ugo', { transports: ['polling'] });
        await refusedSubscribe(tess, { channel: 'doc:7' }, 'no claim, no token');
        await joined(tess, 'doc:7', channelToken('tess', 'doc:7'));
        await joined(ugo, 'doc:7', channelToken('ugo', 'doc:7'));
        await toChannel('doc:7', 'doc.edit', { n: 1 });
        await apiToChannels(A, ['doc:7'], 'doc.edit', { n: 2 });
        for (const s of [tess, ugo]) {
            await waitForEvents(s, 'doc.edit', 2);
            assert.deepEqual(channelEvents(s, 'doc.edit').map((g) => [g.meta.channel, g.data.n]), [['doc:7', 1], ['doc:7', 2]]);
        }
    });

    test('unsubscribe stops delivery at once; the binding exists at the subscribe ack and goes after the grace', async () => {
        const uma = await join(B, 'uma', { channels: ['room:*'] });
        assert.equal((await bindings())(chx, 'room:1').size, 0, 'nobody bound room:1 yet');
        await joined(uma, 'room:1');
        assert.deepEqual((await bindings())(chx, 'room:1'), new Set([qB]), 'bound before the subscribe ack');
        await joined(uma, 'room:2');
        await toChannel('room:1', 'room.msg', { n: 1 });
        await waitForEvents(uma, 'room.msg', 1);

        await left(uma, 'room:1');
        // Published after the ack: inside the grace node B is still bound, and must drop it.
        await toChannel('room:1', 'room.msg', { n: 2 });
        await apiToChannels(B, ['room:1'], 'room.msg', { n: 3 });
        await toChannel('room:2', 'room.msg', { n: 4 }); // the marker, after both in node B's queue
        await waitFor(uma, (r) => r.some((e) => e.event === 'room.msg' && e.data?.n === 4), { what: 'the room:2 marker' });
        assert.deepEqual(channelEvents(uma, 'room.msg').map((g) => [g.meta.channel, g.data.n]), [['room:1', 1], ['room:2', 4]]);

        await boundTo(chx, 'room:1', [], 'room:1 unbound after the grace');
        assert.deepEqual((await bindings())(chx, 'room:2'), new Set([qB]), 'room:2 stays bound');

        // Joining again binds again before the ack.
        await joined(uma, 'room:1');
        assert.deepEqual((await bindings())(chx, 'room:1'), new Set([qB]), 'bound again before the ack');
        await toChannel('room:1', 'room.msg', { n: 5 });
        await waitFor(uma, (r) => r.some((e) => e.event === 'room.msg' && e.data?.n === 5), { what: 'room:1 again' });
        assert.deepEqual(channelEvents(uma, 'room.msg').map((g) => g.data.n), [1, 4, 5]);
    });

    test('the disconnect of a node\'s last member unbinds the channel there after the grace; the other node keeps it', async () => {
        const claims = ['gone:*'];
        const xena = await join(A, 'xena', { channels: claims });
        const xavier = await join(A, 'xavier', { channels: claims });
        const yann = await join(B, 'yann', { channels: claims, transports: ['polling'] });
        for (const s of [xena, xavier, yann]) {
            await joined(s, 'gone:1');
        }
        assert.deepEqual((await bindings())(chx, 'gone:1'), new Set([qA, qB]));

        xena.disconnect();
        // Not synchronisation: a negative check. Had node A taken xena for its last member, the grace would be over.
        await sleep(GRACE_MS * 3);
        assert.deepEqual((await bindings())(chx, 'gone:1'), new Set([qA, qB]), 'xavier still holds node A\'s binding');
        await toChannel('gone:1', 'gone.msg', { n: 1 });
        for (const s of [xavier, yann]) {
            await waitForEvents(s, 'gone.msg', 1);
        }

        xavier.disconnect();
        await boundTo(chx, 'gone:1', [qB], 'node A unbinds gone:1 after its last member disconnected');
        await toChannel('gone:1', 'gone.msg', { n: 2 });
        await waitFor(yann, (r) => r.some((e) => e.event === 'gone.msg' && e.data?.n === 2), { what: 'yann gets n=2' });
        assert.deepEqual(channelEvents(yann, 'gone.msg').map((g) => [g.meta.channel, g.data.n]), [['gone:1', 1], ['gone:1', 2]]);
        assert.deepEqual(channelEvents(xavier, 'gone.msg').map((g) => g.data.n), [1]);

        yann.disconnect();
        await boundTo(chx, 'gone:1', [], 'node B unbinds gone:1 after its last member disconnected');
    });

    test('random subscribe / unsubscribe / publish: each socket gets exactly its channels\' events at publish time', async (t) => {
        const seed = process.env.PUSHER_TEST_SEED !== undefined ? Number(process.env.PUSHER_TEST_SEED) : randomBytes(4).readUInt32LE(0);
        t.diagnostic(`seed ${seed} (PUSHER_TEST_SEED=${seed} replays this run)`);
        const rand = mulberry32(seed);
        const pick = (list) => list[Math.floor(rand() * list.length)];
        const channels = range(0, 4).map((i) => `rnd:c${i}`);
        // Six users over both nodes; the last two over polling and joining with per-channel tokens instead of a claim.
        const sockets = [];
        for (let i = 0; i < 6; i++) {
            const viaToken = i >= 4;
            sockets.push(await join(i % 2 === 0 ? A : B, `rnd-u${i}`, {
                channels: viaToken ? undefined : ['rnd:*'],
                transports: viaToken ? ['polling'] : ['websocket'],
            }));
        }
        const nodeOf = (i) => (i % 2 === 0 ? qA : qB);
        const member = sockets.map(() => new Set());
        const expected = sockets.map(() => []);
        const steps = [];
        const where = () => `seed ${seed}, last steps: ${steps.slice(-12).join('; ')}`;

        // Before a membership changes, every node has handled everything published so far (a per-user event
        // through each node's queue, after them): an event in flight cannot meet the new membership.
        let dirty = false;
        let syncs = 0;
        async function barrier() {
            if (!dirty) {
                return;
            }
            const k = ++syncs;
            for (const s of sockets.slice(0, 2)) {
                await pub.toUser(s.user, 'sync', { k });
            }
            for (const s of sockets.slice(0, 2)) {
                await waitFor(s, (r) => r.some((e) => e.event === 'sync' && e.data?.k === k), { what: `sync ${k}` });
            }
            dirty = false;
        }

        let n = 0;
        for (let step = 0; step < 90; step++) {
            const r = rand();
            if (r < 0.3) {
                const i = Math.floor(rand() * sockets.length);
                const free = channels.filter((c) => !member[i].has(c));
                if (free.length === 0) {
                    continue;
                }
                const c = pick(free);
                await barrier();
                steps.push(`u${i} +${c}`);
                const reply = await subscribe(sockets[i], c, i >= 4 ? channelToken(sockets[i].user, c) : undefined);
                assert.deepEqual(reply, { ok: true }, `subscribe u${i} ${c}; ${where()}`);
                member[i].add(c);
            } else if (r < 0.45) {
                const members = range(0, sockets.length - 1).filter((i) => member[i].size > 0);
                if (members.length === 0) {
                    continue;
                }
                const i = pick(members);
                const c = pick([...member[i]]);
                await barrier();
                steps.push(`u${i} -${c}`);
                assert.deepEqual(await unsubscribe(sockets[i], c), { ok: true }, `unsubscribe u${i} ${c}; ${where()}`);
                member[i].delete(c);
            } else {
                const k = n++;
                const how = pick(['amqp', 'amqp', 'api-a', 'api-b']);
                const first = pick(channels);
                const targets = rand() < 0.25 ? [first, pick(channels.filter((c) => c !== first))] : [first];
                steps.push(`n${k} ${how} ${targets.join(',')}`);
                if (how === 'amqp') {
                    for (const c of targets) {
                        await toChannel(c, 'rnd', { n: k });
                    }
                } else {
                    await apiToChannels(how === 'api-a' ? A : B, targets, 'rnd', { n: k });
                }
                for (const [i, m] of member.entries()) {
                    for (const c of targets) {
                        if (m.has(c)) {
                            expected[i].push(`${c}#${k}`);
                        }
                    }
                }
                dirty = true;
            }
        }

        // The end of each socket's stream: a per-user event after everything (in order per node queue and socket).
        for (const s of sockets) {
            await pub.toUser(s.user, 'end', {});
        }
        for (const s of sockets) {
            await waitForEvents(s, 'end', 1, { timeout: 15000 });
        }
        for (const [i, s] of sockets.entries()) {
            const got = channelEvents(s, 'rnd');
            assert.deepEqual(got.map((g) => `${g.meta.channel}#${g.data.n}`).sort(), [...expected[i]].sort(),
                `u${i} (${s.user}, member of ${[...member[i]]}); ${where()}`);
            const ns = got.map((g) => g.data.n);
            assert.ok(ns.every((v, j) => j === 0 || ns[j - 1] <= v), `u${i}: in publish order: ${ns}; ${where()}`);
        }
        // Each channel is bound, after the grace, on exactly the nodes where it has members.
        const want = channels.map((c) => [c, new Set(range(0, sockets.length - 1).filter((i) => member[i].has(c)).map(nodeOf))]);
        await boundAll(chx, want, `each channel bound on the nodes of its members; ${where()}`);
        t.diagnostic(`${steps.length} steps, ${n} events, ${expected.reduce((a, e) => a + e.length, 0)} deliveries`);
    });
});
