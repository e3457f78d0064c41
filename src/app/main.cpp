// pusher: the Unite Pusher server (and `pusher send`, its command-line publisher).
// Prints `listening on HOST:PORT` as its first stdout line once it listens; exits 0 after a graceful shutdown on
// SIGTERM / SIGINT, 2 on a configuration error, 1 when it cannot start.
#include "app/application.hpp"
#include "app/send_command.hpp"
#include "common/log.hpp"
#include "config/config.hpp"

#include <pthread.h>
#include <signal.h>

#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace {
using namespace pusher;

int serve(std::vector<std::string> const& args) {
    auto loaded = config::load(args, config::process_env());
    if (!loaded) {
        if (loaded.error().is_help()) {
            std::cout << loaded.error().usage;
            return 0;
        }
        std::cerr << "pusher: " << loaded.error().message() << "\n(pusher --help lists the options)\n";
        return 2;
    }
    auto cfg = std::move(*loaded);
    if (!log::init(cfg.log.level, cfg.log.format == config::log_format::json ? log::format::json : log::format::plain,
                   cfg.broker.node_id)) {
        std::cerr << "pusher: unknown log level '" << cfg.log.level << "'\n";
        return 2;
    }
    if (!cfg.config_file.empty()) {
        log::info("configuration file {}", cfg.config_file);
    }
    for (auto const& w : config::warnings(cfg)) {
        log::warn("{}", w);
    }

    // Signals are taken by sigwait on this thread only: block them before any other thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<app::application> server;
    std::vector<std::string> endpoints;
    try {
        server = std::make_unique<app::application>(cfg);
        endpoints = server->start();
    } catch (std::exception const& e) {
        log::error("cannot start: {}", e.what());
        std::cerr << "pusher: " << e.what() << '\n';
        return 1;
    }
    std::cout << "listening on " << endpoints.front() << std::endl;  // the first stdout line; endl flushes
    for (auto const& ep : endpoints) {
        log::info("listening on {} ({} worker threads)", ep, cfg.server.threads);
    }

    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
        log::info("signal SIGHUP: reloading the token keys and the TLS certificate");
        server->reload();
    }
    log::info("signal {}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server->shutdown();
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (!args.empty() && args.front() == "send") {
            args.erase(args.begin());
            return app::send_command(args);
        }
        return serve(args);
    } catch (std::exception const& e) {
        std::cerr << "pusher: " << e.what() << '\n';
        return 1;
    }
}
