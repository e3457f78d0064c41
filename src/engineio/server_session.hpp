#pragma once
// server_session: the engine's implementation of engineio::session. Owns the outbox, the held long-poll GET, the
// websocket transport (and a probe websocket while upgrading), the heartbeat and its one timer, and the
// application's session_handler. Lives on one io_context (where its handshake arrived); every member is touched
// there only. The public session methods post to it from other threads.
#include "engineio/engine.hpp"
#include "engineio/heartbeat.hpp"
#include "engineio/outbox.hpp"
#include "engineio/packet.hpp"
#include "engineio/websocket_transport.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace pusher::engineio {
class session_mailbox;
class session_timers;

class server_session final : public session, public ws_listener, public std::enable_shared_from_this<server_session> {
  public:
    server_session(std::shared_ptr<engine> e, boost::asio::io_context& ctx, std::string remote, transport_kind t);
    ~server_session() override;

    // session (any thread)
    void send(frame packet) override;
    void send_binary(frame bytes) override;
    void close(disconnect_reason why) override;
    void dispatch(std::function<void()> fn) override;
    std::string_view id() const override { return sid_; }
    transport_kind transport() const override { return transport_; }
    std::string_view remote_address() const override { return remote_; }
    int protocol() const override { return protocol_; }
    std::string_view handshake_query() const override { return query_; }
    // Before open_polling / open_websocket: the client's place in the per-address limits, when it came through a
    // trusted proxy (httpd::request::admit_client); released with the session.
    void hold(httpd::connection_ticket ticket) { client_ticket_ = std::move(ticket); }
    // Before open_polling / open_websocket: the client speaks EIO=3 (`query`: its handshake's query string).
    void use_eio3(std::string query) {
        protocol_ = 3;
        query_ = std::move(query);
    }

    boost::asio::io_context& context() { return ctx_; }
    bool on_own_thread() const { return ctx_.get_executor().running_in_this_thread(); }

    // Own thread only, from here on.

    // A polling handshake: registers, queues the open packet, calls on_open, then serves `rep` as the first GET.
    void open_polling(httpd::reply rep, std::string origin);
    // A websocket handshake without sid: accepts, then registers, queues the open packet, calls on_open.
    void open_websocket(std::unique_ptr<httpd::upgrade> up);
    // A polling GET (long poll) / POST (packets) for this sid.
    void poll(httpd::reply rep, std::string origin);
    void post(httpd::reply rep, std::string origin, std::string body, bool too_large);
    // A websocket carrying this sid: an upgrade attempt (or one too many).
    void upgrade(std::unique_ptr<httpd::upgrade> up);
    // session_timers: the entry this session queued for `at` fell due.
    void on_wake(heartbeat::time_point at);

    // ws_listener
    void on_ws_open(websocket_transport& t, error_code ec) override;
    void on_ws_message(websocket_transport& t, std::string_view data, bool binary) override;
    void on_ws_written(websocket_transport& t, error_code ec) override;
    void on_ws_end(websocket_transport& t, disconnect_reason why) override;

  private:
    enum class state { opening, open, upgrading, closed };

    friend class session_mailbox;

    void enqueue(frame data, bool binary);
    void send_foreign(frame data, bool binary);
    // Runs on the session's thread (through its worker's mailbox): queues what other threads sent, then writes it
    // as one batch.
    void drain_inbox();
    void schedule_flush();
    void flush();
    void flush_polling();
    void flush_websocket();
    void answer_held(std::string body);
    // One packet appended to a polling body in the session's encoding (v4: records joined by 0x1e; v3: `len:packet`).
    void append_polling(std::string& body, std::string_view packet_or_bytes, bool binary) const;
    // Answers the held GET with a noop (upgrade, or a client's close).
    void answer_held_noop();
    void do_close(disconnect_reason why);
    // True when the session is dead by its heartbeat (closes it with ping_timeout).
    bool check_alive();
    void start_open(transport_kind t);
    void handle_packet(packet_type type, std::string_view data, bool binary);
    void on_probe_message(std::string_view data, bool binary);
    void fail_probe();
    void arm_timer();
    void on_timer();
    void deliver_message(std::string_view data, bool binary);

    std::shared_ptr<engine> engine_;
    boost::asio::io_context& ctx_;
    std::string const sid_;
    std::string const remote_;
    transport_kind transport_;
    int protocol_ = 4;
    std::string query_;                       // EIO=3 only
    httpd::connection_ticket client_ticket_;  // behind a trusted proxy only
    state state_ = state::opening;

    std::unique_ptr<session_handler> handler_;
    // Sends from other threads (the hub, the broker): collected here; the first one of a burst registers the
    // session with its worker's mailbox, which drains every registered session in ONE posted handler. A broadcast
    // to N sessions of a worker thus costs one cross-thread wake-up, not N, and frames that pile up while the
    // worker is busy leave in one write per session.
    session_mailbox& mailbox_;
    std::mutex inbox_mutex_;
    out_queue inbox_;
    out_queue outbox_;
    std::size_t outbox_bytes_ = 0;

    httpd::reply held_get_;                       // the pending long-poll GET (empty when none)
    std::string held_origin_;                     // its Origin, for the CORS headers of the answer
    std::shared_ptr<websocket_transport> ws_;     // the websocket transport (websocket sessions, or after upgrade)
    std::shared_ptr<websocket_transport> probe_;  // the websocket being probed for an upgrade

    heartbeat heartbeat_;
    // The one timer (heartbeat deadlines and the upgrade timeout, whichever comes first) is an entry in the worker's
    // session_timers: on_timer runs at wake_at_ (max: not armed); queued_at_ is our earliest entry there (max: none).
    session_timers& timers_;
    heartbeat::time_point wake_at_ = heartbeat::time_point::max();
    heartbeat::time_point queued_at_ = heartbeat::time_point::max();
    heartbeat::time_point upgrade_deadline_{};

    bool batching_ = false;  // inside a POST: flush once at the end, so its replies go out together
    bool flush_posted_ = false;
};
}  // namespace pusher::engineio
