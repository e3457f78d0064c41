#include "broker/memory_broker.hpp"

#include "broker/binding_table.hpp"
#include "broker/error.hpp"
#include "broker/message_id.hpp"
#include "common/log.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cassert>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace pusher::broker {
namespace asio = boost::asio;

namespace {
std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

// Everything the broker thread touches. Members below `thread-only` are used on that thread only; the atomics are
// the stats read by stats() from any thread.
struct memory_broker::state {
    using clock = binding_table::clock;

    explicit state(options o)
        : opts(o),
          table(binding_table::options{.unbind_grace = o.unbind_grace, .subscribe_timeout = std::chrono::seconds(10)}) {
        auto fx = table.link_up();  // in memory the "link" is always up
        assert(fx.empty());
    }

    options opts;
    asio::io_context ioc{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::thread thread;
    std::mutex lifecycle;              // start/stop
    std::atomic<bool> stopped{false};  // set by stop(): later calls complete at once with error::stopped
    std::atomic<bool> started{false};

    // thread-only
    binding_table table;
    asio::steady_timer timer{ioc};
    std::optional<clock::time_point> armed;
    sink* out = nullptr;
    bool stopping = false;
    message_id_generator ids;

    // stats
    std::atomic<std::uint64_t> received{0}, unroutable{0}, published{0}, binds{0}, unbinds{0}, timeouts{0};
    std::atomic<std::uint64_t> bound_users{0}, subscriptions{0};

    static void run(done_fn& done, boost::system::error_code ec) {
        if (!done) {
            return;
        }
        try {
            done(ec);
        } catch (std::exception const& e) {
            log::error("memory_broker: a done callback threw: {}", e.what());
        } catch (...) {
            log::error("memory_broker: a done callback threw");
        }
    }

    void apply(binding_table::effects fx) {
        // In memory, a bind or unbind takes effect at once: confirm each command as it is "sent".
        for (auto& cmd : fx.commands) {
            (cmd.what == binding_table::op::bind ? binds : unbinds).fetch_add(1, std::memory_order_relaxed);
            auto more = table.confirmed(cmd.key);
            for (auto& c : more.completions) {
                fx.completions.push_back(std::move(c));
            }
        }
        bound_users.store(table.bound_users(), std::memory_order_relaxed);
        subscriptions.store(table.subscriptions(), std::memory_order_relaxed);
        for (auto& c : fx.completions) {
            if (c.ec == error::subscribe_timeout) {
                timeouts.fetch_add(1, std::memory_order_relaxed);
            }
            run(c.done, c.ec);
        }
        arm();
    }

    void arm() {
        auto next = table.next_deadline();
        if (!next || (armed && *armed <= *next)) {
            return;
        }
        armed = next;
        timer.expires_at(*next);
        timer.async_wait([this](boost::system::error_code ec) {
            if (ec || stopping) {
                return;  // re-armed earlier (the newer wait owns `armed`), or stopping
            }
            armed.reset();
            apply(table.tick(clock::now()));
        });
    }

    void deliver(message const& m) {
        received.fetch_add(1, std::memory_order_relaxed);
        try {
            out->on_message(m);
        } catch (std::exception const& e) {
            log::error("memory_broker: the sink threw: {}", e.what());
        } catch (...) {
            log::error("memory_broker: the sink threw");
        }
    }

    void on_publish(publication& p, done_fn& done) {
        if (stopping || out == nullptr) {
            run(done, error::stopped);
            return;
        }
        bool const valid = p.broadcast || (!p.users.empty() && std::ranges::all_of(p.users, binding_table::valid_key));
        if (!valid) {
            run(done, error::invalid_publication);
            return;
        }
        std::string generated;
        if (p.message_id.empty()) {
            generated = ids.next();
        }
        message m;
        m.event = p.event.empty() ? std::string_view("notification") : std::string_view(p.event);
        m.payload = p.payload;
        m.content_is_json = true;
        m.message_id = p.message_id.empty() ? std::string_view(generated) : std::string_view(p.message_id);
        m.timestamp_ms = p.timestamp_ms != 0 ? p.timestamp_ms : now_ms();
        if (p.broadcast) {
            m.broadcast = true;
            published.fetch_add(1, std::memory_order_relaxed);
            deliver(m);
        } else {
            published.fetch_add(p.users.size(), std::memory_order_relaxed);
            for (auto const& user : p.users) {
                if (!table.routed(user)) {
                    unroutable.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                m.user = user;
                deliver(m);
            }
        }
        run(done, {});
    }
};

memory_broker::memory_broker() : memory_broker(options{}) {}

memory_broker::memory_broker(options o) : state_(std::make_unique<state>(o)) {}

memory_broker::~memory_broker() {
    stop();
}

void memory_broker::start(sink& s) {
    std::lock_guard lock(state_->lifecycle);
    if (state_->started || state_->stopped) {
        return;
    }
    state_->out = &s;  // before the thread starts: happens-before every handler
    state_->guard.emplace(state_->ioc.get_executor());
    state_->thread = std::thread([st = state_.get()] { st->ioc.run(); });
    state_->started = true;
}

void memory_broker::stop() {
    std::lock_guard lock(state_->lifecycle);
    if (state_->stopped.exchange(true)) {
        return;
    }
    if (!state_->thread.joinable()) {
        return;
    }
    asio::post(state_->ioc, [st = state_.get()] {
        st->stopping = true;
        st->apply(st->table.abort(error::stopped));
        st->timer.cancel();
        st->guard.reset();  // run() returns once the handlers already queued have run (they see `stopping`)
    });
    state_->thread.join();
}

void memory_broker::subscribe(std::string_view user, done_fn done) {
    if (state_->stopped.load()) {
        state::run(done, error::stopped);
        return;
    }
    if (!binding_table::valid_key(user)) {
        // Not counted: the matching unsubscribe is ignored. Still answered on the broker's thread.
        asio::post(state_->ioc, [done = std::move(done)]() mutable { state::run(done, error::invalid_user); });
        return;
    }
    asio::post(state_->ioc, [st = state_.get(), user = std::string(user), done = std::move(done)]() mutable {
        if (st->stopping) {
            state::run(done, error::stopped);
            return;
        }
        st->apply(st->table.subscribe(user, std::move(done), state::clock::now()));
    });
}

void memory_broker::unsubscribe(std::string_view user) {
    if (state_->stopped.load()) {
        return;
    }
    asio::post(state_->ioc, [st = state_.get(), user = std::string(user)] {
        if (!st->stopping) {
            st->apply(st->table.unsubscribe(user, state::clock::now()));
        }
    });
}

void memory_broker::publish(publication p, done_fn done) {
    if (state_->stopped.load()) {
        state::run(done, error::stopped);
        return;
    }
    asio::post(state_->ioc,
               [st = state_.get(), p = std::move(p), done = std::move(done)]() mutable { st->on_publish(p, done); });
}

bool memory_broker::ready() const {
    return state_->started.load() && !state_->stopped.load();
}

broker_stats memory_broker::stats() const {
    auto const& s = *state_;
    constexpr auto r = std::memory_order_relaxed;
    broker_stats out;
    out.messages_received = s.received.load(r);
    out.messages_unroutable = s.unroutable.load(r);
    out.messages_published = s.published.load(r);
    out.messages_confirmed = s.published.load(r);
    out.binds = s.binds.load(r);
    out.unbinds = s.unbinds.load(r);
    out.subscribe_timeouts = s.timeouts.load(r);
    out.bound_users = s.bound_users.load(r);
    out.subscriptions = s.subscriptions.load(r);
    out.consumer_connected = out.publisher_connected = ready();
    return out;
}
}  // namespace pusher::broker
