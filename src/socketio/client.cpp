#include "socketio/client.hpp"

#include "socketio/server.hpp"

#include "common/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <algorithm>

namespace pusher::socketio::detail {
client::client(server& srv, std::shared_ptr<engineio::session> session)
    : server_(srv), session_(std::move(session)), v4_(session_->protocol() == 3) {}

void client::start() {
    if (v4_) {
        connect_v4();
    }
    auto const timeout = server_.opts_.connect_timeout;
    if (timeout <= std::chrono::milliseconds::zero()) {
        return;
    }
    server_.timers_.call_after(timeout, [w = weak_from_this()] {
        if (auto c = w.lock(); c && !c->timeout_moot_.load(std::memory_order_relaxed)) {
            c->session_->dispatch([c] { c->on_connect_timeout(); });
        }
    });
}

void client::on_connect_timeout() {
    if (closed_ || joined_) {
        return;
    }
    bool const waiting = std::any_of(sockets_.begin(), sockets_.end(),
                                     [](socket_ptr const& s) { return s->state_ == socket::state::pending; });
    if (waiting) {
        return;  // the application is still deciding on a CONNECT that did arrive in time
    }
    server_.stats_.connect_timeouts.fetch_add(1, std::memory_order_relaxed);
    log::debug("socketio: session {} joined no namespace in time, closing", session_->id());
    session_->close(engineio::disconnect_reason::server_close);
}

void client::abort() {
    session_->close(engineio::disconnect_reason::server_close);
}

void client::fail(decode_error e, std::string_view detail) {
    server_.stats_.decode_errors.fetch_add(1, std::memory_order_relaxed);
    log::debug("socketio: session {}: {}{}{}, closing", session_->id(), make_error_code(e).message(),
               detail.empty() ? "" : ": ", detail);
    partial_.reset();
    session_->close(engineio::disconnect_reason::parse_error);
}

void client::on_message(std::string_view text) {
    if (closed_) {
        return;
    }
    if (partial_) {
        // socket.io-parser: "got plaintext data when reconstructing a packet"
        fail(decode_error::unexpected_text);
        return;
    }
    auto r = decode(text, server_.limits_);
    if (!r) {
        fail(static_cast<decode_error>(r.error().value()), text.substr(0, 64));
        return;
    }
    packet& p = *r;
    if (is_binary(p.type) && p.attachments > 0) {
        partial_ = std::make_unique<partial>();
        partial_->p = std::move(p);
        partial_->received.reserve(partial_->p.attachments);
        return;
    }
    handle(p, {});
}

void client::on_binary(std::string_view bytes) {
    if (closed_) {
        return;
    }
    if (!partial_) {
        fail(decode_error::unexpected_binary);
        return;
    }
    partial_->received.push_back(make_frame(std::string(bytes)));
    if (partial_->received.size() < partial_->p.attachments) {
        return;
    }
    std::unique_ptr<partial> done = std::move(partial_);
    handle(done->p, done->received);
}

void client::handle(packet& p, std::vector<frame> const& received) {
    switch (p.type) {
        case packet_type::connect:
            on_connect_packet(p);
            return;
        case packet_type::disconnect: {
            socket_ptr s = find(p.nsp);
            if (!s) {
                return;
            }
            // Silent: the reference server sends nothing back, and the Engine.IO connection stays open.
            socket::state const was = detach(*s);
            if (was == socket::state::connected) {
                server_.stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
            }
            call_app("on_disconnect",
                     [&] { s->ns_->handler->on_disconnect(s, disconnect_reason::client_namespace_disconnect); });
            return;
        }
        case packet_type::event:
        case packet_type::binary_event: {
            socket_ptr s = find(p.nsp);
            if (!s || !s->connected()) {
                log::debug("socketio: session {}: event for namespace {} not joined, dropped", session_->id(), p.nsp);
                return;
            }
            event e{std::move(p.event), take_arguments(p, received), p.id};
            server_.stats_.events.fetch_add(1, std::memory_order_relaxed);
            if (!call_app("on_event", [&] { s->ns_->handler->on_event(s, e); })) {
                session_->close(engineio::disconnect_reason::server_close);
            }
            return;
        }
        case packet_type::ack:
        case packet_type::binary_ack: {
            socket_ptr s = find(p.nsp);
            if (!s || !s->connected() || !p.id || !s->acks_) {
                return;
            }
            ack_handler h = s->take_ack(*p.id);
            if (h) {
                call_app("ack handler", [&] { h(ack_status::ok, take_arguments(p, received)); });
            }
            return;
        }
        case packet_type::connect_error:
            return;  // meaningless from a client; socket.io ignores it too
    }
}

void client::connect_v4() {
    // socket.io-client 2.x: io(url, {query: {token}}). Only these two parameters, as strings; the rest of the query
    // (EIO, transport, t, ...) is the transport's.
    std::string auth = "{";
    auto const query = session_->handshake_query();
    if (boost::urls::parse_query(query)) {
        for (auto const& param : boost::urls::params_view(query)) {
            if (!param.has_value || (param.key != "token" && param.key != "user") ||
                auth.find("\"" + param.key + "\"") != std::string::npos) {
                continue;
            }
            if (auth.size() > 1) {
                auth.push_back(',');
            }
            json_text::append_string(auth, param.key);
            auth.push_back(':');
            json_text::append_string(auth, param.value);
        }
    }
    auth.push_back('}');
    packet p;
    p.type = packet_type::connect;
    p.nsp = "/";
    p.data = std::move(auth);
    on_connect_packet(p);
}

void client::on_connect_packet(packet& p) {
    namespace_entry const* ns = server_.find_namespace(p.nsp);
    if (!ns) {
        server_.stats_.invalid_namespaces.fetch_add(1, std::memory_order_relaxed);
        session_->send(v4_ ? encode_error_v4(p.nsp, "Invalid namespace")
                           : encode_connect_error(p.nsp, "Invalid namespace"));
        return;
    }
    if (socket_ptr old = find(p.nsp)) {
        // A second CONNECT for a namespace: the reference server answers it with a new socket. Ours replaces the
        // old one, which leaves like after a namespace DISCONNECT (a pending admission of it becomes a no-op).
        log::debug("socketio: session {}: second CONNECT for {}, replacing the socket", session_->id(), p.nsp);
        if (detach(*old) == socket::state::connected) {
            server_.stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
        }
        call_app("on_disconnect",
                 [&] { old->ns_->handler->on_disconnect(old, disconnect_reason::client_namespace_disconnect); });
        if (closed_) {
            return;
        }
    }
    std::string const auth_json = p.data.empty() ? std::string("{}") : std::move(p.data);
    boost::json::parse_options opts;
    opts.max_depth = server_.limits_.max_depth;
    boost::system::error_code ec;
    boost::json::value auth = boost::json::parse(auth_json, ec, {}, opts);
    if (ec || !auth.is_object()) {
        fail(decode_error::invalid_payload);  // decode() already checked this; never expected
        return;
    }
    auto s = std::make_shared<socket>(session_, *ns, server_.make_socket_id());
    s->owner_ = this;
    sockets_.push_back(s);
    connect_request const req{auth_json, auth.get_object()};
    call_app("on_connect", [&] { ns->handler->on_connect(s, req, admission(s)); });
}

void client::admit(socket_ptr const& s, bool accepted, std::string const& message, recovery_ids const& ids) {
    if (closed_ || s->owner_ != this || s->state_ != socket::state::pending) {
        return;
    }
    if (accepted) {
        s->state_.store(socket::state::connected, std::memory_order_release);
        joined_ = true;
        timeout_moot_.store(true, std::memory_order_relaxed);
        server_.stats_.connects.fetch_add(1, std::memory_order_relaxed);
        // Protocol v4: a bare CONNECT (no sid, no recovery: the client keeps its Engine.IO id).
        session_->send(v4_ ? encode_connect_v4(s->nsp()) : encode_connect(s->nsp(), s->id(), ids.pid, ids.missed));
        return;
    }
    detach(*s);
    server_.stats_.rejects.fetch_add(1, std::memory_order_relaxed);
    session_->send(v4_ ? encode_error_v4(s->nsp(), message) : encode_connect_error(s->nsp(), message));
}

void client::leave(socket_ptr const& s, bool close_session) {
    if (closed_ || s->owner_ != this) {
        return;
    }
    socket::state const was = detach(*s);
    if (was == socket::state::connected) {
        server_.stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
        session_->send(encode_disconnect(s->nsp()));
    } else {
        // Still waiting for its admission: the client is waiting for a CONNECT reply, give it a refusal.
        session_->send(v4_ ? encode_error_v4(s->nsp(), "Disconnected by the server")
                           : encode_connect_error(s->nsp(), "Disconnected by the server"));
    }
    call_app("on_disconnect",
             [&] { s->ns_->handler->on_disconnect(s, disconnect_reason::server_namespace_disconnect); });
    if (close_session) {
        session_->close(engineio::disconnect_reason::server_close);
    }
}

void client::on_close(engineio::disconnect_reason why) {
    if (closed_) {
        return;
    }
    closed_ = true;
    timeout_moot_.store(true, std::memory_order_relaxed);
    partial_.reset();
    std::vector<socket_ptr> sockets = std::move(sockets_);
    sockets_.clear();
    disconnect_reason const reason = from_engineio(why);
    for (socket_ptr const& s : sockets) {
        s->owner_ = nullptr;  // detach() would search sockets_, which is already empty
        socket::state const was = s->state_.exchange(socket::state::closed, std::memory_order_acq_rel);
        s->drop_acks();
        if (was == socket::state::connected) {
            server_.stats_.disconnects.fetch_add(1, std::memory_order_relaxed);
        }
        call_app("on_disconnect", [&] { s->ns_->handler->on_disconnect(s, reason); });
    }
}

socket_ptr client::find(std::string_view nsp) const {
    for (socket_ptr const& s : sockets_) {
        if (s->nsp() == nsp) {
            return s;
        }
    }
    return nullptr;
}

void client::remove(socket const* s) {
    std::erase_if(sockets_, [s](socket_ptr const& p) { return p.get() == s; });
}

socket::state client::detach(socket& s) {
    remove(&s);
    s.owner_ = nullptr;
    socket::state const was = s.state_.exchange(socket::state::closed, std::memory_order_acq_rel);
    s.drop_acks();
    return was;
}

void client_link::on_message(std::string_view text) {
    auto keep = client_;  // the callback may close the session, which destroys this link
    if (!call_app("on_message", [&] { keep->on_message(text); })) {
        keep->abort();
    }
}

void client_link::on_binary(std::string_view bytes) {
    auto keep = client_;
    if (!call_app("on_binary", [&] { keep->on_binary(bytes); })) {
        keep->abort();
    }
}

void client_link::on_close(engineio::disconnect_reason why) {
    auto keep = client_;
    call_app("on_close", [&] { keep->on_close(why); });
}
}  // namespace pusher::socketio::detail
