// SIGHUP: keys rotate and certificates renew without a restart and without dropping a connection.
// - Token keys: --jwt-public-key names a directory (kid = file name). A token signed by the old key is accepted; a new
//   key file is added and the server signalled: tokens by the old and the new key are both accepted; the old file is
//   removed and the server signalled: the old key's tokens are refused, the new key's accepted, and the client that
//   connected with the old token long ago is still connected and still receives. A reload that fails (an unreadable
//   key) keeps the keys in force and says why in the log.
// - TLS: a wss:// client stays connected across a certificate reload and still receives; a new connection is served
//   the new certificate.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import https from 'node:https';
import { createSign, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBinary } from './lib/spawn.mjs';
import { testCertificate } from './lib/tls_cert.mjs';
import { connect, jwt, nowS, refusal, waitForEvents } from './lib/client.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'pusher-reload-e2e-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function rsaKey() {
    return generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
}

function token(key, sub, kid) {
    const header = kid ? { alg: 'RS256', typ: 'JWT', kid } : { alg: 'RS256', typ: 'JWT' };
    return jwt(header, { sub, exp: nowS() + 600 }, (input) => createSign('RSA-SHA256').update(input).sign(key.privateKey));
}

const certificate = (name) => testCertificate(dir, name);

// The fingerprint of the certificate a new TLS connection is served.
function servedFingerprint(port, ca) {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
            resolve(socket.getPeerX509Certificate().fingerprint256);
            socket.end();
        });
        socket.once('error', reject);
    });
}

function publish(url, ca, message) {
    return new Promise((resolve, reject) => {
        const req = https.request(
            `${url}/api/publish`,
            { method: 'POST', headers: { 'content-type': 'application/json' }, ca, agent: false },
            (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode));
            },
        );
        req.on('error', reject);
        req.end(JSON.stringify(message));
    });
}

// Sends SIGHUP and waits for the reload's log line about `what`.
async function reload(server, what) {
    const before = server.output().split(what).length;
    process.kill(server.pid, 'SIGHUP');
    await server.untilOutput((out) => out.split(what).length > before, { what: `a log line with "${what}"` });
}

describe('SIGHUP: token keys from a directory, and the TLS certificate', () => {
    const keys = path.join(dir, 'keys');
    mkdirSync(keys);
    const oldKey = rsaKey();
    const newKey = rsaKey();
    writeFileSync(path.join(keys, 'old.pem'), oldKey.publicKey);
    const first = certificate('first');
    const second = certificate('second');
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(certFile, readFileSync(first.certFile));
    writeFileSync(keyFile, readFileSync(first.keyFile));
    const ca = [first.pem, second.pem];
    let server;
    let url;
    const sockets = [];
    before(async () => {
        server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-public-key', keys, '--tls-cert', certFile, '--tls-key', keyFile,
        ]);
        url = `https://127.0.0.1:${server.port}`;
    });
    after(async () => {
        for (const s of sockets) {
            s.close();
        }
        await server?.stop();
    });
    const join = async (t, transports = ['websocket']) => {
        const s = await connect(url, { token: t }, { transports, ca });
        sockets.push(s);
        return s;
    };

    test('keys rotate: old and new both accepted, then only the new; open connections stay', async () => {
        const early = await join(token(oldKey, 'early'));
        assert.match(await refusal(url, { token: token(newKey, 'new', 'new') }, { transports: ['websocket'], ca }), /signature/);

        writeFileSync(path.join(keys, 'new.pem'), newKey.publicKey);
        await reload(server, 'reload: tokens:');
        await join(token(oldKey, 'old-1'));
        await join(token(oldKey, 'old-2', 'old'));
        await join(token(newKey, 'new-1', 'new'), ['polling']);
        await join(token(newKey, 'new-2'));

        unlinkSync(path.join(keys, 'old.pem'));
        await reload(server, 'reload: tokens:');
        assert.match(await refusal(url, { token: token(oldKey, 'old-3') }, { transports: ['websocket'], ca }), /signature/);
        await join(token(newKey, 'new-3', 'new'));

        assert.equal(early.connected, true);
        assert.equal(await publish(url, ca, { user: 'early', event: 'note', data: 1 }), 202);
        assert.deepEqual(await waitForEvents(early, 'note', 1), [1]);
    });

    test('a key that does not load keeps the keys in force, and the log says why', async () => {
        writeFileSync(path.join(keys, 'broken.pem'), 'not a key');
        await reload(server, 'the token keys did not load');
        await join(token(newKey, 'still', 'new'));
        unlinkSync(path.join(keys, 'broken.pem'));
    });

    test('the certificate renews: a wss:// client stays connected, new connections get the new certificate', async () => {
        const fingerprint = (pem) => new X509Certificate(pem).fingerprint256;
        assert.equal(await servedFingerprint(server.port, ca), fingerprint(first.pem));
        const steady = await join(token(newKey, 'steady', 'new'));

        writeFileSync(certFile, readFileSync(second.certFile));
        writeFileSync(keyFile, readFileSync(second.keyFile));
        await reload(server, 'reload: TLS certificate');
        assert.equal(await servedFingerprint(server.port, ca), fingerprint(second.pem));

        assert.equal(steady.connected, true);
        assert.equal(await publish(url, ca, { user: 'steady', event: 'note', data: 'after' }), 202);
        assert.deepEqual(await waitForEvents(steady, 'note', 1), ['after']);

        writeFileSync(keyFile, 'not a key');  // a broken renewal: the certificate in use stays
        await reload(server, 'the TLS certificate did not load');
        assert.equal(await servedFingerprint(server.port, ca), fingerprint(second.pem));
    });
});
