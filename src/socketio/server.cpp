#include "socketio/server.hpp"

#include "socketio/client.hpp"

#include <cassert>
#include <random>

namespace pusher::socketio {
namespace {
std::uint64_t default_random() {
    thread_local std::mt19937_64 engine{[] {
        std::random_device rd;
        std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
        return std::mt19937_64(seq);
    }()};
    return engine();
}
}  // namespace

server::server(scheduler& timers, options opts) : timers_(timers), opts_(std::move(opts)) {
    if (!opts_.random) {
        opts_.random = default_random;
    }
    limits_.max_attachments = opts_.max_attachments;
}

server::~server() = default;

void server::add_namespace(std::string name, namespace_handler& handler) {
    assert(!name.empty() && name.front() == '/');
    std::string key = name;
    namespaces_.insert_or_assign(std::move(key), detail::namespace_entry{std::move(name), &handler});
}

detail::namespace_entry const* server::find_namespace(std::string_view name) const {
    auto it = namespaces_.find(name);
    return it == namespaces_.end() ? nullptr : &it->second;
}

std::array<char, socket::id_size> server::make_socket_id() const {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::array<char, socket::id_size> id{};
    // 20 characters x 6 bits = 120 bits, from two 64-bit draws.
    std::uint64_t bits[2] = {opts_.random(), opts_.random()};
    for (std::size_t i = 0; i < id.size(); ++i) {
        std::uint64_t& b = bits[i / 10];
        id[i] = alphabet[b & 63];
        b >>= 6;
    }
    return id;
}

std::unique_ptr<engineio::session_handler> server::on_open(std::shared_ptr<engineio::session> const& s) {
    stats_.sessions.fetch_add(1, std::memory_order_relaxed);
    auto c = std::make_shared<detail::client>(*this, s);
    c->start();
    return std::make_unique<detail::client_link>(std::move(c));
}
}  // namespace pusher::socketio
