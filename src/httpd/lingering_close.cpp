#include "httpd/lingering_close.hpp"

#include "httpd/limits.hpp"

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <memory>

namespace pusher::httpd {
namespace {
std::atomic<std::size_t> lingering{0};

class lingerer final : public std::enable_shared_from_this<lingerer> {
  public:
    lingerer(tcp::socket socket, std::size_t budget)
        : socket_(std::move(socket)), timer_(socket_.get_executor()), left_(budget) {}
    ~lingerer() { lingering.fetch_sub(1, std::memory_order_relaxed); }
    lingerer(lingerer const&) = delete;
    lingerer& operator=(lingerer const&) = delete;

    void start(std::chrono::milliseconds deadline) {
        error_code ec;
        socket_.shutdown(tcp::socket::shutdown_send, ec);
        if (ec) {
            finish();  // the peer is gone already
            return;
        }
        timer_.expires_after(deadline);
        timer_.async_wait([self = shared_from_this()](error_code e) {
            if (!e) {
                self->finish();
            }
        });
        read();
    }

  private:
    void read() {
        socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](error_code ec, std::size_t n) {
            if (ec || n >= self->left_) {
                self->finish();  // the peer's FIN (or an error, or enough): nothing is left to overtake
                return;
            }
            self->left_ -= n;
            self->read();
        });
    }

    void finish() {
        timer_.cancel();
        error_code ec;
        socket_.close(ec);
    }

    tcp::socket socket_;
    asio::steady_timer timer_;
    std::size_t left_;
    std::array<char, 4096> buffer_{};
};
}  // namespace

void lingering_close(tcp::socket socket, linger_limits limits) {
    if (!socket.is_open()) {
        return;
    }
    if (lingering.fetch_add(1, std::memory_order_relaxed) >= limits.max_lingering) {
        lingering.fetch_sub(1, std::memory_order_relaxed);
        error_code ec;
        socket.shutdown(tcp::socket::shutdown_send, ec);
        socket.close(ec);
        return;
    }
    std::make_shared<lingerer>(std::move(socket), limits.budget)->start(limits.deadline);  // counted until destroyed
}

std::size_t lingering_sockets() {
    return lingering.load(std::memory_order_relaxed);
}
}  // namespace pusher::httpd
