// Helpers for the browser tests: start a pusher process and wait for its port, drive Debian's Chromium with
// puppeteer-core (flags and pitfalls: docs/dependencies.md §9), open a page that records every page error and
// console error.
import { mkdtemp, mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';
import { buildDir, startBinary } from './spawn.mjs';

export const artifactsDir = path.join(buildDir, 'artifacts');

// Starts `<build>/bin/pusher ...args`; resolves once it logs `listening on HOST:PORT` (see spawn.mjs):
// { url, host, port, output(), stop() }.
export function startPusher(args, options) {
    return startBinary('pusher', args, options);
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
    await page.bringToFront(); // a page that is not in front hangs screenshots (docs/dependencies.md §9)
    await page.screenshot({ path: file, fullPage: true });
    const { size } = await stat(file);
    if (size === 0) {
        throw new Error(`screenshot ${file} is empty`);
    }
    return file;
}

export { apiPublish } from './pusher.mjs';
