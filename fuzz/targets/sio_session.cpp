// Fuzz target: a Socket.IO v5 session as the server sees it (socketio::server on an in-memory Engine.IO session):
// namespaces, CONNECT with auth and delayed admission, events, acks both ways, binary packets reassembled from their
// attachments, DISCONNECT, the connect timeout; the packet codec under it.
// Input: [flags] then records [kind][u16 length][bytes], each one Engine.IO message from the client. kind bit 0:
// binary message; bit 1: first let 600 ms pass (connect timeout 1 s, ack timeout 500 ms); bit 2: first decide the
// waiting /later CONNECTs (bit 3: accept, else reject). Namespaces: `/` and `/custom` accept, `/later` decides when
// told to, `/deny` refuses. flags bit 0: the application answers `ask` events by asking the client back.
// Invariants: every server message decodes (text) and a binary packet is followed by exactly its attachments;
// an event `x` comes back as `x-back` and an event with an ack id is acknowledged, with the same arguments and
// attachment bytes, in order; on_disconnect once per accepted (or still waiting) socket and never after a refusal;
// every server->client ack ends exactly once (ok, timeout or disconnected); nothing is sent after the close.
#include "fuzz_support.hpp"
#include "socketio/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace sio = pusher::socketio;
namespace eio = pusher::engineio;
using pusher::fuzz::cursor;

namespace {
// The client's Engine.IO session: records what the server sends; single-threaded (dispatch runs at once).
class session final : public eio::session, public std::enable_shared_from_this<session> {
  public:
    struct message {
        bool binary;
        std::string bytes;
    };
    std::vector<message> sent;
    std::optional<eio::disconnect_reason> closed;
    std::unique_ptr<eio::session_handler> handler;
    std::size_t sent_after_close = 0;

    void send(pusher::frame packet) override { record(false, *packet); }
    void send_binary(pusher::frame bytes) override { record(true, *bytes); }
    void close(eio::disconnect_reason why) override {
        if (closed) {
            return;
        }
        closed = why;
        if (auto h = std::move(handler)) {
            h->on_close(why);
        }
    }
    void dispatch(std::function<void()> fn) override { fn(); }
    std::string_view id() const override { return "fuzz-sid"; }
    eio::transport_kind transport() const override { return eio::transport_kind::websocket; }
    std::string_view remote_address() const override { return "127.0.0.1:1"; }

  private:
    void record(bool binary, std::string const& bytes) {
        if (closed) {
            ++sent_after_close;  // a real session drops these; the server should not send them
            return;
        }
        sent.push_back({binary, bytes});
    }
};

class manual_clock final : public sio::scheduler {
  public:
    void call_after(std::chrono::milliseconds delay, std::function<void()> fn) override {
        pending_.push_back({now_ + delay, seq_++, std::move(fn)});
    }
    void advance(std::chrono::milliseconds d) {
        auto const until = now_ + d;
        while (true) {
            auto it = std::min_element(pending_.begin(), pending_.end(), [](auto const& a, auto const& b) {
                return a.due != b.due ? a.due < b.due : a.seq < b.seq;
            });
            if (it == pending_.end() || it->due > until) {
                break;
            }
            now_ = it->due;
            auto fn = std::move(it->fn);
            pending_.erase(it);
            fn();
        }
        now_ = until;
    }

  private:
    struct call {
        std::chrono::milliseconds due;
        std::uint64_t seq;
        std::function<void()> fn;
    };
    std::chrono::milliseconds now_{0};
    std::uint64_t seq_ = 0;
    std::vector<call> pending_;
};

// What the server must send back for an event, in order.
struct expected_reply {
    std::string nsp;
    bool ack;  // ACK (with the event's id) rather than EVENT `<name>-back`
    std::uint64_t id = 0;
    std::string name;
    std::string json;
    std::vector<std::string> binary;
};

struct app_state {
    std::set<std::string> accepted, pending, refused, gone;     // socket ids (unique: addresses get reused)
    std::vector<std::pair<std::string, sio::admission>> later;  // /later CONNECTs waiting for a decision
    std::deque<expected_reply> replies;
    std::size_t asked = 0, answered = 0;
    bool ask_back = false;
};

class app final : public sio::namespace_handler {
  public:
    enum class policy { accept, later, deny };
    app(app_state& st, policy p) : st_(st), policy_(p) {}

    void on_connect(sio::socket_ptr const& s, sio::connect_request const& req, sio::admission a) override {
        std::string const id(s->id());
        FUZZ_CHECK(!st_.accepted.contains(id) && !st_.pending.contains(id) && !st_.gone.contains(id));
        auto const auth = pusher::fuzz::parse_json(req.auth_json);
        FUZZ_CHECK(auth && auth->is_object() && pusher::fuzz::same_json(*auth, boost::json::value(req.auth)));
        switch (policy_) {
            case policy::accept:
                st_.accepted.insert(std::string(s->id()));
                a.accept();
                break;
            case policy::later:
                st_.pending.insert(std::string(s->id()));
                st_.later.emplace_back(std::string(s->id()), a);
                break;
            case policy::deny:
                st_.refused.insert(std::string(s->id()));
                a.reject("Not authorized");
                break;
        }
    }
    void on_event(sio::socket_ptr const& s, sio::event& e) override {
        FUZZ_CHECK(st_.accepted.contains(std::string(s->id())) && s->connected());
        std::vector<std::string> bytes;
        for (auto const& b : e.args.binary) {
            bytes.push_back(*b);
        }
        if (e.ack_id) {
            st_.replies.push_back({std::string(s->nsp()), true, *e.ack_id, {}, e.args.json, bytes});
            s->ack(*e.ack_id, e.args);
        } else if (e.name == "ask" && st_.ask_back) {
            ++st_.asked;
            s->emit_with_ack("question", e.args, std::chrono::milliseconds(500),
                             [this](sio::ack_status, sio::arguments) {
                                 ++st_.answered;
                                 FUZZ_CHECK(st_.answered <= st_.asked);
                             });
        } else {
            st_.replies.push_back({std::string(s->nsp()), false, 0, e.name + "-back", e.args.json, bytes});
            s->emit(e.name + "-back", e.args);
        }
    }
    void on_disconnect(sio::socket_ptr const& s, sio::disconnect_reason) override {
        FUZZ_CHECK(!st_.refused.contains(std::string(s->id())));
        FUZZ_CHECK(st_.accepted.contains(std::string(s->id())) || st_.pending.contains(std::string(s->id())));
        FUZZ_CHECK(st_.gone.insert(std::string(s->id())).second);  // once
    }

  private:
    app_state& st_;
    policy policy_;
};

// Reads the server's messages: each text message decodes, binary packets take their attachments, and the
// `-back` events and acks carry what the application was given, in order.
void check_sent(std::vector<session::message> const& sent, app_state& st) {
    for (std::size_t i = 0; i < sent.size(); ++i) {
        auto const& m = sent[i];
        FUZZ_CHECK_MSG(!m.binary, "a binary message without a binary packet before it");
        FUZZ_CHECK(m.bytes.size() >= 2 && m.bytes[0] == '4');
        auto r = sio::decode(std::string_view(m.bytes).substr(1), {.max_attachments = 1000, .max_depth = 1000});
        FUZZ_CHECK_MSG(r.has_value(), m.bytes);
        sio::packet p = std::move(*r);
        std::vector<pusher::frame> attachments;
        for (std::size_t k = 0; k < p.attachments; ++k) {
            FUZZ_CHECK(i + 1 < sent.size() && sent[i + 1].binary);
            attachments.push_back(pusher::make_frame(sent[++i].bytes));
        }
        bool const is_event = p.type == sio::packet_type::event || p.type == sio::packet_type::binary_event;
        bool const is_ack = p.type == sio::packet_type::ack || p.type == sio::packet_type::binary_ack;
        if ((is_event && p.event.ends_with("-back")) || is_ack) {
            FUZZ_CHECK_MSG(!st.replies.empty(), m.bytes);
            expected_reply const want = std::move(st.replies.front());
            st.replies.pop_front();
            auto const args = sio::take_arguments(p, attachments);
            FUZZ_CHECK(p.nsp == want.nsp && is_ack == want.ack);
            FUZZ_CHECK(!is_ack || p.id == want.id);
            FUZZ_CHECK(is_ack || p.event == want.name);
            FUZZ_CHECK_MSG(args.json == want.json, args.json + " vs " + want.json);
            FUZZ_CHECK(args.binary.size() == want.binary.size());
            for (std::size_t k = 0; k < want.binary.size(); ++k) {
                FUZZ_CHECK(*args.binary[k] == want.binary[k]);
            }
        }
    }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    std::uint8_t const flags = in.byte();

    app_state st;
    st.ask_back = (flags & 1) != 0;
    app main_ns(st, app::policy::accept), later_ns(st, app::policy::later), deny_ns(st, app::policy::deny);
    manual_clock clock;
    std::uint64_t counter = 0;
    sio::server server(clock, {.connect_timeout = std::chrono::milliseconds(1000),
                               .max_attachments = 4,
                               .random = [&counter] { return ++counter * 0x9e3779b97f4a7c15ull; }});
    server.add_namespace("/", main_ns);
    server.add_namespace("/custom", main_ns);
    server.add_namespace("/later", later_ns);
    server.add_namespace("/deny", deny_ns);

    auto s = std::make_shared<session>();
    s->handler = server.on_open(s);
    for (int n = 0; n < 64 && !in.empty(); ++n) {
        std::uint8_t const kind = in.byte();
        std::string_view const bytes = in.take(in.u16());
        if ((kind & 2) != 0) {
            clock.advance(std::chrono::milliseconds(600));
        }
        if ((kind & 4) != 0) {
            for (auto const& [sock, a] : st.later) {
                if (!st.gone.contains(sock)) {  // otherwise the decision is a no-op
                    st.pending.erase(sock);
                    ((kind & 8) != 0 ? st.accepted : st.refused).insert(sock);
                }
                if ((kind & 8) != 0) {
                    a.accept();
                } else {
                    a.reject("Later, no");
                }
            }
            st.later.clear();
        }
        if (s->handler == nullptr) {
            break;  // closed
        }
        if ((kind & 1) != 0) {
            s->handler->on_binary(bytes);
        } else {
            s->handler->on_message(bytes);
        }
    }
    s->close(eio::disconnect_reason::transport_close);
    clock.advance(std::chrono::hours(1));
    st.later.clear();  // a dropped undecided admission is a refusal, after the close: does nothing

    FUZZ_CHECK(s->sent_after_close == 0);
    FUZZ_CHECK(st.asked == st.answered);
    check_sent(s->sent, st);
    FUZZ_CHECK(st.replies.empty());  // everything the app sent arrived
    for (auto const& sock : st.accepted) {
        FUZZ_CHECK(st.gone.contains(sock));
    }
    return 0;
}
