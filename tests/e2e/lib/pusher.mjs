// Helpers for tests against the pusher binary and the throw-away RabbitMQ node that scripts/test.sh starts
// (scripts/rabbitmq-test-node.sh exports PUSHER_TEST_AMQP_URL and PUSHER_TEST_RABBITMQCTL).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { binaryPath } from './spawn.mjs';
import amqplib from 'amqplib';

const run = promisify(execFile);

export const amqpUrl = process.env.PUSHER_TEST_AMQP_URL;
// Why AMQP tests are skipped, or false when they can run. Under `make test` (scripts/test.sh exports
// PUSHER_REQUIRE_AMQP=1) a missing node is an error instead: a RabbitMQ that did not start must not turn the AMQP
// tests into skips and the run green.
export const amqpMissing = skipUnless(amqpUrl, 'PUSHER_TEST_AMQP_URL is not set (scripts/test.sh starts a RabbitMQ node)');

// `why` when `present` is falsy (a reason to skip), false otherwise; throws instead under PUSHER_REQUIRE_AMQP=1.
export function skipUnless(present, why) {
    if (present) {
        return false;
    }
    if (process.env.PUSHER_REQUIRE_AMQP === '1') {
        throw new Error(`${why}, and PUSHER_REQUIRE_AMQP=1 makes that an error`);
    }
    return why;
}

// Exchange names of their own per test, so tests never see each other's messages on the shared node.
export function exchangeNames(tag) {
    const id = `${tag}-${randomBytes(4).toString('hex')}`;
    return {
        exchange: `pusher.test.${id}`,
        broadcastExchange: `pusher.test.${id}.all`,
        undeliveredExchange: `pusher.test.${id}.undelivered`,
    };
}

// The exchange flags for those names (the undelivered exchange too, when the names have one).
export function exchangeArgs({ exchange, broadcastExchange, undeliveredExchange }) {
    const args = ['--exchange', exchange, '--broadcast-exchange', broadcastExchange];
    return undeliveredExchange === undefined ? args : [...args, '--undelivered-exchange', undeliveredExchange];
}

// The flags for a pusher on the test node with those exchanges.
export function amqpArgs(names) {
    return ['--broker', 'amqp', '--amqp-url', amqpUrl, ...exchangeArgs(names)];
}

// amqplib's assertExchange options for the per-user exchange as the pusher declares it (with its alternate
// exchange: declared otherwise, RabbitMQ refuses the declaration with 406 PRECONDITION_FAILED).
export function directExchangeOptions(names) {
    return names.undeliveredExchange
        ? { durable: true, alternateExchange: names.undeliveredExchange }
        : { durable: true };
}

// `pusher send ...args`: resolves { code, stdout, stderr } (never rejects on a non-zero exit).
export async function pusherSend(args, { input } = {}) {
    return new Promise((resolve) => {
        const child = execFile(binaryPath('pusher'), ['send', ...args], { timeout: 20000 }, (err, stdout, stderr) =>
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
        );
        if (input !== undefined) {
            child.stdin.end(input);
        }
    });
}

// Publishes through RabbitMQ with `pusher send --amqp-url` and asserts that the broker confirmed it.
export async function amqpSend(names, target, event, data) {
    const args = ['--amqp-url', amqpUrl, ...exchangeArgs(names)];
    if (target.broadcast) {
        args.push('--broadcast');
    } else {
        args.push('--users', [].concat(target.users ?? target.user).join(','));
    }
    args.push('--event', event, '--data', typeof data === 'string' && target.raw ? data : JSON.stringify(data));
    const r = await pusherSend(args);
    if (r.code !== 0) {
        throw new Error(`pusher send exited ${r.code}: ${r.stderr}`);
    }
    return JSON.parse(r.stdout);
}

// rabbitmqctl against the test node; resolves its stdout.
export async function rabbitmqctl(...args) {
    const ctl = process.env.PUSHER_TEST_RABBITMQCTL;
    if (!ctl) {
        throw new Error('PUSHER_TEST_RABBITMQCTL is not set');
    }
    const { stdout } = await run(ctl, args, { timeout: 60000 });
    return stdout;
}

// The routing keys bound from `exchange` to any queue, per rabbitmqctl list_bindings.
export async function boundKeys(exchange) {
    const out = await rabbitmqctl('list_bindings', '-q', '--no-table-headers', 'source_name', 'routing_key');
    const keys = new Set();
    for (const line of out.split('\n')) {
        const [source, key] = line.split('\t');
        if (source === exchange && key !== undefined) {
            keys.add(key.trim());
        }
    }
    return keys;
}

// Polls `fn` until it returns a truthy value (for state only observable by asking, like the broker's bindings).
export async function eventually(fn, { timeout = 15000, interval = 50, what = 'condition' } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
        last = await fn();
        if (last) {
            return last;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, interval));
    }
}

// POST /api/publish; resolves to { status, body } (body parsed when JSON).
export async function apiPublish(baseUrl, message, { apiKey } = {}) {
    const headers = { 'content-type': 'application/json' };
    if (apiKey) {
        headers.authorization = `Bearer ${apiKey}`;
    }
    const res = await fetch(`${baseUrl}/api/publish`, { method: 'POST', headers, body: JSON.stringify(message) });
    const text = await res.text();
    let body = text;
    try {
        body = JSON.parse(text);
    } catch {
        // keep the text
    }
    return { status: res.status, body };
}

// The value of one /metrics series, e.g. metric(server, 'pusher_sessions') or
// metric(server, 'pusher_connections{transport="websocket"}'); undefined when absent.
export async function metric(server, series) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

// A queue of our own on the undelivered exchange: every message that lands there, with its properties.
export async function undeliveredQueue(names) {
    const conn = await amqplib.connect(amqpUrl);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, names.undeliveredExchange, '');
    const got = [];
    await ch.consume(
        queue,
        (msg) =>
            got.push({
                routingKey: msg.fields.routingKey,
                type: msg.properties.type,
                messageId: msg.properties.messageId,
                contentType: msg.properties.contentType,
                headers: msg.properties.headers ?? {},
                reason: msg.properties.headers?.['x-pusher-reason'],
                body: msg.content.toString('latin1'),
            }),
        { noAck: true },
    );
    return { got, close: () => conn.close() };
}

