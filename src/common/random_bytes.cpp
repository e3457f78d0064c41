#include "common/random_bytes.hpp"

#include <array>
#include <cerrno>
#include <random>

#include <sys/random.h>

namespace pusher {
namespace {
class random_pool {
  public:
    void fill(std::uint8_t* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            if (pos_ == buf_.size()) {
                refill();
            }
            out[i] = buf_[pos_];
            buf_[pos_++] = 0;  // a byte handed out is not kept
        }
    }

  private:
    void refill() {
        std::size_t got = 0;
        while (got < buf_.size()) {
            auto const r = ::getrandom(buf_.data() + got, buf_.size() - got, 0);
            if (r > 0) {
                got += static_cast<std::size_t>(r);
            } else if (r < 0 && errno != EINTR) {
                // No kernel randomness (ancient kernel, seccomp): fall back to random_device, which is
                // /dev/urandom on Linux, rather than fail a handshake.
                std::random_device rd;
                for (; got < buf_.size(); ++got) {
                    buf_[got] = static_cast<std::uint8_t>(rd());
                }
            }
        }
        pos_ = 0;
    }

    std::array<std::uint8_t, 4096> buf_{};
    std::size_t pos_ = buf_.size();
};
}  // namespace

void random_bytes(std::uint8_t* out, std::size_t n) {
    thread_local random_pool pool;
    pool.fill(out, n);
}
}  // namespace pusher
