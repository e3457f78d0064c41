#include "app/send_command.hpp"

#include "broker/amqp_broker.hpp"
#include "broker/broker.hpp"
#include "common/aliases.hpp"
#include "common/json_text.hpp"

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
constexpr char const* usage =
    R"(usage: pusher send [--server URL | --amqp-url URL] (--user ID | --users ID,ID,... | --broadcast)
                   [--event NAME] [--data JSON|-] [--api-key KEY] [--exchange NAME] [--broadcast-exchange NAME]
  --server URL       a running pusher (POST /api/publish); default http://127.0.0.1:8080
  --amqp-url URL     RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672/ (publisher confirms)
  --event NAME       the Socket.IO event name (default: notification)
  --data JSON        the payload (default: null); - reads it from standard input
  --api-key KEY      sent as Authorization: Bearer KEY (or env PUSHER_API_KEY)
env: PUSHER_SERVER, PUSHER_AMQP_URL, PUSHER_API_KEY
)";

struct send_options {
    std::string server, amqp_url, api_key, exchange = "pusher", broadcast_exchange = "pusher.broadcast";
    std::vector<std::string> users;
    bool broadcast = false;
    std::string event = "notification";
    std::string data = "null";
};

std::optional<std::string> env(char const* name) {
    char const* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
}

std::vector<std::string> split_users(std::string const& list) {
    std::vector<std::string> out;
    std::stringstream in(list);
    for (std::string u; std::getline(in, u, ',');) {
        if (!u.empty()) {
            out.push_back(u);
        }
    }
    return out;
}

// Returns an error line, or empty.
std::string parse(std::vector<std::string> const& args, send_options& o) {
    o.server = env("PUSHER_SERVER").value_or("");
    o.amqp_url = env("PUSHER_AMQP_URL").value_or("");
    o.api_key = env("PUSHER_API_KEY").value_or("");
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string name = args[i], value;
        bool has_value = false;
        if (auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
            has_value = true;
        }
        auto next = [&]() -> std::optional<std::string> {
            if (has_value) {
                return value;
            }
            if (i + 1 < args.size()) {
                return args[++i];
            }
            return std::nullopt;
        };
        if (name == "--broadcast") {
            o.broadcast = true;
            continue;
        }
        if (name == "-h" || name == "--help") {
            return "help";
        }
        std::string* target = name == "--server"               ? &o.server
                              : name == "--amqp-url"           ? &o.amqp_url
                              : name == "--api-key"            ? &o.api_key
                              : name == "--exchange"           ? &o.exchange
                              : name == "--broadcast-exchange" ? &o.broadcast_exchange
                              : name == "--event"              ? &o.event
                              : name == "--data"               ? &o.data
                                                               : nullptr;
        std::string users;
        if (name == "--user" || name == "--users") {
            target = &users;
        }
        if (target == nullptr) {
            return "unknown option " + name;
        }
        auto v = next();
        if (!v) {
            return name + " needs a value";
        }
        *target = *v;
        if (!users.empty()) {
            auto more = split_users(users);
            o.users.insert(o.users.end(), more.begin(), more.end());
        }
    }
    if (o.data == "-") {
        o.data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        while (!o.data.empty() && (o.data.back() == '\n' || o.data.back() == '\r')) {
            o.data.pop_back();
        }
    }
    if (!json_text::is_valid(o.data)) {
        return "--data is not valid JSON (quote a string: --data '\"text\"')";
    }
    if (o.server.empty() && o.amqp_url.empty()) {
        o.server = "http://127.0.0.1:8080";  // what `make run` starts
    }
    if (!o.server.empty() && !o.amqp_url.empty()) {
        return "give one of --server URL or --amqp-url URL, not both";
    }
    if (o.broadcast == !o.users.empty()) {
        return "give --user/--users or --broadcast (one of them)";
    }
    if (o.event.empty()) {
        return "--event must not be empty";
    }
    return {};
}

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
    broker::amqp_options ao;
    ao.url = o.amqp_url;
    ao.exchange = o.exchange;
    ao.broadcast_exchange = o.broadcast_exchange;
    return broker::publish_once(ao, std::move(p));
}
}  // namespace

int send_command(std::vector<std::string> const& args) {
    send_options o;
    auto err = parse(args, o);
    if (err == "help") {
        std::cout << usage;
        return 0;
    }
    if (!err.empty()) {
        std::cerr << "pusher send: " << err << "\n" << usage;
        return 2;
    }
    return o.server.empty() ? send_amqp(o) : send_http(o);
}
}  // namespace pusher::app
