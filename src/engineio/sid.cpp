#include "engineio/sid.hpp"

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>

#include <sys/random.h>

namespace pusher::engineio {
namespace {
constexpr std::size_t sid_bytes = 15;
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Random bytes from getrandom(2), fetched 4 KiB at a time per thread (one syscall per ~270 sids).
class random_pool {
  public:
    void fill(std::uint8_t* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            if (pos_ == buf_.size()) {
                refill();
            }
            out[i] = buf_[pos_++];
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

std::string make_sid(std::string_view prefix) {
    thread_local random_pool pool;
    std::array<std::uint8_t, sid_bytes> raw{};
    pool.fill(raw.data(), raw.size());
    std::string out;
    out.reserve(prefix.size() + sid_bytes / 3 * 4);
    out.append(prefix);
    for (std::size_t i = 0; i < sid_bytes; i += 3) {
        std::uint32_t const v = (std::uint32_t{raw[i]} << 16) | (std::uint32_t{raw[i + 1]} << 8) | raw[i + 2];
        out.push_back(alphabet[(v >> 18) & 63]);
        out.push_back(alphabet[(v >> 12) & 63]);
        out.push_back(alphabet[(v >> 6) & 63]);
        out.push_back(alphabet[v & 63]);
    }
    return out;
}
}  // namespace pusher::engineio
