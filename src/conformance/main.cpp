// conformance_server: the protocol echo server of docs/conformance.md. It exists so that an outside, black-box checker
// (and tests/e2e) can talk to our Engine.IO and Socket.IO layers over the wire:
//   /socket.io/  Socket.IO v5: namespaces `/` and `/custom`; each CONNECT is answered, then the auth object is sent
//                back as the event `auth`; `message` -> `message-back` with the same arguments; `message-with-ack`
//                -> an ack with the same arguments.
//   /engine.io/  bare Engine.IO v4: every message comes back unchanged (text as text, binary as binary).
// Prints `listening on HOST:PORT` as its first stdout line once it listens; exits 0 on SIGTERM / SIGINT.
#include "common/io_pool.hpp"
#include "common/log.hpp"
#include "engineio/handler.hpp"
#include "engineio/server.hpp"
#include "httpd/server.hpp"
#include "socketio/asio_scheduler.hpp"
#include "socketio/server.hpp"

#include <CLI/CLI.hpp>

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {
using namespace pusher;
using namespace std::chrono_literals;

// The Socket.IO application: the same handlers on both namespaces (docs/conformance.md §3 allows it on `/custom`).
class echo_namespace final : public socketio::namespace_handler {
  public:
    void on_connect(socketio::socket_ptr const& s, socketio::connect_request const& req,
                    socketio::admission a) override {
        a.accept();
        // The auth object goes back unchanged: decoded JSON text is compact and keeps key order and numbers.
        std::string args;
        args.reserve(req.auth_json.size() + 2);
        args.push_back('[');
        args.append(req.auth_json);
        args.push_back(']');
        s->emit("auth", {std::move(args), {}});
    }
    void on_event(socketio::socket_ptr const& s, socketio::event& e) override {
        if (e.name == "message") {
            s->emit("message-back", std::move(e.args));
        } else if (e.name == "message-with-ack" && e.ack_id) {
            s->ack(*e.ack_id, std::move(e.args));
        }
        // Extensions for tests/e2e (docs/conformance.md requires nothing of other events; a checker never sends these).
        else if (e.name == "server-ack") {
            // Server -> client ack: ask the client to acknowledge `server-ack`, report its answer as
            // `server-ack-result` (the client's arguments, or ["timeout"] / ["disconnected"]).
            s->emit_with_ack(
                "server-ack", std::move(e.args), 2000ms, [s](socketio::ack_status st, socketio::arguments answer) {
                    if (st != socketio::ack_status::ok) {
                        answer = {st == socketio::ack_status::timeout ? R"(["timeout"])" : R"(["disconnected"])", {}};
                    }
                    s->emit("server-ack-result", std::move(answer));
                });
        } else if (e.name == "disconnect-me") {
            s->disconnect();  // DISCONNECT for the namespace: the client does not reconnect by itself
        } else if (e.name == "close-transport") {
            s->session()->close(engineio::disconnect_reason::server_close);  // the client reconnects
        }
    }
    void on_disconnect(socketio::socket_ptr const&, socketio::disconnect_reason) override {}
};

// The bare Engine.IO application: every message goes back to its session as it came.
class echo_session final : public engineio::session_handler {
  public:
    explicit echo_session(std::shared_ptr<engineio::session> s) : session_(std::move(s)) {}
    void on_message(std::string_view text) override {
        std::string packet;
        packet.reserve(text.size() + 1);
        packet.push_back('4');
        packet.append(text);
        session_->send(make_frame(std::move(packet)));
    }
    void on_binary(std::string_view bytes) override { session_->send_binary(make_frame(std::string(bytes))); }
    void on_close(engineio::disconnect_reason) override { session_.reset(); }

  private:
    std::shared_ptr<engineio::session> session_;
};

class echo_engine final : public engineio::handler {
  public:
    std::unique_ptr<engineio::session_handler> on_open(std::shared_ptr<engineio::session> const& s) override {
        return std::make_unique<echo_session>(s);
    }
};

int run(int argc, char** argv) {
    CLI::App cli{"conformance_server: the Engine.IO / Socket.IO echo server of docs/conformance.md"};
    std::string host = "127.0.0.1";
    int port = 3000;
    std::string mode = "both";
    std::size_t threads = 1;
    std::string log_level = "warn";
    auto* host_opt = cli.add_option("--host", host, "address to listen on (localhost = 127.0.0.1 and ::1)");
    cli.add_option("--port", port, "TCP port (0 = any free port)")->check(CLI::Range(0, 65535));
    cli.add_option("--mode", mode, "endpoints to serve")->check(CLI::IsMember({"socketio", "engineio", "both"}));
    cli.add_option("--threads", threads, "worker threads")->check(CLI::Range(1, 64));
    cli.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");
    bool allow_eio3 = false;
    cli.add_flag("--allow-eio3", allow_eio3, "also serve EIO=3 clients (socket.io-client 2.x, Socket.IO protocol v4)");
    CLI11_PARSE(cli, argc, argv);
    if (!log::init(log_level)) {
        std::cerr << "conformance_server: unknown log level '" << log_level << "'\n";
        return 2;
    }
    // The checker connects to `localhost`: by default listen on 127.0.0.1 and ::1 (when the machine has it).
    if (host_opt->count() == 0 || host == "localhost") {
        host = "localhost";
    }

    // Signals are taken by sigwait on this thread only: block them before any other thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);

    io_pool pool(threads);
    socketio::asio_scheduler timers(pool.context(0));

    engineio::options eio;  // docs/conformance.md §2
    eio.ping_interval = 300ms;
    eio.ping_timeout = 200ms;
    eio.max_payload = 1'000'000;
    eio.allow_eio3 = allow_eio3;

    socketio::options sio_opts;
    sio_opts.connect_timeout = 1000ms;
    socketio::server sio(timers, sio_opts);
    echo_namespace main_ns;
    echo_namespace custom_ns;
    sio.add_namespace("/", main_ns);
    sio.add_namespace("/custom", custom_ns);
    echo_engine echo;

    httpd::options http_opts;
    http_opts.host = host;
    http_opts.port = static_cast<std::uint16_t>(port);
    httpd::server http(pool, http_opts);
    std::shared_ptr<engineio::server> sio_route;
    std::shared_ptr<engineio::server> eio_route;
    if (mode != "engineio") {
        sio_route = std::make_shared<engineio::server>(eio, sio);
        http.add_route("/socket.io/", sio_route);
    }
    if (mode != "socketio") {
        eio_route = std::make_shared<engineio::server>(eio, echo);
        http.add_route("/engine.io/", eio_route);
    }

    httpd::endpoint ep;
    try {
        ep = http.start();
    } catch (std::exception const& e) {
        std::cerr << "conformance_server: " << e.what() << '\n';
        return 1;
    }
    pool.start();
    std::cout << "listening on " << ep.to_string() << std::endl;  // the first stdout line; endl flushes
    for (auto const& other : http.endpoints()) {
        log::info("listening on {}", other.to_string());
    }

    int sig = 0;
    sigwait(&signals, &sig);
    log::info("signal {}: shutting down", sig);
    http.stop();
    std::vector<std::shared_ptr<engineio::server>> routes;
    for (auto const& r : {sio_route, eio_route}) {
        if (r) {
            r->close_all(engineio::disconnect_reason::server_shutdown);
            routes.push_back(r);
        }
    }
    // close_all runs on each session's thread: let the workers finish it (close frames, held GETs answered,
    // handlers told) before they stop, or the sessions would never end.
    auto const deadline = std::chrono::steady_clock::now() + 2s;
    auto open_sessions = [&] {
        std::size_t n = 0;
        for (auto const& r : routes) {
            n += r->session_count();
        }
        return n;
    };
    while (open_sessions() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    http.close_idle();
    pool.stop();
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (std::exception const& e) {
        std::cerr << "conformance_server: " << e.what() << '\n';
        return 1;
    }
}
