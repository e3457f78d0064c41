// A small switchable TCP proxy for recovery tests: clients connect to the proxy, which forwards to the current
// target. It can cut every connection at the TCP level (`cut`: both sides closed, as when a server or NAT drops it),
// lose the network silently (`blackhole`: the client side is reset, the server side stays open and unread, so the
// server believes the session open until its ping timeout), refuse new connections (`down` / `up`), and switch
// the target (`target = port`) for a reconnection that lands on another node.
import net from 'node:net';

export async function startProxy(targetPort) {
    const pairs = new Set();
    let accepting = true;
    const proxy = {
        target: targetPort,
        url: '',
        // Closes both sides of every connection (FIN both ways).
        cut() {
            for (const p of pairs) {
                p.client.destroy();
                p.server.destroy();
            }
            pairs.clear();
        },
        // The client side is reset; the server side stays open, unread and unwritten.
        blackhole() {
            for (const p of pairs) {
                p.client.unpipe(p.server);
                p.server.unpipe(p.client);
                p.server.pause();
                p.client.resetAndDestroy();
                p.held = true;
            }
            const held = [...pairs];
            pairs.clear();
            proxy.release = () => held.forEach((p) => p.server.destroy());
        },
        release: () => {},
        down() {
            accepting = false;
            proxy.cut();
        },
        up() {
            accepting = true;
        },
        close() {
            proxy.cut();
            proxy.release();
            return new Promise((resolve) => server.close(resolve));
        },
    };
    const server = net.createServer((client) => {
        if (!accepting) {
            client.destroy();
            return;
        }
        const upstream = net.connect(proxy.target, '127.0.0.1');
        const pair = { client, server: upstream };
        pairs.add(pair);
        const drop = () => {
            if (!pair.held) {
                pairs.delete(pair);
                client.destroy();
                upstream.destroy();
            }
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream);
        upstream.pipe(client);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy.url = `http://127.0.0.1:${server.address().port}`;
    return proxy;
}
