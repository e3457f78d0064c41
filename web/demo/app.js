// Unite Pusher demo inbox: connects with the official Socket.IO client and lists every event it receives.
// URL parameters: ?user=NAME (dev mode, auth {user}) or ?token=JWT (auth {token});
// ?transport=polling|websocket forces one transport (default: polling first, then upgrade to websocket).
// Payload data is only ever written with textContent (never innerHTML), so a notification cannot inject markup.
// The room panel joins one channel (emit "subscribe" / "unsubscribe" with an ack) and lists its events: a channel event
// arrives as (data, {channel}, offset?), a per-user one as (data, offset?); each goes to its own list.
'use strict';

(() => {
    const MAX_ITEMS = 200;  // keep the page light when a publisher floods it; older items drop off the end
    const ACK_TIMEOUT_MS = 10000;  // a subscribe / unsubscribe the server has not answered by then failed
    const HIGHLIGHTED = ['subject', 'from', 'text'];

    const $ = (id) => document.getElementById(id);
    const ui = {
        user: $('user'),
        status: $('status'),
        statusDetail: $('status-detail'),
        transport: $('transport'),
        reconnects: $('reconnects'),
        unread: $('unread'),
        inbox: $('inbox'),
        empty: $('empty'),
        markAllRead: $('mark-all-read'),
        reconnect: $('reconnect'),
        login: $('login'),
        loginUser: $('login-user'),
        form: $('publish-form'),
        formUser: $('publish-user'),
        formBroadcast: $('publish-broadcast'),
        formEvent: $('publish-event'),
        formData: $('publish-data'),
        formSend: $('publish-send'),
        formResult: $('publish-result'),
        roomState: $('room-state'),
        roomJoinForm: $('room-join-form'),
        roomChannel: $('room-channel'),
        roomJoin: $('room-join'),
        roomForm: $('room-form'),
        roomText: $('room-text'),
        roomSend: $('room-send'),
        roomResult: $('room-result'),
        roomLog: $('room-log'),
        roomEmpty: $('room-empty'),
    };

    const params = new URLSearchParams(window.location.search);
    const user = (params.get('user') || '').trim();
    const token = (params.get('token') || '').trim();
    const forced = params.get('transport');

    let unread = 0;
    let reconnects = 0;
    let me = '';          // the user shown (the token's sub with a token): "from" of room messages
    let current = null;   // the Socket.IO socket, once connect() made it

    // The room panel. `state`: idle (not joined), joining (subscribe sent or waiting for a connection), joined,
    // leaving (unsubscribe sent or waiting for a connection; the state text stays until it is answered), refused.
    // `attempt` numbers the requests: an answer to an older one (superseded by a leave, a reconnect) is ignored.
    const room = {channel: '', state: 'idle', error: '', attempt: 0, sending: false};

    // ---- connection state ---------------------------------------------------------------------------------------

    function setStatus(state, detail) {
        ui.status.textContent = state;
        ui.status.dataset.state = state.split(':')[0];
        ui.statusDetail.textContent = detail || '';
        ui.statusDetail.hidden = !detail;
    }

    function setTransport(name) {
        ui.transport.textContent = name || '–';
    }

    function connect() {
        if (typeof window.io !== 'function') {
            // The bundle did not load (404, wrong path): say so on the page, and throw so tests see a page error.
            setStatus('disconnected', 'The Socket.IO client (/socket.io.min.js) did not load.');
            throw new ReferenceError('io is not defined: /socket.io.min.js did not load');
        }
        const options = {auth: token ? {token} : {user}};
        if (forced === 'polling' || forced === 'websocket') {
            options.transports = [forced];  // a single transport also disables the upgrade
        }
        const socket = window.io(options);
        const manager = socket.io;
        current = socket;
        renderRoom();
        let connectReply = {};  // the last CONNECT reply's payload
        let offsets = false;    // events carry their offset last (the server gave a pid)

        setStatus('connecting');
        // Each (re)connection opens a new Engine.IO socket: follow its transport and its upgrade to websocket.
        // The manager's "open" fires before the engine starts probing, so no upgrade is missed.
        manager.on('open', () => {
            const engine = manager.engine;
            setTransport(engine.transport.name);
            engine.on('upgrade', (transport) => setTransport(transport.name));
            // Connection state recovery: the CONNECT reply carries `pid` when the server keeps state for this
            // connection, and, when it was recovered, `missed` (the events replayed right after it). The client
            // library exposes only `socket.recovered`, so read the reply from the raw packet; the Engine.IO socket
            // reports it before the Socket.IO client handles it.
            engine.on('packet', (packet) => {
                if (packet.type === 'message' && typeof packet.data === 'string' && packet.data.startsWith('0{')) {
                    try {
                        connectReply = JSON.parse(packet.data.slice(1));
                    } catch {
                        connectReply = {};
                    }
                }
            });
        });
        socket.on('connect', () => {
            offsets = typeof connectReply.pid === 'string';
            if (socket.recovered) {
                const missed = Number(connectReply.missed) || 0;
                setStatus('connected', `reconnected - recovered ${missed} missed`);
            } else {
                setStatus('connected');
            }
            setTransport(manager.engine.transport.name);
            ui.reconnect.hidden = true;
            // In the same task as the status: once the page says "connected", the room already asked again if needed.
            roomConnected(socket.recovered);
        });
        socket.on('connect_error', (err) => {
            if (socket.active) {
                // A transport failure (server down, network): the manager retries on its own.
                setStatus('reconnecting', `Connection failed: ${err.message}`);
            } else {
                // The server refused the CONNECT (bad or missing token): the client does not retry.
                setStatus(`refused: ${err.message}`, 'The server refused the connection.');
                setTransport('');
                ui.reconnect.hidden = false;
            }
        });
        socket.on('disconnect', (reason) => {
            setTransport('');
            if (socket.active) {
                setStatus('reconnecting', `Disconnected (${reason}); trying again.`);
            } else {
                setStatus('disconnected', `Disconnected (${reason}).`);
                ui.reconnect.hidden = false;
            }
        });
        manager.on('reconnect_attempt', (attempt) => {
            setStatus('reconnecting', `Attempt ${attempt}…`);
        });
        manager.on('reconnect', () => {
            reconnects += 1;
            ui.reconnects.textContent = String(reconnects);
        });
        manager.on('reconnect_failed', () => {
            setStatus('disconnected', 'Gave up reconnecting.');
            ui.reconnect.hidden = false;
        });

        socket.onAny((event, ...args) => {
            // A server that asks for an acknowledgement passes a callback last: confirm receipt.
            if (args.length > 0 && typeof args[args.length - 1] === 'function') {
                args.pop()();
            }
            // With recovery on, every event's last argument is its offset (a string): not part of the payload.
            if (offsets && args.length > 1 && typeof args[args.length - 1] === 'string') {
                args.pop();
            }
            // A channel event is (data, {channel}); a per-user one is (data): one argument only.
            const meta = args.length === 2 ? channelMeta(args[1]) : null;
            if (meta) {
                addRoomItem(event, meta.channel, args[0]);
            } else {
                addItem(event, args);
            }
        });

        ui.reconnect.addEventListener('click', () => {
            setStatus('connecting');
            socket.connect();
        });
    }

    // ---- inbox ----------------------------------------------------------------------------------------------------

    function el(tag, className, text) {
        const node = document.createElement(tag);
        if (className) {
            node.className = className;
        }
        if (text !== undefined) {
            node.textContent = text;
        }
        return node;
    }

    function isBinary(value) {
        return value instanceof ArrayBuffer || ArrayBuffer.isView(value) ||
            (typeof Blob !== 'undefined' && value instanceof Blob);
    }

    function scalarText(value) {
        if (typeof value === 'string') {
            return value;
        }
        if (isBinary(value)) {
            return `<binary, ${value.byteLength ?? value.size} bytes>`;
        }
        if (value === undefined) {
            return 'undefined';
        }
        return JSON.stringify(value);
    }

    // One payload as readable DOM: subject/from/text highlighted, other fields as "key: value" lines.
    function renderPayload(value) {
        const box = el('div', 'payload');
        if (value === null || typeof value !== 'object' || isBinary(value)) {
            box.append(el('p', typeof value === 'string' ? 'text' : 'scalar mono', scalarText(value)));
            return box;
        }
        const isArray = Array.isArray(value);
        const keys = Object.keys(value);
        if (keys.length === 0) {
            box.append(el('p', 'scalar mono', isArray ? '[]' : '{}'));
            return box;
        }
        if (!isArray) {
            if (typeof value.subject === 'string' || typeof value.from === 'string') {
                const head = el('p', 'headline');
                if (typeof value.subject === 'string') {
                    head.append(el('strong', 'subject', value.subject));
                }
                if (typeof value.from === 'string') {
                    head.append(el('span', 'from', `from ${value.from}`));
                }
                box.append(head);
            }
            if (typeof value.text === 'string') {
                box.append(el('p', 'text', value.text));
            }
        }
        const rest = keys.filter((k) => isArray || !HIGHLIGHTED.includes(k) || typeof value[k] !== 'string');
        if (rest.length > 0) {
            const list = el('dl', 'fields');
            for (const key of rest) {
                const row = el('div', 'field');
                row.append(el('dt', 'mono', `${key}:`), el('dd', 'mono', scalarText(value[key])));
                list.append(row);
            }
            box.append(list);
        }
        return box;
    }

    function setUnread(n) {
        unread = n;
        ui.unread.textContent = String(n);
        ui.unread.dataset.count = String(n);
        document.title = `${n > 0 ? `(${n}) ` : ''}Inbox${user ? ` · ${user}` : ''} · Unite Pusher`;
    }

    function markRead(item) {
        if (item.classList.contains('unread')) {
            item.classList.remove('unread');
            item.setAttribute('aria-label', item.getAttribute('aria-label').replace(/^Unread /, ''));
            setUnread(unread - 1);
        }
    }

    function addItem(event, args) {
        const now = new Date();
        const item = el('li', 'item unread');
        item.tabIndex = 0;
        item.dataset.event = event;
        item.setAttribute('aria-label', `Unread notification ${event}`);

        const head = el('div', 'item-head');
        const time = el('time', 'time', now.toLocaleTimeString());
        time.dateTime = now.toISOString();
        head.append(el('span', 'event mono', event), time);
        item.append(head);
        if (args.length === 0) {
            item.append(el('p', 'scalar', '(no data)'));
        }
        for (const arg of args) {
            item.append(renderPayload(arg));
        }

        item.addEventListener('click', () => markRead(item));
        item.addEventListener('keydown', (e) => {
            if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                markRead(item);
            }
        });
        ui.inbox.prepend(item);  // newest first
        setUnread(unread + 1);
        while (ui.inbox.children.length > MAX_ITEMS) {
            const last = ui.inbox.lastElementChild;
            markRead(last);
            last.remove();
        }
        ui.empty.hidden = true;
    }

    ui.markAllRead.addEventListener('click', () => {
        for (const item of ui.inbox.querySelectorAll('.item.unread')) {
            markRead(item);
        }
    });

    // ---- publish form: POST /api/publish ------------------------------------------------------------------------

    function showResult(ok, text) {
        ui.formResult.textContent = text;
        ui.formResult.dataset.ok = ok ? 'true' : 'false';
    }

    ui.formBroadcast.addEventListener('change', () => {
        ui.formUser.disabled = ui.formBroadcast.checked;
    });

    ui.form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const raw = ui.formData.value.trim() || 'null';
        try {
            JSON.parse(raw);
        } catch (err) {
            showResult(false, `Data is not JSON: ${err.message}`);
            return;
        }
        const event = ui.formEvent.value.trim() || 'notification';
        let target;
        if (ui.formBroadcast.checked) {
            target = '"broadcast":true';
        } else {
            const users = ui.formUser.value.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
            if (users.length === 0) {
                showResult(false, 'Name a user (or tick broadcast).');
                return;
            }
            target = users.length === 1 ? `"user":${JSON.stringify(users[0])}` : `"users":${JSON.stringify(users)}`;
        }
        // The data is spliced as typed (after the check above), not re-serialised: big numbers stay exact.
        const body = `{${target},"event":${JSON.stringify(event)},"data":${raw}}`;
        ui.formSend.disabled = true;
        showResult(true, 'Sending…');
        try {
            const res = await fetch('/api/publish', {
                method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body,
            });
            const text = (await res.text()).trim();
            showResult(res.ok, `${res.status} ${text || res.statusText}`);
        } catch (err) {
            showResult(false, `Request failed: ${err.message}`);
        } finally {
            ui.formSend.disabled = false;
        }
    });

    // ---- room: one channel, joined with "subscribe", its events listed apart from the inbox -------------------------

    // The second argument of a channel event: exactly {"channel": "<name>"}.
    function channelMeta(value) {
        if (value === null || typeof value !== 'object' || Array.isArray(value) || isBinary(value)) {
            return null;
        }
        const keys = Object.keys(value);
        return keys.length === 1 && keys[0] === 'channel' && typeof value.channel === 'string' ? value : null;
    }

    function setRoomState(state, text) {
        ui.roomState.textContent = text;
        ui.roomState.dataset.state = state;
    }

    function renderRoom() {
        switch (room.state) {
            case 'idle':
                setRoomState('idle', 'not joined');
                break;
            case 'joining':
                setRoomState('joining', 'joining');
                break;
            case 'joined':
                setRoomState('joined', `joined ${room.channel}`);
                break;
            case 'refused':
                setRoomState('refused', `refused: ${room.error}`);
                break;
            default:
                break;  // leaving: what it showed stays until the server answered
        }
        const member = room.state === 'joining' || room.state === 'joined' || room.state === 'leaving';
        ui.roomJoin.textContent = member ? 'Leave' : 'Join';
        ui.roomJoin.disabled = current === null || room.state === 'leaving';
        ui.roomChannel.disabled = current === null;
        ui.roomChannel.readOnly = member;  // the name of the channel joined; editable again once left
        ui.roomText.disabled = room.state !== 'joined';
        ui.roomSend.disabled = room.state !== 'joined' || room.sending;
    }

    // Emits subscribe / unsubscribe for the room's channel; `done(reply)` gets the ack ({ok: true} or {error}), or
    // null when the server did not answer in time. Nothing when the request was superseded, or when the connection
    // dropped before the answer: roomConnected() asks again on the next connection.
    function roomRequest(kind, done) {
        const socket = current;
        const attempt = ++room.attempt;
        socket.timeout(ACK_TIMEOUT_MS).emit(kind, {channel: room.channel}, (err, reply) => {
            if (attempt !== room.attempt || (err && !socket.connected)) {
                return;
            }
            done(err ? null : reply);
        });
    }

    function subscribe() {
        room.state = 'joining';
        renderRoom();
        roomRequest('subscribe', (reply) => {
            if (reply !== null && typeof reply === 'object' && reply.ok === true) {
                room.state = 'joined';
            } else {
                room.state = 'refused';
                if (reply === null) {
                    room.error = 'no answer from the server';
                    current.emit('unsubscribe', {channel: room.channel});  // in case it joins after all
                } else {
                    room.error = typeof reply?.error === 'string' ? reply.error : `unexpected answer ${scalarText(reply)}`;
                }
            }
            renderRoom();
        });
    }

    function unsubscribe() {
        room.state = 'leaving';
        renderRoom();
        // {ok: true}; an error (none expected for a name that was accepted) or no answer leaves nothing joined either.
        roomRequest('unsubscribe', () => {
            room.state = 'idle';
            renderRoom();
        });
    }

    // On every (re)connection. A recovered connection is still a member of its channels (the server kept them); a new
    // one (the server restarted, the session expired, another node) is in none: join again if the page was joined.
    function roomConnected(recovered) {
        switch (room.state) {
            case 'joining':
                subscribe();  // asked while disconnected, or the answer was lost with the connection
                break;
            case 'joined':
                if (!recovered) {
                    subscribe();
                }
                break;
            case 'leaving':
                if (recovered) {
                    unsubscribe();
                } else {
                    room.state = 'idle';  // a new connection is in no channel
                    renderRoom();
                }
                break;
            default:
                break;
        }
    }

    ui.roomJoinForm.addEventListener('submit', (e) => {
        e.preventDefault();
        if (current === null || room.state === 'leaving') {
            return;
        }
        if (room.state === 'idle' || room.state === 'refused') {
            room.channel = ui.roomChannel.value.trim();  // the server checks the name: a bad one is refused
            room.state = 'joining';
            if (current.connected) {
                subscribe();
            } else {
                renderRoom();  // roomConnected() subscribes once connected
            }
        } else if (current.connected) {
            unsubscribe();  // from joining too: the pending subscribe is answered "unsubscribed", and ignored
        } else {
            room.attempt += 1;  // an answer still on its way is moot
            room.state = 'leaving';
            renderRoom();  // roomConnected() finishes it
        }
    });

    function addRoomItem(event, channel, data) {
        const now = new Date();
        const item = el('li', 'room-item');
        item.dataset.event = event;
        item.dataset.channel = channel;
        item.setAttribute('aria-label', `${event} in ${channel}`);
        const head = el('div', 'item-head');
        const time = el('time', 'time', now.toLocaleTimeString());
        time.dateTime = now.toISOString();
        const name = el('span', 'room-item-name');
        name.append(el('span', 'event mono', event), el('span', 'channel mono', channel));
        head.append(name, time);
        item.append(head, renderPayload(data));
        ui.roomLog.prepend(item);  // newest first
        while (ui.roomLog.children.length > MAX_ITEMS) {
            ui.roomLog.lastElementChild.remove();
        }
        ui.roomEmpty.hidden = true;
    }

    function showRoomResult(ok, text) {
        ui.roomResult.textContent = text;
        ui.roomResult.dataset.ok = ok ? 'true' : 'false';
    }

    // A message to the joined channel: POST /api/publish {"channel", "event": "chat.message", "data": {from, text}}.
    ui.roomForm.addEventListener('submit', async (e) => {
        e.preventDefault();
        const text = ui.roomText.value.trim();
        if (room.state !== 'joined' || room.sending) {
            return;
        }
        if (text === '') {
            showRoomResult(false, 'Type a message first.');
            return;
        }
        const body = JSON.stringify({channel: room.channel, event: 'chat.message', data: {from: me, text}});
        room.sending = true;
        renderRoom();
        showRoomResult(true, 'Sending…');
        try {
            const res = await fetch('/api/publish', {
                method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body,
            });
            const answer = (await res.text()).trim();
            showRoomResult(res.ok, `${res.status} ${answer || res.statusText}`);
            if (res.ok) {
                ui.roomText.value = '';
            }
        } catch (err) {
            showRoomResult(false, `Request failed: ${err.message}`);
        } finally {
            room.sending = false;
            renderRoom();
        }
    });

    function tokenSubject(jwt) {
        try {
            const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
            const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
            const claims = JSON.parse(new TextDecoder().decode(bytes));
            return typeof claims.sub === 'string' ? claims.sub : '';
        } catch {
            return '';
        }
    }

    // ---- start ------------------------------------------------------------------------------------------------------

    setUnread(0);
    renderRoom();  // no connection yet: the room cannot be joined
    if (!user && !token) {
        // Nobody to connect as: offer a name (dev mode) instead of opening a connection the server would refuse.
        setStatus('disconnected', 'Choose a user to open an inbox.');
        ui.login.hidden = false;
        ui.empty.hidden = true;
        ui.markAllRead.hidden = true;
        ui.formUser.value = 'alice';
        ui.login.addEventListener('submit', (e) => {
            e.preventDefault();
            const next = new URLSearchParams(window.location.search);
            next.set('user', ui.loginUser.value.trim());
            window.location.search = next.toString();
        });
        return;
    }
    // With a token the user is its "sub"; read it for display only (the server verifies the token, not the page).
    me = token ? tokenSubject(token) || '(token)' : user;
    ui.user.textContent = me;
    ui.formUser.value = token ? tokenSubject(token) : user;
    connect();
})();
