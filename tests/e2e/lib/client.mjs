// socket.io-client helpers for pusher tests: connect as a user, record every event a socket receives, wait for
// events by predicate, and make JWTs (node:crypto only).
import { createHmac, createSign, generateKeyPairSync } from 'node:crypto';
import { io } from 'socket.io-client';

// Connects and resolves once the CONNECT is acknowledged; rejects with the CONNECT_ERROR message.
// The socket records every event in `socket.received` ([{event, data}]) and wakes waitFor().
export function connect(url, auth, { transports = ['websocket'], reconnection = false, ...rest } = {}) {
    const socket = io(url, { auth, transports, reconnection, forceNew: true, timeout: 10000, ...rest });
    socket.received = [];
    socket.waiters = new Set();
    socket.onAny((event, data) => {
        socket.received.push({ event, data });
        for (const w of [...socket.waiters]) {
            w();
        }
    });
    return new Promise((resolve, reject) => {
        socket.once('connect', () => resolve(socket));
        socket.once('connect_error', (err) => {
            socket.close();
            reject(err);
        });
    });
}

// The CONNECT_ERROR message a connection attempt gets (fails the test if it connects).
export async function refusal(url, auth, options) {
    try {
        const s = await connect(url, auth, options);
        s.close();
    } catch (err) {
        return err.message;
    }
    throw new Error(`connected with ${JSON.stringify(auth)}, expected a refusal`);
}

// Resolves once `socket.received` satisfies `predicate(received)` (checked now and on every new event).
export function waitFor(socket, predicate, { timeout = 10000, what = 'events' } = {}) {
    return new Promise((resolve, reject) => {
        const check = () => {
            if (predicate(socket.received)) {
                cleanup();
                resolve(socket.received);
                return true;
            }
            return false;
        };
        const timer = setTimeout(() => {
            cleanup();
            reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(socket.received)}`));
        }, timeout);
        const cleanup = () => {
            clearTimeout(timer);
            socket.waiters.delete(check);
        };
        socket.waiters.add(check);
        check();
    });
}

// Waits until the socket has received `count` events named `event`; resolves their payloads.
export async function waitForEvents(socket, event, count, options) {
    const all = await waitFor(socket, (r) => r.filter((e) => e.event === event).length >= count, {
        what: `${count} x ${event}`,
        ...options,
    });
    return all.filter((e) => e.event === event).map((e) => e.data);
}

const b64url = (data) => Buffer.from(data).toString('base64url');

// A compact JWS with any header and payload, signed by `sign(signingInput) -> Buffer` (or unsigned).
export function jwt(header, payload, sign = () => Buffer.alloc(0)) {
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${b64url(sign(input))}`;
}

export function hs256(payload, secret) {
    return jwt({ alg: 'HS256', typ: 'JWT' }, payload, (input) => createHmac('sha256', secret).update(input).digest());
}

export function rs256(payload, privateKey) {
    return jwt({ alg: 'RS256', typ: 'JWT' }, payload, (input) => createSign('RSA-SHA256').update(input).sign(privateKey));
}

export function rsaKeys() {
    return generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
}

export const nowS = () => Math.floor(Date.now() / 1000);
