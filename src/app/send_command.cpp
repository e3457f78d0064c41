#include "app/send_command.hpp"

#include "broker/amqp_broker.hpp"
#include "broker/broker.hpp"
#include "common/aliases.hpp"
#include "common/json_text.hpp"
#include "config/send_options.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

namespace pusher::app {
namespace {
using send_options = config::send_options;

int send_http(send_options const& o) {
    auto url = boost::urls::parse_uri(o.server);
    if (!url || (url->scheme() != "http")) {
        std::cerr << "pusher send: --server must be an http:// URL, got \"" << o.server << "\"\n";
        return 2;
    }
    std::string body = "{";
    if (o.broadcast) {
        body += "\"broadcast\":true";
    } else {
        body += "\"users\":[";
        for (std::size_t i = 0; i < o.users.size(); ++i) {
            body += i ? "," : "";
            json_text::append_string(body, o.users[i]);
        }
        body += "]";
    }
    body += ",\"event\":";
    json_text::append_string(body, o.event);
    body += ",\"data\":" + o.data + "}";

    std::string const host = url->host();
    std::string const port = url->has_port() ? std::string(url->port()) : "80";
    std::string path = url->path();
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    try {
        asio::io_context io;
        tcp::resolver resolver(io);
        tcp::socket sock(io);
        asio::connect(sock, resolver.resolve(host, port));
        http::request<http::string_body> req{http::verb::post, path + "/api/publish", 11};
        req.set(http::field::host, host);
        req.set(http::field::content_type, "application/json");
        if (!o.api_key.empty()) {
            req.set(http::field::authorization, "Bearer " + o.api_key);
        }
        req.body() = body;
        req.prepare_payload();
        http::write(sock, req);
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(sock, buf, res);
        if (res.result_int() == 202) {
            std::cout << res.body() << "\n";
            return 0;
        }
        std::cerr << "pusher send: " << o.server << " answered " << res.result_int() << ": " << res.body() << "\n";
        return res.result_int() == 401 ? 3 : 1;
    } catch (std::exception const& e) {
        std::cerr << "pusher send: cannot reach " << o.server << ": " << e.what() << "\n";
        return 1;
    }
}

int send_amqp(send_options const& o) {
    broker::publication p;
    p.users = o.users;
    p.broadcast = o.broadcast;
    p.event = o.event;
    p.payload = o.data;
    p.timestamp_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    return broker::publish_once(o.broker, std::move(p));
}
}  // namespace

int send_command(std::vector<std::string> const& args) {
    auto loaded = config::load_send(args, config::process_env());
    if (!loaded) {
        if (loaded.error().is_help()) {
            std::cout << loaded.error().usage;
            return 0;
        }
        for (auto const& e : loaded.error().errors) {
            std::cerr << "pusher send: " << e << "\n";
        }
        std::cerr << "(see pusher send --help)\n";
        return 2;
    }
    auto& o = *loaded;
    if (o.data == "-") {
        o.data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        while (!o.data.empty() && (o.data.back() == '\n' || o.data.back() == '\r')) {
            o.data.pop_back();
        }
    }
    if (!json_text::is_valid(o.data)) {
        std::cerr << "pusher send: --data is not valid JSON (quote a string: --data '\"text\"')\n";
        return 2;
    }
    return o.amqp ? send_amqp(o) : send_http(o);
}
}  // namespace pusher::app
