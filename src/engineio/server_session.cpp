#include "engineio/server_session.hpp"

#include "common/log.hpp"
#include "engineio/payload_v3.hpp"
#include "engineio/session_mailbox.hpp"
#include "engineio/session_timers.hpp"
#include "engineio/sid.hpp"
#include "httpd/upgrade.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>
#include <iterator>
#include <vector>

namespace pusher::engineio {
namespace {
using clock = heartbeat::clock;

// Control packets are the same bytes for every session: allocate them once.
frame const& ping_frame() {
    static frame const f = make_frame("2");
    return f;
}
frame const& probe_pong_frame() {
    static frame const f = make_frame("3probe");
    return f;
}

std::uint16_t close_code(disconnect_reason why) {
    switch (why) {
        case disconnect_reason::server_shutdown:
            return 1001;  // going away
        case disconnect_reason::payload_too_large:
            return 1009;  // message too big
        default:
            return 1000;
    }
}

void count_open(counters& c, transport_kind t, std::int64_t delta) {
    (t == transport_kind::polling ? c.open_polling : c.open_websocket).fetch_add(delta, std::memory_order_relaxed);
}
}  // namespace

server_session::server_session(std::shared_ptr<engine> e, asio::io_context& ctx, std::string remote, transport_kind t)
    : engine_(std::move(e)),
      ctx_(ctx),
      sid_(make_sid(engine_->opts.sid_prefix)),
      remote_(std::move(remote)),
      transport_(t),
      mailbox_(session_mailbox::of(ctx)),
      heartbeat_(engine_->opts.ping_interval, engine_->opts.ping_timeout),
      timers_(session_timers::of(ctx)) {
    engine_->stats.session_objects.fetch_add(1, std::memory_order_relaxed);
}

server_session::~server_session() {
    engine_->stats.session_objects.fetch_sub(1, std::memory_order_relaxed);
}

// ---- session interface (any thread) ----

void server_session::send(frame packet) {
    if (on_own_thread()) {
        enqueue(std::move(packet), false);
    } else {
        send_foreign(std::move(packet), false);
    }
}

void server_session::send_binary(frame bytes) {
    if (on_own_thread()) {
        enqueue(std::move(bytes), true);
    } else {
        send_foreign(std::move(bytes), true);
    }
}

void server_session::send_foreign(frame data, bool binary) {
    bool first = false;
    {
        std::lock_guard lock(inbox_mutex_);
        first = inbox_.empty();
        inbox_.push_back(out_item{std::move(data), binary});
    }
    if (first) {
        mailbox_.notify(shared_from_this());
    }
}

void server_session::drain_inbox() {
    out_queue items;
    {
        std::lock_guard lock(inbox_mutex_);
        items.swap(inbox_);
    }
    // Queue them all, then write once: one socket write for the whole burst.
    bool const outer = batching_;
    batching_ = true;
    for (auto& item : items) {
        enqueue(std::move(item.data), item.binary);
    }
    batching_ = outer;
    if (!batching_) {
        flush();
    }
}

void server_session::close(disconnect_reason why) {
    if (on_own_thread()) {
        do_close(why);
        return;
    }
    asio::post(ctx_, [self = shared_from_this(), why] { self->do_close(why); });
}

void server_session::dispatch(std::function<void()> fn) {
    if (on_own_thread()) {
        fn();
        return;
    }
    asio::post(ctx_, std::move(fn));
}

// ---- opening ----

void server_session::start_open(transport_kind t) {
    transport_ = t;
    state_ = state::open;
    bool const accepted = engine_->add(shared_from_this());
    engine_->stats.opened_total.fetch_add(1, std::memory_order_relaxed);
    count_open(engine_->stats, t, +1);
    enqueue(make_frame(engine_->open_packet(sid_, t == transport_kind::websocket, protocol_)), false);
    heartbeat_.start(clock::now(), protocol_ == 3);
    arm_timer();
    if (!accepted) {
        do_close(disconnect_reason::server_shutdown);  // raced with close_all: open, then closed like the others
        return;
    }
    try {
        handler_ = engine_->app.on_open(shared_from_this());
    } catch (std::exception const& e) {
        log::error("engineio: on_open failed for {}: {}", sid_, e.what());
        do_close(disconnect_reason::server_close);
    }
}

void server_session::open_polling(httpd::reply rep, std::string origin) {
    start_open(transport_kind::polling);
    poll(std::move(rep), std::move(origin));  // the handshake GET is served like any poll: the open packet waits
}

void server_session::open_websocket(std::unique_ptr<httpd::upgrade> up) {
    ws_ = websocket_transport::create(ctx_, std::move(up), engine_->opts.max_payload);
    ws_->accept(shared_from_this());
}

// ---- polling ----

void server_session::poll(httpd::reply rep, std::string origin) {
    if (!check_alive()) {
        engine_->respond_error(rep, http_error::unknown_sid, origin);
        return;
    }
    if (transport_ != transport_kind::polling) {
        engine_->respond_error(rep, http_error::bad_request, origin);  // upgraded: polling is over
        return;
    }
    if (held_get_) {
        // engine.io: a second GET while one is held is a protocol error ("overlap from client"). The held GET
        // gets the close packet, the new one an error, and the session ends.
        do_close(disconnect_reason::transport_error);
        engine_->respond_error(rep, http_error::bad_request, origin);
        return;
    }
    held_get_ = std::move(rep);
    held_origin_ = std::move(origin);
    if (!outbox_.empty()) {
        flush_polling();
    } else if (state_ == state::upgrading) {
        answer_held_noop();  // engine.io v4 upgrade: a noop lets the client's last poll return
    } else {
        log::trace("engineio: {} holds a GET", sid_);  // tests await this line rather than sleep
    }
}

void server_session::post(httpd::reply rep, std::string origin, std::string body, bool too_large) {
    if (!check_alive()) {
        engine_->respond_error(rep, http_error::unknown_sid, origin);
        return;
    }
    if (transport_ != transport_kind::polling) {
        engine_->respond_error(rep, http_error::bad_request, origin);
        return;
    }
    engine_->stats.bytes_in_total.fetch_add(body.size(), std::memory_order_relaxed);
    if (too_large) {
        do_close(disconnect_reason::payload_too_large);
        engine_->stats.bad_requests_total.fetch_add(1, std::memory_order_relaxed);
        engine_->respond(rep, httpd::response::text(413, "payload too large"), origin);
        return;
    }
    auto packets = protocol_ == 3 ? decode_payload_v3(body) : decode_payload(body);
    if (!packets) {
        log::debug("engineio: {} sent a bad payload: {}", sid_, packets.error().message());
        do_close(disconnect_reason::parse_error);
        engine_->respond_error(rep, http_error::bad_request, origin);
        return;
    }
    // Replies the handler queues while we go through the packets leave together, in one GET.
    batching_ = true;
    for (auto const& p : *packets) {
        handle_packet(p.type, p.data, p.binary);
        if (state_ == state::closed) {
            break;
        }
    }
    batching_ = false;
    engine_->respond(rep, httpd::response::text(200, "ok"), origin);
    flush();
}

void server_session::append_polling(std::string& body, std::string_view packet_or_bytes, bool binary) const {
    if (protocol_ == 3) {
        append_record_v3(body, packet_or_bytes, binary);
    } else {
        append_record(body, packet_or_bytes, binary);
    }
}

void server_session::answer_held_noop() {
    std::string body;
    append_polling(body, "6", false);
    answer_held(std::move(body));
}

void server_session::answer_held(std::string body) {
    auto rep = std::move(held_get_);
    auto origin = std::move(held_origin_);
    held_origin_.clear();
    engine_->respond(rep, httpd::response::text(200, std::move(body)), origin);
}

void server_session::flush_polling() {
    if (!held_get_ || outbox_.empty()) {
        return;
    }
    std::string body;
    body.reserve(outbox_bytes_ + outbox_.size() * 2);
    for (auto const& item : outbox_) {
        append_polling(body, *item.data, item.binary);
    }
    engine_->stats.frames_out_total.fetch_add(outbox_.size(), std::memory_order_relaxed);
    engine_->stats.bytes_out_total.fetch_add(body.size(), std::memory_order_relaxed);
    outbox_.clear();
    outbox_bytes_ = 0;
    if (outbox_.capacity() > 64) {
        out_queue().swap(outbox_);
    }
    answer_held(std::move(body));
}

// ---- outbox ----

void server_session::enqueue(frame data, bool binary) {
    if (state_ == state::closed || !data) {
        return;
    }
    auto const& o = engine_->opts;
    if (outbox_.size() >= o.max_outbox_frames || outbox_bytes_ + data->size() > o.max_outbox_bytes) {
        log::debug("engineio: {} is not reading ({} frames, {} bytes queued): closing", sid_, outbox_.size(),
                   outbox_bytes_);
        do_close(disconnect_reason::slow_consumer);
        return;
    }
    outbox_bytes_ += data->size();
    outbox_.push_back(out_item{std::move(data), binary});
    schedule_flush();
}

void server_session::schedule_flush() {
    if (batching_ || flush_posted_) {
        return;
    }
    if (transport_ == transport_kind::websocket) {
        // One write in flight; what queues meanwhile leaves in the next batch.
        flush_websocket();
        return;
    }
    // Polling: let everything queued by the current handler run go out in one response.
    flush_posted_ = true;
    asio::post(ctx_, [self = shared_from_this()] {
        self->flush_posted_ = false;
        self->flush();
    });
}

void server_session::flush() {
    if (state_ == state::closed) {
        return;
    }
    if (transport_ == transport_kind::polling) {
        flush_polling();
    } else {
        flush_websocket();
    }
}

void server_session::flush_websocket() {
    if (!ws_ || state_ == state::opening || ws_->writing() || outbox_.empty()) {
        return;
    }
    if (protocol_ == 3) {
        // engine.io v3: a binary websocket message starts with its packet type as a byte (4, message).
        for (auto& item : outbox_) {
            if (item.binary) {
                item.data = make_frame("\x04" + *item.data);
            }
        }
    }
    std::size_t const limit = engine_->opts.max_frames_per_write;
    if (limit != 0 && outbox_.size() > limit) {
        // The benchmark baseline: only the first `limit` frames now, the rest after this write completes.
        auto const cut = outbox_.begin() + static_cast<std::ptrdiff_t>(limit);
        out_queue batch(std::make_move_iterator(outbox_.begin()), std::make_move_iterator(cut));
        outbox_.erase(outbox_.begin(), cut);
        std::size_t bytes = 0;
        for (auto const& item : batch) {
            bytes += item.data->size();
        }
        engine_->stats.frames_out_total.fetch_add(batch.size(), std::memory_order_relaxed);
        engine_->stats.bytes_out_total.fetch_add(bytes, std::memory_order_relaxed);
        outbox_bytes_ -= bytes;
        engine_->stats.ws_writes_total.fetch_add(1, std::memory_order_relaxed);
        ws_->write(batch);
        return;
    }
    engine_->stats.frames_out_total.fetch_add(outbox_.size(), std::memory_order_relaxed);
    engine_->stats.bytes_out_total.fetch_add(outbox_bytes_, std::memory_order_relaxed);
    outbox_bytes_ = 0;
    engine_->stats.ws_writes_total.fetch_add(1, std::memory_order_relaxed);
    ws_->write(outbox_);
}

// ---- packets ----

void server_session::handle_packet(packet_type type, std::string_view data, bool binary) {
    engine_->stats.frames_in_total.fetch_add(1, std::memory_order_relaxed);
    if (heartbeat_.client_pings() && !heartbeat_.on_client_packet(clock::now())) {
        do_close(disconnect_reason::ping_timeout);  // v3: whatever arrives is a sign of life, unless too late
        return;
    }
    switch (type) {
        case packet_type::message:
            deliver_message(data, binary);
            break;
        case packet_type::pong:
            if (heartbeat_.client_pings()) {
                break;  // v3: the server does not ping; a stray pong means nothing
            }
            if (!heartbeat_.on_pong(clock::now())) {
                do_close(disconnect_reason::ping_timeout);
            } else {
                arm_timer();
            }
            break;
        case packet_type::close:
            do_close(disconnect_reason::client_close);
            break;
        case packet_type::ping:
            if (heartbeat_.client_pings()) {
                enqueue(make_frame(encode_packet(packet_type::pong, data)), false);  // v3: the client pings
                break;
            }
            // engine.io v4: only the server pings (the reference server closes with "invalid heartbeat direction").
            do_close(disconnect_reason::transport_error);
            break;
        case packet_type::open:
        case packet_type::upgrade:
        case packet_type::noop:
            break;
    }
}

void server_session::deliver_message(std::string_view data, bool binary) {
    if (!handler_) {
        return;
    }
    try {
        if (binary) {
            handler_->on_binary(data);
        } else {
            handler_->on_message(data);
        }
    } catch (std::exception const& e) {
        log::error("engineio: message handler failed for {}: {}", sid_, e.what());
        do_close(disconnect_reason::server_close);
    }
}

// ---- websocket ----

void server_session::upgrade(std::unique_ptr<httpd::upgrade> up) {
    if (!check_alive() || transport_ == transport_kind::websocket || probe_) {
        // Closed, already upgraded, or already upgrading: a websocket too many. Complete its handshake and close
        // it at once (the checker's client treats a non-101 answer as a failure); the session is untouched.
        websocket_transport::accept_and_close(ctx_, std::move(up));
        return;
    }
    probe_ = websocket_transport::create(ctx_, std::move(up), engine_->opts.max_payload);
    probe_->accept(shared_from_this());
}

void server_session::on_ws_open(websocket_transport& t, error_code ec) {
    if (&t == ws_.get() && state_ == state::opening) {
        if (ec) {
            state_ = state::closed;  // never registered, no handler: nothing else to undo
            ws_.reset();
            return;
        }
        start_open(transport_kind::websocket);
        return;
    }
    if (&t == probe_.get()) {
        if (ec) {
            probe_.reset();
            return;
        }
        upgrade_deadline_ = clock::now() + engine_->opts.upgrade_timeout;
        arm_timer();
    }
}

void server_session::on_ws_message(websocket_transport& t, std::string_view data, bool binary) {
    engine_->stats.bytes_in_total.fetch_add(data.size(), std::memory_order_relaxed);
    if (&t == probe_.get()) {
        on_probe_message(data, binary);
        return;
    }
    if (&t != ws_.get() || !check_alive()) {
        return;
    }
    if (binary) {
        if (protocol_ == 3) {
            // engine.io v3: the first byte is the packet type; only a message carries binary data.
            if (data.empty() || data.front() != 4) {
                do_close(disconnect_reason::parse_error);
                return;
            }
            data.remove_prefix(1);
        }
        handle_packet(packet_type::message, data, true);
        return;
    }
    auto p = parse_packet(data);
    if (!p) {
        log::debug("engineio: {} sent a bad packet: {}", sid_, p.error().message());
        do_close(disconnect_reason::parse_error);
        return;
    }
    handle_packet(p->type, p->data, false);
}

void server_session::on_probe_message(std::string_view data, bool binary) {
    if (state_ == state::closed) {
        return;
    }
    auto const p =
        binary ? boost::system::result<packet_view>(make_error_code(codec_error::unknown_type)) : parse_packet(data);
    if (p && p->type == packet_type::ping && p->data == "probe") {
        // engine.io v4 upgrade, step 1: answer the probe on the new websocket; from now on the client's polls get
        // a noop at once, so that its last GET returns and it can pause polling.
        if (!probe_->writing()) {
            out_queue q{out_item{probe_pong_frame(), false}};
            probe_->write(q);
        }
        state_ = state::upgrading;
        if (held_get_ && outbox_.empty()) {
            answer_held_noop();
        }
        return;
    }
    if (p && p->type == packet_type::upgrade) {
        // Step 2: `5` makes the websocket the transport. What is queued goes out over it, in order.
        upgrade_deadline_ = {};
        state_ = state::open;
        count_open(engine_->stats, transport_kind::polling, -1);
        count_open(engine_->stats, transport_kind::websocket, +1);
        engine_->stats.upgrades_total.fetch_add(1, std::memory_order_relaxed);
        transport_ = transport_kind::websocket;
        ws_ = std::exchange(probe_, nullptr);
        if (held_get_) {
            answer_held_noop();
        }
        arm_timer();
        flush_websocket();
        return;
    }
    fail_probe();
}

void server_session::fail_probe() {
    if (probe_) {
        probe_->detach();
        probe_->close(1000);
        probe_.reset();
    }
    upgrade_deadline_ = {};
    if (state_ == state::upgrading) {
        state_ = state::open;
    }
}

void server_session::on_ws_written(websocket_transport& t, error_code ec) {
    if (&t != ws_.get()) {
        return;
    }
    if (state_ == state::closed) {
        return;
    }
    if (ec) {
        do_close(disconnect_reason::transport_error);
        return;
    }
    flush_websocket();
}

void server_session::on_ws_end(websocket_transport& t, disconnect_reason why) {
    if (&t == probe_.get()) {
        probe_.reset();
        upgrade_deadline_ = {};
        if (state_ == state::upgrading) {
            state_ = state::open;
        }
        return;
    }
    if (&t == ws_.get() && state_ != state::closed && state_ != state::opening) {
        do_close(why);
    }
}

// ---- heartbeat and timer ----

bool server_session::check_alive() {
    if (state_ == state::closed) {
        return false;
    }
    // Dead as soon as the pong deadline has passed, even if the timer has not run yet.
    if (heartbeat_.dead(clock::now())) {
        do_close(disconnect_reason::ping_timeout);
        return false;
    }
    return true;
}

void server_session::arm_timer() {
    auto when = heartbeat_.next_deadline();
    if (upgrade_deadline_ != heartbeat::time_point{} && upgrade_deadline_ < when) {
        when = upgrade_deadline_;
    }
    wake_at_ = when;
    if (when < queued_at_) {  // a later time is re-queued when our earlier entry falls due (on_wake)
        queued_at_ = when;
        timers_.wake_at(when, weak_from_this());
    }
}

void server_session::on_wake(heartbeat::time_point at) {
    if (at != queued_at_) {
        return;  // an entry we queued before an earlier one: stale
    }
    queued_at_ = heartbeat::time_point::max();
    if (wake_at_ == heartbeat::time_point::max()) {
        return;  // disarmed (closed)
    }
    if (wake_at_ > clock::now()) {
        queued_at_ = wake_at_;  // moved later meanwhile (a pong, a packet): wait on
        timers_.wake_at(wake_at_, weak_from_this());
        return;
    }
    wake_at_ = heartbeat::time_point::max();
    on_timer();
}

void server_session::on_timer() {
    if (state_ == state::closed || state_ == state::opening) {
        return;
    }
    auto const now = clock::now();
    if (upgrade_deadline_ != heartbeat::time_point{} && now >= upgrade_deadline_) {
        fail_probe();  // the probe websocket did not complete the upgrade in time
    }
    switch (heartbeat_.poll(now)) {
        case heartbeat::action::send_ping:
            enqueue(ping_frame(), false);
            break;
        case heartbeat::action::timed_out:
            do_close(disconnect_reason::ping_timeout);
            return;
        case heartbeat::action::none:
            break;
    }
    if (state_ != state::closed) {
        arm_timer();
    }
}

// ---- closing ----

void server_session::do_close(disconnect_reason why) {
    if (state_ == state::closed) {
        return;
    }
    bool const was_open = state_ != state::opening;
    state_ = state::closed;
    client_ticket_.reset();  // its place in the per-address limits (behind a trusted proxy)
    if (was_open) {
        engine_->remove(sid_);
        engine_->stats.closed_total[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
        count_open(engine_->stats, transport_, -1);
    }
    wake_at_ = heartbeat::time_point::max();  // our entry in session_timers, if any, finds us disarmed
    upgrade_deadline_ = {};
    if (probe_) {
        probe_->detach();
        probe_->abort();
        probe_.reset();
    }
    // What is queued still goes out, unless the client is the problem.
    bool const drop = why == disconnect_reason::slow_consumer || why == disconnect_reason::transport_error ||
                      why == disconnect_reason::transport_close;
    if (transport_ == transport_kind::polling) {
        if (held_get_) {
            if (why == disconnect_reason::client_close) {
                answer_held_noop();  // the client asked to close: its pending poll just returns
            } else {
                std::string body;
                if (!drop) {
                    for (auto const& item : outbox_) {
                        append_polling(body, *item.data, item.binary);
                    }
                }
                append_polling(body, "1", false);
                answer_held(std::move(body));
            }
        }
        outbox_.clear();
    } else if (ws_) {
        if (drop) {
            ws_->detach();
            ws_->abort();
            outbox_.clear();
        } else {
            // The rest of the queue follows the write in flight, then the close frame. The transport bounds the
            // closing handshake, pending writes included, by its close timeout: a peer that stopped reading cannot
            // keep the socket, or what is queued for it, once the session is over.
            if (!outbox_.empty()) {
                ws_->write(outbox_);
            }
            ws_->close(close_code(why));
            ws_->detach();
            outbox_.clear();
        }
    }
    outbox_bytes_ = 0;
    if (auto h = std::move(handler_)) {
        try {
            h->on_close(why);
        } catch (std::exception const& e) {
            log::error("engineio: on_close failed for {}: {}", sid_, e.what());
        }
    }
}
}  // namespace pusher::engineio
