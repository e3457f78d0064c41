// The pusher against a real RabbitMQ node (started by scripts/test.sh), with the real socket.io-client and an
// independent AMQP publisher (amqplib): per-user routing over several tabs and transports, event names from `type`,
// JSON and non-JSON bodies, broadcast, bindings made on the first connection and removed after the grace (observed
// with mandatory publishes and list_bindings), reloads inside the grace, scale-out over two nodes, and a broker
// restart under live clients.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { startBinary } from './lib/spawn.mjs';
import { connect, hs256, nowS, waitForEvents } from './lib/client.mjs';
import {
    undeliveredQueue,
    amqpArgs,
    amqpMissing,
    amqpUrl,
    boundKeys,
    directExchangeOptions,
    eventually,
    exchangeArgs,
    exchangeNames,
    metric,
    pusherSend,
    rabbitmqctl,
    skipUnless,
} from './lib/pusher.mjs';

const secret = 'e2e-secret-0123456789-0123456789-abcdef';
const token = (user) => hs256({ sub: user, exp: nowS() + 600 }, secret);

// An AMQP publisher of our own (not the pusher's code): confirm channel, mandatory publishes, returns recorded.
async function publisher(names) {
    const conn = await amqp.connect(amqpUrl);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange(names.exchange, 'direct', directExchangeOptions(names));
    await ch.assertExchange(names.broadcastExchange, 'fanout', { durable: true });
    const returned = [];
    ch.on('return', (msg) => returned.push(msg.fields.routingKey));
    const send = (exchange, key, type, body, props = {}) =>
        new Promise((resolve, reject) =>
            ch.publish(
                exchange,
                key,
                Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
                { type, contentType: 'application/json', headers: { timestamp_ms: Date.now() }, ...props },
                (err) => (err ? reject(err) : resolve()),
            ),
        );
    return {
        returned,
        toUser: (user, type, body, props) => send(names.exchange, user, type, body, props),
        toAll: (type, body) => send(names.broadcastExchange, '', type, body),
        // Publishes with `mandatory` and tells whether the broker routed it (a basic.return arrives before the
        // confirm when it could not).
        async routable(user) {
            const before = returned.length;
            await send(names.exchange, user, 'probe', { probe: true }, { mandatory: true });
            return returned.length === before;
        },
        close: () => conn.close(),
    };
}

async function startPusher(names, extra = []) {
    const server = await startBinary('pusher', [
        '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--log-level', 'info', ...amqpArgs(names), ...extra,
    ]);
    await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: 'readyz 200' });
    return server;
}

describe('pusher + RabbitMQ: routing', { skip: amqpMissing }, () => {
    const names = exchangeNames('routing');
    let server;
    let pub;
    const sockets = [];
    after(async () => {
        sockets.forEach((s) => s.close());
        await pub?.close();
        await server?.stop();
    });
    before(async () => {
        server = await startPusher(names, ['--unbind-grace-ms', '300']);
        pub = await publisher(names);
    });

    test('each message reaches exactly its user\'s sessions (two tabs, both transports), named by its type', async () => {
        const aliceWs = await connect(server.url, { token: token('alice') });
        const alicePolling = await connect(server.url, { token: token('alice') }, { transports: ['polling'] });
        const bob = await connect(server.url, { token: token('bob') });
        sockets.push(aliceWs, alicePolling, bob);

        for (let i = 0; i < 20; ++i) {
            await pub.toUser('alice', 'mail.new', { n: i, subject: `hi ${i}` });
        }
        await pub.toUser('bob', 'chat.message', { text: 'for bob' });
        // non-JSON bodies become JSON strings; a text/plain content type too
        await pub.toUser('alice', 'raw', 'plain text, not JSON');
        await pub.toUser('alice', 'raw', '{"looks":"like json"}', { contentType: 'text/plain' });
        await pub.toUser('alice', 'raw', Buffer.from([0x68, 0x69, 0xff]));
        // no type: the event is "notification"
        await pub.toUser('alice', undefined, [1, 2, 3]);

        for (const s of [aliceWs, alicePolling]) {
            const mails = await waitForEvents(s, 'mail.new', 20);
            assert.deepEqual(mails.map((m) => m.n), [...Array(20).keys()], 'in publish order, none lost or doubled');
            const raws = await waitForEvents(s, 'raw', 3);
            assert.equal(raws[0], 'plain text, not JSON');
            assert.equal(raws[1], '{"looks":"like json"}', 'content_type text/plain: delivered as a string');
            assert.equal(raws[2], 'hi\ufffd');
            assert.deepEqual(await waitForEvents(s, 'notification', 1), [[1, 2, 3]]);
        }
        assert.deepEqual(await waitForEvents(bob, 'chat.message', 1), [{ text: 'for bob' }]);
        // bob got bob's message only, which was published after 20 of alice's: had any of hers been routed to
        // him, it would have arrived first (one connection delivers in order).
        assert.deepEqual(bob.received.map((e) => e.event), ['chat.message']);
        assert.equal(aliceWs.received.filter((e) => e.event === 'chat.message').length, 0);
    });

    test('broadcast reaches every connected user once per session', async () => {
        const carol = await connect(server.url, { token: token('carol') });
        const dave = await connect(server.url, { token: token('dave') }, { transports: ['polling'] });
        sockets.push(carol, dave);
        await pub.toAll('system.notice', { text: 'maintenance at 5' });
        for (const s of [carol, dave]) {
            assert.deepEqual(await waitForEvents(s, 'system.notice', 1), [{ text: 'maintenance at 5' }]);
        }
    });

    test('the binding exists while connected and is gone after the grace; a reload inside the grace keeps it', async () => {
        assert.equal(await pub.routable('erin'), false, 'nobody bound erin yet');
        const erin = await connect(server.url, { token: token('erin') });
        // CONNECT is acknowledged only after the bind is confirmed: routable at once, and listed
        assert.equal(await pub.routable('erin'), true);
        assert.ok((await boundKeys(names.exchange)).has('erin'));

        // reload: leave and come back inside the 300 ms grace; no unbind is sent
        const unbindsBefore = await metric(server, 'pusher_broker_unbinds_total');
        erin.close();
        const again = await connect(server.url, { token: token('erin') });
        await new Promise((r) => setTimeout(r, 600)); // longer than the grace: an unbind would have happened
        assert.equal(await metric(server, 'pusher_broker_unbinds_total'), unbindsBefore);
        assert.equal(await pub.routable('erin'), true);
        await pub.toUser('erin', 'mail.new', { after: 'reload' });
        assert.deepEqual(await waitForEvents(again, 'mail.new', 1), [{ after: 'reload' }]);

        // last connection leaves: unbound after the grace
        again.close();
        await eventually(async () => !(await boundKeys(names.exchange)).has('erin'), { what: 'erin unbound' });
        assert.equal(await pub.routable('erin'), false);
        assert.equal(await metric(server, 'pusher_broker_unbinds_total'), unbindsBefore + 1);
    });

    test('/api/publish goes through RabbitMQ to every node (scale-out)', async () => {
        const other = await startPusher(names);
        try {
            const frank = await connect(other.url, { token: token('frank') });
            sockets.push(frank);
            const r = await fetch(`${server.url}/api/publish`, {
                method: 'POST',
                body: JSON.stringify({ users: ['frank', 'nobody'], event: 'mail.new', data: { via: 'node A' } }),
            });
            assert.equal(r.status, 202);
            assert.deepEqual(await r.json(), { accepted: 2 });
            assert.deepEqual(await waitForEvents(frank, 'mail.new', 1), [{ via: 'node A' }]);
        } finally {
            await other.stop();
        }
    });
});

describe('pusher + RabbitMQ: the undelivered exchange', { skip: amqpMissing }, () => {
    const names = exchangeNames('undelivered');
    let server;
    let pub;
    let lost;
    after(async () => {
        await pub?.close();
        await lost?.close();
        await server?.stop();
    });
    before(async () => {
        // A long grace: the user's key stays bound after the last session left, so a message still reaches the node.
        server = await startPusher(names, ['--unbind-grace-ms', '5000']);
        pub = await publisher(names);
        lost = await undeliveredQueue(names);
    });

    test('an event for a user bound nowhere reaches the undelivered exchange through the alternate exchange', async () => {
        assert.equal(await pub.routable('zoe'), true, 'mandatory: routed (to the alternate exchange), not returned');
        await pub.toUser('zoe', 'mail.new', { to: 'zoe' }, { messageId: 'ae-1' });
        const m = await eventually(() => lost.got.find((g) => g.messageId === 'ae-1'), { what: 'the message on our queue' });
        assert.equal(m.routingKey, 'zoe');
        assert.equal(m.type, 'mail.new');
        assert.equal(m.body, '{"to":"zoe"}');
        assert.equal(m.headers['x-pusher-reason'], undefined, 'RabbitMQ routed it: untouched');
        assert.equal(await metric(server, 'pusher_messages_undelivered_total{reason="no_session"}'), 0);
    });

    test('an event that reaches the node after the user left goes there once, with x-pusher-reason no_session', async () => {
        for (const reason of ['no_session', 'recovery_expired', 'recovery_overflow']) {
            assert.equal(await metric(server, `pusher_messages_undelivered_total{reason="${reason}"}`), 0, reason);
        }
        const dropped = await metric(server, 'pusher_messages_dropped_total{reason="no_session"}');
        const yan = await connect(server.url, { token: token('yan') });
        assert.ok((await boundKeys(names.exchange)).has('yan'));
        yan.disconnect(); // the io client's disconnect: a Socket.IO DISCONNECT, then the transport closes
        await eventually(async () => (await metric(server, 'pusher_sessions')) === 0, { what: 'the session gone' });
        assert.ok((await boundKeys(names.exchange)).has('yan'), 'still bound: inside the unbind grace');

        const before = lost.got.length;
        await pub.toUser('yan', 'chat.message', '{"text":"too late"}', { messageId: 'ns-1' });
        const m = await eventually(() => lost.got.find((g) => g.messageId === 'ns-1'), { what: 'the republished message' });
        assert.equal(m.routingKey, 'yan');
        assert.equal(m.type, 'chat.message');
        assert.equal(m.body, '{"text":"too late"}', 'the body byte for byte');
        assert.equal(m.contentType, 'application/json');
        assert.equal(m.headers['x-pusher-reason'], 'no_session');
        assert.equal(typeof m.headers.timestamp_ms, 'number');
        await new Promise((r) => setTimeout(r, 500));
        assert.equal(lost.got.length, before + 1, 'exactly once');
        assert.equal(await metric(server, 'pusher_messages_undelivered_total{reason="no_session"}'), 1);
        assert.equal(await metric(server, 'pusher_messages_undelivered_failed_total'), 0);
        assert.equal(await metric(server, 'pusher_messages_dropped_total{reason="no_session"}'), dropped, 'not dropped');
    });
});

describe('pusher + RabbitMQ: broker restart under live clients', { skip: amqpMissing }, () => {
    const names = exchangeNames('restart');
    let server;
    after(async () => {
        await server?.stop();
    });

    test('clients stay connected, /readyz is 503 meanwhile, bindings come back, delivery resumes', async () => {
        server = await startPusher(names, ['--amqp-reconnect-max-ms', '1000']);
        const users = ['u1', 'u2', 'u3'];
        const sockets = await Promise.all(users.map((u) => connect(server.url, { token: token(u) })));
        const disconnects = [];
        sockets.forEach((s, i) => s.on('disconnect', (why) => disconnects.push(`${users[i]}: ${why}`)));
        try {
            await rabbitmqctl('stop_app');
            try {
                await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 503, {
                    what: 'readyz 503 with the broker down',
                });
                const body = await (await fetch(`${server.url}/readyz`)).json();
                assert.equal(body.status, 'not ready');
            } finally {
                await rabbitmqctl('start_app');
            }
            await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, {
                timeout: 60000,
                what: 'readyz 200 after the broker came back',
            });
            const keys = await boundKeys(names.exchange);
            for (const u of users) {
                assert.ok(keys.has(u), `${u} re-bound`);
            }
            const pub = await publisher(names);
            try {
                for (const u of users) {
                    await pub.toUser(u, 'mail.new', { to: u });
                }
            } finally {
                await pub.close();
            }
            for (const [i, s] of sockets.entries()) {
                assert.deepEqual(await waitForEvents(s, 'mail.new', 1), [{ to: users[i] }]);
            }
            assert.deepEqual(disconnects, [], 'no client was disconnected');
            assert.ok((await metric(server, 'pusher_broker_reconnects_total')) >= 1);
        } finally {
            sockets.forEach((s) => s.close());
        }
    });
});

describe('pusher + RabbitMQ: broker unreachable at start-up', { skip: amqpMissing }, () => {
    const names = exchangeNames('late');
    let server;
    after(async () => {
        await server?.stop();
    });

    test('serves, says why it is not ready, keeps retrying; a client waiting for its binding gets in once it is up', async () => {
        await rabbitmqctl('stop_app');
        let client;
        try {
            server = await startBinary('pusher', [
                '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--amqp-reconnect-max-ms', '1000', ...amqpArgs(names),
            ]);
            const r = await fetch(`${server.url}/readyz`);
            assert.equal(r.status, 503);
            assert.deepEqual(await r.json(), { status: 'not ready', reason: 'broker not connected' });
            assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
            await eventually(async () => /cannot connect/.test(server.output()), { what: 'a log line about the broker' });
            // The CONNECT is answered only once the binding is confirmed: start connecting now, bring the broker up.
            client = connect(server.url, { token: token('late') });
        } finally {
            await rabbitmqctl('start_app');
        }
        const socket = await client;
        try {
            await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, {
                timeout: 60000,
                what: 'readyz 200',
            });
            const pub = await publisher(names);
            try {
                assert.equal(await pub.routable('late'), true);
                await pub.toUser('late', 'mail.new', { late: true });
            } finally {
                await pub.close();
            }
            assert.deepEqual(await waitForEvents(socket, 'mail.new', 1), [{ late: true }]);
        } finally {
            socket.close();
        }
    });
});

// amqps:// with a private CA, from the command line: the test node's TLS listener presents a certificate signed by a
// CA of its own (scripts/rabbitmq-test-node.sh), which no system store knows.
const amqpsUrl = process.env.PUSHER_TEST_AMQPS_URL;
const caFile = process.env.PUSHER_TEST_TLS_CA_FILE;
const tlsMissing = amqpMissing || skipUnless(amqpsUrl && caFile, 'the test node has no TLS listener');

describe('pusher + RabbitMQ over TLS (amqps://, a private CA)', { skip: tlsMissing }, () => {
    const names = exchangeNames('tls');
    const tlsArgs = ['--amqp-url', amqpsUrl, ...exchangeArgs(names)];
    const servers = [];
    after(async () => {
        await Promise.all(servers.map((s) => s.stop()));
    });

    test('--amqp-tls-ca-file: consumes and publishes over TLS', async () => {
        const server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--broker', 'amqp', ...tlsArgs,
            '--amqp-tls-ca-file', caFile, '--amqp-connection-name', 'pusher-e2e-tls',
        ]);
        servers.push(server);
        await eventually(async () => (await fetch(`${server.url}/readyz`)).status === 200, { what: 'readyz 200' });
        const socket = await connect(server.url, { token: token('tls-alice') });
        try {
            // Through the pusher's own publisher (TLS) and its consumer (TLS), and from an outside publisher.
            const r = await fetch(`${server.url}/api/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ user: 'tls-alice', event: 'mail.new', data: { over: 'tls' } }),
            });
            assert.equal(r.status, 202);
            const pub = await publisher(names);
            try {
                await pub.toUser('tls-alice', 'mail.new', { from: 'outside' });
            } finally {
                await pub.close();
            }
            // pusher send over TLS, with the same options as the server.
            const sent = await pusherSend([
                '--amqp-url', amqpsUrl, '--amqp-tls-ca-file', caFile, ...exchangeArgs(names), '--user', 'tls-alice',
                '--event', 'mail.new',
                '--data', '{"from":"pusher send"}',
            ]);
            assert.equal(sent.code, 0, sent.stderr);
            assert.deepEqual(await waitForEvents(socket, 'mail.new', 3), [
                { over: 'tls' },
                { from: 'outside' },
                { from: 'pusher send' },
            ]);
            const refused = await pusherSend(['--amqp-url', amqpsUrl, '--user', 'tls-alice', '--data', '1']);
            assert.equal(refused.code, 1, 'no CA: the certificate cannot be verified');
            // Both connections under their name (client property connection_name), and both over TLS (ssl = true).
            const connections = await rabbitmqctl('list_connections', 'client_properties', 'ssl');
            assert.match(connections, /pusher-e2e-tls consumer[^\n]*\ttrue/);
            assert.match(connections, /pusher-e2e-tls publisher[^\n]*\ttrue/);
        } finally {
            socket.close();
        }
    });

    test('without the CA: not ready, and the log says why; --amqp-tls-verify none connects (and warns)', async () => {
        const refused = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--broker', 'amqp', ...tlsArgs,
            '--amqp-reconnect-max-ms', '1000',
        ]);
        servers.push(refused);
        await eventually(async () => /certificate|verif|SSL|TLS/i.test(refused.output()), {
            what: 'a log line about the certificate',
        });
        assert.equal((await fetch(`${refused.url}/readyz`)).status, 503);

        const trusting = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--broker', 'amqp', ...tlsArgs, '--amqp-tls-verify', 'none',
        ]);
        servers.push(trusting);
        await eventually(async () => (await fetch(`${trusting.url}/readyz`)).status === 200, { what: 'readyz 200' });
        assert.match(trusting.output(), /--amqp-tls-verify none/);
    });

    test('a client certificate without its key is refused at start-up (exit 2, one line)', async () => {
        const server = startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--broker', 'amqp', ...tlsArgs, '--amqp-tls-cert', caFile,
        ]);
        await assert.rejects(server, /exited \(code 2[\s\S]*--amqp-tls-cert and --amqp-tls-key go together/);
    });
});
