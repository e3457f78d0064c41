// A raw Engine.IO v4 client for protocol tests: plain HTTP requests (fetch, keep-alive) for long-polling and a `ws`
// WebSocket whose frames are queued so a test can await them one by one and compare them as exact strings.
import WebSocket from 'ws';

export const RS = '\x1e'; // the polling record separator

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// `${base}${path}?EIO=4&transport=...` from a params object; `undefined` values are left out.
export function eioUrl(base, path, params) {
    const qs = Object.entries(params)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
        .join('&');
    return `${base}${path}${qs ? `?${qs}` : ''}`;
}

export async function request(method, url, body) {
    const res = await fetch(url, {
        method,
        body,
        headers: body === undefined ? {} : { 'content-type': 'text/plain;charset=UTF-8' },
    });
    return { status: res.status, body: await res.text(), headers: res.headers };
}

// One polling session: handshake, then GET / POST with its sid.
export class PollingSession {
    constructor(base, path) {
        this.base = base;
        this.path = path;
    }

    url(extra = {}) {
        return eioUrl(this.base, this.path, { EIO: 4, transport: 'polling', sid: this.sid, ...extra });
    }

    // GET without sid: returns the parsed open packet; throws unless 200 `0{...}`.
    async open() {
        const res = await request('GET', eioUrl(this.base, this.path, { EIO: 4, transport: 'polling' }));
        if (res.status !== 200 || !res.body.startsWith('0')) {
            throw new Error(`handshake failed: ${res.status} ${res.body}`);
        }
        this.openedAt = performance.now();
        this.handshake = JSON.parse(res.body.slice(1));
        this.sid = this.handshake.sid;
        return this.handshake;
    }

    get() {
        return request('GET', this.url({ t: Date.now().toString(36) }));
    }

    post(body) {
        return request('POST', this.url(), body);
    }

    // GETs until a response holds `want` packets (pings are answered with a POST of `3` and not counted).
    async collect(want, { timeoutMs = 3000 } = {}) {
        const out = [];
        const deadline = performance.now() + timeoutMs;
        while (out.length < want) {
            if (performance.now() > deadline) {
                throw new Error(`timed out waiting for ${want} packets; got ${JSON.stringify(out)}`);
            }
            const res = await this.get();
            if (res.status !== 200) {
                throw new Error(`GET answered ${res.status} ${res.body}; got so far ${JSON.stringify(out)}`);
            }
            for (const p of res.body.split(RS)) {
                if (p === '2') {
                    await this.post('3');
                } else {
                    out.push(p);
                }
            }
        }
        return out;
    }
}

// A WebSocket whose messages are queued: text frames as strings, binary frames as Buffers.
export class WsClient {
    static open(url, { autoPong = true, timeoutMs = 3000 } = {}) {
        return new Promise((resolve, reject) => {
            const ws = new WebSocket(url, { perMessageDeflate: false });
            const client = new WsClient(ws, autoPong);
            const timer = setTimeout(() => reject(new Error(`websocket to ${url} did not open`)), timeoutMs);
            ws.once('open', () => {
                clearTimeout(timer);
                client.openedAt = performance.now();
                resolve(client);
            });
            ws.once('unexpected-response', (req, res) => {
                clearTimeout(timer);
                reject(new Error(`websocket to ${url} answered HTTP ${res.statusCode}`));
            });
            ws.once('error', (err) => {
                clearTimeout(timer);
                reject(err);
            });
        });
    }

    constructor(ws, autoPong) {
        this.ws = ws;
        this.autoPong = autoPong;
        this.queue = [];
        this.waiters = [];
        this.pings = [];
        this.closeInfo = null;
        this.closed = new Promise((resolve) => {
            ws.on('close', (code, reason) => {
                this.closeInfo = { code, reason: reason.toString(), at: performance.now() };
                for (const w of this.waiters.splice(0)) {
                    w.reject(new Error(`websocket closed (${code}) while waiting; queue ${this.describe()}`));
                }
                resolve(this.closeInfo);
            });
        });
        ws.on('error', () => {});
        ws.on('message', (data, isBinary) => {
            const msg = isBinary ? Buffer.from(data) : data.toString('utf8');
            if (this.autoPong && msg === '2') {
                this.pings.push(performance.now());
                ws.send('3');
                return;
            }
            const w = this.waiters.shift();
            if (w) {
                w.resolve(msg);
            } else {
                this.queue.push(msg);
            }
        });
    }

    describe() {
        return JSON.stringify(this.queue.map((m) => (typeof m === 'string' ? m : `<binary ${m.toString('hex')}>`)));
    }

    // The next message; rejects after `timeoutMs` or when the socket closes.
    next(timeoutMs = 2000) {
        if (this.queue.length) {
            return Promise.resolve(this.queue.shift());
        }
        if (this.closeInfo) {
            return Promise.reject(new Error(`websocket closed (${this.closeInfo.code})`));
        }
        return new Promise((resolve, reject) => {
            const w = {
                resolve: (m) => {
                    clearTimeout(timer);
                    resolve(m);
                },
                reject: (e) => {
                    clearTimeout(timer);
                    reject(e);
                },
            };
            const timer = setTimeout(() => {
                this.waiters.splice(this.waiters.indexOf(w), 1);
                reject(new Error(`no websocket message within ${timeoutMs} ms`));
            }, timeoutMs);
            this.waiters.push(w);
        });
    }

    // Resolves with the messages that arrived within `ms` (expected: none).
    async quiet(ms) {
        await sleep(ms);
        return this.queue.splice(0);
    }

    send(data) {
        this.ws.send(data);
    }

    sendBinary(bytes) {
        this.ws.send(Buffer.from(bytes), { binary: true });
    }

    isOpen() {
        return this.ws.readyState === WebSocket.OPEN;
    }

    // Resolves with the close info, or rejects if the socket is still open after `timeoutMs`.
    async waitClosed(timeoutMs = 2000) {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`websocket still open after ${timeoutMs} ms`)), timeoutMs);
        });
        try {
            return await Promise.race([this.closed, timeout]);
        } finally {
            clearTimeout(timer);
        }
    }

    close() {
        if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
            this.ws.terminate();
        }
    }
}

export function wsUrl(base, path, params = {}) {
    return eioUrl(base.replace(/^http/, 'ws'), path, { EIO: 4, transport: 'websocket', ...params });
}
