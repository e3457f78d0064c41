// Slow consumers against the real pusher (embedded broker, dev auth) with small outbox limits: a websocket client
// that stops reading (a raw TCP socket, paused) and a polling client that stops polling, while messages flow to them
// and to healthy clients (one of them another tab of the same user). The slow ones are closed with reason
// slow_consumer (metrics move, a debug log line says so, the server lets go of the socket); the healthy ones receive
// every message once, in order, within the latency bound.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { buildDir, startBinary } from './lib/spawn.mjs';
import { connect, waitForEvents } from './lib/client.mjs';
import { apiPublish, eventually, metric } from './lib/pusher.mjs';
import { RawWs, allMetrics, latencyProbe, sanitizerOf, socketsToPeers } from './lib/faults.mjs';

const OUTBOX_FRAMES = 64;
const OUTBOX_BYTES = 256 * 1024; // 16 messages of 16 KiB: room for a healthy client's bursts
// The healthy client's bound while a slow one is being pushed out (three times that under a sanitizer).
const LATENCY_MAX_MS = 1000;

describe('slow consumers are closed, others are not delayed', () => {
    let server;
    const sockets = [];
    before(async () => {
        server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--dev-auth', '--log-level', 'debug', '--threads', '2',
            '--outbox-max-frames', String(OUTBOX_FRAMES), '--outbox-max-bytes', String(OUTBOX_BYTES),
        ]);
    });
    after(async () => {
        sockets.forEach((s) => s.close());
        await server?.stop();
    });

    test('a websocket client that stops reading is closed with slow_consumer; the other clients get everything', async () => {
        const fastWs = await connect(server.url, { user: 'fast' });
        const fastPolling = await connect(server.url, { user: 'fast' }, { transports: ['polling'] });
        const sameUserTab = await connect(server.url, { user: 'slow' });
        sockets.push(fastWs, fastPolling, sameUserTab);
        const slow = await RawWs.open(server);
        await slow.connectSocketIo({ user: 'slow' });
        slow.pause(); // keeps the connection, reads nothing more
        const slowPort = slow.socket.localPort;
        assert.equal(socketsToPeers(server.pid, [slowPort]), 1);

        const before = await allMetrics(server);
        const probe = latencyProbe(server, fastWs, 'fast');
        // Broadcast 16 KiB messages until the slow client is pushed out (the kernel buffers absorb a few MB first),
        // then a few more: every healthy session must get every one of them, in order.
        const data = 'x'.repeat(16 * 1024);
        let n = 0;
        const slowClosed = async () =>
            (await metric(server, 'pusher_slow_consumer_disconnects_total')) > before.get('pusher_slow_consumer_disconnects_total');
        while (!(await slowClosed())) {
            assert.ok(n < 4000, 'the slow client was closed before 64 MB were sent');
            for (let i = 0; i < 25; ++i, ++n) {
                const r = await apiPublish(server.url, { broadcast: true, event: 'bulk', data: { n, data } });
                assert.equal(r.status, 202);
            }
        }
        for (let i = 0; i < 20; ++i, ++n) {
            await apiPublish(server.url, { broadcast: true, event: 'bulk', data: { n, data } });
        }
        const stats = await probe.stop();

        const bulk = (s) => s.received.filter((e) => e.event === 'bulk').map((e) => e.data.n);
        for (const [name, s] of Object.entries({ fastWs, fastPolling, sameUserTab })) {
            await eventually(() => bulk(s).length >= n || !s.connected, { timeout: 20000, what: `${name}: ${n} messages` });
            assert.ok(s.connected, `${name} is still connected`);
            assert.deepEqual(bulk(s), [...Array(n).keys()], `${name}: every message once, in order`);
        }
        assert.equal(stats.missing + stats.duplicates + stats.outOfOrder + stats.failures, 0, JSON.stringify(stats));
        const bound = LATENCY_MAX_MS * (sanitizerOf(buildDir, server.pid) ? 3 : 1);
        assert.ok(stats.max < bound, `healthy latency while the slow client was pushed out: ${JSON.stringify(stats)}`);

        const after = await allMetrics(server);
        assert.equal(after.get('pusher_slow_consumer_disconnects_total'), before.get('pusher_slow_consumer_disconnects_total') + 1);
        assert.equal(
            after.get('pusher_connections_closed_total{reason="slow_consumer"}'),
            before.get('pusher_connections_closed_total{reason="slow_consumer"}') + 1,
        );
        assert.equal(after.get('pusher_connections{transport="websocket"}'), 2, 'fast and the slow user\'s other tab');
        assert.match(server.output(), /is not reading \(\d+ frames, \d+ bytes queued\): closing/);
        // The server let go of the socket at once (its queue is dropped, not flushed to a client that does not read).
        await eventually(() => socketsToPeers(server.pid, [slowPort]) === 0, { timeout: 2000, what: 'slow socket released' });
        // The client, reading again, finds the connection ended without a close frame.
        slow.resume();
        await slow.ended;
        assert.equal(slow.closeCode, null);
        // Its user is still online through the other tab, and still receives.
        await apiPublish(server.url, { user: 'slow', event: 'after', data: { ok: true } });
        assert.deepEqual(await waitForEvents(sameUserTab, 'after', 1), [{ ok: true }]);
    });

    test('a polling client that stops polling is closed with slow_consumer', async () => {
        const get = async (url) => {
            const r = await fetch(url);
            return { status: r.status, body: await r.text() };
        };
        const open = JSON.parse((await get(`${server.url}/socket.io/?EIO=4&transport=polling`)).body.slice(1));
        const url = `${server.url}/socket.io/?EIO=4&transport=polling&sid=${open.sid}`;
        await (await fetch(url, { method: 'POST', body: '40{"user":"lazy"}' })).text();
        assert.match((await get(url)).body, /^40\{"sid"/);
        const healthy = await connect(server.url, { user: 'lazy' });
        sockets.push(healthy);
        const before = await metric(server, 'pusher_slow_consumer_disconnects_total');

        // No GET from now on: the session's queue fills to its frame limit, and the next message closes it.
        for (let i = 0; i <= OUTBOX_FRAMES; ++i) {
            await apiPublish(server.url, { user: 'lazy', event: 'note', data: { i } });
        }
        await eventually(async () => (await metric(server, 'pusher_slow_consumer_disconnects_total')) === before + 1, {
            what: 'the polling session closed as a slow consumer',
        });
        assert.deepEqual(await get(url), { status: 400, body: '{"code":1,"message":"Session ID unknown"}' });
        const notes = await waitForEvents(healthy, 'note', OUTBOX_FRAMES + 1);
        assert.deepEqual(notes.map((m) => m.i), [...Array(OUTBOX_FRAMES + 1).keys()]);
    });
});
