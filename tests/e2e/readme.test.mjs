// README.md, as a user would follow it: every command it shows is run here as written, and the test fails when the
// README shows a command that no test below runs, so the README cannot drift from the program again.
//
// - `make run` (in its own process group, stopped by that group's id): wait for the server, connect alice and bob
//   with socket.io-client, run each publish line that `make run` printed, verbatim, and see each one arrive; the
//   README's own publish lines too. `make run` listens on 127.0.0.1:8080 as the README says (the port must be free).
// - The RabbitMQ section: the server command and the `pusher send --amqp-url` line, against the test RabbitMQ node
//   (the README's `amqp://guest:guest@127.0.0.1:5672/` is the only text replaced, by the node's URL; `$SECRET` is
//   set in the environment as a user would set it).
// - The browser snippet (`socket.on("mail.new", ...)`), run by node with the real socket.io-client, against that
//   server with a token for alice (the host name and the token placeholder are replaced).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildDir } from './lib/spawn.mjs';
import { connect, hs256, nowS, waitFor } from './lib/client.mjs';
import { amqpMissing, amqpUrl, apiPublish } from './lib/pusher.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '..', '..');
const sh = promisify(execFile);
const readmeAmqpUrl = 'amqp://guest:guest@127.0.0.1:5672/';
const quickStartUrl = 'http://127.0.0.1:8080';

// ---- README.md's commands ----

// A shell line without its comment (a `#` after whitespace, outside quotes).
function stripComment(line) {
    let quote = null;
    for (let i = 0; i < line.length; ++i) {
        const c = line[i];
        if (quote) {
            if (c === quote) {
                quote = null;
            } else if (c === '\\' && quote === '"') {
                ++i;
            }
        } else if (c === "'" || c === '"') {
            quote = c;
        } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
            return line.slice(0, i).trimEnd();
        }
    }
    return line.trimEnd();
}

// The commands of a block of shell lines: comments dropped, `\` continuations joined (as the shell would).
function shellCommands(lines) {
    const out = [];
    let pending = '';
    for (const raw of lines) {
        const line = stripComment(raw);
        if (line.endsWith('\\')) {
            pending += line.slice(0, -1) + ' ';
            continue;
        }
        const command = (pending + line).replace(/\s+/g, ' ').trim();
        pending = '';
        if (command) {
            out.push(command);
        }
    }
    return out;
}

// Every fenced block of README.md: [{ lang, text }].
function readmeBlocks() {
    const blocks = [];
    const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
    const readme = readFileSync(path.join(top, 'README.md'), 'utf8');
    for (let m; (m = re.exec(readme));) {
        blocks.push({ lang: m[1], text: m[2] });
    }
    return blocks;
}

const blocks = readmeBlocks();
const commands = blocks.filter((b) => b.lang === 'sh').flatMap((b) => shellCommands(b.text.split('\n')));
const snippets = blocks.filter((b) => b.lang === 'js').map((b) => b.text);
const covered = new Set();

// The one README command that `re` matches, marked as run by a test.
function readmeCommand(re) {
    const hits = commands.filter((c) => re.test(c));
    assert.equal(hits.length, 1, `README.md: expected one command matching ${re}, found ${JSON.stringify(hits)}`);
    covered.add(hits[0]);
    return hits[0];
}

// Runs a shell command from the repository root, as a user who pasted it would; resolves to its stdout.
async function paste(command, env = {}) {
    try {
        const { stdout } = await sh('bash', ['-c', command], { cwd: top, env: { ...process.env, ...env }, timeout: 30000 });
        return stdout;
    } catch (err) {
        throw new Error(`\`${command}\` failed (${err.code}): ${err.stderr || err.message}`);
    }
}

// ---- processes in a group of their own ----

// Starts `bash -c command` in its own process group; resolves once its output matches `ready`.
// Returns { output(), stop() }; stop() signals the whole group (make, the script, the server) and waits.
async function startGroup(command, ready, { env = {}, timeoutMs }) {
    const child = spawn('bash', ['-c', command], {
        cwd: top,
        detached: true,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const killGroup = (signal) => {
        try {
            process.kill(-child.pid, signal);
        } catch {
            // already gone
        }
    };
    process.once('exit', () => killGroup('SIGKILL'));
    await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            killGroup('SIGKILL');
            reject(new Error(`\`${command}\` not ready within ${timeoutMs} ms; output:\n${log}`));
        }, timeoutMs);
        const onData = (chunk) => {
            log += chunk;
            if (ready.test(log)) {
                clearTimeout(timer);
                resolve();
            }
        };
        child.stdout.setEncoding('utf8').on('data', onData);
        child.stderr.setEncoding('utf8').on('data', onData);
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`\`${command}\` exited (code ${code}, signal ${signal}); output:\n${log}`));
        });
    });
    return {
        output: () => log,
        async stop() {
            killGroup('SIGTERM');
            const killer = setTimeout(() => killGroup('SIGKILL'), 10000);
            const result = await exited;
            clearTimeout(killer);
            return result;
        },
    };
}

function portFree(port) {
    return new Promise((resolve) => {
        const probe = net.createServer();
        probe.once('error', () => resolve(false));
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
}

const lastEvent = (event) => (received) => received.some((r) => r.event === event);

// ---- the quick start ----

describe('README quick start: make run', () => {
    let server;
    let alice;
    let bob;
    // `make run` builds into build/ (the README's default); a suite run against another build dir says so.
    const defaultBuild = buildDir === path.join(top, 'build');
    const makeRun = readmeCommand(/^make run$/);
    const command = defaultBuild ? makeRun : `${makeRun} BUILD=${path.relative(top, buildDir)}`;

    before(async () => {
        assert.ok(await portFree(8080), 'port 8080 is taken: the quick start serves there (stop whatever listens on it)');
        // Building is a no-op when the suite's build is current; allow for a rebuild all the same.
        server = await startGroup(command, /listening on 127\.0\.0\.1:8080/, { timeoutMs: 600000 });
        alice = await connect(quickStartUrl, { user: 'alice' });
        bob = await connect(quickStartUrl, { user: 'bob' });
    });
    after(async () => {
        alice?.close();
        bob?.close();
        await server?.stop();
    });

    // The lines `make run` printed under "Publish to alice:" (continuations joined).
    const printedPublishLines = () => {
        const out = server.output();
        const start = out.indexOf('Publish to alice:');
        const end = out.indexOf('Stop with Ctrl-C');
        assert.ok(start >= 0 && end > start, `make run printed no publish lines:\n${out}`);
        return shellCommands(out.slice(start, end).split('\n').slice(1));
    };

    test('it prints the demo URLs and the publish lines that the README shows', () => {
        const out = server.output();
        for (const url of [`${quickStartUrl}/?user=alice`, `${quickStartUrl}/?user=bob`]) {
            assert.ok(out.includes(url), `make run did not print ${url}`);
        }
        const printed = printedPublishLines();
        assert.equal(printed.length, 2, `two publish lines, got ${JSON.stringify(printed)}`);
        assert.ok(printed.some((l) => l.startsWith('curl ')), 'a curl line');
        assert.ok(printed.some((l) => / send /.test(l)), 'a pusher send line');
        const readmeCurl = readmeCommand(/^curl .*\/api\/publish/);
        assert.ok(printed.includes(readmeCurl), `README's curl line is what make run prints:\n${readmeCurl}`);
    });

    test('the demo page is served', async () => {
        const res = await fetch(`${quickStartUrl}/?user=alice`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    });

    test('each publish line that make run printed reaches alice, verbatim', async () => {
        for (const line of printedPublishLines()) {
            const before = alice.received.length;
            await paste(line);
            await waitFor(alice, (r) => r.length > before && r.at(-1).event === 'mail.new', { what: `\`${line}\`` });
            assert.deepEqual(alice.received.at(-1), { event: 'mail.new', data: { subject: 'Hello' } }, line);
        }
        assert.equal(bob.received.length, 0, 'bob got none of alice\'s mail');
    });

    test('the README\'s `pusher send` line reaches alice', async () => {
        const line = readmeCommand(/^build\/bin\/pusher send --user alice /);
        const before = alice.received.length;
        await paste(line);
        await waitFor(alice, (r) => r.length > before, { what: line });
        assert.deepEqual(alice.received.at(-1), { event: 'mail.new', data: { subject: 'Hello' } });
    });

    test('the README\'s broadcast line (data from stdin) reaches alice and bob', async () => {
        const line = readmeCommand(/pusher send --broadcast /);
        await paste(line);
        for (const socket of [alice, bob]) {
            await waitFor(socket, lastEvent('notice'), { what: line });
            assert.deepEqual(socket.received.find((r) => r.event === 'notice').data, { text: 'to everyone' });
        }
    });
});

// ---- the RabbitMQ section and the browser snippet ----

describe('README: with RabbitMQ, and the browser snippet', { skip: amqpMissing }, () => {
    const secret = 'readme-secret-0123456789-0123456789';
    let server;
    let alice;
    let bob;
    const token = (user) => hs256({ sub: user, exp: nowS() + 600 }, secret);
    const withTestNode = (line) => {
        assert.ok(line.includes(readmeAmqpUrl), `${line} names ${readmeAmqpUrl}`);
        return line.replaceAll(readmeAmqpUrl, amqpUrl);
    };

    before(async () => {
        assert.ok(await portFree(8080), 'port 8080 is taken: the README\'s server command listens there by default');
        const line = withTestNode(readmeCommand(/^build\/bin\/pusher --broker amqp /));
        server = await startGroup(line, /listening on 127\.0\.0\.1:8080/, { env: { SECRET: secret }, timeoutMs: 30000 });
        alice = await connect(quickStartUrl, { token: token('alice') });
        bob = await connect(quickStartUrl, { token: token('bob') });
    });
    after(async () => {
        alice?.close();
        bob?.close();
        await server?.stop();
    });

    test('`pusher send --amqp-url ... --users alice,bob` reaches both through RabbitMQ', async () => {
        const line = withTestNode(readmeCommand(/pusher send --amqp-url /));
        await paste(line);
        for (const socket of [alice, bob]) {
            await waitFor(socket, lastEvent('notification'), { what: line });
            assert.deepEqual(socket.received.filter((r) => r.event === 'notification').map((r) => r.data), ['hi']);
        }
    });

    test('the browser snippet connects with its token and logs the new mail', async () => {
        assert.equal(snippets.length, 1, 'README.md has one js block');
        const snippet = snippets[0]
            .replace('https://push.example.com', quickStartUrl)
            .replace('<JWT with sub=alice>', token('alice'));
        assert.notEqual(snippet, snippets[0]);
        // Instrumented only by one line after it: tell the test when the connection is up.
        const code = `${snippet}\nsocket.on("connect", () => console.log("connected"));\n`;
        const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: here });
        let out = '';
        const lines = new Promise((resolve, reject) => {
            child.stdout.setEncoding('utf8').on('data', (chunk) => {
                out += chunk;
                if (out.includes('connected\n') && !out.includes('published')) {
                    out += 'published\n';
                    apiPublish(quickStartUrl, { user: 'alice', event: 'mail.new', data: { subject: 'Hi' } }).catch(reject);
                }
                if (/new mail/.test(out)) {
                    resolve(out);
                }
            });
            child.stderr.setEncoding('utf8').on('data', (chunk) => (out += chunk));
            child.once('exit', (code) => reject(new Error(`the snippet exited (${code}):\n${out}`)));
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
        try {
            assert.match(await lines, /new mail \{ subject: 'Hi' \}/);
        } finally {
            clearTimeout(timer);
            child.kill('SIGKILL');
        }
    });
});

test('every command that README.md shows is run by a test above', () => {
    // `make test` is the command that runs this very suite. Without a RabbitMQ node (outside `make test`) the
    // RabbitMQ section was skipped above and says so.
    readmeCommand(/^make test$/);
    const skipped = (c) => amqpMissing && c.includes(readmeAmqpUrl);
    const notRun = commands.filter((c) => !covered.has(c) && !skipped(c));
    assert.deepEqual(notRun, [], 'README.md shows commands that no test runs: add them to tests/e2e/readme.test.mjs');
});
