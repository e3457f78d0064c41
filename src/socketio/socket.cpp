#include "socketio/socket.hpp"

#include "common/log.hpp"
#include "socketio/client.hpp"
#include "socketio/server.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace pusher::socketio {
// Server->client acks waiting for their answer. Ack ids count from 0 per socket, as in the reference server.
struct socket::pending_acks {
    std::uint64_t next_id = 0;
    std::vector<std::pair<std::uint64_t, ack_handler>> waiting;
};

namespace detail {
// The shared state of an admission and its copies: the first decision wins; none at all means a reject.
struct admission_state {
    explicit admission_state(socket_ptr s) : sock(std::move(s)) {}
    admission_state(admission_state const&) = delete;
    admission_state& operator=(admission_state const&) = delete;
    ~admission_state() {
        if (!decided.exchange(true)) {
            sock->finish_admission(false, "Connection refused");
        }
    }
    void decide(bool accepted, std::string message, recovery_ids ids = {}) {
        if (!decided.exchange(true)) {
            sock->finish_admission(accepted, std::move(message), std::move(ids));
        }
    }
    socket_ptr sock;
    std::atomic<bool> decided{false};
};
}  // namespace detail

disconnect_reason from_engineio(engineio::disconnect_reason why) {
    switch (why) {
        case engineio::disconnect_reason::client_close:
            return disconnect_reason::client_close;
        case engineio::disconnect_reason::transport_close:
            return disconnect_reason::transport_close;
        case engineio::disconnect_reason::transport_error:
            return disconnect_reason::transport_error;
        case engineio::disconnect_reason::ping_timeout:
            return disconnect_reason::ping_timeout;
        case engineio::disconnect_reason::parse_error:
            return disconnect_reason::parse_error;
        case engineio::disconnect_reason::payload_too_large:
            return disconnect_reason::payload_too_large;
        case engineio::disconnect_reason::slow_consumer:
            return disconnect_reason::slow_consumer;
        case engineio::disconnect_reason::server_close:
            return disconnect_reason::server_close;
        case engineio::disconnect_reason::server_shutdown:
            return disconnect_reason::server_shutdown;
    }
    return disconnect_reason::transport_close;
}

std::string_view to_string(disconnect_reason why) {
    switch (why) {
        case disconnect_reason::client_namespace_disconnect:
            return "client namespace disconnect";
        case disconnect_reason::server_namespace_disconnect:
            return "server namespace disconnect";
        case disconnect_reason::client_close:
            return "client close";
        case disconnect_reason::transport_close:
            return "transport close";
        case disconnect_reason::transport_error:
            return "transport error";
        case disconnect_reason::ping_timeout:
            return "ping timeout";
        case disconnect_reason::parse_error:
            return "parse error";
        case disconnect_reason::payload_too_large:
            return "payload too large";
        case disconnect_reason::slow_consumer:
            return "slow consumer";
        case disconnect_reason::server_close:
            return "server close";
        case disconnect_reason::server_shutdown:
            return "server shutting down";
    }
    return "unknown";
}

socket::socket(std::shared_ptr<engineio::session> session, detail::namespace_entry const& ns,
               std::array<char, id_size> id)
    : session_(std::move(session)), ns_(&ns), id_(id) {}

socket::~socket() = default;

std::string_view socket::nsp() const {
    return ns_->name;
}

void socket::send(frame const& packet, std::vector<frame> const& attachments) {
    session_->send(packet);
    for (frame const& a : attachments) {
        session_->send_binary(a);
    }
}

void socket::emit(std::string_view event, arguments args) {
    session_->dispatch([self = shared_from_this(), event = std::string(event), args = std::move(args)] {
        if (!self->connected()) {
            log::debug("socketio: emit '{}' on a socket that is not connected, dropped", event);
            return;
        }
        self->send(encode_event(self->nsp(), event, args), args.binary);
    });
}

void socket::emit_with_ack(std::string_view event, arguments args, std::chrono::milliseconds timeout,
                           ack_handler on_ack) {
    session_->dispatch([self = shared_from_this(), event = std::string(event), args = std::move(args), timeout,
                        on_ack = std::move(on_ack)]() mutable {
        if (!self->connected() || self->owner_ == nullptr) {
            detail::call_app("ack handler", [&] { on_ack(ack_status::disconnected, {}); });
            return;
        }
        if (!self->acks_) {
            self->acks_ = std::make_unique<pending_acks>();
        }
        std::uint64_t const id = self->acks_->next_id++;
        self->acks_->waiting.emplace_back(id, std::move(on_ack));
        self->send(encode_event(self->nsp(), event, args, id), args.binary);
        if (timeout > std::chrono::milliseconds::zero()) {
            self->owner_->owner().timers_.call_after(timeout, [w = std::weak_ptr<socket>(self), id] {
                if (auto s = w.lock()) {
                    s->session_->dispatch([s, id] { s->on_ack_timeout(id); });
                }
            });
        }
    });
}

void socket::ack(std::uint64_t id, arguments args) {
    session_->dispatch([self = shared_from_this(), id, args = std::move(args)] {
        if (!self->connected()) {
            return;
        }
        self->send(encode_ack(self->nsp(), id, args), args.binary);
    });
}

void socket::disconnect(bool close_session) {
    session_->dispatch([self = shared_from_this(), close_session] {
        if (self->owner_ != nullptr) {
            self->owner_->leave(self, close_session);
        }
    });
}

void socket::finish_admission(bool accepted, std::string message, recovery_ids ids) {
    session_->dispatch([self = shared_from_this(), accepted, message = std::move(message), ids = std::move(ids)] {
        if (self->owner_ == nullptr) {
            return;
        }
        if (accepted && ids.sid.size() == id_size && self->state_ == state::pending) {
            std::copy(ids.sid.begin(), ids.sid.end(), self->id_.begin());
        }
        self->owner_->admit(self, accepted, message, ids);
    });
}

ack_handler socket::take_ack(std::uint64_t id) {
    if (!acks_) {
        return {};
    }
    auto& w = acks_->waiting;
    auto it = std::find_if(w.begin(), w.end(), [id](auto const& p) { return p.first == id; });
    if (it == w.end()) {
        return {};
    }
    ack_handler h = std::move(it->second);
    w.erase(it);
    return h;
}

void socket::on_ack_timeout(std::uint64_t id) {
    if (ack_handler h = take_ack(id)) {
        detail::call_app("ack handler", [&] { h(ack_status::timeout, {}); });
    }
}

void socket::drop_acks() {
    if (!acks_) {
        return;
    }
    auto waiting = std::move(acks_->waiting);
    acks_.reset();
    for (auto& entry : waiting) {
        auto& h = entry.second;  // not a structured binding: clang before 16 cannot capture one in a lambda
        detail::call_app("ack handler", [&] { h(ack_status::disconnected, {}); });
    }
}

admission::admission(socket_ptr s) : state_(std::make_shared<detail::admission_state>(std::move(s))) {}

void admission::accept() const {
    state_->decide(true, {});
}

void admission::accept(recovery_ids ids) const {
    state_->decide(true, {}, std::move(ids));
}

void admission::reject(std::string message) const {
    state_->decide(false, std::move(message));
}
}  // namespace pusher::socketio
