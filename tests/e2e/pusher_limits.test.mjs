// The pusher's doors, as a client sees them: the per-IP connection cap and the per-IP connection rate (429 with a
// JSON reason, then the connection closes), the total cap (503), oversized payloads (413 for a polling POST, close
// code 1009 for a websocket message), and --allowed-origins for polling and websocket (403), while allowed clients
// keep working. Every limit answers after reading the request header, so the client gets a reason, not a reset.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import WebSocket from 'ws';
import { startBinary } from './lib/spawn.mjs';
import { connect } from './lib/client.mjs';
import { eventually } from './lib/pusher.mjs';

// One request on a connection of its own (no keep-alive pool: the limits count connections).
function request(base, path, { method = 'GET', headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(new URL(path, base), { method, headers, agent: false }, (res) => {
            let data = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => (data += chunk));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
        });
        req.on('error', reject);
        req.end(body);
    });
}

const polling = '/socket.io/?EIO=4&transport=polling';

// A raw Engine.IO websocket: resolves { ws, messages } once open, or { status, body } when the upgrade is refused.
function websocket(base, headers = {}) {
    return new Promise((resolve) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, { headers });
        const messages = [];
        ws.on('message', (data) => messages.push(data.toString()));
        ws.once('open', () => resolve({ ws, messages }));
        ws.once('unexpected-response', (req, res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => (body += chunk));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
            req.destroy();
        });
        ws.once('error', (err) => resolve({ error: err.message }));
    });
}

function closed(ws) {
    return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

function assertRefusal(res, status, words) {
    assert.equal(res.status, status, `status ${res.status}: ${res.body}`);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(res.headers.connection, 'close');
    assert.equal(res.headers['retry-after'], '1');
    assert.match(JSON.parse(res.body).error, words);
}

const base = ['--listen', '127.0.0.1:0', '--dev-auth', '--log-level', 'error'];

describe('pusher: connections per IP', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', [...base, '--max-connections-per-ip', '3']);
    });
    after(() => server?.stop());

    test('over the cap: 429 with a reason, socket.io clients refused; room again once one leaves', async () => {
        const clients = [];
        for (const user of ['alice', 'bob', 'carol']) {
            clients.push(await connect(server.url, { user }));
        }
        assertRefusal(await request(server.url, polling), 429, /too many connections from your address/);
        const ws = await websocket(server.url);
        assert.equal(ws.status, 429, 'a websocket upgrade is refused the same way');
        await assert.rejects(connect(server.url, { user: 'dave' }), 'a fourth socket.io client is refused');
        await assert.rejects(connect(server.url, { user: 'dave' }, { transports: ['polling'] }));

        clients.pop().close();
        await eventually(async () => (await request(server.url, '/healthz')).status === 200, {
            what: 'a free place after a client left',
        });
        const dave = await connect(server.url, { user: 'dave' });
        assert.ok(dave.connected);
        for (const s of [...clients, dave]) {
            s.close();
        }
    });
});

describe('pusher: new connections per second per IP', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', [...base, '--connection-rate-per-ip', '5']);
    });
    after(() => server?.stop());

    test('a burst over the rate gets 429 "slow down"; later connections are admitted again', async () => {
        // Twelve at once: the bucket holds five (plus what refills while they arrive).
        const all = await Promise.all(Array.from({ length: 12 }, () => request(server.url, '/healthz')));
        const ok = all.filter((r) => r.status === 200);
        const refused = all.filter((r) => r.status !== 200);
        assert.ok(ok.length >= 5 && ok.length <= 8, `${ok.length} admitted`);
        assert.ok(refused.length >= 4);
        for (const r of refused) {
            assertRefusal(r, 429, /too many new connections from your address, slow down/);
        }
        // A token comes back every 200 ms: a socket.io client gets in again (each of its attempts takes one).
        let alice;
        await eventually(
            async () => {
                alice = await connect(server.url, { user: 'alice' }).catch(() => null);
                return alice !== null;
            },
            { interval: 250, what: 'a socket.io client admitted again' },
        );
        alice.close();
    });
});

describe('pusher: total connections', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', [...base, '--max-connections', '2']);
    });
    after(() => server?.stop());

    test('over the total: 503 with a reason; websockets count until they close', async () => {
        const a = await websocket(server.url);
        const b = await websocket(server.url);
        assert.ok(a.ws && b.ws);
        assertRefusal(await request(server.url, '/healthz'), 503, /too many connections/);
        a.ws.close();
        await closed(a.ws);
        await eventually(async () => (await request(server.url, '/healthz')).status === 200, {
            what: 'a free place after a websocket closed',
        });
        b.ws.close();
    });
});

describe('pusher: payload size', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', [...base, '--max-payload', '1000']);
    });
    after(() => server?.stop());

    test('a polling POST over --max-payload is refused with 413', async () => {
        const open = await request(server.url, polling);
        assert.equal(open.status, 200);
        const handshake = JSON.parse(open.body.slice(1));
        assert.equal(handshake.maxPayload, 1000);
        const res = await request(server.url, `${polling}&sid=${handshake.sid}`, {
            method: 'POST',
            headers: { 'content-type': 'text/plain;charset=UTF-8' },
            body: `4${'x'.repeat(2000)}`,
        });
        assert.equal(res.status, 413);
    });

    test('a websocket message over --max-payload closes the websocket with 1009', async () => {
        const { ws, messages } = await websocket(server.url);
        assert.ok(ws);
        await eventually(() => messages.length > 0, { what: 'the open packet' });
        const code = closed(ws);
        ws.send(`4${'x'.repeat(2000)}`);
        assert.equal(await code, 1009);
    });

    test('a socket.io client emitting too much is disconnected; others are not', async () => {
        const big = await connect(server.url, { user: 'alice' });
        const small = await connect(server.url, { user: 'bob' });
        const gone = new Promise((resolve) => big.once('disconnect', resolve));
        big.emit('hello', 'x'.repeat(5000));
        assert.match(await gone, /transport (close|error)/);
        assert.ok(small.connected);
        small.close();
    });
});

describe('pusher: --allowed-origins', () => {
    let server;
    const good = 'http://good.example';
    const evil = 'http://evil.example';
    before(async () => {
        server = await startBinary('pusher', [...base, '--allowed-origins', good]);
    });
    after(() => server?.stop());

    test('polling: a foreign Origin gets 403 without CORS headers; the allowed one gets CORS', async () => {
        const refused = await request(server.url, polling, { headers: { origin: evil } });
        assert.equal(refused.status, 403);
        assert.equal(refused.headers['access-control-allow-origin'], undefined);
        assert.match(refused.body, /"code":4/);
        const allowed = await request(server.url, polling, { headers: { origin: good } });
        assert.equal(allowed.status, 200);
        assert.equal(allowed.headers['access-control-allow-origin'], good);
        assert.equal(allowed.headers['access-control-allow-credentials'], 'true');
    });

    test('websocket: a foreign Origin is refused with 403 before the upgrade; the allowed one opens', async () => {
        const refused = await websocket(server.url, { origin: evil });
        assert.equal(refused.status, 403);
        const allowed = await websocket(server.url, { origin: good });
        assert.ok(allowed.ws, JSON.stringify(allowed));
        allowed.ws.close();
    });

    test('socket.io clients: refused from a foreign origin, connected from the allowed one', async () => {
        for (const transports of [['websocket'], ['polling']]) {
            await assert.rejects(connect(server.url, { user: 'mallory' }, { transports, extraHeaders: { origin: evil } }));
            const s = await connect(server.url, { user: 'alice' }, { transports, extraHeaders: { origin: good } });
            assert.ok(s.connected);
            s.close();
        }
        // No Origin at all (a server-side client, not a browser) is not a cross-origin request.
        const s = await connect(server.url, { user: 'alice' });
        s.close();
    });
});
