#include "app/http_routes.hpp"

#include "api/cluster_api.hpp"
#include "api/endpoints.hpp"
#include "api/request.hpp"
#include "app/control_plane.hpp"
#include "broker/broker.hpp"
#include "web/assets.hpp"

#include <utility>

namespace pusher::app {
namespace {
api::request to_api(httpd::request const& r) {
    api::request a;
    a.method = r.method;
    a.path = r.path();
    a.query = r.query();
    a.authorization = r.header("Authorization");
    a.content_type = r.header("Content-Type");
    a.body = r.body;
    a.remote_address = r.remote_address;
    a.body_too_large = r.body_too_large;
    return a;
}

httpd::response to_http(api::response r) {
    httpd::response h;
    h.status = r.status;
    h.body = std::move(r.body);
    h.content_type = std::move(r.content_type);
    for (auto& [name, value] : r.headers) {
        h.headers.push_back({std::move(name), std::move(value)});
    }
    // An API answer is never cached by a browser or proxy.
    h.headers.push_back({"Cache-Control", "no-store"});
    return h;
}

class publish_route final : public httpd::route {
  public:
    publish_route(broker::broker& b, api::publish_settings s) : broker_(b), settings_(std::move(s)) {}

    std::size_t body_limit() const override { return settings_.max_body; }

    void handle(httpd::request req, httpd::reply rep) override {
        auto parsed = api::parse_publish(to_api(req), settings_);
        if (auto* err = std::get_if<api::response>(&parsed)) {
            rep.send(to_http(std::move(*err)));
            return;
        }
        auto& pub = std::get<broker::publication>(parsed);
        auto const n = api::accepted_count(pub);
        // broker::done_fn is a std::function (copyable): the move-only reply rides in a shared_ptr.
        auto answer = std::make_shared<httpd::reply>(std::move(rep));
        broker_.publish(std::move(pub), [n, answer](boost::system::error_code ec) {
            answer->send(to_http(ec ? api::publish_failed() : api::publish_accepted(n)));
        });
    }

  private:
    broker::broker& broker_;
    api::publish_settings settings_;
};

// GET /api/presence, POST /api/disconnect: parse, ask every node (control_plane), answer with what came back.
class cluster_route final : public httpd::route {
  public:
    using parse_fn = api::query_result (*)(api::request const&, api::publish_settings const&);
    cluster_route(control_plane& cp, api::publish_settings s, parse_fn parse)
        : plane_(cp), settings_(std::move(s)), parse_(parse) {}

    std::size_t body_limit() const override { return settings_.max_body; }

    void handle(httpd::request req, httpd::reply rep) override {
        auto parsed = parse_(to_api(req), settings_);
        if (auto* err = std::get_if<api::response>(&parsed)) {
            rep.send(to_http(std::move(*err)));
            return;
        }
        auto q = std::get<cluster::query>(std::move(parsed));
        auto answer = std::make_shared<httpd::reply>(std::move(rep));
        auto asked = std::make_shared<cluster::query const>(q);
        plane_.ask(std::move(q), [answer, asked](control_plane::result r) {
            answer->send(to_http(api::cluster_response(*asked, r.answers, r.answered)));
        });
    }

  private:
    control_plane& plane_;
    api::publish_settings settings_;
    parse_fn parse_;
};

// The demo's files are static: a strict Content-Security-Policy (same-origin scripts, styles, images and
// connections only), no sniffing, no framing.
httpd::response demo_response(httpd::request const& req) {
    if (req.method != "GET" && req.method != "HEAD") {
        auto r = to_http(api::method_not_allowed("GET, HEAD"));
        return r;
    }
    auto const* a = web::find_asset(req.path());
    if (a == nullptr) {
        return to_http(api::not_found());
    }
    httpd::response r;
    r.status = 200;
    r.content_type = std::string(a->content_type);
    if (req.method == "GET") {
        r.body = std::string(a->body);
    }
    r.headers.push_back({"Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                         "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"});
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    r.headers.push_back({"Referrer-Policy", "no-referrer"});
    r.headers.push_back({"Cache-Control", "no-cache"});
    return r;
}
}  // namespace

std::shared_ptr<httpd::route> make_publish_route(broker::broker& b, api::publish_settings settings) {
    return std::make_shared<publish_route>(b, std::move(settings));
}

std::shared_ptr<httpd::route> make_presence_route(control_plane& cp, api::publish_settings settings) {
    return std::make_shared<cluster_route>(cp, std::move(settings), api::parse_presence);
}

std::shared_ptr<httpd::route> make_disconnect_route(control_plane& cp, api::publish_settings settings) {
    return std::make_shared<cluster_route>(cp, std::move(settings), api::parse_disconnect);
}

std::shared_ptr<httpd::route> make_healthz_route() {
    return httpd::make_route([](httpd::request const& r) { return to_http(api::healthz(to_api(r))); }, 0);
}

std::shared_ptr<httpd::route> make_readyz_route(readiness_fn fn) {
    return httpd::make_route(
        [fn = std::move(fn)](httpd::request const& r) {
            auto const s = fn();
            return to_http(api::readyz(to_api(r), s.ready, s.reason));
        },
        0);
}

std::shared_ptr<httpd::route> make_metrics_route(metrics::registry const& reg) {
    return httpd::make_route([&reg](httpd::request const& r) { return to_http(api::metrics_page(to_api(r), reg)); }, 0);
}

std::shared_ptr<httpd::route> make_demo_route() {
    return httpd::make_route(demo_response, 0);
}
}  // namespace pusher::app
