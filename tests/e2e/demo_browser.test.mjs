// The demo inbox page in a real browser (Debian Chromium via puppeteer-core), against the real pusher binary:
// the page loads the embedded Socket.IO client, connects as ?user=NAME over each transport, shows a published
// notification to its user only, renders payload text as text (no markup), counts unread items, and raises no page
// or console error. The room panel joins a channel (`demo:lobby`): its events are listed in #room-log, never in the
// inbox, and per-user events never in #room-log; a leave stops them, a bad name is refused, a recovered connection
// stays a member and a new one (server restart) joins again on its own. Screenshots land in
// $PUSHER_BUILD_DIR/artifacts/demo-*.png.
//
// Each flow is { name, args, publisher(server) -> publish(user, event, data) }: another way in (e.g. RabbitMQ with
// `pusher send`) is one more entry in `flows`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
    apiPublish,
    click,
    launchBrowser,
    newRecordedPage,
    screenshot,
    startPusher,
    textOf,
    waitForText,
} from './lib/browser.mjs';
import { amqpArgs, amqpMissing, amqpSend, exchangeNames } from './lib/pusher.mjs';
import { startProxy } from './lib/tcp_proxy.mjs';

const amqpNames = exchangeNames('demo');

const flows = [
    {
        name: 'memory broker, POST /api/publish',
        tag: 'api',
        args: ['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth'],
        publisher: (server) => async (user, event, data) => {
            const { status, body } = await apiPublish(server.url, { user, event, data });
            assert.equal(status, 202, `POST /api/publish answered ${status} ${JSON.stringify(body)}`);
            assert.equal(body.accepted, 1);
        },
    },
    {
        name: 'RabbitMQ, pusher send --amqp-url',
        tag: 'amqp',
        skip: amqpMissing,
        // a channel exchange of its own too: a room test elsewhere on the shared node must not reach this one's pages
        args: ['--listen', '127.0.0.1:0', '--dev-auth', ...(amqpMissing ? [] : amqpArgs(amqpNames)),
            '--channel-exchange', `${amqpNames.exchange}.channels`],
        publisher: () => async (user, event, data) => {
            const answer = await amqpSend(amqpNames, { user }, event, data);
            assert.equal(answer.accepted, 1);
        },
    },
];

// What a notification looks like on the page: one entry per .item, newest first.
async function inboxItems(page) {
    return page.$$eval('#inbox .item', (items) =>
        items.map((item) => ({
            event: item.querySelector('.event')?.textContent,
            text: item.textContent,
            unread: item.classList.contains('unread'),
            elements: item.querySelectorAll('img, script, iframe, b').length,
        })),
    );
}

// What a channel event looks like in the room panel: one .room-item per event, newest first.
async function roomItems(page) {
    return page.$$eval('#room-log .room-item', (items) =>
        items.map((item) => ({
            event: item.querySelector('.event')?.textContent,
            channel: item.querySelector('.channel')?.textContent,
            text: item.textContent,
            elements: item.querySelectorAll('img, script, iframe, b').length,
        })),
    );
}

// Waits until an entry of the list (`selector`) contains `marker`; the error shows what the list holds instead.
async function waitForEntry(page, selector, marker, describe, { timeout = 10000 } = {}) {
    try {
        await page.waitForFunction(
            (sel, m) => [...document.querySelectorAll(sel)].some((i) => i.textContent.includes(m)),
            { timeout, polling: 50 },
            selector,
            marker,
        );
    } catch (err) {
        const entries = JSON.stringify(await describe(page));
        throw new Error(`no ${selector} with "${marker}" (${err.message}); entries: ${entries}`);
    }
}

const waitForItem = (page, marker, options) => waitForEntry(page, '#inbox .item', marker, inboxItems, options);
const waitForRoomItem = (page, marker, options) =>
    waitForEntry(page, '#room-log .room-item', marker, roomItems, options);

// Types `channel` into the room panel and presses Join (the button must say Join, not Leave).
async function joinRoom(page, channel) {
    assert.equal(await textOf(page, 'room-join'), 'Join');
    await page.evaluate((c) => {
        document.getElementById('room-channel').value = c;
    }, channel);
    await click(page, '#room-join');
}

async function waitForRoomRefused(page) {
    try {
        await page.waitForFunction(() => document.getElementById('room-state').textContent.startsWith('refused: '), {
            timeout: 10000,
            polling: 50,
        });
    } catch (err) {
        const seen = await textOf(page, 'room-state');
        throw new Error(`#room-state is "${seen}", expected "refused: ..." (${err.message})`);
    }
}

const LOBBY = 'demo:lobby';

async function openInbox(browser, server, user, transport, viewport) {
    const page = await newRecordedPage(browser, viewport);
    await page.goto(`${server.url}/?user=${encodeURIComponent(user)}&transport=${transport}`, {
        waitUntil: 'load',
    });
    await waitForText(page, 'status', 'connected');
    await waitForText(page, 'transport', transport);
    assert.equal(await textOf(page, 'user'), user);
    return page;
}

for (const flow of flows) {
    describe(`demo page: ${flow.name}`, { skip: flow.skip }, () => {
        let server;
        let browser;
        let publish;

        before(async () => {
            server = await startPusher(flow.args);
            publish = flow.publisher(server);
            browser = await launchBrowser();
        });

        after(async () => {
            await browser?.close();
            await server?.stop();
        });

        for (const transport of ['polling', 'websocket']) {
            test(`${transport}: alice sees her notification as text, bob does not`, async () => {
                const alice = await openInbox(browser, server, 'alice', transport);
                // bob on a phone-sized screen: the layout must hold there too (checked on the screenshot)
                const bob = await openInbox(browser, server, 'bob', transport, { width: 390, height: 844 });
                try {
                    const marker = `m-${transport}-${Date.now()}`;
                    // The text carries markup: it must show up literally and create no element, run no handler.
                    const probe = '<img src=x onerror="window.__xss=1"><b>bold</b>';
                    await publish('alice', 'mail.new', {
                        subject: `Lunch ${marker}`,
                        from: 'carol',
                        text: `See you at noon ${probe}`,
                        priority: 2,
                    });
                    await waitForItem(alice, marker);
                    let items = await inboxItems(alice);
                    assert.equal(items.length, 1, JSON.stringify(items));
                    assert.equal(items[0].event, 'mail.new');
                    assert.ok(items[0].text.includes(`Lunch ${marker}`), items[0].text);
                    assert.ok(items[0].text.includes('from carol'), items[0].text);
                    assert.ok(items[0].text.includes(`See you at noon ${probe}`), items[0].text);
                    assert.ok(items[0].text.includes('priority:'), items[0].text);
                    assert.equal(items[0].elements, 0, 'payload markup became elements');
                    assert.equal(await alice.evaluate(() => window.__xss), undefined);
                    assert.equal(await textOf(alice, 'unread'), '1');

                    // bob: his own notification arrives; alice's, published before it, never does. Per connection
                    // delivery is in order, so had alice's been routed to bob it would be there by now.
                    await publish('bob', 'notification', `for bob ${marker}`);
                    await waitForItem(bob, `for bob ${marker}`);
                    const bobItems = await inboxItems(bob);
                    assert.equal(bobItems.length, 1, JSON.stringify(bobItems));
                    assert.equal(bobItems[0].event, 'notification');
                    assert.ok(!bobItems[0].text.includes('Lunch'), 'bob received alice\'s notification');

                    // newest first, and the unread counter follows clicks and "mark all read"
                    await publish('alice', 'chat.message', { text: `second ${marker}` });
                    await waitForItem(alice, `second ${marker}`);
                    items = await inboxItems(alice);
                    assert.deepEqual(items.map((i) => i.event), ['chat.message', 'mail.new']);
                    assert.equal(await textOf(alice, 'unread'), '2');
                    await click(alice, '#inbox .item:last-child');
                    assert.equal(await textOf(alice, 'unread'), '1');
                    assert.deepEqual((await inboxItems(alice)).map((i) => i.unread), [true, false]);
                    await screenshot(alice, `demo-${flow.tag}-${transport}-alice`);
                    await click(alice, '#mark-all-read');
                    assert.equal(await textOf(alice, 'unread'), '0');

                    await screenshot(bob, `demo-${flow.tag}-${transport}-bob-phone`);
                    // the transport stayed what was asked for (no upgrade when forced)
                    assert.equal(await textOf(alice, 'transport'), transport);
                    assert.deepEqual(alice.errors, []);
                    assert.deepEqual(bob.errors, []);
                } finally {
                    await alice.close();
                    await bob.close();
                }
            });
        }

        test('room: alice and bob in demo:lobby, channel events in #room-log only, bob leaves, a bad name', async () => {
            const alice = await openInbox(browser, server, 'alice', 'websocket');
            const bob = await openInbox(browser, server, 'bob', 'polling', { width: 390, height: 844 });
            try {
                const marker = `room-${flow.tag}-${Date.now().toString(36)}`;
                for (const page of [alice, bob]) {
                    assert.equal(await textOf(page, 'room-state'), 'not joined');
                    assert.equal(await page.$eval('#room-channel', (i) => i.value), LOBBY, 'prefilled channel');
                    assert.equal(await page.$eval('#room-send', (b) => b.disabled), true, 'no sending before joining');
                    await joinRoom(page, LOBBY);
                }
                for (const page of [alice, bob]) {
                    await waitForText(page, 'room-state', `joined ${LOBBY}`);
                    assert.equal(await textOf(page, 'room-join'), 'Leave');
                }

                // alice says something with the room form (markup in it stays text): both see it in the room panel
                const probe = '<img src=x onerror="window.__xss=1"><b>bold</b>';
                const said = `hello ${marker} ${probe}`;
                await alice.evaluate((t) => {
                    document.getElementById('room-text').value = t;
                }, said);
                await click(alice, '#room-send');
                for (const page of [alice, bob]) {
                    await waitForRoomItem(page, `hello ${marker}`);
                }
                await alice.waitForFunction(
                    () => document.getElementById('room-result').textContent.startsWith('202'),
                    { timeout: 5000, polling: 50 },
                );
                assert.equal(await alice.$eval('#room-text', (i) => i.value), '', 'the message input is cleared');
                for (const page of [alice, bob]) {
                    const items = await roomItems(page);
                    assert.equal(items.length, 1, JSON.stringify(items));
                    assert.equal(items[0].event, 'chat.message');
                    assert.equal(items[0].channel, LOBBY);
                    assert.ok(items[0].text.includes('from alice'), items[0].text);
                    assert.ok(items[0].text.includes(said), items[0].text);
                    assert.equal(items[0].elements, 0, 'payload markup became elements');
                    assert.equal(await page.evaluate(() => window.__xss), undefined);
                    assert.deepEqual(await inboxItems(page), [], 'a channel event is not an inbox notification');
                    assert.equal(await textOf(page, 'unread'), '0');
                }

                // a channel event published with the API: both, newest first
                const notice = `notice ${marker}`;
                const toLobby = (event, data) => apiPublish(server.url, { channel: LOBBY, event, data });
                let r = await toLobby('room.notice', { text: notice, level: 2 });
                assert.equal(r.status, 202, `POST /api/publish answered ${r.status} ${JSON.stringify(r.body)}`);
                assert.deepEqual(r.body, { accepted: 1 });
                for (const page of [alice, bob]) {
                    await waitForRoomItem(page, notice);
                    const items = await roomItems(page);
                    assert.deepEqual(items.map((i) => i.event), ['room.notice', 'chat.message']);
                    assert.ok(items[0].text.includes('level:'), items[0].text);
                    assert.ok(!/"\d+"|\b\d{12,}\b/.test(items[0].text), `no offset shown: ${items[0].text}`);
                }

                // and the other way: a per-user event goes to the inbox, not to the room panel
                const direct = `direct ${marker}`;
                await publish('alice', 'notification', { text: direct });
                await waitForItem(alice, direct);
                assert.equal((await inboxItems(alice)).length, 1);
                assert.equal((await roomItems(alice)).length, 2);
                assert.ok(!(await textOf(alice, 'room-log')).includes(direct), 'a per-user event in the room panel');

                // bob leaves: "not joined" comes with the server's ack, so what is published next is not for him
                await click(bob, '#room-join');
                await waitForText(bob, 'room-state', 'not joined');
                assert.equal(await textOf(bob, 'room-join'), 'Join');
                const after = `after-leave ${marker}`;
                r = await toLobby('room.notice', { text: after });
                assert.equal(r.status, 202);
                await waitForRoomItem(alice, after);
                // One connection's events arrive in order: had the channel event reached bob, it would be there before
                // his own notification published after it.
                const fence = `fence ${marker}`;
                await publish('bob', 'notification', { text: fence });
                await waitForItem(bob, fence);
                assert.equal((await roomItems(bob)).length, 2, JSON.stringify(await roomItems(bob)));
                assert.ok(!(await textOf(bob, 'room-log')).includes(after), 'bob got a channel event after leaving');
                assert.equal((await roomItems(alice)).length, 3);

                // an invalid name: refused with the server's message, the connection stays; then the lobby again
                await joinRoom(bob, 'not a channel!');
                await waitForRoomRefused(bob);
                assert.ok((await textOf(bob, 'room-state')).length > 'refused: '.length);
                assert.equal(await textOf(bob, 'room-join'), 'Join');
                assert.equal(await textOf(bob, 'status'), 'connected');
                await joinRoom(bob, LOBBY);
                await waitForText(bob, 'room-state', `joined ${LOBBY}`);
                const back = `back ${marker}`;
                r = await toLobby('room.notice', { text: back });
                assert.equal(r.status, 202);
                for (const page of [alice, bob]) {
                    await waitForRoomItem(page, back);
                }

                await screenshot(alice, `demo-${flow.tag}-room-alice`);
                await screenshot(bob, `demo-${flow.tag}-room-bob-phone`);
                assert.deepEqual(alice.errors, []);
                assert.deepEqual(bob.errors, []);
            } finally {
                await alice.close();
                await bob.close();
            }
        });

        test('default transport: starts on polling and upgrades to websocket', async () => {
            const page = await newRecordedPage(browser);
            try {
                await page.goto(`${server.url}/?user=dave`, { waitUntil: 'load' });
                await waitForText(page, 'status', 'connected');
                await waitForText(page, 'transport', 'websocket');
                const marker = `upgraded-${Date.now()}`;
                await publish('dave', 'notification', { text: marker });
                await waitForItem(page, marker);
                assert.deepEqual(page.errors, []);
            } finally {
                await page.close();
            }
        });

        test('the publish form on the page posts to /api/publish and shows the answer', async () => {
            const alice = await openInbox(browser, server, 'alice', 'websocket');
            try {
                const marker = `form-${Date.now()}`;
                await alice.evaluate((m) => {
                    document.getElementById('publish-user').value = 'alice';
                    document.getElementById('publish-event').value = 'form.test';
                    document.getElementById('publish-data').value = JSON.stringify({ text: m });
                }, marker);
                await click(alice, '#publish-send');
                await waitForItem(alice, marker);
                await alice.waitForFunction(
                    () => document.getElementById('publish-result').textContent.startsWith('202'),
                    { timeout: 5000 },
                );
                // invalid JSON is refused on the page, nothing is sent
                await alice.evaluate(() => {
                    document.getElementById('publish-data').value = '{not json';
                });
                await click(alice, '#publish-send');
                assert.match(await textOf(alice, 'publish-result'), /not JSON/);
                assert.equal((await inboxItems(alice)).length, 1);
                assert.deepEqual(alice.errors, []);
            } finally {
                await alice.close();
            }
        });

        test('a refused connection shows the CONNECT_ERROR message', async () => {
            const page = await newRecordedPage(browser);
            try {
                // dev mode without a JWT key: a token cannot be verified, so the server refuses the CONNECT
                await page.goto(`${server.url}/?token=not.a.jwt&transport=websocket`, { waitUntil: 'load' });
                await page.waitForFunction(
                    () => document.getElementById('status').textContent.startsWith('refused: '),
                    { timeout: 10000, polling: 50 },
                );
                assert.ok((await textOf(page, 'status')).length > 'refused: '.length);
                assert.deepEqual(page.errors, []);
            } finally {
                await page.close();
            }
        });

        test('the error guard works: without the Socket.IO bundle the page reports "io is not defined"', async () => {
            const page = await newRecordedPage(browser);
            try {
                await page.setRequestInterception(true);
                page.on('request', (req) =>
                    req.url().endsWith('/socket.io.min.js') ? req.abort() : req.continue(),
                );
                await page.goto(`${server.url}/?user=alice`, { waitUntil: 'load' });
                await waitForText(page, 'status', 'disconnected');
                assert.ok(
                    page.errors.some((e) => e.includes('io is not defined')),
                    `expected an "io is not defined" page error, got ${JSON.stringify(page.errors)}`,
                );
            } finally {
                await page.close();
            }
        });
    });
}

describe('demo page: server restart', () => {
    let browser;
    const servers = [];

    before(async () => {
        browser = await launchBrowser();
    });

    after(async () => {
        await browser?.close();
        await Promise.all(servers.map((s) => s.stop()));
    });

    test('reconnecting while the server is away, then connected, the reconnect counted, the room joined again', async () => {
        const first = await startPusher(['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth']);
        servers.push(first);
        const page = await newRecordedPage(browser);
        try {
            await page.goto(`${first.url}/?user=erin&transport=websocket`, { waitUntil: 'load' });
            await waitForText(page, 'status', 'connected');
            assert.equal(await textOf(page, 'reconnects'), '0');
            await joinRoom(page, LOBBY);
            await waitForText(page, 'room-state', `joined ${LOBBY}`);

            await first.stop();
            await waitForText(page, 'status', 'reconnecting');
            // the same port again (the page keeps its URL); the client retries with a back-off of at most 5 s
            const second = await startPusher(['--listen', `127.0.0.1:${first.port}`, '--broker', 'memory', '--dev-auth']);
            servers.push(second);
            await waitForText(page, 'status', 'connected', { timeout: 20000 });
            assert.equal(await textOf(page, 'reconnects'), '1');
            assert.equal(await textOf(page, 'transport'), 'websocket');
            // Not recovered (the new server does not know the old session): the page subscribes again by itself. It
            // does so in the same task that shows "connected", so the state seen now is "joining" or already the
            // answer to that new subscribe, never the old "joined".
            await waitForText(page, 'room-state', `joined ${LOBBY}`);
            const again = `rejoined-${Date.now()}`;
            const published = await apiPublish(second.url, { channel: LOBBY, event: 'room.notice', data: again });
            assert.equal(published.status, 202);
            await waitForRoomItem(page, again);

            const marker = `after-restart-${Date.now()}`;
            const { status } = await apiPublish(second.url, { user: 'erin', event: 'notification', data: marker });
            assert.equal(status, 202);
            await page.waitForFunction(
                (m) => document.getElementById('inbox').textContent.includes(m),
                { timeout: 10000, polling: 50 },
                marker,
            );
            // Chromium logs the refused websocket handshakes of the retries as console errors: expected here.
            const unexpected = page.errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
            assert.deepEqual(unexpected, []);
        } finally {
            await page.close();
        }
    });
});

describe('demo page: connection state recovery', () => {
    let browser;
    let server;
    let proxy;

    before(async () => {
        browser = await launchBrowser();
        server = await startPusher(['--listen', '127.0.0.1:0', '--broker', 'memory', '--dev-auth']);
        proxy = await startProxy(server.port);
    });

    after(async () => {
        await browser?.close();
        await proxy?.close();
        await server?.stop();
    });

    test('a connection cut at the TCP level comes back "reconnected - recovered N missed" with the missed items', async () => {
        const page = await newRecordedPage(browser);
        try {
            await page.goto(`${proxy.url}/?user=rita&transport=websocket`, { waitUntil: 'load' });
            await waitForText(page, 'status', 'connected');
            await joinRoom(page, LOBBY);
            await waitForText(page, 'room-state', `joined ${LOBBY}`);
            const tag = Date.now().toString(36); // no long digit runs: the offsets are 64-bit decimals
            const first = `before-${tag}`;
            assert.equal((await apiPublish(server.url, { user: 'rita', event: 'notification', data: first })).status, 202);
            await page.waitForFunction((m) => document.getElementById('inbox').textContent.includes(m),
                { timeout: 10000, polling: 50 }, first);

            proxy.down();
            await waitForText(page, 'status', 'reconnecting');
            const missed = [`missed-a-${tag}`, `missed-b-${tag}`];
            for (const m of missed) {
                assert.equal((await apiPublish(server.url, { user: 'rita', event: 'notification', data: m })).status, 202);
            }
            // the server keeps the membership of a connection it holds: a channel event is missed and replayed too
            const missedInRoom = `missed-c-${tag}`;
            const toLobby = (data) => apiPublish(server.url, { channel: LOBBY, event: 'room.notice', data });
            assert.equal((await toLobby(missedInRoom)).status, 202);
            proxy.up();
            await waitForText(page, 'status', 'connected', { timeout: 20000 });
            await waitForText(page, 'status-detail', 'reconnected - recovered 3 missed');
            // The replayed events follow the CONNECT reply, so they may render just after the status line.
            await page.waitForFunction((ms) => ms.every((m) => document.getElementById('inbox').textContent.includes(m)),
                { timeout: 10000, polling: 50 }, missed);
            await waitForRoomItem(page, missedInRoom);
            const inbox = await textOf(page, 'inbox');
            assert.equal(inbox.split(first).length, 2, 'the event read before the cut is not shown twice');
            assert.ok(!/"\d+"|\b\d{12,}\b/.test(inbox), 'no offset is shown as part of a payload');
            assert.ok(!inbox.includes(missedInRoom), 'the replayed channel event is not in the inbox');
            const roomLog = await textOf(page, 'room-log');
            assert.ok(!missed.some((m) => roomLog.includes(m)), 'a replayed per-user event is in the room panel');
            assert.ok(!/"\d+"|\b\d{12,}\b/.test(roomLog), 'no offset is shown as part of a channel event');
            // still a member, without subscribing again: the state never left "joined", the next event arrives
            assert.equal(await textOf(page, 'room-state'), `joined ${LOBBY}`);
            const later = `after-recovery-${tag}`;
            assert.equal((await toLobby(later)).status, 202);
            await waitForRoomItem(page, later);
            await screenshot(page, 'demo-recovered');
            const unexpected = page.errors.filter((e) => !/WebSocket connection to .* failed/.test(e));
            assert.deepEqual(unexpected, []);
        } finally {
            await page.close();
        }
    });
});
