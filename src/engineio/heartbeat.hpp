#pragma once
// heartbeat: the Engine.IO v4 ping/pong schedule of one session, sans I/O (the caller owns the timer and the clock).
// engine.io-protocol v4 "Heartbeat": the server pings `ping_interval` after the handshake and `ping_interval` after
// each pong; the client must answer within `ping_timeout`, counted from the moment the ping is queued. A session
// whose pong deadline has passed is dead, even if its timer has not fired yet. Owned by one session, on its thread.
// engine.io-protocol v3 (EIO=3) turns it around: the client pings every `ping_interval` and the server answers; a
// session that sends nothing for interval + timeout is dead (`client_pings`: poll() never asks for a ping, and
// on_client_packet() moves the deadline).
#include <chrono>

namespace pusher::engineio {
class heartbeat {
  public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;
    enum class action { none, send_ping, timed_out };

    heartbeat(std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
        : interval_(interval), timeout_(timeout) {}

    // The handshake happened at `now`: the first ping is due at now + interval (v3: the client's, by interval +
    // timeout).
    void start(time_point now, bool client_pings = false) {
        client_pings_ = client_pings;
        awaiting_pong_ = client_pings;
        next_ = client_pings ? now + interval_ + timeout_ : now + interval_;
    }

    // v3: the client sent something at `now` (a ping or anything else: a sign of life, as the reference server
    // counts it). Returns false when it came too late.
    bool on_client_packet(time_point now) {
        if (dead(now)) {
            return false;
        }
        next_ = now + interval_ + timeout_;
        return true;
    }
    bool client_pings() const { return client_pings_; }

    // Call when the timer fires (at next_deadline()) or whenever convenient. send_ping: queue a ping now (the
    // pong deadline runs from `now`); timed_out: close the session with ping_timeout.
    action poll(time_point now) {
        if (now < next_) {
            return action::none;
        }
        if (awaiting_pong_) {
            return action::timed_out;  // v3: awaiting_pong_ stays set, "awaiting the client's ping"
        }
        awaiting_pong_ = true;
        next_ = now + timeout_;
        return action::send_ping;
    }

    // A pong arrived at `now`. Returns false when it came too late (the session is already dead). Otherwise the
    // next ping is due at now + interval (a pong nobody asked for also postpones it, as the reference server does).
    bool on_pong(time_point now) {
        if (dead(now)) {
            return false;
        }
        awaiting_pong_ = false;
        next_ = now + interval_;
        return true;
    }

    bool dead(time_point now) const { return awaiting_pong_ && now >= next_; }
    bool awaiting_pong() const { return awaiting_pong_; }
    // When poll() has something to do: the next ping, or the pong deadline.
    time_point next_deadline() const { return next_; }

  private:
    std::chrono::milliseconds interval_;
    std::chrono::milliseconds timeout_;
    time_point next_{};
    bool awaiting_pong_ = false;
    bool client_pings_ = false;
};
}  // namespace pusher::engineio
