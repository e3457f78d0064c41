// Benchmark s10: the memory an idle connection costs the server with TLS on the listener (wss://) against without
// (ws://), interleaved in the same run: the same pusher binary, started once per mode and round, N socket.io-client
// connections (websocket transport, the unmodified client from npm) opened and left idle, the server's RSS read from
// /proc before and after. The certificate is made for the run by the openssl CLI (P-256, as the e2e TLS test does).
//
//   node bench/tls_idle.mjs [--connections N] [--rounds R] [--idle-seconds S] [--out FILE]
// Needs the build in PUSHER_BUILD_DIR (scripts/bench.sh sets it) and tests/e2e/node_modules (make test installs them).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startBinary } from '../tests/e2e/lib/spawn.mjs';
import { testCertificate } from '../tests/e2e/lib/tls_cert.mjs';
import { arg, e2eRequire, median } from './lib/cli.mjs';

const { io } = e2eRequire('socket.io-client');

const connections = Number(arg('--connections', 2000));
const rounds = Number(arg('--rounds', 3));
const idleSeconds = Number(arg('--idle-seconds', 5));
const outFile = arg('--out', '');

const dir = mkdtempSync(path.join(tmpdir(), 'pusher-tls-bench-'));
const { certFile, keyFile, pem: ca } = testCertificate(dir);

// The server's resident memory in bytes (VmRSS of /proc/PID/status).
function rss(pid) {
    const kib = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)[1];
    return Number(kib) * 1024;
}

// Opens `n` connections, at most 64 handshakes at a time; resolves with the sockets once every one is connected.
async function openAll(url, n) {
    const sockets = [];
    let next = 0;
    async function worker() {
        while (next < n) {
            const k = next++;
            const s = io(url, { auth: { user: `idle-${k}` }, transports: ['websocket'], reconnection: false,
                forceNew: true, ca });
            sockets.push(s);
            await new Promise((resolve, reject) => {
                s.once('connect', resolve);
                s.once('connect_error', reject);
            });
        }
    }
    await Promise.all(Array.from({ length: 64 }, worker));
    return sockets;
}

async function oneRun(mode) {
    const tls = mode === 'wss' ? ['--tls-cert', certFile, '--tls-key', keyFile] : [];
    const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--threads', '2',
        '--log-level', 'warn', ...tls]);
    const url = `${mode === 'wss' ? 'https' : 'http'}://127.0.0.1:${server.port}`;
    try {
        // One connection first: the listener's and the TLS context's one-time allocations are not per connection.
        const warm = await openAll(url, 1);
        warm[0].close();
        const before = rss(server.pid);
        const sockets = await openAll(url, connections);
        await delay(idleSeconds * 1000); // the idle period is the measurement: every connection stays idle this long
        const after = rss(server.pid);
        const connected = sockets.filter((s) => s.connected).length;
        for (const s of sockets) {
            s.close();
        }
        return { mode, connections, connected, rss_before: before, rss_after: after,
            bytes_per_connection: (after - before) / connections };
    } finally {
        await server.stop();
    }
}

const runs = [];
try {
    for (let r = 1; r <= rounds; r++) {
        for (const mode of ['ws', 'wss']) {
            const result = { ...(await oneRun(mode)), round: r };
            runs.push(result);
            console.error(`s10-tls-idle round ${r} ${mode}: ${connections} connections (${result.connected} still ` +
                `connected after ${idleSeconds} s), ${(result.bytes_per_connection / 1024).toFixed(2)} KiB each`);
        }
    }
} finally {
    rmSync(dir, { recursive: true, force: true });
}
const per = (mode) => median(runs.filter((x) => x.mode === mode).map((x) => x.bytes_per_connection));
const summary = { scenario: 's10-tls-idle', connections, rounds, idle_seconds: idleSeconds,
    ws_kib_per_connection: per('ws') / 1024, wss_kib_per_connection: per('wss') / 1024,
    tls_extra_kib_per_connection: (per('wss') - per('ws')) / 1024, runs };
console.error(`s10-tls-idle: median ws:// ${summary.ws_kib_per_connection.toFixed(2)} KiB, wss:// ` +
    `${summary.wss_kib_per_connection.toFixed(2)} KiB per idle connection (TLS adds ` +
    `${summary.tls_extra_kib_per_connection.toFixed(2)} KiB)`);
if (outFile) {
    writeFileSync(outFile, JSON.stringify(summary, null, 2) + '\n');
}
const clean = runs.every((x) => x.connected === x.connections);
process.exit(clean ? 0 : 1);
