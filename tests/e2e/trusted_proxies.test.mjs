// --trusted-proxies: behind a proxy every client arrives from the proxy's address, so the per-IP limits count the
// address the proxy forwards (X-Forwarded-For), per session rather than per TCP connection, over websocket and
// polling; a peer that is not a trusted proxy cannot escape a limit by writing the header itself.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startPusher } from './lib/browser.mjs';

const opened = [];
function attempt(url, user, forwardedFor, transports) {
    const socket = io(url, {
        auth: { user },
        transports,
        forceNew: true,
        reconnection: false,
        timeout: 5000,
        extraHeaders: { 'X-Forwarded-For': forwardedFor },
    });
    opened.push(socket);
    return new Promise((resolve) => {
        socket.once('connect', () => resolve('connected'));
        socket.once('connect_error', (err) => resolve(`refused: ${err.message}`));
    });
}

async function refusedPerIp(server) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('pusher_connections_refused_total{reason="max_connections_per_ip"} '));
    return Number(line.split(' ')[1]);
}

// A pusher that trusts `cidr` as its proxies and allows two connections (sessions, behind a proxy) per address.
function startLimited(cidr) {
    return startPusher([
        '--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth',
        '--trusted-proxies', cidr, '--max-connections-per-ip', '2',
    ]);
}

after(() => {
    for (const s of opened) {
        s.close();
    }
});

for (const transports of [['websocket'], ['polling']]) {
    describe(`behind a trusted proxy, over ${transports[0]}`, () => {
        let server;
        before(async () => {
            server = await startLimited('127.0.0.0/8');
        });
        after(() => server?.stop());

        test('the forwarded address is limited, per session; other addresses behind the same proxy are not', async () => {
            assert.equal(await attempt(server.url, 'a1', '198.51.100.1, 203.0.113.7', transports), 'connected');
            assert.equal(await attempt(server.url, 'a2', '203.0.113.7', transports), 'connected');
            assert.match(await attempt(server.url, 'a3', '203.0.113.7', transports), /^refused/);
            assert.equal(await refusedPerIp(server), 1);
            // The same proxy (127.0.0.1), other clients: each has its own two.
            assert.equal(await attempt(server.url, 'b1', '203.0.113.8', transports), 'connected');
            assert.equal(await attempt(server.url, 'b2', '203.0.113.8', transports), 'connected');
            // A session that ends gives its place back.
            opened[opened.length - 5].close();
            let last;
            for (let i = 0; i < 50 && last !== 'connected'; ++i) {
                last = await attempt(server.url, 'a4', '203.0.113.7', transports);
            }
            assert.equal(last, 'connected');
        });
    });
}

describe('an untrusted peer', () => {
    let server;
    before(async () => {
        server = await startLimited('10.0.0.0/8');
    });
    after(() => server?.stop());

    test('its X-Forwarded-For is ignored: spoofed addresses share its limit, over websocket and polling', async () => {
        assert.equal(await attempt(server.url, 's1', '203.0.113.1', ['websocket']), 'connected');
        assert.equal(await attempt(server.url, 's2', '203.0.113.2', ['websocket']), 'connected');
        assert.match(await attempt(server.url, 's3', '203.0.113.3', ['websocket']), /^refused/);
        const poll = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, {
            headers: { 'X-Forwarded-For': '203.0.113.4', connection: 'close' },
        });
        assert.equal(poll.status, 429);
    });
});
