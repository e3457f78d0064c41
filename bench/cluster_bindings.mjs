// Sizing a RabbitMQ cluster for pusher: what one online user costs the broker. A pusher node binds a user's key
// (exchange `pusher`, direct) on its queue at the user's first connection and unbinds it after the last one leaves;
// bindings are cluster metadata (Mnesia), written on every node of the cluster. This measures, on the cluster of
// `make cluster` (scripts/cluster.sh, started here on free ports unless --ctl/--url name one):
//   - bind and unbind operations per second on one channel (a pusher node sends its queue.bind on one channel: the
//     broker runs a channel's methods one after the other, so this is one node's ceiling), and with --channels
//     channels on each of the two nodes at once (what the cluster as a whole sustains);
//   - the memory of N bindings on each node (Erlang memory, before and after);
//   - fail-over with users online: --rebind-users users connected (pusher-load, idle) to pusher node n1, whose
//     RabbitMQ node is then killed: the time until n1 is ready again with every user re-bound on the other node.
// Usage: node bench/cluster_bindings.mjs [--bindings 50000] [--channels 8] [--rebind-users 5000] [--out FILE.json]
//        [BUILD_DIR]
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '..');
const require = createRequire(path.join(top, 'tests', 'e2e', 'package.json'));
const amqplib = require('amqplib');
const run = promisify(execFile);

const args = process.argv.slice(2);
const opt = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) {
        return dflt;
    }
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
};
const bindings = Number(opt('--bindings', 50000));
const channels = Number(opt('--channels', 8));
const rebindUsers = Number(opt('--rebind-users', 5000));
const out = opt('--out', null);
const build = path.resolve(top, args[0] ?? 'build');

async function startCluster() {
    const dir = await mkdtemp(path.join(tmpdir(), 'pusher-cluster-bench-'));
    const proc = spawn(path.join(top, 'scripts', 'cluster.sh'), [build], {
        env: { ...process.env, CLUSTER_FREE_PORTS: '1', CLUSTER_DIR: path.join(dir, 'cluster') },
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    const file = await new Promise((resolve, reject) => {
        proc.stdout.setEncoding('utf8').on('data', (c) => {
            text += c;
            const m = /^cluster ready: (.+)$/m.exec(text);
            if (m) {
                resolve(m[1]);
            }
        });
        proc.once('exit', () => reject(new Error(`scripts/cluster.sh exited:\n${text}`)));
    });
    const cluster = JSON.parse(await readFile(file, 'utf8'));
    cluster.stop = async () => {
        const done = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await done;
        await rm(dir, { recursive: true, force: true });
    };
    return cluster;
}

async function memory(ctl) {
    const { stdout } = await run(ctl, ['status', '--formatter', 'json'], { maxBuffer: 1 << 24 });
    const m = JSON.parse(stdout).memory;
    return { erlang: m.total.erlang, mnesia: m.mnesia, other_ets: m.other_ets };
}

// queue.bind (or unbind) of `keys` on `queue`, spread over the channels `chs` (amqplib waits for each reply before
// the next method on a channel, as the broker would run them anyway); resolves the rate in operations/s.
async function bindAll(chs, op, queue, exchange, keys) {
    const t0 = process.hrtime.bigint();
    let next = 0;
    const worker = async (ch) => {
        while (next < keys.length) {
            const key = keys[next++];
            await (op === 'bind' ? ch.bindQueue(queue, exchange, key) : ch.unbindQueue(queue, exchange, key));
        }
    };
    await Promise.all(chs.map(worker));
    return keys.length / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function client(url, exchange, n) {
    const conn = await amqplib.connect(url);
    const chs = [];
    for (let i = 0; i < n; ++i) {
        chs.push(await conn.createChannel());
    }
    await chs[0].assertExchange(exchange, 'direct', { durable: false, autoDelete: false });
    const { queue } = await chs[0].assertQueue('', { exclusive: true });
    return { conn, chs, queue };
}

async function metric(url, name) {
    try {
        const text = await (await fetch(`${url}/metrics`)).text();
        const line = text.split('\n').find((l) => l.startsWith(`${name} `));
        return line === undefined ? undefined : Number(line.slice(name.length + 1));
    } catch {
        return undefined;
    }
}

async function readyz(url) {
    try {
        return (await fetch(`${url}/readyz`)).status;
    } catch {
        return 0;
    }
}

const until = async (fn, timeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await fn())) {
        if (Date.now() > deadline) {
            throw new Error('timed out');
        }
        await new Promise((r) => setTimeout(r, 20));
    }
};

// n users online on n1 (which lists RabbitMQ node a first), node a killed: how long until n1 is ready again.
async function failover(cluster, n) {
    const n1 = cluster.nodes[0];
    const load = spawn(path.join(build, 'bin', 'pusher-load'), ['--url', n1.url, '--users', String(n), '--messages', '0',
        '--idle-seconds', '600', '--user-prefix', 'fo-', '--max-seconds', '700'], { stdio: 'ignore' });
    try {
        await until(async () => (await metric(n1.url, 'pusher_bindings')) === n, 300000);
        const pid = Number((await readFile(cluster.rabbitmq[0].pid_file, 'utf8')).trim());
        const t0 = Date.now();
        process.kill(pid, 'SIGKILL');
        await until(async () => (await readyz(n1.url)) === 503, 30000);
        const lost = Date.now() - t0;
        await until(async () => (await readyz(n1.url)) === 200, 600000);
        return { failover_users: n, failover_noticed_ms: lost, failover_ready_ms: Date.now() - t0,
            failover_bindings_after: await metric(n1.url, 'pusher_bindings') };
    } finally {
        load.kill('SIGKILL');
    }
}

const cluster = await startCluster();
try {
    const [a, b] = cluster.rabbitmq;
    const exchange = `bench.bindings.${process.pid}`;
    const keys = (tag, n) => Array.from({ length: n }, (_, i) => `${tag}-user-${i}`);
    const result = { rabbitmq: '3.10 (Debian 12)', nodes: 2, bindings, channels };

    // One channel on node a: one pusher node's rate.
    const c1 = await client(a.url, exchange, channels);
    const before = { a: await memory(a.ctl), b: await memory(b.ctl) };
    const k1 = keys('one', bindings);
    result.bind_per_s_one_channel = await bindAll([c1.chs[0]], 'bind', c1.queue, exchange, k1);
    const after = { a: await memory(a.ctl), b: await memory(b.ctl) };
    result.bytes_per_binding = {
        a: Math.round((after.a.erlang - before.a.erlang) / bindings),
        b: Math.round((after.b.erlang - before.b.erlang) / bindings),
    };
    result.unbind_per_s_one_channel = await bindAll([c1.chs[0]], 'unbind', c1.queue, exchange, k1);

    // `channels` channels on each node at once: the cluster's rate (every binding is written on both nodes).
    const c2 = await client(b.url, exchange, channels);
    const half = Math.floor(bindings / 2);
    const ka = keys('a', half);
    const kb = keys('b', half);
    const both = async (op) => {
        const t0 = process.hrtime.bigint();
        await Promise.all([bindAll(c1.chs, op, c1.queue, exchange, ka), bindAll(c2.chs, op, c2.queue, exchange, kb)]);
        return (2 * half) / (Number(process.hrtime.bigint() - t0) / 1e9);
    };
    result.bind_per_s_cluster = await both('bind');
    result.unbind_per_s_cluster = await both('unbind');
    for (const k of Object.keys(result)) {
        if (k.endsWith('_per_s_one_channel') || k.endsWith('_per_s_cluster')) {
            result[k] = Math.round(result[k]);
        }
    }

    await c1.chs[0].deleteExchange(exchange);
    await c1.conn.close();
    await c2.conn.close();
    if (rebindUsers > 0) {
        Object.assign(result, await failover(cluster, rebindUsers));
    }
    const text = JSON.stringify(result, null, 2);
    console.log(text);
    if (out) {
        await writeFile(out, text + '\n');
    }
} finally {
    await cluster.stop();
}
