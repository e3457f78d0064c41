// The pusher serving TLS itself (--tls-cert / --tls-key), with a certificate made at test time by the openssl CLI:
// socket.io-client over wss:// (verifying the certificate against it as the CA), polling over HTTPS upgrading to
// wss://, events published over HTTPS reaching the socket, plain HTTP on the TLS port refused without harm, and an
// unusable certificate or key failing the start with one clear line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBinary } from './lib/spawn.mjs';
import { testCertificate } from './lib/tls_cert.mjs';
import { connect, waitForEvents } from './lib/client.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'pusher-tls-e2e-'));
const { certFile, keyFile, pem: ca } = testCertificate(dir);
const otherKeyFile = path.join(dir, 'other-key.pem');
execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKeyFile], {
    stdio: 'ignore',
});
after(() => rmSync(dir, { recursive: true, force: true }));

// One HTTPS request trusting the test certificate; resolves { status, headers, body }.
function httpsRequest(url, { method = 'GET', headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
        const req = https.request(url, { method, headers, ca, agent: false }, (res) => {
            let data = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => (data += chunk));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
        });
        req.on('error', reject);
        req.end(body);
    });
}

describe('pusher: TLS listener', () => {
    let server;
    let url;
    before(async () => {
        server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--dev-auth', '--log-level', 'warn', '--tls-cert', certFile, '--tls-key', keyFile,
        ]);
        url = `https://127.0.0.1:${server.port}`;
    });
    after(() => server?.stop());

    test('socket.io-client over wss:// with the test CA receives events published over HTTPS', async () => {
        const alice = await connect(url, { user: 'alice' }, { transports: ['websocket'], ca });
        assert.equal(alice.io.engine.transport.name, 'websocket');
        const res = await httpsRequest(`${url}/api/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ user: 'alice', event: 'mail.new', data: { subject: 'over TLS' } }),
        });
        assert.equal(res.status, 202, res.body);
        assert.deepEqual(await waitForEvents(alice, 'mail.new', 1), [{ subject: 'over TLS' }]);
        alice.close();
    });

    test('polling over HTTPS upgrades to wss:// and keeps receiving', async () => {
        const bob = await connect(url, { user: 'bob' }, { transports: ['polling', 'websocket'], ca });
        if (bob.io.engine.transport.name !== 'websocket') {
            await new Promise((resolve) => bob.io.engine.once('upgrade', resolve));
        }
        assert.equal(bob.io.engine.transport.name, 'websocket');
        for (let i = 0; i < 3; ++i) {
            const res = await httpsRequest(`${url}/api/publish`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ user: 'bob', event: 'n', data: i }),
            });
            assert.equal(res.status, 202);
        }
        assert.deepEqual(await waitForEvents(bob, 'n', 3), [0, 1, 2]);
        bob.close();
    });

    test('a client that does not trust the certificate is refused by the client itself', async () => {
        await assert.rejects(connect(url, { user: 'carol' }, { transports: ['websocket'] }));
        const carol = await connect(url, { user: 'carol' }, { transports: ['websocket'], rejectUnauthorized: false });
        assert.ok(carol.connected);
        carol.close();
    });

    test('plain HTTP on the TLS port gets no answer, and the listener keeps serving', async () => {
        await assert.rejects(
            new Promise((resolve, reject) => {
                const req = http.request(`http://127.0.0.1:${server.port}/healthz`, { agent: false }, resolve);
                req.on('error', reject);
                req.end();
            }),
        );
        assert.equal((await httpsRequest(`${url}/healthz`)).status, 200);
    });
});

describe('pusher: unusable TLS files', () => {
    const start = (cert, key) =>
        startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--tls-cert', cert, '--tls-key', key], {
            timeoutMs: 10000,
        });

    test('a key that does not match the certificate: exit non-zero with one clear line', async () => {
        const dir2 = mkdtempSync(path.join(tmpdir(), 'pusher-tls-bad-'));
        const cert = path.join(dir2, 'cert.pem');
        const key = path.join(dir2, 'key.pem');
        const other = path.join(dir2, 'other.pem');
        writeFileSync(cert, readFileSync(certFile));
        writeFileSync(key, readFileSync(keyFile));
        writeFileSync(other, readFileSync(otherKeyFile));
        try {
            await assert.rejects(start(cert, other), (err) => {
                assert.match(err.message, /exited \(code [1-9]/);
                assert.match(err.message, new RegExp(`cannot use TLS key ${other}: it does not match the certificate`));
                return true;
            });
            await assert.rejects(start(path.join(dir2, 'missing.pem'), key), /cannot read TLS certificate .*missing\.pem/);
        } finally {
            rmSync(dir2, { recursive: true, force: true });
        }
    });
});
