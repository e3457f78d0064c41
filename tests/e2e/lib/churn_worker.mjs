// A worker thread that opens and drops connections to a pusher in a loop, in every rude way a client can: TCP
// connect and reset, half a request, websocket sessions that vanish without a close frame (with and without a
// Socket.IO CONNECT), websocket sessions closed properly, polling sessions abandoned after the handshake or after the
// CONNECT, and upgrades abandoned half-way. It runs off the test's main thread so that the main thread's event loop
// measures a healthy client's latency undisturbed.
//
//   new Worker(url, { workerData: { host, port, count, concurrency, kinds, user } })  -> posts { done, counts, errors }
import { parentPort, workerData } from 'node:worker_threads';
import net from 'node:net';
import { randomBytes } from 'node:crypto';

const { host, port, count, concurrency = 50, kinds: wanted, userPrefix = 'churn' } = workerData;

function tcp() {
    return new Promise((resolve, reject) => {
        const s = net.connect({ host, port });
        s.once('connect', () => resolve(s));
        s.once('error', reject);
    });
}

// Reads from `s` until `pattern` matches the text received so far (or the connection ends); resolves the text.
function readUntil(s, pattern, timeout = 5000) {
    return new Promise((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => done(new Error(`timeout waiting for ${pattern}: ${text.slice(0, 120)}`)), timeout);
        const onData = (c) => {
            text += c.toString('latin1');
            if (pattern.test(text)) {
                done();
            }
        };
        const onEnd = () => done(pattern.test(text) ? undefined : new Error(`closed: ${text.slice(0, 120)}`));
        const done = (err) => {
            clearTimeout(timer);
            s.off('data', onData);
            s.off('end', onEnd);
            s.off('close', onEnd);
            if (err) {
                reject(err);
            } else {
                resolve(text);
            }
        };
        s.on('data', onData);
        s.once('end', onEnd);
        s.once('close', onEnd);
    });
}

function maskedText(text) {
    const data = Buffer.from(text);
    const key = randomBytes(4);
    const head = data.length < 126 ? Buffer.from([0x81, 0x80 | data.length]) : Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 0xff]);
    const out = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; ++i) {
        out[i] = data[i] ^ key[i & 3];
    }
    return Buffer.concat([head, key, out]);
}

const upgradeRequest = (query) =>
    `GET /socket.io/?EIO=4&transport=websocket${query} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

const pollUrl = (sid) => `/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ''}`;

async function httpRequest(s, method, path, body = '') {
    s.write(
        `${method} ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: text/plain\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const text = await readUntil(s, /\r\n\r\n[\s\S]*/);
    const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
    const headEnd = text.indexOf('\r\n\r\n') + 4;
    if (text.length - headEnd < len) {
        return text + (await readUntil(s, new RegExp(`[\\s\\S]{${len - (text.length - headEnd)}}`)));
    }
    return text;
}

const kinds = {
    // connect and reset at once
    async tcpReset() {
        const s = await tcp();
        s.resetAndDestroy();
    },
    // half a request line, then gone
    async halfRequest() {
        const s = await tcp();
        s.write('GET /socket.io/?EIO=4&transp');
        s.destroy();
    },
    // websocket open, never a CONNECT, dropped without a close frame
    async wsVanish() {
        const s = await tcp();
        s.write(upgradeRequest(''));
        await readUntil(s, /0\{"sid"/);
        s.destroy();
    },
    // websocket, Socket.IO CONNECT as a user, dropped without a close frame (RST)
    async wsConnectReset(i) {
        const s = await tcp();
        s.write(upgradeRequest(''));
        await readUntil(s, /0\{"sid"/);
        s.write(maskedText(`40${JSON.stringify({ user: `${userPrefix}-${i % 97}` })}`));
        await readUntil(s, /40\{"sid"/);
        s.resetAndDestroy();
    },
    // websocket, CONNECT, then a proper close frame and FIN
    async wsClose(i) {
        const s = await tcp();
        s.write(upgradeRequest(''));
        await readUntil(s, /0\{"sid"/);
        s.write(maskedText(`40${JSON.stringify({ user: `${userPrefix}-${i % 97}` })}`));
        await readUntil(s, /40\{"sid"/);
        const key = randomBytes(4);
        const code = Buffer.from([0x03 ^ key[0], 0xe8 ^ key[1]]);
        s.write(Buffer.concat([Buffer.from([0x88, 0x82]), key, code]));
        s.end();
    },
    // polling handshake, then never seen again (the heartbeat must reap the session)
    async pollAbandon() {
        const s = await tcp();
        await httpRequest(s, 'GET', pollUrl());
        s.destroy();
    },
    // polling handshake and CONNECT as a user, then gone
    async pollConnectAbandon(i) {
        const s = await tcp();
        const open = await httpRequest(s, 'GET', pollUrl());
        const sid = /"sid":"([^"]+)"/.exec(open)?.[1];
        await httpRequest(s, 'POST', pollUrl(sid), `40${JSON.stringify({ user: `${userPrefix}-${i % 97}` })}`);
        s.destroy();
    },
    // polling handshake, websocket probe answered, upgrade never completed, both connections dropped
    async upgradeAbandon() {
        const s = await tcp();
        const open = await httpRequest(s, 'GET', pollUrl());
        const sid = /"sid":"([^"]+)"/.exec(open)?.[1];
        const w = await tcp();
        w.write(upgradeRequest(`&sid=${sid}`));
        await readUntil(w, /101/);
        w.write(maskedText('2probe'));
        await readUntil(w, /3probe/);
        w.destroy();
        s.destroy();
    },
};

const names = wanted ?? Object.keys(kinds);
const counts = Object.fromEntries(names.map((n) => [n, 0]));
const errors = {};
let next = 0;
async function lane() {
    while (next < count) {
        const i = next++;
        const name = names[i % names.length];
        try {
            await kinds[name](i);
            ++counts[name];
        } catch (err) {
            const key = `${name}: ${String(err.message).slice(0, 80)}`;
            errors[key] = (errors[key] ?? 0) + 1;
        }
    }
}
const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, lane));
parentPort.postMessage({ done: true, counts, errors, ms: performance.now() - started });
