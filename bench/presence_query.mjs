// Benchmark s8: GET /api/presence answered across two nodes (the control plane: the asked node answers its part,
// sends the query to every node through RabbitMQ's control exchange, and answers when the other node has answered),
// against GET /healthz of the same node in the same run (the HTTP round trip alone). Sequential requests, interleaved.
//
//   node bench/presence_query.mjs [--requests N] [--out FILE]
// Needs PUSHER_TEST_AMQP_URL (scripts/bench.sh and scripts/test.sh start a node) and the build in PUSHER_BUILD_DIR.
import { writeFileSync } from 'node:fs';
import { arg } from './lib/cli.mjs';
import { startBinary } from '../tests/e2e/lib/spawn.mjs';
import { amqpArgs, amqpUrl, eventually, exchangeNames } from '../tests/e2e/lib/pusher.mjs';

const requests = Number(arg('--requests', 300));
const outFile = arg('--out', '');

if (!amqpUrl) {
    console.error('presence bench: PUSHER_TEST_AMQP_URL is not set');
    process.exit(2);
}

const names = exchangeNames('bench-presence');
const nodeArgs = (id) => ['--listen', '127.0.0.1:0', '--dev-auth', ...amqpArgs(names), '--control-exchange',
    `${names.exchange}.control`, '--node-id', id, '--threads', '2', '--log-level', 'warn'];
const a = await startBinary('pusher', nodeArgs('bench-a'));
const b = await startBinary('pusher', nodeArgs('bench-b'));
try {
    // The nodes know each other once their hellos crossed.
    await eventually(async () => (await (await fetch(`${a.url}/api/presence`)).json()).answered === 2,
        { what: 'both nodes answer', timeout: 15000 });
    const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
    const presence = [];
    const healthz = [];
    for (let i = 0; i < requests; i++) {
        let t0 = process.hrtime.bigint();
        const r = await (await fetch(`${a.url}/api/presence?user=alice&user=bob`)).json();
        presence.push(ms(t0));
        if (r.answered !== 2) {
            throw new Error(`a query answered by ${r.answered} nodes`);
        }
        t0 = process.hrtime.bigint();
        await (await fetch(`${a.url}/healthz`)).text();
        healthz.push(ms(t0));
    }
    const q = (xs, p) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
    const summary = {
        requests,
        presence_ms: { p50: q(presence, 0.5), p90: q(presence, 0.9), p99: q(presence, 0.99) },
        healthz_ms: { p50: q(healthz, 0.5), p90: q(healthz, 0.9), p99: q(healthz, 0.99) },
    };
    const f = (x) => x.toFixed(2);
    console.log(`s8-presence: ${requests} queries over 2 nodes: median ${f(summary.presence_ms.p50)} ms, p90 ` +
        `${f(summary.presence_ms.p90)} ms, p99 ${f(summary.presence_ms.p99)} ms; GET /healthz same run: median ` +
        `${f(summary.healthz_ms.p50)} ms`);
    if (outFile) {
        writeFileSync(outFile, JSON.stringify(summary, null, 2));
    }
} finally {
    await a.stop();
    await b.stop();
}
