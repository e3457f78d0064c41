#include "app/gate.hpp"

#include "auth/authenticate.hpp"
#include "broker/broker.hpp"
#include "common/log.hpp"
#include "hub/hub.hpp"

#include <memory>
#include <string>

namespace pusher::app {
namespace {
// What the gate keeps on a socket (socket::data, session thread only).
struct membership {
    std::string user;
    bool subscribed = false;  // we hold one broker subscription for this socket
    bool gone = false;        // the socket left before its admission was decided
};

membership* membership_of(socketio::socket& s) {
    return std::any_cast<membership>(&s.data());
}
}  // namespace

gate::gate(hub::hub& h, broker::broker& b, auth::verifier const* v, bool dev_auth, clock_fn now)
    : hub_(h), broker_(b), verifier_(v), dev_auth_(dev_auth), now_(std::move(now)) {}

void gate::on_connect(socketio::socket_ptr const& s, socketio::connect_request const& req, socketio::admission a) {
    auto who = auth::authenticate(&req.auth, verifier_, dev_auth_, now_());
    if (!who) {
        stats_.auth_failures.fetch_add(1, std::memory_order_relaxed);
        log::debug("connect refused from {}: {}", s->session()->remote_address(), who.error().message);
        a.reject(who.error().message);
        return;
    }
    s->data() = membership{who->user, true, false};
    // The binding is confirmed on the broker's thread; the decision is taken back on the session's thread, where
    // the socket's state lives (on_disconnect runs there too, so the two never race).
    broker_.subscribe(who->user, [this, s, a](boost::system::error_code ec) {
        s->session()->dispatch([this, s, a, ec] {
            auto* m = membership_of(*s);
            if (m == nullptr || m->gone) {
                return;  // on_disconnect already gave the subscription back
            }
            if (ec) {
                stats_.subscribe_failures.fetch_add(1, std::memory_order_relaxed);
                log::warn("connect refused for user {}: binding not confirmed: {}", m->user, ec.message());
                m->subscribed = false;
                broker_.unsubscribe(m->user);
                a.reject("service unavailable, retry later");
                return;
            }
            a.accept();  // the CONNECT reply goes out before any frame the hub may send from now on
            hub_.attach(m->user, s->session());
            stats_.admitted.fetch_add(1, std::memory_order_relaxed);
        });
    });
}

void gate::on_event(socketio::socket_ptr const&, socketio::event&) {
    stats_.client_events.fetch_add(1, std::memory_order_relaxed);
}

void gate::on_disconnect(socketio::socket_ptr const& s, socketio::disconnect_reason) {
    auto* m = membership_of(*s);
    if (m == nullptr || m->gone) {
        return;
    }
    m->gone = true;
    hub_.detach(m->user, *s->session());
    if (m->subscribed) {
        m->subscribed = false;
        broker_.unsubscribe(m->user);
    }
}
}  // namespace pusher::app
