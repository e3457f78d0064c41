// The real socket.io-client v4 against conformance_server: every transport setup, echo, acks both ways, binary both
// ways, namespaces, auth, refusal and reconnection.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startBinary } from './lib/spawn.mjs';

let server;
const sockets = [];

before(async () => {
    server = await startBinary('conformance_server', ['--port', '0']);
});
after(async () => {
    for (const s of sockets) {
        s.disconnect();
    }
    const { code } = await server.stop();
    assert.equal(code, 0, `conformance_server exited with ${code}; output:\n${server.output()}`);
});

function connect(nsp = '/', opts = {}) {
    const socket = io(`${server.url}${nsp}`, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
    sockets.push(socket);
    return socket;
}

// Resolves with the arguments of the next `event` on `emitter`, or rejects after `ms`.
function once(emitter, event, ms = 3000) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "${event}" within ${ms} ms`)), ms);
        emitter.once(event, (...args) => {
            clearTimeout(timer);
            resolve(args);
        });
    });
}

// Connects and waits for both `connect` and the `auth` echo (registered before connecting, so none is missed).
async function connected(nsp = '/', opts = {}) {
    const socket = connect(nsp, opts);
    const auth = once(socket, 'auth');
    await once(socket, 'connect');
    return { socket, auth: (await auth)[0] };
}

function emitWithAck(socket, ...args) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no ack within 3 s')), 3000);
        socket.emit(...args, (...answer) => {
            clearTimeout(timer);
            resolve(answer);
        });
    });
}

describe('transports', () => {
    test('websocket only', async () => {
        const { socket, auth } = await connected('/', { transports: ['websocket'] });
        assert.deepEqual(auth, {});
        assert.equal(socket.io.engine.transport.name, 'websocket');
        const back = once(socket, 'message-back');
        socket.emit('message', 1, 'two', { three: [3] });
        assert.deepEqual(await back, [1, 'two', { three: [3] }]);
        socket.disconnect();
    });

    test('polling only', async () => {
        const { socket } = await connected('/', { transports: ['polling'], upgrade: false });
        assert.equal(socket.io.engine.transport.name, 'polling');
        const back = once(socket, 'message-back');
        socket.emit('message', 'over polling');
        assert.deepEqual(await back, ['over polling']);
        // Survive several heartbeats (pingInterval 300 ms) on polling.
        await new Promise((r) => setTimeout(r, 1000));
        assert.ok(socket.connected);
        const again = once(socket, 'message-back');
        socket.emit('message', 'still');
        assert.deepEqual(await again, ['still']);
        socket.disconnect();
    });

    test('default: polling first, then the upgrade to websocket', async () => {
        const socket = connect('/');
        const upgraded = new Promise((resolve) => socket.io.on('open', () => socket.io.engine.once('upgrade', resolve)));
        await once(socket, 'connect');
        await upgraded;
        assert.equal(socket.io.engine.transport.name, 'websocket');
        const back = once(socket, 'message-back');
        socket.emit('message', 'after upgrade');
        assert.deepEqual(await back, ['after upgrade']);
        socket.disconnect();
    });
});

describe('events and acks', () => {
    test('echo with any number of arguments of any JSON type', async () => {
        const { socket } = await connected('/', { transports: ['websocket'] });
        const cases = [[], [null], [0, -1.5, 1e21], ['', 'ünïcødé', { a: { b: [true, false, null] } }], [[[[]]], {}]];
        for (const args of cases) {
            const back = once(socket, 'message-back');
            socket.emit('message', ...args);
            assert.deepEqual(await back, args);
        }
        socket.disconnect();
    });

    test('client -> server ack', async () => {
        const { socket } = await connected('/', { transports: ['websocket'] });
        assert.deepEqual(await emitWithAck(socket, 'message-with-ack', 'a', 2), ['a', 2]);
        assert.deepEqual(await emitWithAck(socket, 'message-with-ack'), []);
        // emitWithAck resolves with the first argument of the ack.
        assert.deepEqual(await socket.timeout(3000).emitWithAck('message-with-ack', { k: 1 }, 'ignored'), { k: 1 });
        socket.disconnect();
    });

    test('server -> client ack', async () => {
        const { socket } = await connected('/', { transports: ['websocket'] });
        socket.on('server-ack', (...args) => {
            const ack = args.pop();
            ack('answer', ...args, 42);
        });
        const result = once(socket, 'server-ack-result');
        socket.emit('server-ack', 'q', { n: 1 });
        assert.deepEqual(await result, ['answer', 'q', { n: 1 }, 42]);
        socket.disconnect();
    });

    test('server -> client ack that never comes times out', async () => {
        const { socket } = await connected('/', { transports: ['websocket'] });
        socket.on('server-ack', () => {}); // never calls the ack
        const result = once(socket, 'server-ack-result', 4000);
        socket.emit('server-ack');
        assert.deepEqual(await result, ['timeout']);
        socket.disconnect();
    });

    test('binary both ways', async () => {
        for (const transports of [['websocket'], ['polling']]) {
            const { socket } = await connected('/', { transports, upgrade: false });
            const back = once(socket, 'message-back');
            const blob = Buffer.from([0, 1, 2, 253, 254, 255]);
            socket.emit('message', blob, { nested: [Buffer.from('abc')] }, 'text');
            const [b0, b1, t] = await back;
            assert.ok(Buffer.isBuffer(b0), `${transports}: first argument is binary`);
            assert.deepEqual([...b0], [...blob]);
            assert.equal(Buffer.from(b1.nested[0]).toString(), 'abc');
            assert.equal(t, 'text');

            const acked = await emitWithAck(socket, 'message-with-ack', Buffer.from([7, 7]), 1);
            assert.deepEqual([...acked[0]], [7, 7]);
            assert.equal(acked[1], 1);

            socket.on('server-ack', (...args) => args.pop()(Buffer.from('pong')));
            const result = once(socket, 'server-ack-result');
            socket.emit('server-ack', Buffer.from('ping'));
            assert.equal(Buffer.from((await result)[0]).toString(), 'pong');
            socket.disconnect();
        }
    });
});

describe('namespaces', () => {
    test('/custom echoes the auth object', async () => {
        const auth = { user: 'x', n: 1, list: [1, 'a', null], deep: { k: true } };
        const { socket, auth: echoed } = await connected('/custom', { auth });
        assert.deepEqual(echoed, auth);
        socket.disconnect();
    });

    test('an unknown namespace is refused with "Invalid namespace"', async () => {
        const socket = connect('/nope');
        const [err] = await once(socket, 'connect_error');
        assert.equal(err.message, 'Invalid namespace');
        socket.disconnect();
    });

    test('two namespaces over one connection', async () => {
        const main = connect('/', { forceNew: true, transports: ['websocket'] });
        const custom = main.io.socket('/custom');
        sockets.push(custom);
        const customAuth = once(custom, 'auth');
        await Promise.all([once(main, 'connect'), once(custom, 'connect')]);
        assert.deepEqual((await customAuth)[0], {});
        custom.disconnect();
        const back = once(main, 'message-back');
        main.emit('message', 'main still works');
        assert.deepEqual(await back, ['main still works']);
        main.disconnect();
    });
});

describe('disconnects', () => {
    test('a server-side namespace disconnect is not retried', async () => {
        const { socket } = await connected('/', { transports: ['websocket'], reconnection: true });
        const gone = once(socket, 'disconnect');
        socket.emit('disconnect-me');
        assert.equal((await gone)[0], 'io server disconnect');
        assert.equal(socket.connected, false);
    });

    test('reconnects after the server closes the connection', async () => {
        const { socket } = await connected('/', {
            transports: ['websocket'],
            reconnection: true,
            reconnectionDelay: 50,
            reconnectionDelayMax: 100,
        });
        const firstId = socket.id;
        const gone = once(socket, 'disconnect');
        const back = once(socket, 'connect', 5000);
        const authAgain = once(socket, 'auth', 5000);
        socket.emit('close-transport');
        assert.equal((await gone)[0], 'transport close');
        await back;
        await authAgain;
        assert.notEqual(socket.id, firstId);
        const echo = once(socket, 'message-back');
        socket.emit('message', 'again');
        assert.deepEqual(await echo, ['again']);
        socket.disconnect();
    });

    test('reconnects after the server restarts on the same port', async () => {
        const port = server.port;
        const { socket } = await connected('/', {
            reconnection: true,
            reconnectionDelay: 100,
            reconnectionDelayMax: 200,
        });
        const gone = once(socket, 'disconnect');
        await server.stop();
        await gone;
        server = await startBinary('conformance_server', ['--port', String(port)]);
        await once(socket, 'connect', 8000);
        const echo = once(socket, 'message-back');
        socket.emit('message', 'after restart');
        assert.deepEqual(await echo, ['after restart']);
        socket.disconnect();
    });
});
