// Fuzz target: HTTP requests to the Engine.IO endpoint, below the sockets: Beast's request parser as httpd sets it
// up, the httpd::request helpers (path, query, case-insensitive header lookup), then engineio::server::handle: the
// handshake query (EIO, transport, sid), CORS and origins, the handshake, and long-polling GET / POST on an open
// session (the polling payload decoder, the session's state machine), with an echo handler on top.
// Input: one or more HTTP/1.1 requests back to back (as pipelined on one connection). `$SID` is replaced by the sid
// of a polling session the target opens first, so that the fuzzer reaches an open session without guessing it.
// Invariants: every request is answered exactly once, and never by a dropped reply (500 "no response"); statuses
// and bodies are Engine.IO's (errors `{"code":N,"message":...}`, the open packet with exactly its five keys, polls
// that decode as payloads, POSTs answered `ok`); CORS headers only for an allowed Origin; what a client POSTs comes
// back through its polls in order (echo); the request helpers agree with a plain scan of the headers.
#include "engineio/packet.hpp"
#include "engineio/server.hpp"
#include "fuzz_support.hpp"
#include "httpd/reply_target.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

namespace eio = pusher::engineio;
namespace httpd = pusher::httpd;
namespace http = boost::beast::http;
using pusher::fuzz::parse_json;

namespace {
bool const verbose = std::getenv("PUSHER_FUZZ_VERBOSE") != nullptr;
constexpr std::string_view allowed_origin = "https://app.example";

// Collects what a request is answered with. A websocket upgrade finds the connection gone (there is no socket to
// hand over), as when the client hung up: what is delivered after that goes nowhere, as in httpd.
class capture final : public httpd::detail::reply_target {
  public:
    std::vector<httpd::response> responses;
    bool gone = false;
    void deliver(httpd::response r) override {
        if (!gone) {
            responses.push_back(std::move(r));
        }
    }
    std::unique_ptr<httpd::upgrade> take_upgrade() override {
        gone = true;
        return nullptr;
    }
};

// Echoes every message back on its session and records what it was sent, in order.
class echo final : public eio::handler {
  public:
    struct log {
        std::vector<eio::packet> received;  // text (`4...` data) and binary messages, in order
    };
    std::map<std::string, std::shared_ptr<log>> logs;  // by sid
    int open = 0;

    std::unique_ptr<eio::session_handler> on_open(std::shared_ptr<eio::session> const& s) override {
        ++open;
        class h final : public eio::session_handler {
          public:
            h(std::weak_ptr<eio::session> s, std::shared_ptr<log> l, int& open) : s_(s), log_(l), open_(open) {}
            void on_message(std::string_view text) override {
                FUZZ_CHECK(!closed_);
                log_->received.push_back({eio::packet_type::message, false, std::string(text)});
                if (auto s = s_.lock()) {
                    s->send(pusher::make_frame(eio::encode_packet(eio::packet_type::message, text)));
                }
            }
            void on_binary(std::string_view bytes) override {
                FUZZ_CHECK(!closed_);
                log_->received.push_back({eio::packet_type::message, true, std::string(bytes)});
                if (auto s = s_.lock()) {
                    s->send_binary(pusher::make_frame(std::string(bytes)));
                }
            }
            void on_close(eio::disconnect_reason) override {
                FUZZ_CHECK(!closed_);
                closed_ = true;
                --open_;
            }

          private:
            std::weak_ptr<eio::session> s_;
            std::shared_ptr<log> log_;
            int& open_;
            bool closed_ = false;
        };
        auto& l = logs[std::string(s->id())];
        FUZZ_CHECK(l == nullptr);  // a fresh sid
        l = std::make_shared<log>();
        return std::make_unique<h>(s, l, open);
    }
};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool has_token(std::string_view list, std::string_view token) {
    while (true) {
        auto const comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) {
            item.remove_prefix(1);
        }
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) {
            item.remove_suffix(1);
        }
        if (iequals(item, token)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            return false;
        }
        list.remove_prefix(comma + 1);
    }
}

// What one pipelined request turned into.
struct exchange {
    httpd::request req;
    std::shared_ptr<capture> answer = std::make_shared<capture>();
};

// Parses the next request off `in` like httpd: at most 16 KiB of header; once the header is in, a Content-Length over
// the route's body limit makes the request body_too_large without reading the body (and httpd then drops the
// connection: nothing after it is read), else the body is read up to that limit. nullopt when the bytes are not a
// whole valid request (httpd answers 400 and closes, or waits for more).
std::optional<httpd::request> next_request(std::string_view& in, std::size_t body_limit) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(boost::none);
    parser.eager(false);  // stop after the header: the limit is applied first, as httpd does
    boost::system::error_code ec;
    std::size_t used = 0;
    bool too_large = false;
    while (!parser.is_done()) {
        std::size_t const n = parser.put(boost::asio::buffer(in.data() + used, in.size() - used), ec);
        used += n;
        if (ec == http::error::body_limit) {
            too_large = true;  // a chunked body over the limit
            break;
        }
        if (ec || n == 0) {
            return std::nullopt;
        }
        if (parser.is_header_done() && !parser.is_done()) {
            if (auto const length = parser.content_length(); length && *length > body_limit) {
                too_large = true;
                break;
            }
            parser.body_limit(body_limit);
            parser.eager(true);
        }
    }
    in.remove_prefix(too_large ? in.size() : used);
    auto& msg = parser.get();
    httpd::request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (auto const& f : msg) {
        req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    }
    req.websocket_upgrade = msg.method() == http::verb::get && has_token(msg[http::field::connection], "upgrade") &&
                            has_token(msg[http::field::upgrade], "websocket");
    req.body_too_large = too_large;
    if (!too_large) {
        req.body = std::move(msg.body());
    }
    req.remote_address = "127.0.0.1:40000";
    req.remote_ip = "127.0.0.1";
    return req;
}

void check_helpers(httpd::request const& req) {
    std::string_view const target = req.target;
    auto const q = target.find('?');
    FUZZ_CHECK(req.path() == target.substr(0, q));
    FUZZ_CHECK(req.query() == (q == std::string_view::npos ? std::string_view() : target.substr(q + 1)));
    for (auto const& h : req.headers) {
        auto const first = std::find_if(req.headers.begin(), req.headers.end(),
                                        [&](httpd::header_field const& f) { return iequals(f.name, h.name); });
        FUZZ_CHECK(req.header(h.name) == first->value);
        FUZZ_CHECK(req.has_header(h.name));
    }
    FUZZ_CHECK(!req.has_header("X-Not-Sent-By-Anyone") ||
               std::any_of(req.headers.begin(), req.headers.end(),
                           [](auto& h) { return iequals(h.name, "X-Not-Sent-By-Anyone"); }));
}

std::string_view header_of(httpd::response const& r, std::string_view name) {
    for (auto const& h : r.headers) {
        if (iequals(h.name, name)) {
            return h.value;
        }
    }
    return {};
}

void check_response(httpd::request const& req, httpd::response const& r, std::vector<eio::packet>& polled) {
    FUZZ_CHECK_MSG(r.status == 200 || r.status == 204 || r.status == 400 || r.status == 403 || r.status == 413,
                   std::to_string(r.status) + " " + r.body);
    std::string_view const origin = req.header("Origin");
    std::string_view const acao = header_of(r, "Access-Control-Allow-Origin");
    FUZZ_CHECK(acao.empty() || (acao == origin && origin == allowed_origin));
    if (!origin.empty() && origin != allowed_origin) {
        FUZZ_CHECK(r.status == 403);
    }
    if (r.status == 400 || r.status == 403) {
        auto const v = parse_json(r.body);
        FUZZ_CHECK_MSG(v && v->is_object(), r.body);
        auto const& o = v->as_object();
        FUZZ_CHECK(o.size() == 2 && o.at("code").is_int64() && o.at("message").is_string());
        FUZZ_CHECK(o.at("code").as_int64() >= 0 && o.at("code").as_int64() <= 5);
        return;
    }
    if (r.status != 200) {
        return;
    }
    if (req.method == "POST") {
        FUZZ_CHECK(r.body == "ok");
        return;
    }
    auto const payload = eio::decode_payload(r.body);
    FUZZ_CHECK_MSG(payload.has_value(), r.body);
    for (auto const& p : *payload) {
        if (p.type == eio::packet_type::open) {
            auto const v = parse_json(p.data);
            FUZZ_CHECK(v && v->is_object() && v->as_object().size() == 5);
            for (auto const* k : {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}) {
                FUZZ_CHECK(v->as_object().contains(k));
            }
        } else if (p.type == eio::packet_type::message) {
            polled.push_back(p);
        }
    }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    echo app;
    eio::options opts;
    opts.max_payload = 4096;
    opts.allowed_origins = {std::string(allowed_origin)};
    auto server = std::make_shared<eio::server>(opts, app);
    auto ctx = std::make_unique<boost::asio::io_context>();
    std::vector<exchange> exchanges;

    auto handle = [&](httpd::request req) {
        check_helpers(req);
        req.io = ctx.get();
        exchanges.push_back({req, std::make_shared<capture>()});
        httpd::reply rep(exchanges.back().answer);
        boost::asio::post(*ctx, [&server, req = std::move(req), rep = std::move(rep)]() mutable {
            server->handle(std::move(req), std::move(rep));
        });
        ctx->poll();
        ctx->restart();
    };

    // A session of our own, for `$SID`.
    std::string_view opening = "GET /socket.io/?EIO=4&transport=polling&t=N8hyd6w HTTP/1.1\r\nHost: x\r\n\r\n";
    handle(*next_request(opening, server->body_limit()));
    auto const& open = exchanges.front().answer->responses;
    FUZZ_CHECK(open.size() == 1 && open[0].status == 200 && open[0].body.starts_with("0{"));
    std::string const sid(parse_json(std::string_view(open[0].body).substr(1))->as_object().at("sid").as_string());

    std::string input(pusher::fuzz::as_text(data, size));
    for (auto at = input.find("$SID"); at != std::string::npos; at = input.find("$SID", at + sid.size())) {
        input.replace(at, 4, sid);
    }
    std::string_view rest = input;
    for (int i = 0; i < 8 && !rest.empty(); ++i) {
        auto req = next_request(rest, server->body_limit());
        if (!req) {
            break;
        }
        handle(std::move(*req));
    }

    // Shut down as the app does: close every session (a held poll is answered), let the work finish.
    server->close_all(eio::disconnect_reason::server_shutdown);
    for (int i = 0; i < 100 && ctx->poll() > 0; ++i) {
        ctx->restart();
    }
    FUZZ_CHECK(app.open == 0);
    FUZZ_CHECK(server->session_count() == 0);

    std::vector<eio::packet> polled;  // messages that came back through polls of our session
    std::vector<eio::packet> others;
    std::string const ours = "sid=" + sid;
    for (auto const& x : exchanges) {
        if (x.answer->gone) {
            FUZZ_CHECK(x.req.websocket_upgrade && x.answer->responses.empty());
            continue;
        }
        FUZZ_CHECK_MSG(x.answer->responses.size() == 1, x.req.method + " " + x.req.target);
        std::string_view const q = x.req.query();
        bool const only_ours = q.find(ours) != std::string_view::npos && q.find("sid=") == q.rfind("sid=") &&
                               (q.size() == q.find(ours) + ours.size() || q[q.find(ours) + ours.size()] == '&');
        if (verbose) {  // PUSHER_FUZZ_VERBOSE=1: show the exchanges (triage)
            auto const& r = x.answer->responses.front();
            std::fprintf(stderr, "%s %s -> %u %s\n", x.req.method.c_str(), x.req.target.c_str(), r.status,
                         r.body.c_str());
        }
        check_response(x.req, x.answer->responses.front(), only_ours ? polled : others);
    }
    // Echo: what came back is what was received, in order (a prefix: the end may still have been queued).
    auto const& received = app.logs.at(sid)->received;
    FUZZ_CHECK(polled.size() <= received.size());
    FUZZ_CHECK(std::equal(polled.begin(), polled.end(), received.begin()));
    ctx.reset();
    server.reset();
    return 0;
}
