// The cluster of `make cluster`, started by the same script (scripts/cluster.sh) on free ports: a RabbitMQ cluster of
// two nodes, three pusher nodes and nginx with deploy/nginx.conf.template in front. Through nginx, websocket-only,
// polling-only and upgrading socket.io-clients spread over the three nodes (the sid prefix names the node each one
// landed on). Publishes through every node's API and into both RabbitMQ nodes reach each user once; the RabbitMQ node
// that two pusher nodes use is killed (they fail over to the other URL, re-bind, turn ready, delivery goes on); a
// pusher node killed with SIGKILL (its clients reconnect through nginx to the others and receive again); a pusher node
// stopped with SIGTERM (its clients move and are recovered there). At the end every socket's whole history is checked:
// nothing misrouted, nothing twice. The fail-over times are reported as test diagnostics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { buildDir } from './lib/spawn.mjs';
import { apiPublish, eventually, pusherSend, skipUnless } from './lib/pusher.mjs';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const skip =
    skipUnless(existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server'), 'rabbitmq-server is not installed') ||
    skipUnless(existsSync('/usr/sbin/nginx'), 'nginx is not installed (scripts/deps.sh test installs it)');

let cluster; // cluster.json of scripts/cluster.sh, plus { proc, output() }
let dir;
const sockets = []; // every client, for the final check and the cleanup

before(async () => {
    if (skip) {
        return;
    }
    dir = await mkdtemp(path.join(tmpdir(), 'pusher-cluster-'));
    const proc = spawn(path.join(top, 'scripts', 'cluster.sh'), [buildDir], {
        env: { ...process.env, CLUSTER_FREE_PORTS: '1', CLUSTER_DIR: path.join(dir, 'cluster') },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A test run that dies still stops the cluster: the script's trap does it on SIGTERM, after we are gone.
    process.once('exit', () => proc.kill('SIGTERM'));
    let out = '';
    const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    const ready = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`scripts/cluster.sh not ready after 150 s:\n${out}`)), 150000);
        const onData = (chunk) => {
            out += chunk;
            const m = /^cluster ready: (.+)$/m.exec(out);
            if (m) {
                clearTimeout(timer);
                resolve(m[1]);
            }
        };
        proc.stdout.setEncoding('utf8').on('data', onData);
        proc.stderr.setEncoding('utf8').on('data', onData);
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`scripts/cluster.sh exited (${code ?? signal}) before it was ready:\n${out}`));
        });
    });
    cluster = JSON.parse(await readFile(ready, 'utf8'));
    cluster.proc = proc;
    cluster.exited = exited;
    cluster.output = () => out;
});

after(async () => {
    for (const s of sockets) {
        s.close();
    }
    if (cluster) {
        cluster.proc.kill('SIGTERM'); // the script's trap stops nginx, the pusher nodes and both RabbitMQ nodes
        const { code, signal } = await cluster.exited;
        assert.ok(code === 130 || code === 0 || signal === 'SIGTERM', `cluster.sh ended with ${code ?? signal}`);
    }
    if (dir) {
        await rm(dir, { recursive: true, force: true });
    }
});

const kinds = [
    { name: 'websocket', transports: ['websocket'] },
    { name: 'polling', transports: ['polling'] },
    { name: 'upgrade', transports: ['polling', 'websocket'] },
];

// A client as a browser would run it (default reconnection), recording every `note` and every connect.
function client(user, kind) {
    const socket = io(cluster.url, { auth: { user }, transports: kind.transports, forceNew: true, timeout: 5000 });
    socket.user = user;
    socket.kind = kind.name;
    socket.notes = [];
    socket.connects = [];
    socket.waiters = new Set();
    const wake = () => {
        for (const w of [...socket.waiters]) {
            w();
        }
    };
    socket.on('note', (data) => {
        socket.notes.push(data);
        wake();
    });
    socket.on('connect', () => {
        socket.connects.push({ at: Date.now(), node: nodeOf(socket), recovered: socket.recovered });
        wake();
    });
    sockets.push(socket);
    return socket;
}

// The node a socket is on now: its Engine.IO sid starts with the node id and a dot.
function nodeOf(socket) {
    const sid = socket.io.engine?.id ?? '';
    return sid.includes('.') ? sid.slice(0, sid.indexOf('.')) : undefined;
}

function until(socket, predicate, what, timeout = 20000) {
    return new Promise((resolve, reject) => {
        const check = () => {
            if (predicate(socket)) {
                clearTimeout(timer);
                socket.waiters.delete(check);
                resolve();
            }
        };
        const timer = setTimeout(() => {
            socket.waiters.delete(check);
            reject(new Error(`${socket.user} (${socket.kind}): timed out waiting for ${what}; notes ${JSON.stringify(socket.notes)}`));
        }, timeout);
        socket.waiters.add(check);
        check();
    });
}

const received = (socket, id) => socket.notes.some((n) => n.id === id);

// Publishes one `note` per user (id `${round}:${user}`) with `publish(user, data)` and waits until every live socket
// of that user has it.
async function round(name, live, publish) {
    const users = [...new Set(live.map((s) => s.user))];
    await Promise.all(users.map((user) => publish(user, { id: `${name}:${user}`, user })));
    await Promise.all(live.map((s) => until(s, () => received(s, `${name}:${s.user}`), `${name}:${s.user}`)));
}

const viaApi = (node) => async (user, data) => {
    const r = await apiPublish(node.url, { user, event: 'note', data });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(r.body, { accepted: 1 });
};

const viaRabbitmq = (url) => async (user, data) => {
    const r = await pusherSend(['--amqp-url', url, '--user', user, '--event', 'note', '--data', JSON.stringify(data)]);
    assert.equal(r.code, 0, r.stderr);
};

async function readyz(node) {
    try {
        return (await fetch(`${node.url}/readyz`)).status;
    } catch {
        return 0;
    }
}

const pidOfFile = async (file) => Number((await readFile(file, 'utf8')).trim());

test('the make cluster cluster: spread, publish everywhere, RabbitMQ node lost, pusher nodes killed and stopped', { skip, timeout: 170000 }, async (t) => {
    const [n1, n2, n3] = cluster.nodes;
    const [rabbitA, rabbitB] = cluster.rabbitmq;

    // Clients through nginx, which sends each handshake to any node: of each kind at least three, on at least two
    // nodes, and clients on every node (connected one by one until that holds); plus `multi` with one socket of each
    // kind (three tabs of one user).
    const clients = [];
    const add = async (kind) => {
        const s = client(`u${clients.length}`, kind);
        clients.push(s);
        await until(s, () => s.connected, 'connect');
    };
    const nodesOf = (list) => new Set(list.map(nodeOf));
    for (const kind of kinds) {
        const ofKind = () => clients.filter((s) => s.kind === kind.name);
        while (ofKind().length < 3 || (nodesOf(ofKind()).size < 2 && ofKind().length < 12)) {
            await add(kind);
        }
    }
    for (let k = 0; nodesOf(clients).size < cluster.nodes.length && k < 12; ++k) {
        await add(kinds[k % kinds.length]);
    }
    for (const kind of kinds) {
        const s = client('multi', kind);
        clients.push(s);
        await until(s, () => s.connected, 'connect');
    }
    const byNode = (id) => clients.filter((s) => nodeOf(s) === id);
    // Signals a pusher node and waits until every client it held has connected again (through nginx, elsewhere).
    const signalAndAwaitReconnects = async (node, signal) => {
        const moved = byNode(node.id);
        assert.ok(moved.length > 0);
        const connectsBefore = new Map(moved.map((s) => [s, s.connects.length]));
        const at = Date.now();
        process.kill(node.pid, signal);
        await Promise.all(
            moved.map((s) => until(s, () => s.connects.length > connectsBefore.get(s) && s.connected, 'a reconnect', 30000)),
        );
        return { moved, at };
    };
    for (const kind of kinds) {
        assert.ok(nodesOf(clients.filter((s) => s.kind === kind.name)).size >= 2, `${kind.name} clients on one node`);
    }
    for (const node of cluster.nodes) {
        assert.ok(byNode(node.id).length > 0, `no client landed on ${node.id}`);
    }
    t.diagnostic(
        `clients: ${cluster.nodes.map((n) => `${n.id} ${byNode(n.id).map((s) => s.kind[0]).join('')}`).join(', ')}`,
    );

    await t.test('publishes through every node and into both RabbitMQ nodes reach each user once', async () => {
        for (const node of cluster.nodes) {
            await round(`api-${node.id}`, clients, viaApi(node));
        }
        await round('amqp-a', clients, viaRabbitmq(rabbitA.url));
        await round('amqp-b', clients, viaRabbitmq(rabbitB.url));
    });

    await t.test('the RabbitMQ node of n1 and n3 is killed: they fail over to the other, re-bind, deliver', async () => {
        // n1 and n3 list node a first, n2 node b (scripts/cluster.sh alternates the order).
        const killedAt = Date.now();
        process.kill(await pidOfFile(rabbitA.pid_file), 'SIGKILL');
        await eventually(async () => (await readyz(n1)) === 503 || (await readyz(n3)) === 503, {
            what: 'a node to notice the lost RabbitMQ node',
            interval: 20,
        });
        await eventually(async () => (await Promise.all(cluster.nodes.map(readyz))).every((s) => s === 200), {
            timeout: 30000,
            interval: 20,
            what: 'every node ready again',
        });
        t.diagnostic(`RabbitMQ node killed -> every pusher node ready again: ${Date.now() - killedAt} ms`);
        for (const node of cluster.nodes) {
            await round(`after-rabbit-${node.id}`, clients, viaApi(node));
        }
        await round('after-rabbit-amqp-b', clients, viaRabbitmq(rabbitB.url));
    });

    await t.test('n1 killed with SIGKILL: its clients reconnect through nginx to the others and receive again', async () => {
        const { moved, at: killedAt } = await signalAndAwaitReconnects(n1, 'SIGKILL');
        const reconnectedAt = Date.now();
        for (const s of moved) {
            assert.notEqual(nodeOf(s), n1.id);
        }
        await round('after-sigkill', clients, viaApi(n2));
        t.diagnostic(
            `pusher node SIGKILL -> its ${moved.length} clients connected elsewhere: ${reconnectedAt - killedAt} ms, ` +
                `receiving again: ${Date.now() - killedAt} ms`,
        );
    });

    await t.test('n2 stopped with SIGTERM: its clients move to n3 and are recovered there', async () => {
        const { moved, at: stoppedAt } = await signalAndAwaitReconnects(n2, 'SIGTERM');
        t.diagnostic(`pusher node SIGTERM -> its ${moved.length} clients connected to n3: ${Date.now() - stoppedAt} ms`);
        for (const s of moved) {
            const last = s.connects.at(-1);
            assert.equal(last.node, n3.id);
            assert.equal(last.recovered, true, `${s.user} (${s.kind}) was not recovered on n3`);
        }
        await round('after-sigterm-api', clients, viaApi(n3));
        await round('after-sigterm-amqp', clients, viaRabbitmq(rabbitB.url));
    });

    await t.test('nothing misrouted, nothing delivered twice', () => {
        for (const s of clients) {
            const ids = s.notes.map((n) => n.id);
            assert.deepEqual(
                s.notes.filter((n) => n.user !== s.user),
                [],
                `${s.user} (${s.kind}) got another user's notes`,
            );
            assert.equal(new Set(ids).size, ids.length, `${s.user} (${s.kind}) got a note twice: ${ids}`);
        }
    });
});
