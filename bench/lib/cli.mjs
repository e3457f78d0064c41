// What the Node benchmarks of bench/ share: their command-line options, the median they report, and the npm packages
// of tests/e2e (socket.io-client, amqplib: `make test` installs them).
import { createRequire } from 'node:module';

// The value after `--name` on the command line, or `fallback`.
export function arg(name, fallback) {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : fallback;
}

export function median(xs) {
    const v = [...xs].sort((x, y) => x - y);
    return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

export const e2eRequire = createRequire(new URL('../../tests/e2e/package.json', import.meta.url));
