#include "httpd/limiter.hpp"
#include "httpd/reply_target.hpp"
#include "httpd/route.hpp"
#include "httpd/upgrade.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <utility>

#include "common/log.hpp"

namespace pusher::httpd {
namespace {
bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}
}  // namespace

response refusal_response(refusal r) {
    // 503 for the server as a whole (another node may take the client), 429 for this client's address.
    response res = [r] {
        switch (r) {
            case refusal::max_connections:
                return response::json(503, R"({"error":"too many connections, try again later"})");
            case refusal::max_connections_per_ip:
                return response::json(429, R"({"error":"too many connections from your address"})");
            case refusal::connection_rate_per_ip:
                break;
        }
        return response::json(429, R"({"error":"too many new connections from your address, slow down"})");
    }();
    res.with_header("Retry-After", "1");
    res.close = true;
    return res;
}

std::optional<refusal> request::admit_client(connection_ticket& ticket) const {
    if (!via_proxy || !limiter) {
        return std::nullopt;
    }
    auto v = limiter->admit(client_key, std::chrono::steady_clock::now(), admission_scope::address_only);
    if (v.refused) {
        return v.refused;
    }
    ticket = std::move(v.ticket);
    return std::nullopt;
}

std::string_view request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view request::query() const {
    std::string_view t = target;
    auto const q = t.find('?');
    // Without a query, an empty view at the end of the target, never a default (null) one: Boost.URL 1.81's
    // parse_query dereferences the null pointer of an empty view (a `GET /socket.io/` crashed the server).
    return t.substr(q == std::string_view::npos ? t.size() : q + 1);
}

std::string_view request::header(std::string_view name) const {
    for (auto const& h : headers) {
        if (iequals(h.name, name)) {
            return h.value;
        }
    }
    return {};
}

std::string request::header_list(std::string_view name) const {
    std::string out;
    for (auto const& h : headers) {
        if (iequals(h.name, name)) {
            if (!out.empty()) {
                out += ", ";
            }
            out += h.value;
        }
    }
    return out;
}

bool request::has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(), [&](header_field const& h) { return iequals(h.name, name); });
}

response response::text(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

response response::json(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = "application/json";
    return r;
}

response& response::with_header(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
}

reply::reply(std::shared_ptr<detail::reply_target> target) : target_(std::move(target)) {}
reply::reply(reply&&) noexcept = default;

reply& reply::operator=(reply&& other) noexcept {
    if (this != &other) {
        if (target_) {
            target_->deliver(response::text(500, "no response\n"));
        }
        target_ = std::move(other.target_);
    }
    return *this;
}

reply::~reply() {
    if (target_) {
        target_->deliver(response::text(500, "no response\n"));
    }
}

void reply::send(response r) {
    if (auto t = std::exchange(target_, nullptr)) {
        t->deliver(std::move(r));
    }
}

std::unique_ptr<upgrade> reply::take_upgrade() {
    if (!target_) {
        return nullptr;
    }
    auto up = target_->take_upgrade();
    if (up) {
        target_.reset();
    }
    return up;
}

namespace {
// A route around a plain function (see sync_handler).
class sync_route final : public route {
  public:
    sync_route(sync_handler fn, std::size_t limit) : fn_(std::move(fn)), limit_(limit) {}
    std::size_t body_limit() const override { return limit_; }
    void handle(request req, reply rep) override {
        if (req.body_too_large) {
            rep.send(response::text(413, "payload too large\n"));
            return;
        }
        try {
            rep.send(fn_(req));
        } catch (std::exception const& e) {
            log::error("httpd: handler for {} threw: {}", req.path(), e.what());
            rep.send(response::text(500, "internal error\n"));
        } catch (...) {
            log::error("httpd: handler for {} threw", req.path());
            rep.send(response::text(500, "internal error\n"));
        }
    }

  private:
    sync_handler fn_;
    std::size_t limit_;
};
}  // namespace

std::shared_ptr<route> make_route(sync_handler fn, std::size_t body_limit) {
    return std::make_shared<sync_route>(std::move(fn), body_limit);
}
}  // namespace pusher::httpd
