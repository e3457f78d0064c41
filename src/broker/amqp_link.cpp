#include "broker/amqp_link.hpp"

#include "broker/amqp_message.hpp"
#include "broker/error.hpp"
#include "common/log.hpp"
#include "common/wake_batch.hpp"

#include <amqp_framing.h>
#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

namespace pusher::broker {
namespace asio = boost::asio;

amqp_link::amqp_link(settings s, broker_counters& counters, std::atomic<bool>& connected)
    : settings_(std::move(s)),
      counters_(counters),
      gauge_(connected),
      backoff_(settings_.options.reconnect_min, settings_.options.reconnect_max, std::random_device{}()),
      urls_(amqp_urls(settings_.options.url)) {}

std::string amqp_link::address() const {
    return amqp_url_address(urls_[url_]);
}

amqp_link::~amqp_link() {
    stop();
}

void amqp_link::start(role& r) {
    role_ = &r;  // before the thread starts: happens-before every handler
    loop_.start([this] { connect(); }, settings_.thread_name.c_str());
}

void amqp_link::stop() {
    loop_.stop([this] {
        stopping_ = true;
        if (role_ != nullptr) {
            role_->down(error::stopped);
        }
        ++generation_;
        drop_socket();
        if (conn_) {
            conn_->close();  // an exclusive queue and its bindings die with the connection: nothing to undo first
            conn_.reset();
            log::info("{}: closed", settings_.who);
        }
        connected_.store(false, std::memory_order_release);
        gauge_ = false;
        heartbeat_timer_.cancel();
        reconnect_timer_.cancel();
        coalesce_timer_.cancel();
    });
}

void amqp_link::connect() {
    if (stopping_) {
        return;
    }
    std::unique_ptr<amqp_connection> conn;
    try {
        conn = std::make_unique<amqp_connection>(settings_.options, urls_[url_], settings_.connection_name);
        role_->setup(*conn);
    } catch (amqp_failure const& e) {
        counters_.add(counters_.connection_failures);
        connect_failed(e.what());
        return;
    }
    failed_in_round_ = 0;
    int const fd = ::dup(conn->fd());  // a dup: closing Asio's copy never closes the library's fd
    if (fd < 0) {
        schedule_reconnect(std::string("dup() failed: ") + std::strerror(errno));
        return;
    }
    try {
        socket_.emplace(loop_.context(), fd);  // registers with epoll: may fail (e.g. out of memory)
    } catch (boost::system::system_error const& e) {
        ::close(fd);
        schedule_reconnect(std::string("cannot watch the socket: ") + e.what());
        return;
    }
    conn_ = std::move(conn);
    ++generation_;
    wait_armed_ = false;
    drain_posted_ = false;
    if (ever_connected_) {
        counters_.add(counters_.reconnects);
    }
    ever_connected_ = true;
    connected_.store(true, std::memory_order_release);
    gauge_ = true;
    auto const gen = generation_;
    role_->up();
    if (gen != generation_) {
        return;  // lost while sending
    }
    arm_heartbeat();
    drain(gen);
}

void amqp_link::drop_socket() {
    wait_armed_ = false;
    drain_posted_ = false;
    if (socket_) {
        boost::system::error_code ignored;
        socket_->close(ignored);
        socket_.reset();
    }
}

void amqp_link::lost(std::string const& reason, bool polite) {
    counters_.add(counters_.connection_failures);
    connected_.store(false, std::memory_order_release);
    gauge_ = false;
    ++generation_;
    drop_socket();
    if (polite && conn_) {
        conn_->close();  // the socket still works: say goodbye rather than drop the TCP connection
    }
    conn_.reset();
    heartbeat_timer_.cancel();
    coalesce_timer_.cancel();
    role_->down(error::connection_lost);
    if (urls_.size() > 1) {
        auto const from = address();
        url_ = (url_ + 1) % urls_.size();
        schedule_reconnect(fmt::format("connection to {} lost: {}; failing over to {}", from, reason, address()));
    } else {
        schedule_reconnect("connection lost: " + reason);
    }
}

// One node did not answer (or refused the setup): the next one at once, until every node of the list failed in this
// round; then the backoff, from the next node again.
void amqp_link::connect_failed(std::string const& reason) {
    url_ = (url_ + 1) % urls_.size();
    if (++failed_in_round_ < urls_.size()) {
        log::warn("{}: {}; trying {}", settings_.who, reason, address());
        asio::post(loop_.context(), [this] {
            if (!stopping_) {
                connect();
            }
        });
        return;
    }
    failed_in_round_ = 0;
    schedule_reconnect(reason);
}

void amqp_link::schedule_reconnect(std::string const& reason) {
    if (stopping_) {
        return;
    }
    auto const delay = backoff_.next();
    log::warn("{}: {}; retrying in {} ms", settings_.who, reason, delay.count());
    reconnect_timer_.expires_after(delay);
    reconnect_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec && !stopping_) {
            connect();
        }
    });
}

void amqp_link::arm_wait() {
    if (wait_armed_ || !socket_) {
        return;
    }
    wait_armed_ = true;
    socket_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, gen = generation_](boost::system::error_code ec) {
                            if (gen != generation_) {
                                return;  // a previous connection's wait
                            }
                            wait_armed_ = false;
                            if (!ec) {
                                drain(gen);
                            }
                        });
}

void amqp_link::arm_coalesce() {
    coalesce_timer_.expires_after(settings_.coalesce);
    coalesce_timer_.async_wait([this, gen = generation_](boost::system::error_code ec) {
        if (!ec && gen == generation_ && !stopping_) {
            drain(gen);
        }
    });
}

// Heartbeats are sent and checked only inside rabbitmq-c calls: a drain every heartbeat/2 keeps an idle connection
// alive and notices a silent broker (two missed heartbeats -> AMQP_STATUS_HEARTBEAT_TIMEOUT).
void amqp_link::arm_heartbeat() {
    if (!conn_) {
        return;
    }
    auto period = std::chrono::duration_cast<std::chrono::milliseconds>(conn_->heartbeat()) / 2;
    if (period <= std::chrono::milliseconds::zero()) {
        period = std::chrono::seconds(5);
    }
    heartbeat_timer_.expires_after(period);
    heartbeat_timer_.async_wait([this, gen = generation_](boost::system::error_code ec) {
        if (ec || gen != generation_ || stopping_) {
            return;
        }
        drain(gen);
        if (gen == generation_) {
            arm_heartbeat();
        }
    });
}

// Reads until rabbitmq-c reports "nothing buffered and the socket would block" (AMQP_STATUS_TIMEOUT with a zero
// timeout), and only then waits for readability again: Asio's epoll registration is edge-triggered, so waiting with
// bytes left in the library's buffer could sleep forever. A budget keeps one busy connection from starving timers.
void amqp_link::drain(std::uint64_t gen) {
    wake_batch const batch;  // the workers this batch's deliveries reach are woken once each, at its end
    bool delivered = false;
    for (std::size_t i = 0; i < settings_.drain_budget; ++i) {
        if (gen != generation_ || !conn_) {
            return;
        }
        auto* c = conn_->get();
        // Cheap here: frames are only ever queued one at a time (the put-back below), see docs/dependencies.md §4.
        amqp_maybe_release_buffers(c);
        timeval zero{0, 0};
        amqp_frame_t frame;
        int rc = AMQP_STATUS_OK;
        if (settings_.consume) {
            amqp_envelope_t env;
            amqp_rpc_reply_t r = amqp_consume_message(c, &env, &zero, 0);
            if (r.reply_type == AMQP_RESPONSE_NORMAL) {
                role_->on_delivery(env);
                amqp_destroy_envelope(&env);
                delivered = true;
                continue;
            }
            if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
                (r.library_error != AMQP_STATUS_TIMEOUT && r.library_error != AMQP_STATUS_UNEXPECTED_STATE)) {
                lost(describe(r));
                return;
            }
            // A frame that is not a delivery was put back: amqp_simple_wait_frame returns it at once.
            rc = r.library_error == AMQP_STATUS_TIMEOUT ? AMQP_STATUS_TIMEOUT : amqp_simple_wait_frame(c, &frame);
        } else {
            rc = amqp_simple_wait_frame_noblock(c, &frame, &zero);
        }
        if (rc == AMQP_STATUS_TIMEOUT) {
            // Deliveries are flowing: come back after a short pause (and take several at once) rather than wake for
            // each one. Nothing came: wait for the socket.
            if (delivered && settings_.coalesce.count() > 0) {
                arm_coalesce();
            } else {
                arm_wait();
            }
            return;
        }
        if (rc != AMQP_STATUS_OK) {
            lost(amqp_error_string2(rc));
            return;
        }
        if (!dispatch(frame)) {
            return;
        }
    }
    if (!drain_posted_) {
        drain_posted_ = true;
        loop_.post([this, gen] {
            if (gen == generation_) {
                drain_posted_ = false;
                drain(gen);
            }
        });
    }
}

// What every connection handles alike; the rest goes to the role.
bool amqp_link::dispatch(amqp_frame_t const& frame) {
    if (frame.frame_type != AMQP_FRAME_METHOD) {
        log::debug("{}: ignoring a frame of type {} outside a message", settings_.who, frame.frame_type);
        return true;
    }
    switch (frame.payload.method.id) {
        case AMQP_CHANNEL_CLOSE_METHOD: {
            // E.g. 404 when our queue or exchange is gone, 403 on a refused bind: the channel (and a consumer on it)
            // is dead.
            auto const* m = static_cast<amqp_channel_close_t const*>(frame.payload.method.decoded);
            lost(fmt::format("channel closed by the broker: {} {}", m->reply_code, view(m->reply_text)), true);
            return false;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            auto const* m = static_cast<amqp_connection_close_t const*>(frame.payload.method.decoded);
            auto reason = fmt::format("connection closed by the broker: {} {}", m->reply_code, view(m->reply_text));
            amqp_connection_close_ok_t ok{};
            amqp_send_method(conn_->get(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);  // polite; we drop it anyway
            lost(reason);
            return false;
        }
        case AMQP_BASIC_CANCEL_METHOD:
            lost("the broker cancelled our consumer (queue deleted?)", true);
            return false;
        case AMQP_CONNECTION_BLOCKED_METHOD:
            log::warn("{}: the broker blocked this connection (resource alarm: memory or disk)", settings_.who);
            return true;
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            log::info("{}: the broker unblocked this connection", settings_.who);
            return true;
        default: {
            auto const gen = generation_;
            role_->on_method(frame);
            return gen == generation_ && conn_ != nullptr;
        }
    }
}
}  // namespace pusher::broker
