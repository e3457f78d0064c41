// Helpers for fault-injection tests: the server's resource use from /proc, the RabbitMQ test node's VM (freeze it
// with SIGSTOP), all /metrics series at once, an independent AMQP publisher (amqplib, confirm mode), a raw TCP
// WebSocket client that can stop reading or answering at will, and a latency probe for a healthy client.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import amqp from 'amqplib';
import { amqpUrl, directExchangeOptions, eventually, skipUnless } from './pusher.mjs';
import { waitFor } from './client.mjs';

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- the server process, from /proc ----

// { rssKiB, threads, fds } of a live process (Linux /proc).
export function procStats(pid) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
    return { rssKiB: field('VmRSS'), threads: field('Threads'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

// The sanitizer a build was made with ('address', 'thread' or null), from its CMakeCache.txt, or from the sanitizer
// runtimes mapped into `pid`. Under a sanitizer RSS says little (ASan's quarantine keeps freed memory for a while,
// TSan's shadow memory grows with the heap): memory bounds are only meaningful without one.
export function sanitizerOf(buildDir, pid) {
    try {
        const cache = readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8');
        if (/^PUSHER_SANITIZE:BOOL=(ON|1|TRUE)$/im.test(cache)) {
            return 'address';
        }
        if (/^PUSHER_TSAN:BOOL=(ON|1|TRUE)$/im.test(cache)) {
            return 'thread';
        }
    } catch {
        // no cache: look at the process
    }
    if (pid) {
        try {
            const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
            if (/lib(a|hwa)san/.test(maps)) {
                return 'address';
            }
            if (/libtsan/.test(maps)) {
                return 'thread';
            }
        } catch {
            // gone
        }
    }
    return null;
}

// Waits until the process's open file descriptors are at most `limit` (sockets are released asynchronously).
export async function fdsAtMost(pid, limit, { timeout = 10000, what = 'fds released' } = {}) {
    let last;
    try {
        await eventually(
            () => {
                last = procStats(pid).fds;
                return last <= limit;
            },
            { timeout, what },
        );
    } catch (err) {
        throw new Error(`${err.message}: ${last} open, want <= ${limit}; ${describeFds(pid)}`);
    }
    return last;
}

// What the process has open, by kind (socket, pipe, anon_inode:[eventfd], /path...), for failure messages.
export function describeFds(pid) {
    const kinds = {};
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        let target = '?';
        try {
            target = readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/:\[\d+\]$/, '');
        } catch {
            // gone meanwhile
        }
        kinds[target] = (kinds[target] ?? 0) + 1;
    }
    return JSON.stringify(kinds);
}


// ---- the RabbitMQ test node ----

// The pid of the test node's Erlang VM (beam.smp), from the pid file rabbitmq-test-node.sh keeps.
export function rabbitPid() {
    const dir = process.env.PUSHER_TEST_RABBITMQ_DIR;
    if (!dir) {
        throw new Error('PUSHER_TEST_RABBITMQ_DIR is not set (scripts/rabbitmq-test-node.sh exports it)');
    }
    return Number(readFileSync(path.join(dir, 'rabbit.pid'), 'utf8').trim());
}

// Why freezing the broker cannot be tested here, or false.
export const freezeMissing = (() => {
    try {
        process.kill(rabbitPid(), 0);
        return false;
    } catch (err) {
        return skipUnless(false, `cannot signal the RabbitMQ node: ${err.message}`);
    }
})();

// SIGSTOP the broker's VM, run `fn`, and SIGCONT it whatever happens (also if this process exits meanwhile: a
// frozen node would hang every test after this one).
export async function withBrokerFrozen(fn) {
    const pid = rabbitPid();
    const thaw = () => {
        try {
            process.kill(pid, 'SIGCONT');
        } catch {
            // already gone
        }
    };
    process.on('exit', thaw);
    process.kill(pid, 'SIGSTOP');
    try {
        return await fn();
    } finally {
        thaw();
        process.off('exit', thaw);
    }
}

// ---- HTTP endpoints ----

export async function readyzStatus(server) {
    return (await fetch(`${server.url}/readyz`)).status;
}

// Every series of /metrics as a Map `name{labels}` -> number.
export async function allMetrics(server) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const out = new Map();
    for (const line of text.split('\n')) {
        if (line === '' || line.startsWith('#')) {
            continue;
        }
        const at = line.lastIndexOf(' ');
        out.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return out;
}

// ---- an AMQP publisher of our own ----

// amqplib on a confirm channel; `toUser` resolves once the broker confirmed. Mandatory publishes are recorded in
// `returned` (routing keys the broker could not route).
export async function amqpPublisher(names) {
    const conn = await amqp.connect(amqpUrl);
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    await ch.assertExchange(names.exchange, 'direct', directExchangeOptions(names));
    await ch.assertExchange(names.broadcastExchange, 'fanout', { durable: true });
    const returned = [];
    ch.on('return', (msg) => returned.push(msg.fields.routingKey));
    const send = (exchange, key, type, body, props = {}) =>
        new Promise((resolve, reject) => {
            const ok = ch.publish(
                exchange,
                key,
                Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
                { type, contentType: 'application/json', headers: { timestamp_ms: Date.now() }, ...props },
                (err) => (err ? reject(err) : resolve()),
            );
            void ok;
        });
    return {
        conn,
        channel: ch,
        returned,
        toUser: (user, type, body, props) => send(names.exchange, user, type, body, props),
        toAll: (type, body, props) => send(names.broadcastExchange, '', type, body, props),
        // Several messages without waiting for each confirm; resolves when all are confirmed.
        burst: (items) => Promise.all(items.map(([user, type, body]) => send(names.exchange, user, type, body))),
        waitForConfirms: () => ch.waitForConfirms(),
        close: async () => {
            try {
                await conn.close();
            } catch {
                // the broker closed it already
            }
        },
    };
}

// ---- exact delivery checks ----

// Asserts-friendly summary of what a socket.io-client socket received of `event`, keyed by `data[key]`:
// { count, unique, duplicates: [...] }.
export function tally(socket, event, key = 'n') {
    const seen = new Map();
    for (const e of socket.received) {
        if (e.event === event) {
            const k = e.data?.[key];
            seen.set(k, (seen.get(k) ?? 0) + 1);
        }
    }
    const duplicates = [...seen].filter(([, c]) => c > 1).map(([k]) => k);
    return { count: [...seen.values()].reduce((a, b) => a + b, 0), unique: seen.size, duplicates, seen };
}

// Waits until the socket received `event` with data[key] === value (a sentinel published after a batch: one
// connection delivers in order, so everything published before it has arrived).
export function waitForMarker(socket, event, key, value, options) {
    return waitFor(socket, (r) => r.some((e) => e.event === event && e.data?.[key] === value), {
        what: `${event} with ${key}=${value}`,
        ...options,
    });
}

// ---- a raw WebSocket client on a plain TCP socket ----

// Speaks just enough RFC 6455 to be a misbehaving client: it can stop reading (`pause()`: the server's writes back
// up into the kernel buffers and then the server), stop answering pings (`autoPong = false`), send anything, or
// vanish without a close frame (`destroy()` keeps nothing; `socket.destroySoon()` etc. are available).
export class RawWs {
    static async open(server, { query = '', autoPong = true, timeout = 5000, headers = {} } = {}) {
        const socket = net.connect({ host: server.host.replace(/^\[|\]$/g, ''), port: server.port });
        const client = new RawWs(socket, autoPong);
        const key = randomBytes(16).toString('base64');
        const extra = Object.entries(headers)
            .map(([k, v]) => `${k}: ${v}\r\n`)
            .join('');
        await new Promise((resolve, reject) => {
            socket.once('connect', resolve);
            socket.once('error', reject);
        });
        socket.write(
            `GET /socket.io/?EIO=4&transport=websocket${query} HTTP/1.1\r\nHost: ${server.host}:${server.port}\r\n` +
                `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
                `Sec-WebSocket-Version: 13\r\n${extra}\r\n`,
        );
        const expected = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        await client.handshake(expected, timeout);
        return client;
    }

    constructor(socket, autoPong) {
        this.socket = socket;
        this.autoPong = autoPong;
        this.answerClose = true;
        this.buffer = Buffer.alloc(0);
        this.messages = [];
        this.waiters = new Set();
        this.closeCode = null;
        this.bytesIn = 0;
        this.ended = new Promise((resolve) => socket.once('close', resolve));
        socket.on('error', () => {});
    }

    handshake(expectedAccept, timeout) {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no 101 within the timeout')), timeout);
            const onData = (chunk) => {
                this.buffer = Buffer.concat([this.buffer, chunk]);
                const end = this.buffer.indexOf('\r\n\r\n');
                if (end < 0) {
                    return;
                }
                const head = this.buffer.subarray(0, end).toString('latin1');
                this.buffer = this.buffer.subarray(end + 4);
                this.socket.off('data', onData);
                clearTimeout(timer);
                if (!/^HTTP\/1\.1 101/.test(head) || !head.includes(expectedAccept)) {
                    reject(new Error(`websocket handshake refused: ${head.split('\r\n')[0]}`));
                    return;
                }
                this.socket.on('data', (c) => this.onData(c));
                if (this.buffer.length) {
                    this.onData(Buffer.alloc(0));
                }
                resolve();
            };
            this.socket.on('data', onData);
            this.socket.once('close', () => reject(new Error('closed during the websocket handshake')));
        });
    }

    onData(chunk) {
        this.bytesIn += chunk.length;
        this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
        for (;;) {
            const b = this.buffer;
            if (b.length < 2) {
                return;
            }
            const opcode = b[0] & 0x0f;
            let len = b[1] & 0x7f;
            let at = 2;
            if (len === 126) {
                if (b.length < 4) {
                    return;
                }
                len = b.readUInt16BE(2);
                at = 4;
            } else if (len === 127) {
                if (b.length < 10) {
                    return;
                }
                len = Number(b.readBigUInt64BE(2));
                at = 10;
            }
            if (b.length < at + len) {
                return;
            }
            const payload = b.subarray(at, at + len);
            this.buffer = b.subarray(at + len);
            if (opcode === 0x8) {
                this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
                if (this.answerClose) {
                    // a well-behaved client answers the close frame and ends the connection (RFC 6455 §5.5.1)
                    this.write(this.frame(0x8, payload.subarray(0, 2)));
                    this.socket.end();
                }
            } else if (opcode === 0x1 || opcode === 0x2) {
                const text = opcode === 0x1 ? payload.toString('utf8') : Buffer.from(payload);
                if (this.autoPong && text === '2') {
                    this.send('3');
                    continue;
                }
                this.messages.push(text);
                for (const w of [...this.waiters]) {
                    w();
                }
            }
        }
    }

    // Resolves with the first queued message matching `predicate` (removed from the queue).
    next(predicate = () => true, timeout = 5000) {
        return new Promise((resolve, reject) => {
            const check = () => {
                const i = this.messages.findIndex(predicate);
                if (i >= 0) {
                    cleanup();
                    resolve(this.messages.splice(i, 1)[0]);
                }
            };
            const timer = setTimeout(() => {
                cleanup();
                reject(new Error(`no matching websocket message within ${timeout} ms; got ${JSON.stringify(this.messages.slice(0, 5))}`));
            }, timeout);
            const cleanup = () => {
                clearTimeout(timer);
                this.waiters.delete(check);
            };
            this.waiters.add(check);
            check();
        });
    }

    // Engine.IO open, then Socket.IO CONNECT with `auth`; resolves once the server acknowledged the CONNECT.
    async connectSocketIo(auth, timeout = 5000) {
        await this.next((m) => typeof m === 'string' && m.startsWith('0{'), timeout);
        this.send(`40${JSON.stringify(auth)}`);
        const reply = await this.next((m) => typeof m === 'string' && m.startsWith('4'), timeout);
        if (!reply.startsWith('40')) {
            throw new Error(`CONNECT refused: ${reply}`);
        }
        return this;
    }

    // One frame, masked as a client must (RFC 6455 §5.3); `opcode` 1 = text, 2 = binary, 8 = close...
    frame(opcode, payload, { fin = true, mask = true, rsv = 0 } = {}) {
        const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
        const head = [((fin ? 0x80 : 0) | (rsv << 4) | opcode) & 0xff];
        const m = mask ? 0x80 : 0;
        if (data.length < 126) {
            head.push(m | data.length);
        } else if (data.length < 65536) {
            head.push(m | 126, data.length >> 8, data.length & 0xff);
        } else {
            const len = Buffer.alloc(8);
            len.writeBigUInt64BE(BigInt(data.length));
            head.push(m | 127, ...len);
        }
        if (!mask) {
            return Buffer.concat([Buffer.from(head), data]);
        }
        const key = randomBytes(4);
        const masked = Buffer.alloc(data.length);
        for (let i = 0; i < data.length; ++i) {
            masked[i] = data[i] ^ key[i & 3];
        }
        return Buffer.concat([Buffer.from(head), key, masked]);
    }

    send(text) {
        this.write(this.frame(0x1, text));
    }

    write(bytes) {
        if (!this.socket.destroyed) {
            this.socket.write(bytes);
        }
    }

    // Stop reading: the kernel's receive buffer fills, then the server's send buffer, then the server's queue.
    pause() {
        this.autoPong = false;
        this.answerClose = false;
        this.socket.pause();
    }

    resume() {
        this.socket.resume();
    }

    isClosed() {
        return this.socket.destroyed || this.socket.readyState === 'closed';
    }

    destroy() {
        this.socket.destroy();
    }
}

// ---- a healthy client's delivery latency, measured while something else happens ----

// Publishes `{seq, at}` to `user` through /api/publish every `intervalMs` and records when `socket` (a
// socket.io-client socket from lib/client.mjs, connected as `user`) receives each. stop() resolves to
// { sent, received, missing, duplicates, outOfOrder, latencies (sorted ms), p50, p99, max }.
export function latencyProbe(server, socket, user, { intervalMs = 25, event = 'probe', apiKey } = {}) {
    const sentAt = new Map();
    const got = [];
    const id = randomBytes(4).toString('hex'); // several probes may share a socket
    let seq = 0;
    let running = true;
    let failures = 0;
    const onEvent = (data) => {
        if (data?.probe === id && typeof data.seq === 'number' && sentAt.has(data.seq)) {
            got.push({ seq: data.seq, ms: performance.now() - sentAt.get(data.seq) });
        }
    };
    socket.on(event, onEvent);
    const headers = { 'content-type': 'application/json' };
    if (apiKey) {
        headers.authorization = `Bearer ${apiKey}`;
    }
    const loop = (async () => {
        while (running) {
            const s = seq++;
            sentAt.set(s, performance.now());
            try {
                const res = await fetch(`${server.url}/api/publish`, {
                    method: 'POST',
                    headers,
                    body: JSON.stringify({ user, event, data: { probe: id, seq: s } }),
                });
                await res.arrayBuffer();
                if (res.status !== 202) {
                    ++failures;
                }
            } catch {
                ++failures;
            }
            await sleep(intervalMs);
        }
    })();
    return {
        async stop({ settleMs = 3000 } = {}) {
            running = false;
            await loop;
            const deadline = performance.now() + settleMs;
            while (new Set(got.map((g) => g.seq)).size < seq && performance.now() < deadline) {
                await sleep(20);
            }
            socket.off(event, onEvent);
            const seqs = got.map((g) => g.seq);
            const unique = new Set(seqs);
            const latencies = got.map((g) => g.ms).sort((a, b) => a - b);
            const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN);
            let outOfOrder = 0;
            for (let i = 1; i < seqs.length; ++i) {
                if (seqs[i] < seqs[i - 1]) {
                    ++outOfOrder;
                }
            }
            return {
                sent: seq,
                failures,
                received: got.length,
                missing: seq - unique.size,
                duplicates: got.length - unique.size,
                outOfOrder,
                p50: pct(0.5),
                p99: pct(0.99),
                max: latencies.at(-1) ?? NaN,
            };
        },
    };
}

// ---- raw HTTP ----

// Writes `bytes` on a fresh TCP connection and collects what comes back until the server closes the connection or
// `timeout` passes. Resolves { status (of the first response, or null), text, closedByServer }.
export function rawExchange(server, bytes, { timeout = 3000, endAfterWrite = false } = {}) {
    return new Promise((resolve) => {
        const socket = net.connect({ host: server.host.replace(/^\[|\]$/g, ''), port: server.port });
        const chunks = [];
        let closedByServer = false;
        const finish = () => {
            clearTimeout(timer);
            socket.destroy();
            const text = Buffer.concat(chunks).toString('latin1');
            const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
            resolve({ status: m ? Number(m[1]) : null, text, closedByServer });
        };
        const timer = setTimeout(finish, timeout);
        socket.on('data', (c) => chunks.push(c));
        socket.on('end', () => {
            closedByServer = true;
            finish();
        });
        socket.on('error', () => {
            closedByServer = true;
            finish();
        });
        socket.on('connect', () => {
            for (const b of [].concat(bytes)) {
                socket.write(b);
            }
            if (endAfterWrite) {
                socket.end();
            }
        });
    });
}

// ---- connection churn, off the main thread ----

// Runs lib/churn_worker.mjs against `server`: `count` connections opened and dropped, `concurrency` at a time, of
// `kinds` (default: all). Resolves { counts: {kind: n}, errors: {"kind: message": n}, ms }.
export function churn(server, { count = 3000, concurrency = 50, kinds, userPrefix } = {}) {
    return new Promise((resolve, reject) => {
        const w = new Worker(new URL('./churn_worker.mjs', import.meta.url), {
            workerData: { host: server.host.replace(/^\[|\]$/g, ''), port: server.port, count, concurrency, kinds, userPrefix },
        });
        w.once('message', (m) => {
            resolve(m);
            w.terminate();
        });
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`churn worker exited (${code}) without a report`)));
    });
}

// ---- which sockets the server holds ----

// How many of the process's file descriptors are TCP sockets whose peer is one of `ports` (the local ports of the
// test's client sockets): exact, unlike a count of all fds. From /proc/net/tcp{,6} and /proc/PID/fd.
export function socketsToPeers(pid, ports) {
    const wanted = new Set(ports);
    const inodes = new Set();
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
        let text = '';
        try {
            text = readFileSync(file, 'utf8');
        } catch {
            continue;
        }
        for (const line of text.split('\n').slice(1)) {
            const f = line.trim().split(/\s+/);
            if (f.length < 10) {
                continue;
            }
            const remotePort = parseInt(f[2].split(':')[1], 16);
            if (wanted.has(remotePort)) {
                inodes.add(f[9]);
            }
        }
    }
    let n = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
            const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
            if (m && inodes.has(m[1])) {
                ++n;
            }
        } catch {
            // closed meanwhile
        }
    }
    return n;
}
