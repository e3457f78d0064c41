// Upstream events, end to end: with `--upstream-exchange NAME` (a topic exchange the node declares; RabbitMQ only) a
// client event other than `subscribe` / `unsubscribe` sent with an acknowledgement
// (`socket.timeout(ms).emitWithAck("chat.send", data)`) is published there: routing key = `type` = the event name,
// body = the first argument as JSON (`null` when none), content_type application/json, headers `x-pusher-user` (the
// token's `sub`, never anything the client sends), `x-pusher-node` (--node-id) and `x-pusher-sid` (socket.id). The ack
// is {"ok":true} once RabbitMQ confirmed it, {"error":"..."} otherwise: upstream off, over --upstream-rate (a token
// bucket per socket: N per second, bursts of N; nothing published), binary arguments, the broker not taking it. An
// event without an ack is ignored. Outcomes are counted in pusher_upstream_events_total{outcome}.
//
// Covered: the message as the backend sees it (a queue of ours bound with `#`), against a client that claims to be
// somebody else in the body; an event without an ack published nowhere (the next message consumed is the acked event
// sent after it); the rate limit (5 pass, the 6th and 7th refused and not published, a token back after 1/5 s) and the
// counts on /metrics; binary arguments; a node without the flag; a frozen broker (SIGSTOP) answered with an error
// after --amqp-publish-timeout-ms, and working again once it is back; `--broker memory` refusing the flag.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import amqplib from 'amqplib';
import { binaryPath, startBinary } from './lib/spawn.mjs';
import { connect, hs256, nowS } from './lib/client.mjs';
import { amqpArgs, amqpMissing, amqpUrl, eventually, exchangeNames, metric, rabbitmqctl } from './lib/pusher.mjs';
import { freezeMissing, sleep, withBrokerFrozen } from './lib/faults.mjs';

const secret = 'e2e-upstream-secret-0123456789-0123456789';
const ACK_MS = 5000;
const RATE = 5; // --upstream-rate of node A
const PUBLISH_TIMEOUT_MS = 1000; // --amqp-publish-timeout-ms of node A (the frozen-broker test)
const METRIC = 'pusher_upstream_events_total';
const OUTCOMES = ['published', 'failed', 'rate_limited', 'refused'];
const OFF = 'upstream is off on this server';
const RATE_LIMITED = `rate limit: at most ${RATE} events per second`;

const token = (user) => hs256({ sub: user, exp: nowS() + 600 }, secret);

// Every socket a test opened, closed after each test (a failed test must not leave a client connected).
const opened = new Set();
function closeAll() {
    for (const s of opened) {
        s.close();
    }
    opened.clear();
}

async function join(server, user, { transports = ['websocket'] } = {}) {
    const socket = await connect(server.url, { token: token(user) }, { transports });
    opened.add(socket);
    socket.user = user;
    return socket;
}

const send = (socket, event, ...args) => socket.timeout(ACK_MS).emitWithAck(event, ...args);

// The counts of pusher_upstream_events_total by outcome.
async function upstreamCounts(server) {
    const out = {};
    for (const outcome of OUTCOMES) {
        out[outcome] = (await metric(server, `${METRIC}{outcome="${outcome}"}`)) ?? NaN;
    }
    return out;
}

const delta = (before, now) => Object.fromEntries(OUTCOMES.map((o) => [o, now[o] - before[o]]));

// A queue of our own on the upstream exchange, bound with `#`: every message that lands there, in queue order
// ({routingKey, type, contentType, headers, raw, body (parsed)}). `next()` resolves with the message after the last one
// it returned.
async function upstreamQueue(exchange) {
    const conn = await amqplib.connect(amqpUrl);
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await ch.assertExchange(exchange, 'topic', { durable: true }); // as the node declares it
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, exchange, '#');
    const got = [];
    const waiters = new Set();
    await ch.consume(
        queue,
        (msg) => {
            const raw = msg.content.toString('utf8');
            let body;
            try {
                body = JSON.parse(raw);
            } catch {
                body = undefined;
            }
            got.push({
                routingKey: msg.fields.routingKey,
                type: msg.properties.type,
                contentType: msg.properties.contentType,
                headers: msg.properties.headers ?? {},
                raw,
                body,
            });
            for (const w of [...waiters]) {
                w();
            }
        },
        { noAck: true },
    );
    const show = () => JSON.stringify(got.map((m) => [m.routingKey, m.raw]));
    let read = 0;
    return {
        got,
        show,
        next(timeout = 10000) {
            return new Promise((resolve, reject) => {
                const check = () => {
                    if (got.length > read) {
                        cleanup();
                        resolve(got[read++]);
                    }
                };
                const timer = setTimeout(() => {
                    cleanup();
                    reject(new Error(`timed out waiting for upstream message #${read + 1}; so far: ${show()}`));
                }, timeout);
                const cleanup = () => {
                    clearTimeout(timer);
                    waiters.delete(check);
                };
                waiters.add(check);
                check();
            });
        },
        // Everything consumed but not returned by next() yet.
        unread: () => got.slice(read),
        close: async () => {
            try {
                await conn.close();
            } catch {
                // closed already
            }
        },
    };
}

describe('upstream events (RabbitMQ)', { skip: amqpMissing }, () => {
    const names = exchangeNames('upstream');
    const upstreamExchange = `${names.exchange}.upstream`;
    let A; // --upstream-exchange, --upstream-rate 5
    let B; // without --upstream-exchange
    let q;

    async function startNode(extra) {
        const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--jwt-secret', secret, ...amqpArgs(names),
            ...extra]);
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: 'readyz 200' });
        return server;
    }

    before(async () => {
        A = await startNode(['--node-id', 'up-a', '--upstream-exchange', upstreamExchange, '--upstream-rate', String(RATE),
            '--amqp-publish-timeout-ms', String(PUBLISH_TIMEOUT_MS)]);
        B = await startNode(['--node-id', 'up-b']);
        q = await upstreamQueue(upstreamExchange);
    });
    afterEach(async () => {
        closeAll();
    });
    after(async () => {
        closeAll();
        await q?.close();
        await Promise.all([A, B].filter(Boolean).map((s) => s.stop()));
    });

    test('an acked event is published with the event name, the body and the node\'s headers; the user is the token\'s', async () => {
        // The node declared the exchange: a durable topic exchange.
        const listed = await rabbitmqctl('list_exchanges', '-q', '--no-table-headers', 'name', 'type', 'durable');
        const row = listed.split('\n').map((l) => l.split('\t').map((f) => f.trim())).find((r) => r[0] === upstreamExchange);
        assert.deepEqual(row, [upstreamExchange, 'topic', 'true'], `${upstreamExchange} declared by the node`);

        const before = await upstreamCounts(A);
        const alice = await join(A, 'alice');
        // The body claims another user: the header says who really sent it.
        const [ack, msg] = await Promise.all([send(alice, 'chat.send', { text: 'hi', user: 'mallory' }), q.next()]);
        assert.deepEqual(ack, { ok: true });
        const what = JSON.stringify(msg);
        assert.equal(msg.routingKey, 'chat.send', `routing key = event name; ${what}`);
        assert.equal(msg.type, 'chat.send', `type = event name; ${what}`);
        assert.equal(msg.contentType, 'application/json', what);
        assert.deepEqual(msg.body, { text: 'hi', user: 'mallory' }, `the first argument as JSON; ${what}`);
        assert.equal(msg.headers['x-pusher-user'], 'alice', `x-pusher-user = the token's sub, not the body's; ${what}`);
        assert.equal(msg.headers['x-pusher-node'], 'up-a', `x-pusher-node = --node-id; ${what}`);
        assert.equal(typeof alice.id, 'string');
        assert.equal(msg.headers['x-pusher-sid'], alice.id, `x-pusher-sid = socket.id; ${what}`);

        // No argument: the body is null. Over polling, another socket: its own sid; only the first argument counts.
        const bob = await join(A, 'bob', { transports: ['polling'] });
        const [ack2, msg2] = await Promise.all([send(bob, 'ping.me'), q.next()]);
        assert.deepEqual(ack2, { ok: true });
        assert.deepEqual([msg2.routingKey, msg2.type, msg2.raw], ['ping.me', 'ping.me', 'null'], JSON.stringify(msg2));
        assert.deepEqual([msg2.headers['x-pusher-user'], msg2.headers['x-pusher-sid']], ['bob', bob.id]);
        const [ack3, msg3] = await Promise.all([send(bob, 'doc.edit', [1, 'two'], { ignored: true }), q.next()]);
        assert.deepEqual(ack3, { ok: true });
        assert.deepEqual([msg3.routingKey, msg3.body], ['doc.edit', [1, 'two']], JSON.stringify(msg3));

        assert.deepEqual(delta(before, await upstreamCounts(A)), { published: 3, failed: 0, rate_limited: 0, refused: 0 });
        assert.deepEqual(q.unread(), [], 'nothing else published');
    });

    test('an event without an ack is not published', async () => {
        const clientEvents = await metric(A, 'pusher_client_events_total');
        const alice = await join(A, 'alice');
        alice.emit('chat.send', { n: 'no-ack' });
        // The same socket's next event, with an ack: handled after the first one, so had the first been published it
        // would be ahead of this one in the queue.
        const [ack, msg] = await Promise.all([send(alice, 'chat.send', { n: 'acked' }), q.next()]);
        assert.deepEqual(ack, { ok: true });
        assert.deepEqual(msg.body, { n: 'acked' }, `the next message is the acked event: ${q.show()}`);
        assert.deepEqual(q.unread(), []);
        assert.equal(await metric(A, 'pusher_client_events_total'), clientEvents + 1, 'the ignored event is counted');
    });

    test(`the rate limit: ${RATE} at once pass, the next are refused and not published; a token comes back after 1/${RATE} s`, async () => {
        const before = await upstreamCounts(A);
        const carol = await join(A, 'carol'); // a new socket: a full bucket
        const t0 = performance.now();
        // All at once: the node handles them in order, long before a token comes back.
        const acks = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => send(carol, 'chat.send', { n })));
        assert.deepEqual(acks, [...Array(RATE).fill({ ok: true }), { error: RATE_LIMITED }, { error: RATE_LIMITED }]);
        for (let n = 1; n <= RATE; n++) {
            const msg = await q.next();
            assert.deepEqual([msg.routingKey, msg.body, msg.headers['x-pusher-user']], ['chat.send', { n }, 'carol'],
                `message ${n} of ${RATE}: ${q.show()}`);
        }

        // Poll until one passes again (each refusal costs no token); bounded.
        let refusedPolls = 0;
        let ack;
        const deadline = performance.now() + 3000;
        for (;;) {
            ack = await send(carol, 'chat.send', { n: 'again' });
            if (ack?.ok === true || performance.now() > deadline) {
                break;
            }
            assert.deepEqual(ack, { error: RATE_LIMITED }, 'refused while the bucket is empty');
            refusedPolls++;
            await sleep(50);
        }
        const took = performance.now() - t0;
        assert.deepEqual(ack, { ok: true }, `an event passes again within ${took.toFixed(0)} ms`);
        // The bucket was full (RATE tokens) when the first event came: the next token is 1/RATE s after it.
        assert.ok(took >= 1000 / RATE - 50, `a token back after ${took.toFixed(0)} ms: not before 1/${RATE} s`);
        const msg = await q.next();
        assert.deepEqual(msg.body, { n: 'again' }, `the 6th and 7th were not published: the next message is the retry; ${q.show()}`);
        assert.deepEqual(q.unread(), []);
        assert.deepEqual(delta(before, await upstreamCounts(A)),
            { published: RATE + 1, failed: 0, rate_limited: 2 + refusedPolls, refused: 0 },
            `${refusedPolls} polls refused before the token came back`);

        // The bucket is per socket: another socket of the same user has a full one.
        const carol2 = await join(A, 'carol');
        const acks2 = await Promise.all([1, 2, 3].map((n) => send(carol2, 'chat.other', { n })));
        assert.deepEqual(acks2, [{ ok: true }, { ok: true }, { ok: true }]);
        for (let n = 1; n <= 3; n++) {
            assert.deepEqual((await q.next()).body, { n });
        }
    });

    test('binary arguments are refused and not published', async () => {
        const before = await upstreamCounts(A);
        const dave = await join(A, 'dave');
        const ack = await send(dave, 'file.put', Buffer.from([1, 2, 3]));
        assert.ok(ack !== null && typeof ack === 'object' && typeof ack.error === 'string' && ack.ok === undefined,
            `expected {"error":"..."}, got ${JSON.stringify(ack)}`);
        const [ack2, msg] = await Promise.all([send(dave, 'file.put', { name: 'x' }), q.next()]);
        assert.deepEqual(ack2, { ok: true });
        assert.deepEqual(msg.body, { name: 'x' }, `the next message is the JSON one: ${q.show()}`);
        assert.deepEqual(delta(before, await upstreamCounts(A)), { published: 1, failed: 0, rate_limited: 0, refused: 1 });
    });

    test('a node without --upstream-exchange answers that upstream is off', async () => {
        const before = await upstreamCounts(B);
        const erin = await join(B, 'erin');
        assert.deepEqual(await send(erin, 'chat.send', { text: 'hi' }), { error: OFF });
        assert.deepEqual(await send(erin, 'ping.me'), { error: OFF });
        assert.deepEqual(delta(before, await upstreamCounts(B)), { published: 0, failed: 0, rate_limited: 0, refused: 2 });
        assert.ok(erin.connected, 'the connection stays up');
        // subscribe / unsubscribe are not upstream events there either (answered by the channels code).
        const reply = await send(erin, 'unsubscribe', { channel: 'room:1' });
        assert.deepEqual(reply, { ok: true }, 'unsubscribe is no upstream event');
    });

    test('a frozen broker: an error ack after the publish timeout; upstream works again once it is back', { skip: freezeMissing }, async () => {
        const before = await upstreamCounts(A);
        const frank = await join(A, 'frank');
        let ack;
        let took;
        await withBrokerFrozen(async () => {
            const t0 = performance.now();
            ack = await frank.timeout(PUBLISH_TIMEOUT_MS + 8000).emitWithAck('chat.send', { n: 'frozen' });
            took = performance.now() - t0;
        });
        assert.deepEqual(ack, { error: 'not delivered to the backend, retry later' }, `after ${took.toFixed(0)} ms`);
        assert.ok(took >= PUBLISH_TIMEOUT_MS - 50, `the error after ${took.toFixed(0)} ms: not before the publish timeout`);
        assert.equal((await upstreamCounts(A)).failed - before.failed, 1, 'counted as failed');

        // Back: an acked event passes again (the node may have reconnected meanwhile); bounded.
        let last;
        await eventually(
            async () => {
                last = await frank.timeout(ACK_MS).emitWithAck('chat.send', { n: 'thawed' }).catch((err) => ({ thrown: err.message }));
                return last?.ok === true;
            },
            { timeout: 20000, interval: 300, what: `an upstream event confirmed after the thaw (last ack ${JSON.stringify(last)})` },
        );
        // The frozen one may still have reached the broker (it had it in its socket buffer): "retry later" means
        // maybe. The thawed one arrives, with frank's headers.
        const msg = await eventually(() => q.got.find((m) => m.body?.n === 'thawed'), { what: 'the thawed event consumed' });
        assert.equal(msg.headers['x-pusher-user'], 'frank');
        const frozenCopies = q.got.filter((m) => m.body?.n === 'frozen').length;
        assert.ok(frozenCopies <= 1, `the frozen event at most once: ${q.show()}`);
    });
});

describe('upstream with the embedded broker', () => {
    test('--broker memory --upstream-exchange refuses to start (exit 2, naming --upstream-exchange)', async () => {
        const r = await new Promise((resolve) =>
            execFile(binaryPath('pusher'), ['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth', '--upstream-exchange', 'x'],
                { timeout: 10000 }, (err, stdout, stderr) =>
                    resolve({ code: err ? err.code : 0, signal: err?.signal ?? null, stdout, stderr })),
        );
        assert.equal(r.signal, null, `exited by itself (not killed after 10 s): ${JSON.stringify(r)}`);
        assert.equal(r.code, 2, `exit code 2: ${JSON.stringify(r)}`);
        assert.match(r.stdout + r.stderr, /--upstream-exchange/, `names the flag: ${JSON.stringify(r)}`);
    });
});
