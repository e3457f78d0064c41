// Benchmark s7: connection state recovery of a session that missed 100 events, on the node that holds it against on
// another node (the hand-over through RabbitMQ's control exchange), interleaved, in the same run.
//
// Two pusher nodes on one RabbitMQ; a socket.io-client (websocket) behind a switchable TCP proxy connects to node A;
// the proxy cuts it; 100 events are published to RabbitMQ (publisher confirms) and node A has recorded them; then the
// proxy lets the client back in, to node A (same node) or to node B (other node), and the clock runs from that moment
// until the client has `recovered === true` and all 100 events. The difference of the medians is what the hand-over
// costs; node B's pusher_recovery_handover_seconds histogram gives the request-to-reply time of the hand-over itself.
//
//   node bench/handover.mjs [--rounds N] [--events N] [--out FILE]
// Needs PUSHER_TEST_AMQP_URL (scripts/bench.sh and scripts/test.sh start a node) and the build in PUSHER_BUILD_DIR.
import { writeFileSync } from 'node:fs';
import { startBinary } from '../tests/e2e/lib/spawn.mjs';
import { arg, e2eRequire, median } from './lib/cli.mjs';
import { startProxy } from '../tests/e2e/lib/tcp_proxy.mjs';
import { amqpArgs, amqpUrl, eventually, exchangeNames, metric } from '../tests/e2e/lib/pusher.mjs';

const { io } = e2eRequire('socket.io-client');
const amqplib = e2eRequire('amqplib');

const rounds = Number(arg('--rounds', 30));
const events = Number(arg('--events', 100));
const outFile = arg('--out', '');

if (!amqpUrl) {
    console.error('handover bench: PUSHER_TEST_AMQP_URL is not set');
    process.exit(2);
}

const names = exchangeNames('bench-handover');
const control = `${names.exchange}.control`;
const nodeArgs = (id) => ['--listen', '127.0.0.1:0', '--dev-auth', ...amqpArgs(names), '--control-exchange', control,
    '--node-id', id, '--unbind-grace-ms', '0', '--recovery-ms', '60000', '--threads', '2', '--log-level', 'warn'];
const a = await startBinary('pusher', nodeArgs('bench-a'));
const b = await startBinary('pusher', nodeArgs('bench-b'));
for (const n of [a, b]) {
    await eventually(async () => (await fetch(`${n.url}/readyz`)).status === 200, { what: 'ready' });
}
const port = (n) => Number(new URL(n.url).port);
const proxy = await startProxy(port(a));
const conn = await amqplib.connect(amqpUrl);
const ch = await conn.createConfirmChannel();

// Buckets of a Prometheus histogram: [[le, cumulative count], ...].
async function buckets(server, name) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith(`${name}_bucket{`))
        .map((l) => [l.match(/le="([^"]+)"/)[1], Number(l.split(' ').pop())]);
}

async function oneRound(k, where) {
    const user = `bench-${where}-${k}`;
    proxy.target = port(a);
    const s = io(proxy.url, { auth: { user }, transports: ['websocket'], forceNew: true, reconnectionDelay: 5,
        reconnectionDelayMax: 5, randomizationFactor: 0 });
    let got = 0;
    let recovered = false;
    let done = null;
    const check = () => recovered && got === events && done?.();
    s.on('n', () => {
        got += 1;
        check();
    });
    await new Promise((resolve) => s.once('connect', resolve));
    s.on('connect', () => {
        recovered = s.recovered;
        check();
    });
    const received = await metric(a, 'pusher_messages_received_total{kind="user"}');
    proxy.down();
    await eventually(async () => (await metric(a, 'pusher_recovery_sessions_held')) >= 1, { interval: 5, what: 'held' });
    for (let i = 1; i <= events; i++) {
        ch.publish(names.exchange, user, Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(80) })),
            { type: 'n', contentType: 'application/json', messageId: `${user}-${i}` });
    }
    await ch.waitForConfirms();
    await eventually(async () => (await metric(a, 'pusher_messages_received_total{kind="user"}')) >= received + events,
        { interval: 5, what: 'node A has them' });
    proxy.target = port(where === 'same' ? a : b);
    const finished = new Promise((resolve) => {
        done = resolve;
    });
    const t0 = process.hrtime.bigint();
    proxy.up();
    await finished;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    s.close();
    proxy.cut();
    return ms;
}

const times = { same: [], other: [] };
const before = await buckets(b, 'pusher_recovery_handover_seconds');
for (let k = 0; k < rounds; k++) {
    for (const where of k % 2 ? ['other', 'same'] : ['same', 'other']) {
        times[where].push(await oneRound(k, where));
    }
}
const after = await buckets(b, 'pusher_recovery_handover_seconds');
const handover = after.map(([le, n], i) => [le, n - before[i][1]]);

const result = {
    scenario: 's7-handover', rounds, events,
    same_node_ms: { median: median(times.same), all: times.same },
    other_node_ms: { median: median(times.other), all: times.other },
    handover_seconds_buckets: handover,
    recovered: { same: await metric(a, 'pusher_recoveries_total{outcome="same_node"}'),
        other: await metric(b, 'pusher_recoveries_total{outcome="other_node"}') },
};
const total = handover.at(-1)?.[1] ?? 0;
const within = (le) => (handover.find(([l]) => l === le)?.[1] ?? 0);
console.log(`s7-handover: ${rounds} rounds of ${events} missed events, interleaved`);
console.log(`  recovered on the same node:  median ${result.same_node_ms.median.toFixed(2)} ms (reconnect + replay)`);
console.log(`  recovered on another node:   median ${result.other_node_ms.median.toFixed(2)} ms (reconnect + hand-over + replay)`);
console.log(`  difference of the medians:   ${(result.other_node_ms.median - result.same_node_ms.median).toFixed(2)} ms`);
console.log(`  hand-over request -> reply (node B's histogram): ${within('0.005')}/${total} <= 5 ms, ${within('0.01')}/${total} <= 10 ms, ${within('0.02')}/${total} <= 20 ms`);
if (outFile) {
    writeFileSync(outFile, JSON.stringify(result, null, 2));
}
await conn.close();
await proxy.close();
await Promise.all([a.stop(), b.stop()]);
const ok = result.recovered.same >= rounds && result.recovered.other >= rounds;
process.exit(ok ? 0 : 1);
