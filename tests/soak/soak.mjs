// The soak test: a pusher on RabbitMQ under mixed churn for SOAK_SECONDS (connects, reconnects, polling sessions
// upgrading to websocket, clients vanishing without a close, publishes through AMQP and /api/publish, broadcasts, and
// a RabbitMQ restart in the middle), with the server's RSS, open file descriptors and threads sampled every second
// from /proc. Writes a JSON report and a gnuplot PNG, prints a verdict, and exits 0 only when it passes.
//
//   node tests/soak/soak.mjs --seconds 600 --out build/artifacts
//   (needs PUSHER_BUILD_DIR and the RabbitMQ test node's PUSHER_TEST_AMQP_URL / PUSHER_TEST_RABBITMQCTL; see
//   scripts/soak.sh, which provides them)
//
// Verdict (each rule is printed with its figures):
// - delivery: every message confirmed by the broker (AMQP publisher confirm, or /api/publish answered 202) to a
//   steady user reaches each of that user's sessions exactly once, in order, unless it was published inside the
//   restart window [broker stop - 2 s, /readyz 200 again]. Inside the window a message may be lost (the queue and its
//   bindings are gone until restored), but never delivered twice. Broadcasts likewise. Nothing is ever misrouted (a
//   session only ever sees its own user's messages and broadcasts), and no steady client is disconnected.
// - flat after warm-up (the first max(10 s, 20 %) of the run; samples from the restart until 10 s after /readyz is
//   200 again are left out): threads never exceed their count at the end of warm-up; open fds in the last 20 % of
//   the run stay within 16 of their level in the first 20 % after warm-up (medians; fds follow the churning
//   connections); RSS in the last 20 % stays within max(8 MiB, 10 %) of the first 20 % after warm-up (medians); and,
//   for runs of 300 s or more, RSS's least-squares slope after warm-up is under 1 MiB/min.
// - no leak at rest: once every client is gone and the server has no session left, its open fds are back to within
//   4 of what it had before the load started.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startBinary } from '../e2e/lib/spawn.mjs';
import { connect } from '../e2e/lib/client.mjs';
import { amqpArgs, amqpMissing, eventually, exchangeNames, rabbitmqctl } from '../e2e/lib/pusher.mjs';
import { RawWs, allMetrics, amqpPublisher, procStats, readyzStatus, sanitizerOf, sleep } from '../e2e/lib/faults.mjs';
import { startProxy } from '../e2e/lib/tcp_proxy.mjs';

const run = promisify(execFile);

// ---- parameters ----
const args = Object.fromEntries(
    process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const SECONDS = Number(args.seconds ?? process.env.SOAK_SECONDS ?? 600);
const OUT = path.resolve(args.out ?? path.join(process.env.PUSHER_BUILD_DIR ?? 'build', 'artifacts'));
const STEADY_USERS = Number(args.steady ?? 40); // connected all along; every message to them is checked
const CHURNERS = Number(args.churners ?? 24); // concurrent connect / stay / leave loops
const DROPPERS = Number(args.droppers ?? 8); // checked like steady clients, but cut at the TCP level every few seconds
const CHURN_USERS = 200; // churners pick among these user ids
const PUBLISH_INTERVAL_MS = 20; // per publisher (AMQP and API): ~50 messages/s each
const BROADCAST_INTERVAL_MS = 1000;
const WINDOW_BEFORE_MS = 2000; // the restart window starts this long before the broker is stopped
const SETTLE_AFTER_READY_MS = 10000; // samples left out of the flatness rules after /readyz is 200 again

if (!(SECONDS >= 60)) {
    console.error('soak: run for 60 s or more (warm-up, the restart in the middle and a settled end need the room)');
    process.exit(2);
}
if (amqpMissing) {
    console.error(`soak: ${amqpMissing}`);
    process.exit(2);
}
const log = (...a) => console.log(`soak [${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s]`, ...a);
const t0 = performance.now();
const now = () => performance.now() - t0; // ms since the start of the run

// ---- the server ----
const names = exchangeNames('soak');
const server = await startBinary('pusher', [
    '--listen', '127.0.0.1:0', '--dev-auth', '--log-level', 'warn', '--threads', '2', '--unbind-grace-ms', '500',
    '--ping-interval-ms', '5000', '--ping-timeout-ms', '5000', '--amqp-heartbeat-s', '5', '--amqp-reconnect-max-ms',
    '1000', ...amqpArgs(names),
]);
let stopping = false;
const cleanup = async () => {
    stopping = true;
    await server.stop();
};
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
await eventually(async () => (await readyzStatus(server)) === 200, { what: 'the pusher ready' });
const idle = procStats(server.pid);
// Under a sanitizer RSS is the sanitizer's (quarantine, shadow memory): the RSS rules are reported, not applied.
const sanitizer = sanitizerOf(process.env.PUSHER_BUILD_DIR ?? 'build', server.pid);
log(`pusher pid ${server.pid} at ${server.url}; idle: ${JSON.stringify(idle)}; ${SECONDS} s of churn`);

// ---- sampling ----
const samples = [];
let sampling = true;
const sampler = (async () => {
    while (sampling) {
        const at = now();
        try {
            const p = procStats(server.pid);
            const m = await allMetrics(server);
            samples.push({
                t: at / 1000,
                rssKiB: p.rssKiB,
                fds: p.fds,
                threads: p.threads,
                ws: m.get('pusher_connections{transport="websocket"}'),
                polling: m.get('pusher_connections{transport="polling"}'),
                users: m.get('pusher_users_online'),
                bindings: m.get('pusher_bindings'),
                delivered: m.get('pusher_messages_delivered_total'),
                ready: m.get('pusher_broker_ready'),
            });
        } catch (err) {
            log(`sample failed: ${err.message}`);
        }
        await sleep(Math.max(0, 1000 - (now() - at)));
    }
})();

// ---- steady clients: every message to them is accounted for ----
let windingDown = false; // set once the steady clients are closed on purpose
const counts = { misrouted: [], steadyDisconnects: [], churnConnects: 0, churnErrors: {}, vanished: 0, cuts: 0, recovered: 0, unrecovered: [] };
const steady = [];
// Records what a checked client receives: `${source}:${seq}` -> count, and the arrival order per source.
function track(user, socket) {
    const got = new Map();
    const order = { amqp: [], api: [], broadcast: [] };
    socket.on('soak', (d) => {
        if (d.user !== user && d.user !== '*') {
            counts.misrouted.push(`${d.user} -> ${user}`);
            return;
        }
        const key = `${d.source}:${d.seq}`;
        got.set(key, (got.get(key) ?? 0) + 1);
        order[d.source].push(d.seq);
    });
    return { got, order };
}
for (let i = 0; i < STEADY_USERS; ++i) {
    const user = `steady-${i}`;
    // a third start on polling and upgrade to websocket, the rest are websocket from the start
    const opts = i % 3 === 0 ? { transports: ['polling', 'websocket'] } : {};
    const socket = await connect(server.url, { user }, opts);
    const { got, order } = track(user, socket);
    socket.on('disconnect', (why) => {
        if (!windingDown && !user.startsWith('dropper-')) {
            counts.steadyDisconnects.push(`${user}: ${why} at ${(now() / 1000).toFixed(1)} s`);
        }
    });
    steady.push({ user, socket, got, order });
}
log(`${STEADY_USERS} steady clients connected (${Math.ceil(STEADY_USERS / 3)} upgraded from polling)`);

// ---- droppers: clients behind a TCP proxy each, cut every few seconds; they come back by connection state recovery,
// so every message to them is checked exactly like a steady client's (each once, in order, none missing) ----
const proxies = [];
for (let i = 0; i < DROPPERS; ++i) {
    const user = `dropper-${i}`;
    const proxy = await startProxy(Number(new URL(server.url).port));
    proxies.push(proxy);
    const transports = i % 2 === 0 ? ['websocket'] : ['polling'];
    const socket = await connect(proxy.url, { user }, {
        transports, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0,
    });
    const { got, order } = track(user, socket);
    socket.on('connect', () => { // a reconnection (the first connect resolved connect() above)
        if (socket.recovered) {
            ++counts.recovered;
        } else {
            counts.unrecovered.push(`${user} at ${(now() / 1000).toFixed(1)} s`);
        }
    });
    steady.push({ user, socket, got, order });
}
log(`${DROPPERS} droppers connected through TCP proxies`);

// ---- churn: connect, stay a little, leave (cleanly, or vanishing), reconnect ----
const churnTasks = [];
for (let lane = 0; lane < CHURNERS; ++lane) {
    churnTasks.push(
        (async () => {
            let n = 0;
            while (!stopping) {
                const user = `churn-${Math.floor(Math.random() * CHURN_USERS)}`;
                const kind = ['websocket', 'polling', 'upgrade', 'raw'][n++ % 4];
                try {
                    if (kind === 'raw') {
                        // a raw websocket that joins and then vanishes without a close frame
                        const c = await RawWs.open(server);
                        try {
                            await c.connectSocketIo({ user });
                            await sleep(100 + Math.random() * 1500);
                            ++counts.vanished;
                        } finally {
                            c.destroy();
                        }
                    } else {
                        const transports = { websocket: ['websocket'], polling: ['polling'], upgrade: ['polling', 'websocket'] }[kind];
                        const s = await connect(server.url, { user }, { transports });
                        s.on('soak', (d) => {
                            if (d.user !== user && d.user !== '*') {
                                counts.misrouted.push(`${d.user} -> ${user}`);
                            }
                        });
                        await sleep(200 + Math.random() * 2500);
                        s.close();
                    }
                    ++counts.churnConnects;
                } catch (err) {
                    const key = `${kind}: ${String(err.message).slice(0, 60)}`;
                    counts.churnErrors[key] = (counts.churnErrors[key] ?? 0) + 1;
                    await sleep(200);
                }
            }
        })(),
    );
}

// ---- publishers ----
// What was published to whom: `${source}:${user}` -> [{seq, at (ms), ok}]
const sent = new Map();
const record = (source, user, seq, at, ok) => {
    const k = `${source}:${user}`;
    if (!sent.has(k)) {
        sent.set(k, []);
    }
    sent.get(k).push({ seq, at, ok });
};
const seqs = new Map();
const nextSeq = (source, user) => {
    const k = `${source}:${user}`;
    const s = seqs.get(k) ?? 0;
    seqs.set(k, s + 1);
    return s;
};
const pickSteady = () => steady[Math.floor(Math.random() * steady.length)].user;

// AMQP: an independent client (amqplib, confirm channel), reconnecting when the broker goes away.
let pub = null;
let pubConnecting = null;
async function amqp() {
    if (pub) {
        return pub;
    }
    pubConnecting ??= amqpPublisher(names)
        .then((p) => {
            p.conn.on('close', () => {
                if (pub === p) {
                    pub = null;
                }
            });
            pub = p;
            return p;
        })
        .finally(() => {
            pubConnecting = null;
        });
    return pubConnecting;
}
const publishers = [
    (async () => {
        let i = 0;
        while (!stopping) {
            const toChurn = ++i % 10 === 0;
            const user = toChurn ? `churn-${Math.floor(Math.random() * CHURN_USERS)}` : pickSteady();
            const seq = nextSeq('amqp', user);
            const at = now();
            let ok = false;
            try {
                const p = await amqp();
                await p.toUser(user, 'soak', { source: 'amqp', user, seq });
                ok = true;
            } catch {
                await sleep(200);
            }
            record('amqp', user, seq, at, ok);
            await sleep(PUBLISH_INTERVAL_MS);
        }
    })(),
    (async () => {
        let i = 0;
        while (!stopping) {
            const toChurn = ++i % 10 === 0;
            const user = toChurn ? `churn-${Math.floor(Math.random() * CHURN_USERS)}` : pickSteady();
            const seq = nextSeq('api', user);
            const at = now();
            let ok = false;
            try {
                const res = await fetch(`${server.url}/api/publish`, {
                    method: 'POST',
                    headers: { 'content-type': 'application/json' },
                    body: JSON.stringify({ user, event: 'soak', data: { source: 'api', user, seq } }),
                });
                await res.arrayBuffer();
                ok = res.status === 202;
            } catch {
                // counted as not ok
            }
            record('api', user, seq, at, ok);
            await sleep(PUBLISH_INTERVAL_MS);
        }
    })(),
    (async () => {
        while (!stopping) {
            const seq = nextSeq('broadcast', '*');
            const at = now();
            let ok = false;
            try {
                const p = await amqp();
                await p.toAll('soak', { source: 'broadcast', user: '*', seq });
                ok = true;
            } catch {
                // not ok
            }
            record('broadcast', '*', seq, at, ok);
            await sleep(BROADCAST_INTERVAL_MS);
        }
    })(),
];

// ---- the broker restart, in the middle ----
const restart = { stopAt: null, readyAt: null, notReadySeen: false };
const restartTask = (async () => {
    await sleep(Math.max(0, (SECONDS * 1000) / 2 - now()));
    log('stopping RabbitMQ (rabbitmqctl stop_app)');
    restart.stopAt = now();
    await rabbitmqctl('stop_app');
    await eventually(async () => (await readyzStatus(server)) === 503, { timeout: 20000, what: 'readyz 503' });
    restart.notReadySeen = true;
    await sleep(3000);
    log('starting RabbitMQ (rabbitmqctl start_app)');
    await rabbitmqctl('start_app');
    await eventually(async () => (await readyzStatus(server)) === 200, { timeout: 120000, interval: 20, what: 'readyz 200' });
    restart.readyAt = now();
    log(`ready again ${((restart.readyAt - restart.stopAt) / 1000).toFixed(1)} s after the stop`);
})();

// Cuts, away from the broker restart (a reconnection then waits for its binding, which waits for the broker).
const quietFrom = (SECONDS * 1000) / 2 - 5000;
const dropTask = (async () => {
    while (!stopping) {
        await sleep(1500 + Math.random() * 2500);
        const nearRestart = now() > quietFrom && (restart.readyAt === null || now() < restart.readyAt + 3000);
        if (stopping || nearRestart || now() > SECONDS * 1000 - 5000) {
            continue;
        }
        proxies[Math.floor(Math.random() * proxies.length)].cut();
        ++counts.cuts;
    }
})();

// ---- run, then wind down ----
while (now() < SECONDS * 1000) {
    await sleep(Math.min(5000, SECONDS * 1000 - now()));
    const s = samples.at(-1);
    if (s) {
        log(`rss ${(s.rssKiB / 1024).toFixed(1)} MiB, fds ${s.fds}, threads ${s.threads}, sessions ws ${s.ws} / polling ${s.polling}, ` +
            `users ${s.users}, delivered ${s.delivered}, ready ${s.ready}`);
    }
}
stopping = true;
await restartTask.catch((err) => {
    restart.error = err.message;
});
await Promise.all([...publishers, ...churnTasks, dropTask]);
log('load stopped; letting the last messages arrive');

const inWindow = (at) =>
    restart.stopAt !== null && at >= restart.stopAt - WINDOW_BEFORE_MS && (restart.readyAt === null || at <= restart.readyAt);
// Expected per steady session: the confirmed messages of its user (and broadcasts) published outside the window.
function expected(user, source) {
    return (sent.get(`${source}:${user}`) ?? []).filter((m) => m.ok && !inWindow(m.at)).map((m) => m.seq);
}
await eventually(
    () =>
        steady.every((c) =>
            ['amqp', 'api'].every((src) => expected(c.user, src).every((seq) => c.got.has(`${src}:${seq}`))) &&
            expected('*', 'broadcast').every((seq) => c.got.has(`broadcast:${seq}`)),
        ),
    { timeout: 15000, interval: 200, what: 'every expected message delivered' },
).catch(() => {});
await sleep(500); // late duplicates would show here (not a synchronisation: nothing else is awaited)

// ---- delivery verdict ----
const delivery = { expected: 0, received: 0, missing: [], duplicates: [], outOfOrder: [], lostInWindow: 0, publishedInWindow: 0, failedPublishes: 0 };
for (const [k, list] of sent) {
    delivery.failedPublishes += list.filter((m) => !m.ok).length;
    delivery.publishedInWindow += list.filter((m) => m.ok && inWindow(m.at) && !k.includes(':churn-')).length;
}
for (const c of steady) {
    for (const src of ['amqp', 'api', 'broadcast']) {
        const target = src === 'broadcast' ? '*' : c.user;
        const want = expected(target, src);
        delivery.expected += want.length;
        for (const seq of want) {
            const n = c.got.get(`${src}:${seq}`) ?? 0;
            if (n === 0) {
                delivery.missing.push(`${c.user} ${src}:${seq}`);
            }
        }
        for (const m of sent.get(`${src}:${target}`) ?? []) {
            if (m.ok && inWindow(m.at) && !c.got.has(`${src}:${m.seq}`)) {
                ++delivery.lostInWindow;
            }
        }
        for (const [key, n] of c.got) {
            if (key.startsWith(`${src}:`)) {
                delivery.received += n;
                if (n > 1) {
                    delivery.duplicates.push(`${c.user} ${key} x${n}`);
                }
            }
        }
        const order = c.order[src];
        for (let i = 1; i < order.length; ++i) {
            if (order[i] <= order[i - 1]) {
                delivery.outOfOrder.push(`${c.user} ${src}: ${order[i - 1]} then ${order[i]}`);
                break;
            }
        }
    }
}

// ---- rest: every client gone, sessions reaped, fds back ----
windingDown = true;
steady.forEach((c) => c.socket.close());
await Promise.all(proxies.map((p) => p.close()));
const finalWait = now();
const sessionsLeft = async () => {
    const m = await allMetrics(server);
    return {
        websocket: m.get('pusher_connections{transport="websocket"}'),
        polling: m.get('pusher_connections{transport="polling"}'),
        attached: m.get('pusher_sessions'),
        users: m.get('pusher_users_online'),
    };
};
let left = await sessionsLeft();
try {
    await eventually(
        async () => {
            left = await sessionsLeft();
            return Object.values(left).every((v) => v === 0);
        },
        { timeout: 15000, interval: 200, what: 'no session left' },
    );
} catch {
    // reported by its rule
}
let rest = procStats(server.pid);
for (let i = 0; i < 50 && rest.fds > idle.fds + 4; ++i) {
    await sleep(200); // sockets close asynchronously (a closing handshake has up to 5 s)
    rest = procStats(server.pid);
}
log(`at rest after ${((now() - finalWait) / 1000).toFixed(1)} s: ${JSON.stringify(rest)} (idle before the load: ${JSON.stringify(idle)})`);
sampling = false;
await sampler;
await pub?.close();
await cleanup();

// ---- flatness verdict ----
const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : NaN;
};
const loadSamples = samples.filter((s) => s.t * 1000 <= SECONDS * 1000);
const warmupEnd = Math.max(10, 0.2 * SECONDS);
const excluded = (s) =>
    restart.stopAt !== null && s.t * 1000 >= restart.stopAt - WINDOW_BEFORE_MS && s.t * 1000 <= (restart.readyAt ?? Infinity) + SETTLE_AFTER_READY_MS;
const post = loadSamples.filter((s) => s.t >= warmupEnd && !excluded(s));
const span = SECONDS - warmupEnd;
const early = post.filter((s) => s.t < warmupEnd + 0.2 * span);
const late = post.filter((s) => s.t >= SECONDS - 0.2 * span);
const atWarmupEnd = loadSamples.filter((s) => s.t <= warmupEnd).at(-1) ?? loadSamples[0];
const slope = (() => {
    // least squares, KiB per second -> MiB per minute
    const n = post.length;
    if (n < 3) {
        return 0;
    }
    const mx = post.reduce((a, s) => a + s.t, 0) / n;
    const my = post.reduce((a, s) => a + s.rssKiB, 0) / n;
    const num = post.reduce((a, s) => a + (s.t - mx) * (s.rssKiB - my), 0);
    const den = post.reduce((a, s) => a + (s.t - mx) ** 2, 0);
    return den === 0 ? 0 : ((num / den) * 60) / 1024;
})();
const rssEarly = median(early.map((s) => s.rssKiB));
const rssLate = median(late.map((s) => s.rssKiB));
const fdsEarly = median(early.map((s) => s.fds));
const fdsLate = median(late.map((s) => s.fds));
const threadsMax = Math.max(...post.map((s) => s.threads));
const rules = [
    ['no message misrouted', counts.misrouted.length === 0, `${counts.misrouted.length} misrouted ${counts.misrouted.slice(0, 5).join(', ')}`],
    ['no message delivered twice', delivery.duplicates.length === 0, `${delivery.duplicates.length} ${delivery.duplicates.slice(0, 5).join(', ')}`],
    ['every confirmed message outside the restart window delivered to every session of its user', delivery.missing.length === 0,
        `${delivery.expected - delivery.missing.length}/${delivery.expected}; missing ${delivery.missing.slice(0, 5).join(', ')}`],
    ['in order', delivery.outOfOrder.length === 0, delivery.outOfOrder.slice(0, 3).join('; ')],
    ['every cut dropper came back recovered', counts.unrecovered.length === 0 && counts.recovered > 0,
        `${counts.cuts} cuts, ${counts.recovered} recovered${counts.unrecovered.length ? `; not recovered: ${counts.unrecovered.slice(0, 5).join(', ')}` : ''}`],
    ['no steady client disconnected', counts.steadyDisconnects.length === 0, counts.steadyDisconnects.slice(0, 5).join(', ')],
    ['the broker restart happened and /readyz said 503 meanwhile', restart.notReadySeen && restart.readyAt !== null && !restart.error,
        restart.error ?? `down for ${restart.readyAt === null ? '?' : ((restart.readyAt - restart.stopAt) / 1000).toFixed(1)} s`],
    ['threads do not grow after warm-up', threadsMax <= atWarmupEnd.threads, `${atWarmupEnd.threads} at warm-up end, max ${threadsMax} after`],
    ['fds flat after warm-up (late median within early median + 16)', fdsLate <= fdsEarly + 16, `early ${fdsEarly}, late ${fdsLate}`],
    ['RSS flat after warm-up (late median within max(8 MiB, 10 %) of early)', sanitizer !== null || rssLate - rssEarly <= Math.max(8192, 0.1 * rssEarly),
        `early ${(rssEarly / 1024).toFixed(1)} MiB, late ${(rssLate / 1024).toFixed(1)} MiB${sanitizer ? ` (not applied: ${sanitizer} sanitizer)` : ''}`],
    ['RSS slope after warm-up under 1 MiB/min (runs of 300 s or more)', sanitizer !== null || SECONDS < 300 || slope < 1,
        `${slope.toFixed(2)} MiB/min${sanitizer ? ` (not applied: ${sanitizer} sanitizer)` : ''}`],
    ['no session left at rest (connections, attached sessions, users online)', Object.values(left).every((v) => v === 0), JSON.stringify(left)],
    ['fds at rest back to idle + 4', rest.fds <= idle.fds + 4, `idle ${idle.fds}, at rest ${rest.fds}`],
];
const pass = rules.every(([, ok]) => ok);

// ---- report ----
mkdirSync(OUT, { recursive: true });
const report = {
    seconds: SECONDS,
    pass,
    rules: rules.map(([rule, ok, detail]) => ({ rule, ok, detail })),
    params: { steadyUsers: STEADY_USERS, churners: CHURNERS, churnUsers: CHURN_USERS, publishIntervalMs: PUBLISH_INTERVAL_MS, warmupEndS: warmupEnd },
    restart: { stopAtS: restart.stopAt / 1000, readyAtS: restart.readyAt / 1000, windowBeforeMs: WINDOW_BEFORE_MS },
    delivery: { ...delivery, missing: delivery.missing.slice(0, 50), duplicates: delivery.duplicates.slice(0, 50) },
    churn: { connects: counts.churnConnects, vanished: counts.vanished, errors: counts.churnErrors },
    droppers: { count: DROPPERS, cuts: counts.cuts, recovered: counts.recovered, unrecovered: counts.unrecovered },
    published: Object.fromEntries(['amqp', 'api', 'broadcast'].map((src) => [src, [...sent].filter(([k]) => k.startsWith(`${src}:`)).reduce((a, [, l]) => a + l.length, 0)])),
    idle,
    rest,
    figures: { rssEarlyKiB: rssEarly, rssLateKiB: rssLate, rssSlopeMiBPerMin: slope, fdsEarly, fdsLate, threadsAtWarmupEnd: atWarmupEnd.threads, threadsMax },
    samples,
};
const json = path.join(OUT, 'soak.json');
writeFileSync(json, `${JSON.stringify(report, null, 1)}\n`);
const dat = path.join(OUT, 'soak.dat');
writeFileSync(dat, samples.map((s) => [s.t, s.rssKiB / 1024, s.fds, s.threads, s.ws + s.polling, s.users].join(' ')).join('\n') + '\n');
const png = path.join(OUT, 'soak.png');
const shade = restart.stopAt === null ? '' :
    `set object 1 rect from ${(restart.stopAt / 1000).toFixed(1)}, graph 0 to ${((restart.readyAt ?? restart.stopAt) / 1000).toFixed(1)}, graph 1 fc rgb "#f4cccc" fs solid 0.5 behind\n`;
const plot = `set terminal pngcairo size 1100,900 font ",10"
set output "${png}"
set multiplot layout 3,1 title "pusher soak: ${SECONDS} s, ${pass ? 'PASS' : 'FAIL'} (shaded: RabbitMQ restart until /readyz 200; dashed: end of warm-up)"
set grid
set xrange [0:*]
set arrow 1 from ${warmupEnd}, graph 0 to ${warmupEnd}, graph 1 nohead dt 2
${shade}set ylabel "RSS (MiB)"
set yrange [0:*]
plot "${dat}" using 1:2 with lines lw 2 title "RSS"
set ylabel "count"
plot "${dat}" using 1:3 with lines lw 2 title "open fds", "${dat}" using 1:5 with lines title "sessions", "${dat}" using 1:6 with lines title "users online"
set ylabel "threads"
set xlabel "seconds"
set yrange [0:${Math.max(...samples.map((s) => s.threads)) + 2}]
plot "${dat}" using 1:4 with steps lw 2 title "threads"
unset multiplot
`;
const gp = path.join(OUT, 'soak.gp');
writeFileSync(gp, plot);
try {
    await run('gnuplot', [gp]);
} catch (err) {
    log(`gnuplot failed (the JSON report is complete): ${err.message}`);
}

console.log(`\nsoak: ${SECONDS} s, ${counts.churnConnects} churn connections (${counts.vanished} vanished), ` +
    `${report.published.amqp} AMQP + ${report.published.api} API + ${report.published.broadcast} broadcast publishes, ` +
    `${delivery.received} deliveries checked; ${delivery.lostInWindow} of ${delivery.publishedInWindow} lost inside the restart window`);
for (const r of report.rules) {
    console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.rule}: ${r.detail}`);
}
console.log(`soak: ${pass ? 'PASS' : 'FAIL'}; report ${json}, plot ${png}`);
process.exit(pass ? 0 : 1);
