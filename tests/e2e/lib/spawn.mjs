// Starts one of our binaries for a test and stops it afterwards. Generic: any program of $PUSHER_BUILD_DIR/bin that
// prints `listening on HOST:PORT` (stdout or stderr) once it accepts connections, started with a free port
// (`--port 0`, `--listen 127.0.0.1:0`, ...).
//
//   const server = await startBinary('conformance_server', ['--port', '0']);
//   after(() => server.stop());
//   fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// The build directory under test: $PUSHER_BUILD_DIR (scripts/test.sh sets it), else <repo>/build.
export const buildDir = path.resolve(process.env.PUSHER_BUILD_DIR ?? path.join(here, '..', '..', '..', 'build'));

export function binaryPath(name) {
    return path.join(buildDir, 'bin', name);
}

const running = new Set();
process.on('exit', () => {
    for (const child of running) {
        child.kill('SIGKILL');
    }
});

// Starts `<build>/bin/<name> ...args` and resolves once it reports `listening on HOST:PORT`.
// Returns { url, host, port, pid, output(), exited, stop(signal) }:
//   url      http://HOST:PORT (IPv6 hosts in brackets)
//   output() everything the process wrote so far (stdout and stderr interleaved)
//   untilOutput(predicate, {timeout, what}) resolves once predicate(output()) holds (event-driven, no polling)
//   exited   a promise of { code, signal }
//   stop()   SIGTERM (or `signal`), SIGKILL after `killAfterMs`; resolves to { code, signal }
// Rejects, with the output so far, if the process exits or stays silent for `timeoutMs`.
export async function startBinary(name, args = [], { env = {}, timeoutMs = 15000, killAfterMs = 5000, cwd } = {}) {
    const bin = binaryPath(name);
    if (!existsSync(bin)) {
        throw new Error(`${bin} does not exist: build it first, or set PUSHER_BUILD_DIR`);
    }
    const child = spawn(bin, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let log = '';
    const exited = new Promise((resolve) =>
        child.once('exit', (code, signal) => {
            running.delete(child);
            resolve({ code, signal });
        }),
    );

    const address = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`${name} did not print "listening on" within ${timeoutMs} ms; output:\n${log}`));
        }, timeoutMs);
        const pending = { stdout: '', stderr: '' };
        const watch = (stream, key) => {
            stream.setEncoding('utf8');
            stream.on('data', (chunk) => {
                log += chunk;
                pending[key] += chunk;
                const lines = pending[key].split('\n');
                pending[key] = lines.pop();
                for (const line of lines) {
                    const m = /listening on (\[[0-9a-fA-F:.]+\]|[^\s:]+):(\d+)/.exec(line);
                    if (m) {
                        clearTimeout(timer);
                        resolve({ host: m[1], port: Number(m[2]) });
                    }
                }
            });
        };
        watch(child.stdout, 'stdout');
        watch(child.stderr, 'stderr');
        child.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`${name} exited (code ${code}, signal ${signal}) before listening; output:\n${log}`));
        });
    });

    // Resolves once `predicate(output so far)` holds: checked now and on every chunk the process writes.
    const untilOutput = (predicate, { timeout = 10000, what = 'output' } = {}) =>
        new Promise((resolve, reject) => {
            const check = () => {
                if (predicate(log)) {
                    cleanup();
                    resolve(log);
                }
            };
            const timer = setTimeout(() => {
                cleanup();
                reject(new Error(`${name}: timed out waiting for ${what}; output:\n${log.slice(-2000)}`));
            }, timeout);
            const cleanup = () => {
                clearTimeout(timer);
                child.stdout.off('data', check);
                child.stderr.off('data', check);
            };
            // Registered after the watchers above, so `log` already holds the chunk when check runs.
            child.stdout.on('data', check);
            child.stderr.on('data', check);
            check();
        });

    let stopping = null;
    return {
        ...address,
        url: `http://${address.host}:${address.port}`,
        pid: child.pid,
        process: child,
        output: () => log,
        untilOutput,
        exited,
        stop(signal = 'SIGTERM') {
            if (!stopping) {
                if (child.exitCode === null && child.signalCode === null) {
                    child.kill(signal);
                }
                const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
                stopping = exited.finally(() => clearTimeout(killer));
            }
            return stopping;
        },
    };
}
