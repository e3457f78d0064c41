// Broker faults against the real pusher and the RabbitMQ test node, with live socket.io clients (websocket and
// polling) and an independent AMQP publisher (amqplib, confirm channel): RabbitMQ stopped and started, frozen
// (SIGSTOP) until the AMQP heartbeats expire, its connections closed by the broker, our queue deleted, our exchange
// deleted (and recreated), and a publish burst as soon as /readyz is 200 again with hundreds of bindings to restore.
// In every case: clients stay connected, /readyz is 503 while the pusher cannot deliver, every binding comes back,
// and every message published once the pusher is ready again reaches each of its user's sessions exactly once.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBinary } from './lib/spawn.mjs';
import { connect, waitFor } from './lib/client.mjs';
import {
    amqpArgs,
    amqpMissing,
    apiPublish,
    boundKeys,
    directExchangeOptions,
    eventually,
    exchangeNames,
    metric,
    rabbitmqctl,
} from './lib/pusher.mjs';
import { amqpPublisher, freezeMissing, readyzStatus, withBrokerFrozen } from './lib/faults.mjs';

const HEARTBEAT_S = 2; // --amqp-heartbeat-s: a frozen broker is noticed within about 2 heartbeats
const BACK_TIMEOUT = 60000; // RabbitMQ's start_app and our reconnect back-off (capped at 1 s) together

async function startPusher(names, extra = []) {
    const server = await startBinary('pusher', [
        '--listen', '127.0.0.1:0', '--dev-auth', '--log-level', 'info', '--unbind-grace-ms', '0',
        '--amqp-heartbeat-s', String(HEARTBEAT_S), '--amqp-reconnect-max-ms', '1000', ...amqpArgs(names), ...extra,
    ]);
    await eventually(async () => (await readyzStatus(server)) === 200, { what: 'readyz 200' });
    return server;
}

// Live clients: one websocket per user, and a polling one for every third user. Records disconnects.
async function clients(server, users) {
    const list = [];
    for (const [i, user] of users.entries()) {
        list.push({ user, socket: await connect(server.url, { user }) });
        if (i % 3 === 0) {
            list.push({ user, socket: await connect(server.url, { user }, { transports: ['polling'] }) });
        }
    }
    const disconnects = [];
    for (const c of list) {
        c.socket.on('disconnect', (why) => disconnects.push(`${c.user}: ${why}`));
    }
    return { list, disconnects, close: () => list.forEach((c) => c.socket.close()) };
}

// Publishes `perUser` numbered messages to every user through `pub` (confirmed by the broker), then a marker per
// user, and checks that each session received exactly its user's messages of this round, once each.
async function assertDelivery(pub, live, round, perUser = 5) {
    const users = [...new Set(live.list.map((c) => c.user))];
    const items = [];
    for (let n = 0; n < perUser; ++n) {
        for (const user of users) {
            items.push([user, 'seq', { user, round, n }]);
        }
    }
    await pub.burst(items);
    await pub.burst(users.map((user) => [user, 'seq', { user, round, marker: true }]));
    for (const { user, socket } of live.list) {
        const mine = (r) => r.filter((e) => e.event === 'seq' && e.data.round === round);
        await waitFor(socket, (r) => mine(r).some((e) => e.data.marker), {
            timeout: 15000,
            what: `${user}: round ${round} marker`,
        }).catch((err) => {
            throw new Error(`${user}: round ${round}: ${mine(socket.received).length} messages, no marker (${err.message.slice(0, 80)})`);
        });
        const got = mine(socket.received).filter((e) => !e.data.marker);
        assert.ok(got.every((e) => e.data.user === user), `${user} got only its own messages`);
        assert.deepEqual(got.map((e) => e.data.n), [...Array(perUser).keys()], `${user}: round ${round}, each once, in order`);
    }
}

async function assertBound(names, users) {
    const keys = await boundKeys(names.exchange);
    const missing = users.filter((u) => !keys.has(u));
    assert.deepEqual(missing, [], 'every user re-bound');
}

describe('broker faults under live clients', { skip: amqpMissing }, () => {
    const names = exchangeNames('faults');
    const users = Array.from({ length: 8 }, (_, i) => `user-${i}`);
    let server;
    let live;
    before(async () => {
        server = await startPusher(names, ['--amqp-queue', `${names.exchange}.q`]);
        live = await clients(server, users);
        const pub = await amqpPublisher(names);
        await assertDelivery(pub, live, 'start');
        await pub.close();
    });
    after(async () => {
        live?.close();
        await server?.stop();
    });

    // Ready again, every binding back, delivery exact, nobody disconnected.
    async function recovered(round) {
        await eventually(async () => (await readyzStatus(server)) === 200, { timeout: BACK_TIMEOUT, what: 'readyz 200 again' });
        await assertBound(names, users);
        const pub = await amqpPublisher(names);
        try {
            await assertDelivery(pub, live, round);
        } finally {
            await pub.close();
        }
        assert.deepEqual(live.disconnects, [], 'no client was disconnected');
        assert.equal(await metric(server, 'pusher_sessions'), live.list.length);
    }

    test('RabbitMQ stopped and started: 503 meanwhile, /api/publish refused, then everything back', async () => {
        const reconnects = await metric(server, 'pusher_broker_reconnects_total');
        await rabbitmqctl('stop_app');
        try {
            await eventually(async () => (await readyzStatus(server)) === 503, { what: 'readyz 503 with the broker down' });
            assert.equal(await metric(server, 'pusher_broker_ready'), 0);
            const r = await apiPublish(server.url, { user: 'user-0', event: 'seq', data: { lost: true } });
            assert.equal(r.status, 503, 'a publish the broker cannot take is refused, not accepted and lost');
        } finally {
            await rabbitmqctl('start_app');
        }
        await recovered('after restart');
        assert.ok((await metric(server, 'pusher_broker_reconnects_total')) >= reconnects + 2, 'consumer and publisher reconnected');
    });

    test('RabbitMQ frozen (SIGSTOP) until the heartbeats expire, then resumed', { skip: freezeMissing }, async () => {
        const reconnects = await metric(server, 'pusher_broker_reconnects_total');
        let noticedAfter;
        await withBrokerFrozen(async () => {
            const t0 = performance.now();
            await eventually(async () => (await readyzStatus(server)) === 503, {
                timeout: 6 * HEARTBEAT_S * 1000,
                what: 'readyz 503 once the heartbeats expired',
            });
            noticedAfter = performance.now() - t0;
        });
        console.log(`frozen broker noticed after ${noticedAfter.toFixed(0)} ms (heartbeat ${HEARTBEAT_S} s)`);
        await recovered('after freeze');
        assert.ok((await metric(server, 'pusher_broker_reconnects_total')) > reconnects);
    });

    test('connections closed by the broker (rabbitmqctl close_all_connections)', async () => {
        const reconnects = await metric(server, 'pusher_broker_reconnects_total');
        await rabbitmqctl('close_all_connections', 'fault injection test');
        await eventually(async () => (await metric(server, 'pusher_broker_reconnects_total')) >= reconnects + 2, {
            timeout: BACK_TIMEOUT,
            what: 'consumer and publisher reconnected',
        });
        await recovered('after close_all_connections');
    });

    test('our queue deleted under us (basic.cancel): a new queue, every binding restored', async () => {
        const reconnects = await metric(server, 'pusher_broker_reconnects_total');
        await rabbitmqctl('delete_queue', `${names.exchange}.q`);
        await eventually(async () => (await metric(server, 'pusher_broker_reconnects_total')) > reconnects, {
            timeout: BACK_TIMEOUT,
            what: 'the consumer started over',
        });
        await recovered('after delete_queue');
    });

    test('our exchange deleted under us (and recreated by a publisher): bindings restored without a new client', async () => {
        const pub = await amqpPublisher(names);
        await pub.channel.deleteExchange(names.exchange);
        assert.equal((await boundKeys(names.exchange)).size, 0, 'the bindings went with the exchange');
        // A publisher declares it again, as publishers do (with the contract's arguments: the pusher's own
        // publisher may have declared it first): our bindings are not there, and nothing tells us.
        await pub.channel.assertExchange(names.exchange, 'direct', directExchangeOptions(names));
        await pub.close();
        // The pusher must find out by itself (its routing check) and re-bind every user.
        await eventually(
            async () => {
                const keys = await boundKeys(names.exchange);
                return users.every((u) => keys.has(u));
            },
            { timeout: 10 * HEARTBEAT_S * 1000 + 10000, interval: 500, what: 'every binding restored' },
        );
        await recovered('after the exchange was deleted');
    });

    test('our exchange deleted and declared by nobody: the pusher declares it again and re-binds', async () => {
        const failures = await metric(server, 'pusher_publish_messages_total{outcome="failed"}');
        const pub = await amqpPublisher(names);
        await pub.channel.deleteExchange(names.exchange);
        await pub.close();
        // The pusher's own publisher finds out first (a publish to a missing exchange closes its channel), then
        // its routing check: both exchanges are declared again, and every user is re-bound.
        const r = await apiPublish(server.url, { user: 'user-0', event: 'seq', data: { lost: true } });
        assert.notEqual(r.status, 202, 'a publish to the missing exchange is not reported accepted');
        await eventually(
            async () => {
                const keys = await boundKeys(names.exchange);
                return users.every((u) => keys.has(u));
            },
            { timeout: 10 * HEARTBEAT_S * 1000 + 10000, interval: 500, what: 'every binding restored' },
        );
        await recovered('after the exchange was deleted for good');
        assert.ok((await metric(server, 'pusher_publish_messages_total{outcome="failed"}')) >= failures + 1);
    });

    test('our consumer channel closed by a broker error (queue.bind to a deleted exchange: 404)', async () => {
        const reconnects = await metric(server, 'pusher_broker_reconnects_total');
        const pub = await amqpPublisher(names);
        await pub.channel.deleteExchange(names.exchange);
        await pub.close();
        // A new user's bind is the first thing to hit the missing exchange: the broker closes the consumer's
        // channel (404 NOT_FOUND). The pusher starts over, declares the exchange, re-binds everyone, and the new
        // user's CONNECT is answered either way (accepted once bound, or refused: never left hanging).
        let newcomer = null;
        try {
            newcomer = await connect(server.url, { user: 'newcomer' });
        } catch (err) {
            assert.match(err.message, /bind|broker|timed out/i, `a clear refusal: ${err.message}`);
        }
        await eventually(async () => (await metric(server, 'pusher_broker_reconnects_total')) > reconnects, {
            timeout: BACK_TIMEOUT,
            what: 'the consumer started over',
        });
        assert.match(server.output(), /amqp consumer: connection lost: channel closed by the broker: 404/);
        await eventually(
            async () => {
                const keys = await boundKeys(names.exchange);
                return users.every((u) => keys.has(u)) && (newcomer === null || keys.has('newcomer'));
            },
            { timeout: 10 * HEARTBEAT_S * 1000 + 10000, interval: 500, what: 'every binding restored' },
        );
        newcomer?.close();
        await recovered('after a channel error');
    });

    test('a publish burst as soon as /readyz is 200 again, with 300 bindings to restore', async () => {
        const many = Array.from({ length: 300 }, (_, i) => `burst-${i}`);
        const extra = { list: [], disconnects: [], close() {} };
        for (const user of many) {
            extra.list.push({ user, socket: await connect(server.url, { user }) });
        }
        extra.list.forEach((c) => c.socket.on('disconnect', (why) => extra.disconnects.push(`${c.user}: ${why}`)));
        try {
            await rabbitmqctl('stop_app');
            try {
                await eventually(async () => (await readyzStatus(server)) === 503, { what: 'readyz 503' });
            } finally {
                await rabbitmqctl('start_app');
            }
            // Poll /readyz tightly and publish the moment it says 200: /readyz must not say ready before every
            // binding is back, or these messages would be lost.
            await eventually(async () => (await readyzStatus(server)) === 200, { timeout: BACK_TIMEOUT, interval: 5, what: 'ready' });
            const pub = await amqpPublisher(names);
            try {
                await assertDelivery(pub, extra, 'burst', 3);
            } finally {
                await pub.close();
            }
            assert.deepEqual(extra.disconnects, []);
            await assertBound(names, [...users, ...many]);
        } finally {
            extra.list.forEach((c) => c.socket.close());
        }
    });
});
