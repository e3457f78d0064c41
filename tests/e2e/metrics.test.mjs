// /metrics of the real pusher on the RabbitMQ test node: the exposition is well-formed Prometheus text (0.0.4), the
// series operators need are there, and each moves with the traffic that should move it (connections by transport,
// users online, bindings, bind and unbind latency, HTTP requests by status class, messages received / delivered / dropped by reason, the delivery latency
// histogram, publishes, slow-consumer disconnects, broker readiness and reconnects); /readyz flips to 503 while
// RabbitMQ is stopped and back to 200 once it is up again.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBinary } from './lib/spawn.mjs';
import { connect, waitForEvents } from './lib/client.mjs';
import { amqpArgs, amqpMissing, apiPublish, eventually, exchangeNames, rabbitmqctl } from './lib/pusher.mjs';
import { RawWs, allMetrics, amqpPublisher, readyzStatus } from './lib/faults.mjs';

const GRACE_MS = 1500;

// Parses the exposition text: { families: Map name -> {type, help}, samples: Map `name{labels}` -> value }, and
// asserts its format (every sample belongs to a family with HELP and TYPE; values are numbers; histogram buckets
// are cumulative and end with +Inf = _count).
function parseExposition(text) {
    const families = new Map();
    const samples = new Map();
    for (const line of text.split('\n')) {
        if (line === '') {
            continue;
        }
        let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
        if (m) {
            const f = families.get(m[2]) ?? {};
            f[m[1].toLowerCase()] = m[3];
            families.set(m[2], f);
            continue;
        }
        m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
        assert.ok(m, `a well-formed sample line: ${JSON.stringify(line)}`);
        const value = Number(m[3] === '+Inf' ? Infinity : m[3]);
        assert.ok(!Number.isNaN(value), `a numeric value: ${line}`);
        const family = families.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count)$/, '');
        assert.ok(families.get(family)?.type && families.get(family)?.help !== undefined, `HELP and TYPE for ${m[1]}`);
        samples.set(`${m[1]}${m[2] ?? ''}`, value);
    }
    for (const [name, f] of families) {
        if (f.type !== 'histogram') {
            continue;
        }
        const buckets = [...samples].filter(([k]) => k.startsWith(`${name}_bucket{`)).map(([, v]) => v);
        assert.ok(buckets.length >= 2, `${name} has buckets`);
        for (let i = 1; i < buckets.length; ++i) {
            assert.ok(buckets[i] >= buckets[i - 1], `${name} buckets are cumulative`);
        }
        assert.equal(samples.get(`${name}_bucket{le="+Inf"}`), samples.get(`${name}_count`), `${name}: +Inf = count`);
        assert.ok(samples.has(`${name}_sum`), `${name}_sum`);
    }
    return { families, samples };
}

describe('/metrics: present, well-formed, moving; /readyz follows the broker', { skip: amqpMissing }, () => {
    const names = exchangeNames('metrics');
    let server;
    const sockets = [];
    before(async () => {
        server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--dev-auth', '--log-level', 'warn', '--unbind-grace-ms', String(GRACE_MS),
            '--amqp-heartbeat-s', '2', '--amqp-reconnect-max-ms', '1000',
            '--outbox-max-frames', '64', '--outbox-max-bytes', String(256 * 1024), ...amqpArgs(names),
        ]);
        await eventually(async () => (await readyzStatus(server)) === 200, { what: 'ready' });
    });
    after(async () => {
        sockets.forEach((s) => s.close());
        await server?.stop();
    });

    test('every series an operator needs is there, with its type, in valid exposition format', async () => {
        const res = await fetch(`${server.url}/metrics`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
        const { families, samples } = parseExposition(await res.text());
        const want = {
            pusher_connections: ['gauge', ['{transport="websocket"}', '{transport="polling"}']],
            pusher_users_online: ['gauge', ['']],
            pusher_sessions: ['gauge', ['']],
            pusher_bindings: ['gauge', ['']],
            pusher_messages_received_total: ['counter', ['{kind="user"}', '{kind="broadcast"}']],
            pusher_messages_delivered_total: ['counter', ['']],
            pusher_messages_dropped_total: ['counter', ['{reason="no_session"}', '{reason="reserved_event"}', '{reason="invalid_event"}']],
            pusher_messages_undelivered_total: ['counter', ['{reason="no_session"}', '{reason="recovery_expired"}', '{reason="recovery_overflow"}']],
            pusher_messages_undelivered_failed_total: ['counter', ['']],
            pusher_delivery_latency_seconds: ['histogram', ['_count', '_sum']],
            pusher_bind_latency_seconds: ['histogram', ['_count', '_sum']],
            pusher_unbind_latency_seconds: ['histogram', ['_count', '_sum']],
            pusher_connections_lingering: ['gauge', ['']],
            pusher_http_requests_total: ['counter', ['{status="1xx"}', '{status="2xx"}', '{status="4xx"}', '{status="5xx"}']],
            pusher_broker_ready: ['gauge', ['']],
            pusher_broker_reconnects_total: ['counter', ['']],
            pusher_broker_binds_total: ['counter', ['']],
            pusher_broker_unbinds_total: ['counter', ['']],
            pusher_slow_consumer_disconnects_total: ['counter', ['']],
            pusher_connections_closed_total: ['counter', ['{reason="slow_consumer"}', '{reason="ping_timeout"}']],
            pusher_publish_messages_total: ['counter', ['{outcome="sent"}', '{outcome="confirmed"}', '{outcome="failed"}']],
        };
        for (const [name, [type, series]] of Object.entries(want)) {
            assert.equal(families.get(name)?.type, type, `${name} is a ${type}`);
            for (const s of series) {
                assert.ok(samples.has(`${name}${s}`), `${name}${s} is exposed`);
            }
        }
    });

    test('the series move with traffic', async () => {
        const m0 = await allMetrics(server);
        const delta = (m, key) => m.get(key) - m0.get(key);

        // connections by transport, users online, bindings, bind latency
        const alice = await connect(server.url, { user: 'alice' });
        const bob = await connect(server.url, { user: 'bob' }, { transports: ['polling'] });
        const carol = await connect(server.url, { user: 'carol' });
        sockets.push(alice, bob, carol);
        let m = await allMetrics(server);
        assert.equal(delta(m, 'pusher_connections{transport="websocket"}'), 2);
        assert.equal(delta(m, 'pusher_connections{transport="polling"}'), 1);
        assert.equal(m.get('pusher_users_online'), 3);
        assert.equal(m.get('pusher_sessions'), 3);
        assert.equal(m.get('pusher_bindings'), 3);
        assert.equal(delta(m, 'pusher_broker_binds_total'), 3);
        assert.equal(delta(m, 'pusher_bind_latency_seconds_count'), 3);
        assert.ok(delta(m, 'pusher_bind_latency_seconds_sum') > 0);
        // HTTP by status class: the websocket handshakes (101), the polling requests and the scrapes (200)
        assert.ok(delta(m, 'pusher_http_requests_total{status="1xx"}') >= 2, 'two websocket handshakes');
        assert.ok(delta(m, 'pusher_http_requests_total{status="2xx"}') >= 3, 'polling requests and scrapes');
        assert.equal((await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=nope`)).status, 400);
        assert.equal(delta(await allMetrics(server), 'pusher_http_requests_total{status="4xx"}'), 1);

        // received / delivered, the latency histogram (from the publisher's timestamp_ms header)
        const pub = await amqpPublisher(names);
        try {
            await pub.toUser('alice', 'mail.new', { n: 1 });
            await pub.toUser('bob', 'mail.new', { n: 2 });
            await pub.toAll('system.notice', { all: true });
            await waitForEvents(alice, 'system.notice', 1);
            await waitForEvents(bob, 'system.notice', 1);
            await waitForEvents(carol, 'system.notice', 1);
            // a reserved event name is dropped and counted
            await pub.toUser('alice', 'connect', { reserved: true });
            // a user inside the unbind grace: still bound, no session: handed to the undelivered exchange (no_session)
            carol.close();
            await eventually(async () => (await allMetrics(server)).get('pusher_users_online') === 2, { what: 'carol left' });
            await pub.toUser('carol', 'mail.new', { late: true });
            await pub.toUser('alice', 'mail.new', { n: 3 }); // after the two drops: one connection delivers in order
            await waitForEvents(alice, 'mail.new', 2);
        } finally {
            await pub.close();
        }
        m = await allMetrics(server);
        assert.equal(delta(m, 'pusher_messages_received_total{kind="user"}'), 5);
        assert.equal(delta(m, 'pusher_messages_received_total{kind="broadcast"}'), 1);
        assert.equal(delta(m, 'pusher_messages_delivered_total'), 2 + 3 + 1);
        assert.equal(delta(m, 'pusher_messages_dropped_total{reason="reserved_event"}'), 1);
        assert.equal(delta(m, 'pusher_messages_dropped_total{reason="no_session"}'), 0, 'not dropped: undelivered');
        assert.equal(delta(m, 'pusher_messages_undelivered_total{reason="no_session"}'), 1);
        assert.equal(delta(m, 'pusher_delivery_latency_seconds_count'), 4, 'each timestamped message that reached a session');
        assert.ok(delta(m, 'pusher_delivery_latency_seconds_sum') > 0);
        assert.ok(delta(m, 'pusher_delivery_latency_seconds_bucket{le="1"}') >= 1, 'a fast delivery lands in a small bucket');
        assert.equal(alice.received.filter((e) => e.event === 'connect').length, 0);

        // the binding of the user who left goes after the grace
        await eventually(async () => (await allMetrics(server)).get('pusher_bindings') === 2, {
            timeout: GRACE_MS + 5000,
            what: 'carol unbound after the grace',
        });
        m = await allMetrics(server);
        assert.equal(delta(m, 'pusher_broker_unbinds_total'), 1);
        assert.equal(delta(m, 'pusher_unbind_latency_seconds_count'), 1, 'unbind-ok came back');
        assert.ok(delta(m, 'pusher_unbind_latency_seconds_sum') > 0);

        // /api/publish through the broker: sent and confirmed
        assert.equal((await apiPublish(server.url, { user: 'alice', event: 'api', data: {} })).status, 202);
        await waitForEvents(alice, 'api', 1);
        m = await allMetrics(server);
        assert.equal(delta(m, 'pusher_publish_messages_total{outcome="sent"}'), 1);
        assert.equal(delta(m, 'pusher_publish_messages_total{outcome="confirmed"}'), 1);

        // a slow consumer: counted twice, as its own counter and as a close reason
        const slow = await RawWs.open(server);
        await slow.connectSocketIo({ user: 'slow' });
        slow.pause();
        const data = 'x'.repeat(16 * 1024);
        for (let i = 0; i < 2000; ++i) {
            await apiPublish(server.url, { user: 'slow', event: 'bulk', data: { i, data } });
            if (i % 50 === 49 && (await allMetrics(server)).get('pusher_slow_consumer_disconnects_total') > m0.get('pusher_slow_consumer_disconnects_total')) {
                break;
            }
        }
        slow.destroy();
        m = await allMetrics(server);
        assert.equal(delta(m, 'pusher_slow_consumer_disconnects_total'), 1);
        assert.equal(delta(m, 'pusher_connections_closed_total{reason="slow_consumer"}'), 1);
    });

    test('/readyz and the broker gauges flip while RabbitMQ is stopped, and come back', async () => {
        // settled: only connected users bound (the slow consumer's binding has gone after its grace)
        await eventually(
            async () => {
                const m = await allMetrics(server);
                return m.get('pusher_bindings') === m.get('pusher_users_online');
            },
            { timeout: GRACE_MS + 5000, what: 'bindings = users online' },
        );
        const m0 = await allMetrics(server);
        assert.equal(m0.get('pusher_broker_ready'), 1);
        await rabbitmqctl('stop_app');
        try {
            await eventually(async () => (await readyzStatus(server)) === 503, { what: 'readyz 503' });
            const body = await (await fetch(`${server.url}/readyz`)).json();
            assert.equal(body.status, 'not ready');
            const m = await allMetrics(server);
            assert.equal(m.get('pusher_broker_ready'), 0);
            assert.ok(m.get('pusher_broker_connection_failures_total') > m0.get('pusher_broker_connection_failures_total'));
            assert.equal((await fetch(`${server.url}/healthz`)).status, 200, 'alive all along');
        } finally {
            await rabbitmqctl('start_app');
        }
        await eventually(async () => (await readyzStatus(server)) === 200, { timeout: 60000, what: 'readyz 200 again' });
        const m = await allMetrics(server);
        assert.equal(m.get('pusher_broker_ready'), 1);
        assert.ok(m.get('pusher_broker_reconnects_total') >= m0.get('pusher_broker_reconnects_total') + 2);
        assert.equal(m.get('pusher_bindings'), m0.get('pusher_bindings'), 'every binding restored');
    });
});

// --metrics-listen: the operator's endpoints on an internal listener of their own, gone from the public one.
describe('pusher --metrics-listen', () => {
    let server;
    let ops;
    before(async () => {
        server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth',
            '--metrics-listen', '127.0.0.1:0']);
        const m = await server.untilOutput((out) => /metrics endpoints on (\S+):(\d+)/.exec(out), {
            what: 'metrics endpoints on',
        });
        const [, host, port] = /metrics endpoints on (\S+):(\d+)/.exec(server.output());
        ops = `http://${host}:${port}`;
        assert.ok(m);
    });
    after(() => server?.stop());

    test('/metrics, /healthz and /readyz answer there and not on the public listener', async () => {
        for (const path of ['/metrics', '/healthz', '/readyz']) {
            assert.equal((await fetch(`${ops}${path}`)).status, 200, path);
        }
        assert.match(await (await fetch(`${ops}/metrics`)).text(), /pusher_node_info\{node="[^"]+"\} 1/);
        assert.equal((await fetch(`${server.url}/metrics`)).status, 404);
        assert.equal((await fetch(`${ops}/api/publish`, { method: 'POST', body: '{}' })).status, 404);
        assert.equal((await fetch(`${ops}/socket.io/?EIO=4&transport=polling`)).status, 404);
        const alice = await connect(server.url, { user: 'alice' });
        alice.close();
    });
});
