// The pusher on its embedded broker, with the real socket.io-client: tokens (HS256, RS256; bad, expired, tampered,
// `none`, alg confusion refused with CONNECT_ERROR), routing through POST /api/publish (randomised: no user ever
// receives another's event), the API's answers, metrics that move, and the process lifecycle (bad configuration,
// SIGTERM with clients connected).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { binaryPath, startBinary } from './lib/spawn.mjs';
import { connect, hs256, jwt, nowS, refusal, rs256, rsaKeys, waitFor, waitForEvents } from './lib/client.mjs';
import { apiPublish, metric, pusherSend } from './lib/pusher.mjs';

const secret = 'e2e-secret-0123456789-0123456789-abcdef';
const keys = rsaKeys();
const dir = mkdtempSync(path.join(tmpdir(), 'pusher-e2e-'));
const publicKeyFile = path.join(dir, 'jwt.pub.pem');
writeFileSync(publicKeyFile, keys.publicKey);

const valid = (user, extra = {}) => hs256({ sub: user, exp: nowS() + 600, ...extra }, secret);

describe('pusher: tokens', () => {
    let server;
    before(async () => {
        server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--jwt-public-key', publicKeyFile,
        ]);
    });
    after(() => server?.stop());

    test('HS256 and RS256 tokens connect as their sub', async () => {
        for (const token of [valid('alice'), rs256({ sub: 'alice', exp: nowS() + 600 }, keys.privateKey)]) {
            const s = await connect(server.url, { token });
            const r = await apiPublish(server.url, { user: 'alice', event: 'hello', data: { ok: true } });
            assert.equal(r.status, 202);
            assert.deepEqual(await waitForEvents(s, 'hello', 1), [{ ok: true }]);
            s.close();
        }
    });

    test('bad, expired, not yet valid, tampered, none-alg and alg-confusion tokens get CONNECT_ERROR', async () => {
        const [h, p] = valid('alice').split('.');
        const tampered = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin', exp: nowS() + 600 })).toString('base64url')}.${valid('alice').split('.')[2]}`;
        const cases = {
            garbage: ['not a token', /malformed/],
            'wrong secret': [hs256({ sub: 'alice', exp: nowS() + 600 }, 'another-secret-0123456789-0123456789'), /signature/],
            tampered: [tampered, /signature/],
            expired: [valid('alice', { exp: nowS() - 3600 }), /expired/],
            'not yet valid': [valid('alice', { nbf: nowS() + 3600 }), /not yet valid/],
            'alg none': [jwt({ alg: 'none', typ: 'JWT' }, { sub: 'alice', exp: nowS() + 600 }), /algorithm/],
            // HS256 "signed" with the RSA public key as the HMAC secret: the classic confusion attack
            'alg confusion': [hs256({ sub: 'alice', exp: nowS() + 600 }, keys.publicKey), /signature/],
            'no sub': [hs256({ exp: nowS() + 600 }, secret), /sub/],
            'payload only': [`${h}.${p}`, /malformed/],
        };
        for (const [name, [token, expected]] of Object.entries(cases)) {
            const message = await refusal(server.url, { token });
            assert.match(message, expected, `${name}: refused with "${message}"`);
        }
        assert.match(await refusal(server.url, {}), /missing token/);
        assert.match(await refusal(server.url, { user: 'alice' }), /missing token/, 'no dev-auth: a bare user is refused');
        assert.ok((await metric(server, 'pusher_socket_connect_refused_total{reason="auth"}')) >= 11);
    });
});

describe('pusher: embedded broker and /api/publish', () => {
    let server;
    const apiKey = 'e2e-api-key';
    before(async () => {
        server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--api-key', apiKey, '--log-level', 'warn',
        ]);
    });
    after(() => server?.stop());
    const publish = (msg) => apiPublish(server.url, msg, { apiKey });

    test('randomised: every user receives exactly their own events, on every tab, in order', async () => {
        const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
        const sockets = [];
        for (const [i, u] of users.entries()) {
            // two tabs for every third user, the polling transport for every fourth
            for (let tab = 0; tab < (i % 3 === 0 ? 2 : 1); ++tab) {
                const transports = i % 4 === 0 ? ['polling'] : ['websocket'];
                sockets.push({ user: u, socket: await connect(server.url, { token: valid(u) }, { transports }) });
            }
        }
        const expected = new Map(users.map((u) => [u, []]));
        let seed = 42;
        const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        for (let n = 0; n < 300; ++n) {
            const targets = users.filter(() => random() < 0.15);
            if (targets.length === 0) {
                targets.push(users[n % users.length]);
            }
            const r = await publish({ users: targets, event: 'msg', data: { n, to: targets } });
            assert.equal(r.status, 202);
            assert.equal(r.body.accepted, targets.length);
            targets.forEach((t) => expected.get(t).push(n));
        }
        // a marker last: once a socket has it, everything published before it has arrived
        await publish({ broadcast: true, event: 'end', data: null });
        for (const { user, socket } of sockets) {
            await waitForEvents(socket, 'end', 1);
            const got = socket.received.filter((e) => e.event === 'msg').map((e) => e.data);
            assert.ok(got.every((d) => d.to.includes(user)), `${user} received another user's event`);
            assert.deepEqual(got.map((d) => d.n), expected.get(user), `${user}: exactly its events, in order`);
            socket.close();
        }
        assert.ok((await metric(server, 'pusher_messages_delivered_total')) > 300);
    });

    test('the API refuses a missing key and bad input with a clear answer', async () => {
        let r = await apiPublish(server.url, { user: 'a', data: 1 });
        assert.equal(r.status, 401);
        r = await apiPublish(server.url, { user: 'a', data: 1 }, { apiKey: 'wrong' });
        assert.equal(r.status, 401);
        for (const body of [{ event: 'x' }, { user: 'a', users: ['b'] }, { user: '', data: 1 }, { user: 'a', event: 'connect' }]) {
            r = await publish(body);
            assert.equal(r.status, 400, JSON.stringify(body));
            assert.equal(typeof r.body.error, 'string');
        }
        const raw = await fetch(`${server.url}/api/publish`, {
            method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: '{"user": "a", "data": ',
        });
        assert.equal(raw.status, 400);
        const big = await fetch(`${server.url}/api/publish`, {
            method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: JSON.stringify({ user: 'a', data: 'x'.repeat(2 << 20) }),
        });
        assert.equal(big.status, 413);
        assert.equal((await fetch(`${server.url}/api/publish`)).status, 405);
        assert.equal((await fetch(`${server.url}/nope`)).status, 404);
    });

    test('pusher send publishes to a server, with clear errors', async () => {
        const s = await connect(server.url, { token: valid('sendee') });
        let r = await pusherSend(['--server', server.url, '--api-key', apiKey, '--user', 'sendee', '--event', 'mail.new', '--data', '-'], {
            input: '{"subject":"from stdin"}\n',
        });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), { accepted: 1 });
        assert.deepEqual(await waitForEvents(s, 'mail.new', 1), [{ subject: 'from stdin' }]);
        s.close();
        r = await pusherSend(['--server', server.url, '--user', 'x', '--data', '{"a":1}']);
        assert.equal(r.code, 3, 'refused API key');
        assert.match(r.stderr, /401/);
        r = await pusherSend(['--server', server.url, '--api-key', apiKey, '--user', 'x', '--data', '{bad json']);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /not valid JSON/);
        r = await pusherSend(['--server', 'http://127.0.0.1:1', '--user', 'x', '--data', '1']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /cannot reach/);
    });
});

describe('pusher: lifecycle', () => {
    test('an invalid configuration fails at start with one clear line and exit status 2', async () => {
        const cases = [
            [['--listen', '0.0.0.0:0', '--dev-auth'], /--dev-auth requires a loopback/],
            [['--broker', 'kafka'], /--broker/],
            [['--listen', 'nonsense'], /--listen/],
            // secure by default: /api/* off loopback needs a key (or the explicit --api-insecure)
            [
                ['--listen', '0.0.0.0:0', '--jwt-secret', secret],
                /--listen 0\.0\.0\.0 is not loopback and \/api\/\* has no key: set --api-key KEY\[,KEY\.\.\.\] \(or, to let anyone who reaches it publish to any user, --api-insecure\)/,
            ],
        ];
        for (const [args, expected] of cases) {
            const r = await new Promise((resolve) =>
                execFile(binaryPath('pusher'), args, { timeout: 10000 }, (err, stdout, stderr) =>
                    resolve({ code: err?.code ?? 0, stderr }),
                ),
            );
            assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
            assert.match(r.stderr, expected);
        }
    });

    test('off loopback it starts with a key or with the explicit --api-insecure', async () => {
        for (const extra of [['--api-key', 'k1'], ['--api-insecure']]) {
            const server = await startBinary('pusher', ['--listen', '0.0.0.0:0', '--jwt-secret', secret, ...extra]);
            try {
                const status = (await fetch(`http://127.0.0.1:${server.port}/healthz`)).status;
                assert.equal(status, 200, extra.join(' '));
            } finally {
                await server.stop();
            }
        }
    });

    test('--api-key with two keys (a rotation): each is accepted, nothing else', async () => {
        const server = await startBinary('pusher', [
            '--listen', '127.0.0.1:0', '--jwt-secret', secret, '--api-key', 'key-old,key-new', '--log-level', 'warn',
        ]);
        try {
            const msg = { user: 'nobody', event: 'x', data: 1 };
            assert.equal((await apiPublish(server.url, msg, { apiKey: 'key-old' })).status, 202);
            assert.equal((await apiPublish(server.url, msg, { apiKey: 'key-new' })).status, 202);
            assert.equal((await apiPublish(server.url, msg, { apiKey: 'key-old,key-new' })).status, 401);
            assert.equal((await apiPublish(server.url, msg)).status, 401);
        } finally {
            await server.stop();
        }
    });

    test('SIGTERM with clients connected: clients are told to reconnect, exit 0 within the drain time', async () => {
        const server = await startBinary('pusher', ['--listen', '127.0.0.1:0', '--dev-auth', '--drain-ms', '5000']);
        const clients = await Promise.all(
            ['a', 'b', 'c'].map((u, i) => connect(server.url, { user: u }, { transports: i === 2 ? ['polling'] : ['websocket'] })),
        );
        const reasons = clients.map((s) => new Promise((resolve) => s.once('disconnect', resolve)));
        const started = Date.now();
        const exit = server.stop('SIGTERM');
        // a disconnect reason the client answers by reconnecting (not "io server disconnect", which it does not)
        for (const why of await Promise.all(reasons)) {
            assert.ok(['transport close', 'transport error'].includes(why), why);
        }
        const { code, signal } = await exit;
        assert.equal(signal, null);
        assert.equal(code, 0);
        assert.ok(Date.now() - started < 5000, 'within the drain time');
        clients.forEach((s) => s.close());
        assert.match(server.output(), /shutting down: 3 session/);
    });
});
