#include "app/gate.hpp"

#include "app/fanout.hpp"
#include "app/held_sessions.hpp"
#include "auth/authenticate.hpp"
#include "broker/broker.hpp"
#include "channels/channel.hpp"
#include "common/json_text.hpp"
#include "common/log.hpp"
#include "hub/hub.hpp"
#include "socketio/event_frame.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

namespace pusher::app {
namespace {
// The answer to a client's request with an ack (subscribe, unsubscribe, upstream): `{"ok":true}`, or
// `{"error":"<error>"}` when `error` is not empty.
void ack_result(socketio::socket_ptr const& s, std::uint64_t id, std::string_view error) {
    socketio::arguments a;
    if (error.empty()) {
        a.json = "[{\"ok\":true}]";
    } else {
        a.json = "[{\"error\":";
        json_text::append_string(a.json, error);
        a.json += "}]";
    }
    s->ack(id, std::move(a));
}

// A channel the socket is subscribed to, or being subscribed to (the binding is not confirmed yet).
struct channel_sub {
    bool joined = false;              // a member in the hub: its events reach the socket
    hub::seq_t joined_at = 0;         // ... after this offset
    std::vector<std::uint64_t> acks;  // subscribe acks to send once the binding is confirmed
};

// What the gate keeps on a socket (socket::data, session thread only).
struct membership {
    std::string user;
    std::vector<std::string> grants;  // the connection token's `channels` claim
    std::map<std::string, channel_sub, std::less<>> channels;
    // Upstream rate limit: a token bucket (tokens, refilled at the rate, at most `rate`).
    double upstream_tokens = -1;  // < 0: full (not used yet)
    std::chrono::steady_clock::time_point upstream_at{};
    bool subscribed = false;  // we hold one broker subscription for this socket
    bool gone = false;        // the socket left before its admission was decided
    bool admitted = false;
    std::string pid;       // connection state recovery: its private id (empty when recovery is off)
    hub::seq_t start = 0;  // it has had everything recorded after this offset
    // A hand-over from another node is pending: the hub records for this socket from this offset (hub::reserve).
    std::optional<hub::seq_t> reserved;
    // ... and, in its second round, for the session's channels (hub::reserve_channel; each also has an entry in
    // `channels`, not joined, which holds its subscription).
    std::vector<hub::channel_point> reserved_channels;
};

membership* membership_of(socketio::socket& s) {
    return std::any_cast<membership>(&s.data());
}

// The reasons a client recovers from: it did not mean to leave, and the server did not send it away. An Engine.IO
// close packet (client_close) counts: socket.io-client's polling transport sends one when its requests fail (a
// network error), while a client that means to leave (`socket.disconnect()`, "io client disconnect") sends the
// Socket.IO DISCONNECT first (client_namespace_disconnect). The reference server reports both transport failures
// and that close packet as "transport close".
bool recoverable(socketio::disconnect_reason why) {
    using r = socketio::disconnect_reason;
    return why == r::transport_close || why == r::transport_error || why == r::ping_timeout ||
           why == r::server_shutdown || why == r::client_close;
}

std::string_view string_member(boost::json::object const& o, std::string_view key) {
    auto const* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// The channel a channel event's meta argument (`{"channel":"..."}`, app/fanout) names.
std::string channel_of_meta(std::string_view meta_json) {
    boost::system::error_code ec;
    auto const v = boost::json::parse(meta_json, ec);
    return !ec && v.is_object() ? std::string(string_member(v.get_object(), "channel")) : std::string();
}

// The channel names of a session's memberships, sorted (the two nodes of a hand-over compare them).
std::vector<std::string> channel_names(std::vector<hub::channel_point> const& points) {
    std::vector<std::string> names;
    names.reserve(points.size());
    for (auto const& c : points) {
        names.push_back(c.channel);
    }
    std::ranges::sort(names);
    return names;
}

bool same_channels(std::vector<hub::channel_point> const& held, std::vector<std::string> asked) {
    std::ranges::sort(asked);
    return channel_names(held) == asked;
}
}  // namespace

// A CONNECT that asks for its state back: auth `pid` and, once it has read an event, `offset`.
struct gate::recovery_request {
    std::string pid;
    std::optional<hub::seq_t> offset;
    bool waited = false;        // a take-over already happened for it
    std::string holder;         // the node to ask for it (empty: this one)
    bool second_round = false;  // the session's channels are bound here: the holder is asked again
};

gate::gate(hub::hub& h, broker::broker& b, auth::verifier const* v, bool dev_auth, clock_fn now, gate_recovery recovery)
    : hub_(h), broker_(b), verifier_(v), dev_auth_(dev_auth), now_(std::move(now)), recovery_(std::move(recovery)) {}

void gate::on_connect(socketio::socket_ptr const& s, socketio::connect_request const& req, socketio::admission a) {
    auto who = auth::authenticate(&req.auth, verifier_, dev_auth_, now_());
    if (!who) {
        stats_.auth_failures.fetch_add(1, std::memory_order_relaxed);
        log::debug("connect refused from {}: {}", s->session()->remote_address(), who.error().message);
        a.reject(who.error().message);
        return;
    }
    std::shared_ptr<recovery_request const> rr;
    if (recovery_.held != nullptr && req.auth.contains("pid")) {
        std::string_view const pid = string_member(req.auth, "pid");
        auto const* off = req.auth.if_contains("offset");
        std::optional<hub::seq_t> offset;
        bool ok = held_sessions::plausible_pid(pid);
        if (ok && off != nullptr) {
            offset = off->is_string() ? hub::parse_offset(off->get_string()) : std::nullopt;
            ok = offset.has_value();
        }
        if (ok) {
            std::string const p(pid);
            std::string holder;
            if (recovery_.cluster != nullptr && !recovery_.held->known(p)) {
                // Not here: ask the node it went to from here, or else the node that issued it.
                auto moved = recovery_.held->moved_to(p, who->user);
                holder = moved ? *moved : std::string(held_sessions::node_of(pid));
                if (holder == recovery_.node_id) {
                    holder.clear();  // ours, and no longer here: unknown
                }
            }
            rr = std::make_shared<recovery_request const>(recovery_request{p, offset, false, std::move(holder)});
        } else {
            stats_.recovery_unknown.fetch_add(1, std::memory_order_relaxed);  // junk: a normal connection
        }
    }
    roster_.add(who->user, s);
    membership fresh;
    fresh.user = who->user;
    fresh.grants = std::move(who->channels);
    fresh.subscribed = true;
    s->data() = std::move(fresh);
    if (rr && !rr->holder.empty()) {
        // Before the binding: whatever reaches this node for the user from now on waits for this socket.
        membership_of(*s)->reserved = hub_.reserve(who->user);
    }
    // The binding is confirmed on the broker's thread; the decision is taken back on the session's thread, where
    // the socket's state lives (on_disconnect runs there too, so the two never race).
    broker_.subscribe(who->user, [this, s, a, rr](boost::system::error_code ec) {
        s->session()->dispatch([this, s, a, rr, ec] {
            auto* m = membership_of(*s);
            if (m == nullptr || m->gone) {
                return;  // on_disconnect already gave the subscription back
            }
            if (ec) {
                stats_.subscribe_failures.fetch_add(1, std::memory_order_relaxed);
                log::warn("connect refused for user {}: binding not confirmed: {}", m->user, ec.message());
                release_reservation(m->user, m->reserved);
                m->subscribed = false;
                broker_.unsubscribe(m->user);
                a.reject("service unavailable, retry later");
                return;
            }
            admit(s, a, rr);
        });
    });
}

void gate::admit(socketio::socket_ptr const& s, socketio::admission const& a,
                 std::shared_ptr<recovery_request const> const& rr) {
    auto* m = membership_of(*s);
    if (m == nullptr || m->gone || m->admitted) {
        return;
    }
    if (rr && !rr->holder.empty()) {
        ask_holder(s, a, rr);
        return;
    }
    if (rr && try_recover(s, a, rr)) {
        return;
    }
    // Socket.IO protocol v4 (an EIO=3 client) has no connection state recovery: such a session gets no pid and is
    // never held.
    if (recovery_.held == nullptr || s->session()->protocol() < 4) {
        m->admitted = true;
        a.accept();  // the CONNECT reply goes out before any frame the hub may send from now on
        hub_.attach(m->user, s->session());
        stats_.admitted.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    hub_.attach(m->user, s->session(), &m->start);
    admit_fresh(s, a, {});
}

void gate::admit_fresh(socketio::socket_ptr const& s, socketio::admission const& a, std::vector<frame> const& replay) {
    auto* m = membership_of(*s);
    m->admitted = true;
    m->pid = held_sessions::make_pid(recovery_.node_id);
    recovery_.held->clear_handed_over(m->user);
    a.accept(socketio::recovery_ids{m->pid, {}, std::nullopt});
    for (frame const& f : replay) {
        s->session()->send(f);
    }
    recovery_.held->live(m->pid, m->user, s);
    stats_.admitted.fetch_add(1, std::memory_order_relaxed);
}

// The session is held by another node: ask it (the binding here is confirmed, so both nodes are bound now).
void gate::ask_holder(socketio::socket_ptr const& s, socketio::admission const& a,
                      std::shared_ptr<recovery_request const> const& rr) {
    auto* m = membership_of(*s);
    cluster::handover_request req;
    req.user = m->user;
    req.pid = rr->pid;
    req.offset = rr->offset;
    req.channels = channel_names(m->reserved_channels);
    recovery_.cluster->ask(rr->holder, std::move(req), [this, s, a, rr](std::optional<cluster::handover_reply> r) {
        auto reply = std::make_shared<std::optional<cluster::handover_reply> const>(std::move(r));
        s->session()->dispatch([this, s, a, rr, reply] { finish_handover(s, a, rr, reply); });
    });
}

// Session thread. What the old node handed over first (minus what also reached this node), then what waited here
// since the reservation, then live frames: the order the client would have seen on one node.
void gate::finish_handover(socketio::socket_ptr const& s, socketio::admission const& a,
                           std::shared_ptr<recovery_request const> const& rr,
                           std::shared_ptr<std::optional<cluster::handover_reply> const> const& reply) {
    auto* m = membership_of(*s);
    if (m == nullptr || m->gone || m->admitted || !m->reserved) {
        return;  // left meanwhile (on_disconnect gave the reservation up)
    }
    auto const& r = *reply;
    if (r && !r->ok && r->error == cluster::handover_bind_channels_first && !rr->second_round) {
        bind_handover_channels(s, a, rr, r->channels);  // the first of two rounds
        return;
    }
    bool const handed = r && r->ok;
    if (!handed) {
        drop_handover_channels(*s);
    }
    hub::seq_t const start = *m->reserved;
    auto here = hub_.recover(m->user, s->session(), std::nullopt, start, m->reserved_channels);
    if (!here) {
        // What waited here was pushed out by a cap: a plain connection from now on. The old node gave the session up
        // (when it handed it over): its events are not replayed, so the user's go to the undelivered exchange
        // (channel events never do), as for any recovery that overflowed.
        if (handed) {
            stats_.recovery_overflow.fetch_add(1, std::memory_order_relaxed);
            for (auto const& e : r->events) {
                if (e.channel.empty() && recovery_.undeliver) {
                    recovery_.undeliver(broker::undelivered{m->user,
                                                            e.event,
                                                            e.payload,
                                                            true,
                                                            {},
                                                            std::nullopt,
                                                            broker::undelivered_reason::recovery_overflow});
                }
            }
        }
        drop_handover_channels(*s);
        release_reservation(m->user, m->reserved);
        hub_.attach(m->user, s->session(), &m->start);
        admit_fresh(s, a, {});
        return;
    }
    m->reserved.reset();
    m->start = start;
    // Members of the session's channels again (the hub joined them back); their subscriptions are this socket's.
    std::unordered_set<std::string_view> mine;
    for (auto const& c : m->reserved_channels) {
        auto const it = m->channels.try_emplace(c.channel).first;
        it->second.joined = true;
        it->second.joined_at = c.joined;
        roster_.joined(c.channel, m->user);
        mine.insert(it->first);
    }
    m->reserved_channels.clear();
    std::vector<frame> frames;
    frames.reserve((handed ? r->events.size() : 0) + here->size());
    if (handed) {
        std::unordered_set<std::uint64_t> seen;
        for (auto const& h : *here) {
            seen.insert(h.key);
        }
        hub::offset_text const offset(start);  // the old node's offsets mean nothing here: "everything up to start"
        for (auto const& e : r->events) {
            if (seen.contains(e.key) || (!e.channel.empty() && !mine.contains(e.channel))) {
                continue;  // reached this node too; or (never from a well-behaved node) a channel not the session's
            }
            frames.push_back(fanout::encode(e.event, e.payload, true, nullptr, offset.view(),
                                            e.channel.empty() ? std::string() : fanout::channel_meta(e.channel)));
        }
    }
    for (auto const& h : *here) {
        frames.push_back(h.f);  // what reached this node since the reservation
    }
    if (!handed) {
        stats_.recovery_unknown.fetch_add(1, std::memory_order_relaxed);
        log::debug("recovery: user {}: node {} did not hand the session over ({}): connects anew", m->user, rr->holder,
                   r ? r->error : std::string("no reply"));
        admit_fresh(s, a, frames);  // what was published while it connected, as any new connection gets it
        return;
    }
    m->admitted = true;
    m->pid = rr->pid;
    a.accept(socketio::recovery_ids{m->pid, r->sid, frames.size()});
    for (frame const& f : frames) {
        s->session()->send(f);
    }
    recovery_.held->live(m->pid, m->user, s);
    stats_.recovered_other_node.fetch_add(1, std::memory_order_relaxed);
    stats_.events_replayed.fetch_add(frames.size(), std::memory_order_relaxed);
    stats_.admitted.fetch_add(1, std::memory_order_relaxed);
}

// The holder says the session has channels: bind them here (each with a place in the hub first, as for the user),
// then ask again. Session thread.
void gate::bind_handover_channels(socketio::socket_ptr const& s, socketio::admission const& a,
                                  std::shared_ptr<recovery_request const> const& rr, std::vector<std::string> names) {
    auto* m = membership_of(*s);
    std::ranges::sort(names);
    names.erase(std::unique(names.begin(), names.end()), names.end());
    auto const again =
        std::make_shared<recovery_request const>(recovery_request{rr->pid, rr->offset, rr->waited, rr->holder, true});
    if (names.empty() || names.size() > channels_per_session_ ||
        !std::ranges::all_of(names, [](std::string const& n) { return channels::valid_name(n); })) {
        if (names.empty()) {
            // A node of the version before channels moved: it refused the session and gave it up.
            log::debug("recovery: user {}: node {} does not hand over sessions with channels: connects anew", m->user,
                       rr->holder);
        } else {
            // Not a session this node could hold (never from a well-behaved node).
            log::warn("recovery: user {}: node {} named channels this node does not take: connects anew", m->user,
                      rr->holder);
        }
        finish_handover(s, a, again, std::make_shared<std::optional<cluster::handover_reply> const>());
        return;
    }
    auto const pending = std::make_shared<std::size_t>(names.size());
    auto const failed = std::make_shared<bool>(false);
    for (auto const& name : names) {
        m->reserved_channels.push_back({name, hub_.reserve_channel(name)});
        m->channels[name];  // not joined: it holds the subscription below until the hand-over ends
        broker_.subscribe_channel(name, [this, s, a, again, pending, failed](boost::system::error_code ec) {
            s->session()->dispatch([this, s, a, again, pending, failed, ec] {
                auto* m = membership_of(*s);
                *failed = *failed || static_cast<bool>(ec);
                if (--*pending > 0 || m == nullptr || m->gone) {
                    return;  // more to come; or on_disconnect gave everything back
                }
                if (*failed) {
                    log::warn("recovery: user {}: a channel's binding was not confirmed: connects anew", m->user);
                    finish_handover(s, a, again, std::make_shared<std::optional<cluster::handover_reply> const>());
                    return;
                }
                ask_holder(s, a, again);
            });
        });
    }
}

// A pending hand-over's channels are not needed any more: their places in the hub and their subscriptions go.
void gate::drop_handover_channels(socketio::socket& s) {
    auto* m = membership_of(s);
    hub_.release_held_channels(m->reserved_channels);
    for (auto const& c : m->reserved_channels) {
        m->channels.erase(c.channel);
        broker_.unsubscribe_channel(c.channel);
    }
    m->reserved_channels.clear();
}

void gate::serve_handover(cluster::handover_request r, handover::answer_fn answer, bool waited) {
    auto const refuse = [&answer](std::string why) {
        cluster::handover_reply no;
        no.error = std::move(why);
        answer(std::move(no));
    };
    if (recovery_.held == nullptr || !held_sessions::plausible_pid(r.pid)) {
        refuse("unknown");
        return;
    }
    if (auto to = recovery_.held->moved_to(r.pid, r.user)) {
        // Handed over from here before: the node it went to answers (unless that is the asker, who lost it since).
        if (*to != r.from && r.hops < cluster::max_handover_hops) {
            recovery_.cluster->forward(*to, std::move(r));
        } else {
            refuse("unknown");
        }
        return;
    }
    if (auto chans = recovery_.held->channels_of(r.pid, r.user); chans && !same_channels(*chans, r.channels)) {
        // A session with channels moves in two rounds (cluster/handover_message.hpp): the asking node binds them
        // first, so that every channel event after the snapshot below reaches it too. Nothing is given up yet.
        cluster::handover_reply bind;
        bind.error = cluster::handover_bind_channels_first;
        bind.channels = channel_names(*chans);
        answer(std::move(bind));
        return;
    }
    held_sessions::held h;
    std::shared_ptr<socketio::socket> victim;
    std::function<void()> superseded;
    auto retry = [this, r, answer] { serve_handover(r, answer, true); };
    auto const claimed =
        recovery_.held->claim(r.pid, r.user, h, waited ? nullptr : std::function<void()>(retry), victim, superseded);
    if (superseded) {
        superseded();
    }
    switch (claimed) {
        case held_sessions::claim_result::none:
            log::debug("handover: node {} asked for a pid of user {} that is not held here", r.from, r.user);
            refuse("unknown");
            return;
        case held_sessions::claim_result::wait:
            // Its client is on another node now, while this one still thinks the socket open: close it, answer then.
            stats_.recovery_takeovers.fetch_add(1, std::memory_order_relaxed);
            victim->session()->close(engineio::disconnect_reason::transport_close);
            return;
        case held_sessions::claim_result::claimed:
            break;
    }
    if (!same_channels(h.channels, r.channels)) {
        // Its channels changed between the two rounds (it was recovered here and held again meanwhile): the client
        // connects anew there, and what was kept here for it goes to the undelivered exchange.
        stats_.recovery_expired.fetch_add(1, std::memory_order_relaxed);
        give_up(h, broker::undelivered_reason::recovery_expired);
        refuse("channels changed");
        return;
    }
    auto frames = hub_.hand_over(h.user, r.offset, h.start, h.channels);
    if (!frames) {
        stats_.recovery_overflow.fetch_add(1, std::memory_order_relaxed);
        give_up(h, broker::undelivered_reason::recovery_overflow);
        refuse("overflow");
        return;
    }
    cluster::handover_reply reply;
    reply.ok = true;
    reply.sid = h.sid;
    reply.events.reserve(frames->size());
    for (auto const& f : *frames) {
        if (auto parts = socketio::decode_event_frame(*f.f)) {
            reply.events.push_back({f.key, std::move(parts->event), std::string(parts->payload_json),
                                    parts->meta_json.empty() ? std::string() : channel_of_meta(parts->meta_json)});
        }
    }
    broker_.unsubscribe(h.user);  // the held socket's subscriptions: the bindings go after the grace
    for (auto const& c : h.channels) {
        roster_.left(c.channel, h.user);
        broker_.unsubscribe_channel(c.channel);
    }
    recovery_.held->moved(r.pid, h.user, r.from);
    recovery_.held->handed_over(h.user, std::chrono::steady_clock::now() + recovery_.handed_over_quiet);
    recovery_.timers->call_after(recovery_.window, [this, pid = r.pid] { recovery_.held->forget_moved(pid); });
    stats_.handed_over.fetch_add(1, std::memory_order_relaxed);
    log::debug("handover: user {}'s session went to node {} with {} events", h.user, r.from, reply.events.size());
    answer(std::move(reply));
}

void gate::release_reservation(std::string const& user, std::optional<hub::seq_t>& reserved) {
    if (!reserved) {
        return;
    }
    reserved.reset();
    hub::lost_messages lost;
    hub_.release_held(user, lost);
    undeliver_all(lost, broker::undelivered_reason::no_session);
}

// True when the socket was recovered, or waits for a take-over (admit runs again then).
bool gate::try_recover(socketio::socket_ptr const& s, socketio::admission const& a,
                       std::shared_ptr<recovery_request const> const& rr) {
    auto* m = membership_of(*s);
    held_sessions::held h;
    std::shared_ptr<socketio::socket> victim;
    // The retry comes from the old socket's thread once it has left: back to ours, and decide again.
    auto retry = [this, s, a, rr] {
        auto again = std::make_shared<recovery_request const>(recovery_request{rr->pid, rr->offset, true});
        s->session()->dispatch([this, s, a, again] { admit(s, a, again); });
    };
    std::function<void()> superseded;
    auto const claimed = recovery_.held->claim(rr->pid, m->user, h, rr->waited ? nullptr : std::function<void()>(retry),
                                               victim, superseded);
    if (superseded) {
        superseded();  // an earlier attempt of this client waited for the same take-over: it connects anew
    }
    switch (claimed) {
        case held_sessions::claim_result::none:
            stats_.recovery_unknown.fetch_add(1, std::memory_order_relaxed);
            log::debug(
                "recovery: user {}: pid unknown here, not the user's, or still open after a take-over: "
                "connects anew",
                m->user);
            return false;
        case held_sessions::claim_result::wait:
            stats_.recovery_takeovers.fetch_add(1, std::memory_order_relaxed);
            log::debug("recovery: user {} takes over its open session {}", m->user, victim->session()->id());
            victim->session()->close(engineio::disconnect_reason::transport_close);
            return true;
        case held_sessions::claim_result::claimed:
            break;
    }
    auto frames = hub_.recover(m->user, s->session(), rr->offset, h.start, h.channels);
    if (!frames) {
        stats_.recovery_overflow.fetch_add(1, std::memory_order_relaxed);
        log::debug("recovery: user {} cannot be recovered from its offset (capped out), connects anew", m->user);
        give_up(h, broker::undelivered_reason::recovery_overflow);
        return false;
    }
    m->admitted = true;
    m->pid = rr->pid;
    m->start = h.start;
    for (auto& c : h.channels) {
        // Members again (the hub joined it back); their held subscriptions are this socket's now.
        m->channels[c.channel] = channel_sub{true, c.joined, {}};
    }
    a.accept(socketio::recovery_ids{m->pid, h.sid, frames->size()});
    for (auto const& r : *frames) {
        s->session()->send(r.f);  // on our thread: ahead of anything the hub queued since the attach
    }
    recovery_.held->live(m->pid, m->user, s);
    broker_.unsubscribe(m->user);  // the held socket's subscription: this socket holds its own
    stats_.recovered.fetch_add(1, std::memory_order_relaxed);
    stats_.events_replayed.fetch_add(frames->size(), std::memory_order_relaxed);
    stats_.admitted.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void gate::on_event(socketio::socket_ptr const& s, socketio::event& e) {
    auto const what = channels::action_of(e.name);
    auto* m = membership_of(*s);
    if (m == nullptr || !m->admitted || m->gone) {
        stats_.client_events.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (!what) {
        if (e.ack_id) {
            upstream(s, e);
        } else {
            stats_.client_events.fetch_add(1, std::memory_order_relaxed);  // nobody waits for it: ignored
        }
        return;
    }
    auto const ack_id = e.ack_id;
    auto parsed = channels::parse(*what, e.args.json);
    if (auto const* no = std::get_if<channels::refusal>(&parsed)) {
        refuse_channel(s, ack_id, *no);
        return;
    }
    auto& req = std::get<channels::request>(parsed);
    if (*what == channels::action::unsubscribe) {
        leave_channel(s, req.channel);
        answer_channel(s, ack_id, std::nullopt);
        return;
    }
    if (auto it = m->channels.find(req.channel); it != m->channels.end()) {
        if (it->second.joined) {
            answer_channel(s, ack_id, std::nullopt);  // subscribed already: the same answer
        } else if (ack_id) {
            it->second.acks.push_back(*ack_id);  // answered with the first one
        }
        return;
    }
    if (m->channels.size() >= channels_per_session_) {
        refuse_channel(s, ack_id,
                       {"too_many", "too many channels on this connection (at most " +
                                        std::to_string(channels_per_session_) + ")"});
        return;
    }
    auth::identity who;
    who.user = m->user;
    who.channels = m->grants;
    if (auto no = channels::authorize(who, req, verifier_, dev_auth_, now_())) {
        refuse_channel(s, ack_id, *no);
        return;
    }
    auto& sub = m->channels[req.channel];
    if (ack_id) {
        sub.acks.push_back(*ack_id);
    }
    // As for the user's binding: the ack goes out once the broker confirmed the channel's binding, so that an event
    // published after the client saw it reaches it.
    broker_.subscribe_channel(req.channel, [this, s, name = req.channel](boost::system::error_code ec) {
        s->session()->dispatch([this, s, name, ec] { channel_bound(s, name, ec); });
    });
}

void gate::upstream(socketio::socket_ptr const& s, socketio::event& e) {
    auto* m = membership_of(*s);
    auto const reply = [s, id = *e.ack_id](std::string_view error) { ack_result(s, id, error); };
    if (!upstream_on_) {
        stats_.upstream_refused.fetch_add(1, std::memory_order_relaxed);
        reply("upstream is off on this server");
        return;
    }
    if (!e.args.binary.empty()) {
        stats_.upstream_refused.fetch_add(1, std::memory_order_relaxed);
        reply("binary arguments are not supported upstream");
        return;
    }
    // The token bucket: `rate` per second, bursts of `rate`.
    auto const now = std::chrono::steady_clock::now();
    double const rate = static_cast<double>(upstream_rate_);
    if (m->upstream_tokens < 0) {
        m->upstream_tokens = rate;
    } else {
        m->upstream_tokens =
            std::min(rate, m->upstream_tokens + std::chrono::duration<double>(now - m->upstream_at).count() * rate);
    }
    m->upstream_at = now;
    if (m->upstream_tokens < 1) {
        stats_.upstream_rate_limited.fetch_add(1, std::memory_order_relaxed);
        reply("rate limit: at most " + std::to_string(upstream_rate_) + " events per second");
        return;
    }
    m->upstream_tokens -= 1;
    // The body is the event's first argument, as JSON (the client sent valid JSON: the packet decoded).
    broker::publication p;
    p.upstream_key = e.name;
    p.event = e.name;
    boost::system::error_code ec;
    auto const args = boost::json::parse(e.args.json, ec);
    auto const* arr = ec ? nullptr : args.if_array();
    p.payload = arr == nullptr || arr->empty() ? std::string("null") : boost::json::serialize(arr->front());
    p.headers = {
        {"x-pusher-user", m->user}, {"x-pusher-node", recovery_.node_id}, {"x-pusher-sid", std::string(s->id())}};
    broker_.publish(std::move(p), [this, reply](boost::system::error_code pec) {
        if (pec) {
            stats_.upstream_failed.fetch_add(1, std::memory_order_relaxed);
            reply("not delivered to the backend, retry later");
        } else {
            stats_.upstream_published.fetch_add(1, std::memory_order_relaxed);
            reply({});
        }
    });
}

void gate::channel_bound(socketio::socket_ptr const& s, std::string const& name, boost::system::error_code ec) {
    auto* m = membership_of(*s);
    if (m == nullptr || m->gone) {
        return;  // on_disconnect gave the subscription back
    }
    auto it = m->channels.find(name);
    if (it == m->channels.end() || it->second.joined) {
        return;  // unsubscribed meanwhile (given back then), or joined by an earlier subscribe's confirmation
    }
    auto acks = std::move(it->second.acks);
    if (ec) {
        m->channels.erase(it);
        broker_.unsubscribe_channel(name);
        log::warn("subscribe refused for user {} to channel {}: binding not confirmed: {}", m->user, name,
                  ec.message());
        for (auto id : acks) {
            refuse_channel(s, id, {"unavailable", "service unavailable, retry later"});
        }
        return;
    }
    it->second.joined = true;
    hub_.join(name, s->session(), &it->second.joined_at);
    roster_.joined(name, m->user);
    stats_.channel_subscribes.fetch_add(1, std::memory_order_relaxed);
    for (auto id : acks) {
        answer_channel(s, id, std::nullopt);
    }
}

void gate::leave_channel(socketio::socket_ptr const& s, std::string_view name) {
    auto* m = membership_of(*s);
    auto it = m->channels.find(name);
    if (it == m->channels.end()) {
        return;
    }
    if (it->second.joined) {
        hub_.leave(name, *s->session());
        roster_.left(std::string(name), m->user);
    }
    for (auto id : it->second.acks) {
        answer_channel(s, id, channels::refusal{"unsubscribed", "unsubscribed before the subscription completed"});
    }
    broker_.unsubscribe_channel(name);
    m->channels.erase(it);
}

void gate::refuse_channel(socketio::socket_ptr const& s, std::optional<std::uint64_t> ack_id,
                          channels::refusal const& no) {
    stats_.count_channel_refusal(no.reason);
    log::debug("subscribe refused for {}: {}", s->session()->remote_address(), no.message);
    answer_channel(s, ack_id, no);
}

void gate::answer_channel(socketio::socket_ptr const& s, std::optional<std::uint64_t> ack_id,
                          std::optional<channels::refusal> const& no) {
    if (ack_id) {
        ack_result(s, *ack_id, no ? std::string_view(no->message) : std::string_view());
    }
}

// The channels a socket is a member of, as the hub holds them with the socket.
std::vector<hub::channel_point> gate::joined_channels(socketio::socket& s) {
    std::vector<hub::channel_point> out;
    for (auto const& [name, sub] : membership_of(s)->channels) {
        if (sub.joined) {
            out.push_back({name, sub.joined_at});
        }
    }
    return out;
}

void gate::on_disconnect(socketio::socket_ptr const& s, socketio::disconnect_reason why) {
    auto* m = membership_of(*s);
    if (m == nullptr || m->gone) {
        return;
    }
    m->gone = true;
    roster_.remove(m->user, s.get());
    log::debug("gate: user {} left ({})", m->user, socketio::to_string(why));
    release_reservation(m->user, m->reserved);
    drop_handover_channels(*s);
    auto joined = joined_channels(*s);
    // Channels still being subscribed to give their subscription back now; joined ones are held or left below.
    for (auto it = m->channels.begin(); it != m->channels.end();) {
        if (it->second.joined) {
            ++it;
        } else {
            broker_.unsubscribe_channel(it->first);
            it = m->channels.erase(it);
        }
    }
    if (!m->pid.empty() && m->admitted && m->subscribed && recoverable(why) &&
        hub_.hold(m->user, *s->session(), joined)) {
        // Held: the subscriptions (so the bindings, the user's and its channels') stay until the window ends or the
        // client is back.
        m->subscribed = false;
        m->channels.clear();
        std::uint64_t const gen = recovery_.held->next_gen();
        auto waiter = recovery_.held->hold(
            m->pid, held_sessions::held{m->user, std::string(s->id()), m->start, gen, std::move(joined)});
        recovery_.timers->call_after(recovery_.window, [this, pid = m->pid, gen] { expire(pid, gen); });
        if (waiter) {
            waiter();
        }
        return;
    }
    hub_.detach(m->user, *s->session());
    for (auto const& c : joined) {
        hub_.leave(c.channel, *s->session());
        roster_.left(c.channel, m->user);
        broker_.unsubscribe_channel(c.channel);
    }
    m->channels.clear();
    if (!m->pid.empty()) {
        if (auto waiter = recovery_.held->forget(m->pid)) {
            waiter();
        }
    }
    if (m->subscribed) {
        m->subscribed = false;
        broker_.unsubscribe(m->user);
    }
}

void gate::expire(std::string const& pid, std::uint64_t gen) {
    if (auto h = recovery_.held->expire(pid, gen)) {
        stats_.recovery_expired.fetch_add(1, std::memory_order_relaxed);
        give_up(*h, broker::undelivered_reason::recovery_expired);
    }
}

void gate::give_up(held_sessions::held const& h, broker::undelivered_reason why) {
    hub::lost_messages lost;
    hub_.release_held(h.user, lost, h.channels);
    undeliver_all(lost, why);
    broker_.unsubscribe(h.user);
    for (auto const& c : h.channels) {
        roster_.left(c.channel, h.user);
        broker_.unsubscribe_channel(c.channel);
    }
}

cluster::answer gate::answer(cluster::query const& q) {
    cluster::answer a;
    switch (q.kind) {
        case cluster::query_kind::users:
            for (auto const& u : q.users) {
                a.sessions.emplace_back(u, hub_.sessions_of(u)->size());
            }
            break;
        case cluster::query_kind::channel:
            a.members = roster_.members(q.channel);
            break;
        case cluster::query_kind::totals:
            a.users = hub_.users();
            a.total_sessions = hub_.sessions();
            break;
        case cluster::query_kind::disconnect:
            for (auto const& u : q.users) {
                for (auto const& s : roster_.sockets_of(u)) {
                    s->disconnect();  // a server-side disconnect: not recoverable, so nothing is held
                    ++a.disconnected;
                }
                if (recovery_.held != nullptr) {
                    for (auto const& h : recovery_.held->take_user(u)) {
                        give_up(h, broker::undelivered_reason::recovery_expired);
                        ++a.disconnected;
                    }
                }
            }
            if (a.disconnected > 0) {
                log::info("gate: ended {} sessions of {} users (disconnect request from {})", a.disconnected,
                          q.users.size(), q.from);
            }
            break;
    }
    return a;
}

void gate::undeliver_all(hub::lost_messages const& lost, broker::undelivered_reason why) {
    if (!recovery_.undeliver) {
        return;
    }
    for (auto const& l : lost) {
        broker::undelivered u = *l;
        u.reason = why;
        recovery_.undeliver(std::move(u));
    }
}

void gate::release_held() {
    if (recovery_.held == nullptr) {
        return;
    }
    for (auto const& h : recovery_.held->take_all()) {
        give_up(h, broker::undelivered_reason::recovery_expired);
    }
}
}  // namespace pusher::app
