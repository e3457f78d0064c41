// Token checks: a connection's (auth::authenticate with an HS256 token) against a subscribe with a per-channel token
// (channels::parse + channels::authorize, which verifies the channel token the same way and compares sub and
// channel). The target: a channel subscribe costs at most 2x a connection's token check.
#include "auth/authenticate.hpp"
#include "auth/jwt_verifier.hpp"
#include "channels/channel.hpp"

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <boost/json.hpp>

#include <string>

namespace {
using namespace pusher;

std::string const secret = "micro-benchmark-secret-0123456789abcdef";

std::string b64url(std::string_view in) {
    std::string out;
    out.resize(4 * ((in.size() + 2) / 3));
    int const n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<unsigned char const*>(in.data()), static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    for (auto& c : out) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    while (!out.empty() && out.back() == '=') {
        out.pop_back();
    }
    return out;
}

std::string hs256(std::string_view claims) {
    std::string const signing = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims);
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<unsigned char const*>(signing.data()), signing.size(), mac, &len);
    return signing + "." + b64url(std::string_view(reinterpret_cast<char const*>(mac), len));
}

auth::jwt_verifier const& verifier() {
    static auto v = auth::jwt_verifier::create({.secret = secret}).value();
    return *v;
}

void connection_token_check(benchmark::State& state) {
    boost::json::object const payload{{"token", hs256(R"({"sub":"alice","exp":4102444800})")}};
    auto const now = auth::clock::now();
    for (auto _ : state) {
        benchmark::DoNotOptimize(auth::authenticate(&payload, &verifier(), false, now));
    }
}
BENCHMARK(connection_token_check);

void channel_subscribe_with_token(benchmark::State& state) {
    std::string const args = R"([{"channel":"chat:42","token":")" +
                             hs256(R"({"sub":"alice","channel":"chat:42","exp":4102444800})") + "\"}]";
    auth::identity who;
    who.user = "alice";
    auto const now = auth::clock::now();
    for (auto _ : state) {
        auto r = channels::parse(channels::action::subscribe, args);
        benchmark::DoNotOptimize(channels::authorize(who, std::get<channels::request>(r), &verifier(), false, now));
    }
}
BENCHMARK(channel_subscribe_with_token);

void channel_subscribe_by_claim(benchmark::State& state) {
    std::string const args = R"([{"channel":"chat:42"}])";
    auth::identity who;
    who.user = "alice";
    who.channels = {"news", "chat:*"};
    auto const now = auth::clock::now();
    for (auto _ : state) {
        auto r = channels::parse(channels::action::subscribe, args);
        benchmark::DoNotOptimize(channels::authorize(who, std::get<channels::request>(r), &verifier(), false, now));
    }
}
BENCHMARK(channel_subscribe_by_claim);
}  // namespace
