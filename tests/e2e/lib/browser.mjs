// Helpers for the browser tests: start a pusher process and wait for its port, drive Debian's Chromium with
// puppeteer-core (flags and pitfalls: STACK.md §9), open a page that records every page error and console error.
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));

// The build directory under test: $PUSHER_BUILD_DIR (scripts/test.sh sets it), else <repo>/build.
export const buildDir = path.resolve(process.env.PUSHER_BUILD_DIR ?? path.join(here, '..', '..', '..', 'build'));
export const artifactsDir = path.join(buildDir, 'artifacts');

// Starts `<build>/bin/pusher ...args` and resolves once it logs `listening on HOST:PORT` (stdout or stderr).
// Returns { url, host, port, output(), stop() }. Rejects with the output so far if it exits or stays silent.
export async function startPusher(args, { timeoutMs = 15000, env = {} } = {}) {
    const bin = path.join(buildDir, 'bin', 'pusher');
    if (!existsSync(bin)) {
        throw new Error(`${bin} does not exist: build it first (make build), or set PUSHER_BUILD_DIR`);
    }
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

    const address = await new Promise((resolve, reject) => {
        let pending = '';
        const timer = setTimeout(() => {
            child.kill('SIGKILL');
            reject(new Error(`pusher did not log "listening on" within ${timeoutMs} ms; output:\n${log}`));
        }, timeoutMs);
        const onData = (chunk) => {
            log += chunk;
            pending += chunk;
            const lines = pending.split('\n');
            pending = lines.pop();
            for (const line of lines) {
                const m = /listening on \[?([^\]\s]+?)\]?:(\d+)\b/.exec(line);
                if (m) {
                    clearTimeout(timer);
                    resolve({ host: m[1], port: Number(m[2]) });
                }
            }
        };
        child.stdout.setEncoding('utf8').on('data', onData);
        child.stderr.setEncoding('utf8').on('data', onData);
        child.once('error', (err) => {
            clearTimeout(timer);
            reject(err);
        });
        exited.then(({ code, signal }) => {
            clearTimeout(timer);
            reject(new Error(`pusher exited (code ${code}, signal ${signal}) before listening; output:\n${log}`));
        });
    });

    const hostInUrl = address.host.includes(':') ? `[${address.host}]` : address.host;
    return {
        ...address,
        url: `http://${hostInUrl}:${address.port}`,
        output: () => log,
        async stop() {
            if (child.exitCode !== null || child.signalCode !== null) {
                return exited;
            }
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            const result = await exited;
            clearTimeout(timer);
            return result;
        },
    };
}

// Launches Debian's Chromium headless with a fresh profile. close() also removes the profile.
export async function launchBrowser() {
    const userDataDir = await mkdtemp(path.join(tmpdir(), 'pusher-chromium-'));
    const browser = await puppeteer.launch({
        executablePath: process.env.PUSHER_CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        userDataDir,
        protocolTimeout: 30000, // a hung CDP call fails fast instead of after the 180 s default
        args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            // without these Chromium keeps calling hosts that the closed network refuses
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
        ],
    });
    const close = browser.close.bind(browser);
    browser.close = async () => {
        try {
            await close();
        } finally {
            await rm(userDataDir, { recursive: true, force: true });
        }
    };
    return browser;
}

// A new page whose uncaught exceptions and console errors land in page.errors (strings), for tests to assert empty.
export async function newRecordedPage(browser, { width = 1100, height = 800 } = {}) {
    const page = await browser.newPage();
    await page.setViewport({ width, height });
    // no entry animations: a screenshot then shows the final look, whenever it is taken
    await page.emulateMediaFeatures([{ name: 'prefers-reduced-motion', value: 'reduce' }]);
    page.errors = [];
    page.on('pageerror', (err) => page.errors.push(`pageerror: ${err.message ?? err}`));
    page.on('console', (msg) => {
        if (msg.type() === 'error') {
            page.errors.push(`console.error: ${msg.text()} (${msg.location()?.url ?? ''})`);
        }
    });
    return page;
}

// Text content of the element with this id (trimmed), or null when absent.
export async function textOf(page, id) {
    return page.evaluate((i) => document.getElementById(i)?.textContent.trim() ?? null, id);
}

// Waits until the element with this id has exactly this text; the error names what it saw instead.
export async function waitForText(page, id, expected, { timeout = 15000 } = {}) {
    try {
        await page.waitForFunction(
            (i, want) => document.getElementById(i)?.textContent.trim() === want,
            { timeout, polling: 50 },
            id,
            expected,
        );
    } catch (err) {
        const seen = await textOf(page, id).catch(() => '?');
        throw new Error(`#${id} is "${seen}", expected "${expected}" (${err.message}); page errors: ${page.errors}`);
    }
}

// A real mouse click. Like screenshots, puppeteer's click waits for a rendered frame (scroll into view, hit point),
// which a page that is not in front never produces: the call hangs until protocolTimeout. So bring it to front.
export async function click(page, selector) {
    await page.bringToFront();
    await page.click(selector);
}

// Screenshot of this page into <build>/artifacts/<name>.png; resolves to the path after checking it is non-empty.
export async function screenshot(page, name) {
    await mkdir(artifactsDir, { recursive: true });
    const file = path.join(artifactsDir, `${name}.png`);
    await page.bringToFront(); // a page that is not in front hangs screenshots (STACK.md §9)
    await page.screenshot({ path: file, fullPage: true });
    const { size } = await stat(file);
    if (size === 0) {
        throw new Error(`screenshot ${file} is empty`);
    }
    return file;
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
