// config::load: defaults, precedence (file < env < flags), every validation error, TOML errors, --help, booleans.
// The environment is a map passed in; TOML files go to a fresh temporary directory.
#include "config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace {

using namespace std::chrono_literals;
using pusher::config::broker_kind;
using pusher::config::config;
using pusher::config::log_format;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using env_map = std::map<std::string, std::string>;

pusher::config::env_lookup lookup(env_map env) {
    return [env = std::move(env)](std::string const& name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

class config_test : public ::testing::Test {
  protected:
    config_test() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pusher-config-test-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = tmpl;
    }
    ~config_test() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string file(std::string const& content, std::string const& name = "pusher.toml") const {
        auto p = (dir_ / name).string();
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }

    // A valid configuration is expected.
    static config ok(std::vector<std::string> const& args, env_map env = {}) {
        auto r = pusher::config::load(args, lookup(std::move(env)));
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message() + r.error().usage);
        return r ? *r : config{};
    }
    // The errors of an invalid configuration.
    static std::vector<std::string> errors(std::vector<std::string> const& args, env_map env = {}) {
        auto r = pusher::config::load(args, lookup(std::move(env)));
        EXPECT_FALSE(r.has_value()) << "accepted";
        return r ? std::vector<std::string>{} : r.error().errors;
    }
    // The single error of a configuration that is valid except for `bad` (dev-auth on loopback supplies auth).
    static std::string error_of(std::vector<std::string> bad, env_map env = {}) {
        bad.push_back("--dev-auth");
        auto e = errors(bad, std::move(env));
        EXPECT_EQ(e.size(), 1u) << ::testing::PrintToString(e);
        return e.empty() ? std::string() : e.front();
    }

    std::filesystem::path dir_;
};

// ---- defaults ----

TEST_F(config_test, defaults_are_the_documented_ones) {
    auto c = ok({"--dev-auth"});
    EXPECT_EQ(c.server.listen_host, "127.0.0.1");
    EXPECT_EQ(c.server.listen_port, 8080);
    EXPECT_EQ(c.server.threads, std::max(1u, std::thread::hardware_concurrency()));
    EXPECT_EQ(c.server.tls_cert, "");
    EXPECT_EQ(c.server.tls_key, "");
    EXPECT_TRUE(c.server.allowed_origins.empty());
    EXPECT_EQ(c.server.max_connections, 100'000u);
    EXPECT_EQ(c.server.max_connections_per_ip, 0u);
    EXPECT_EQ(c.server.connection_rate_per_ip, 0u);
    EXPECT_EQ(c.engineio.ping_interval, 25'000ms);
    EXPECT_EQ(c.engineio.ping_timeout, 20'000ms);
    EXPECT_EQ(c.engineio.upgrade_timeout, 10'000ms);
    EXPECT_EQ(c.engineio.connect_timeout, 45'000ms);
    EXPECT_EQ(c.engineio.max_payload, 1'000'000u);
    EXPECT_EQ(c.engineio.outbox_max_frames, 4096u);
    EXPECT_EQ(c.engineio.outbox_max_bytes, 4u * 1024 * 1024);
    EXPECT_EQ(c.broker.kind, broker_kind::memory);
    EXPECT_EQ(c.broker.url, "amqp://guest:guest@127.0.0.1:5672/");
    EXPECT_EQ(c.broker.exchange, "pusher");
    EXPECT_EQ(c.broker.broadcast_exchange, "pusher.broadcast");
    EXPECT_EQ(c.broker.undelivered_exchange, "pusher.undelivered");
    EXPECT_EQ(c.broker.queue, "");
    EXPECT_EQ(c.broker.unbind_grace, 2'000ms);
    EXPECT_EQ(c.broker.heartbeat, 30s);
    EXPECT_EQ(c.broker.reconnect_max, 30'000ms);
    EXPECT_EQ(c.auth.jwt_secret, "");
    EXPECT_EQ(c.auth.jwt_public_key_file, "");
    EXPECT_EQ(c.auth.leeway, 30s);
    EXPECT_EQ(c.auth.audience, "");
    EXPECT_EQ(c.auth.issuer, "");
    EXPECT_FALSE(c.auth.require_exp);
    EXPECT_TRUE(c.auth.dev_auth);
    EXPECT_TRUE(c.api.api_keys.empty());
    EXPECT_FALSE(c.api.insecure);
    EXPECT_EQ(c.log.level, "info");
    EXPECT_EQ(c.log.format, log_format::plain);
    EXPECT_EQ(c.shutdown.drain, 10'000ms);
    EXPECT_EQ(c.config_file, "");
}

TEST_F(config_test, make_run_arguments_are_valid) {
    auto c = ok({"--broker", "memory", "--dev-auth", "--listen", "127.0.0.1:8080"});
    EXPECT_EQ(c.broker.kind, broker_kind::memory);
    EXPECT_TRUE(c.auth.dev_auth);
    EXPECT_EQ(c.server.listen_port, 8080);
}

TEST_F(config_test, every_flag_is_accepted) {
    auto key = file("-----BEGIN PUBLIC KEY-----\n", "key.pem");
    auto c = ok({"--listen=[::1]:0",
                 "--threads=3",
                 "--tls-cert=/etc/pusher/cert.pem",
                 "--tls-key=/etc/pusher/key.pem",
                 "--allowed-origins=https://App.Example.com, http://localhost:3000,https://[::1]:8443",
                 "--max-connections=10",
                 "--max-connections-per-ip=5",
                 "--connection-rate-per-ip=2",
                 "--ping-interval-ms=1000",
                 "--ping-timeout-ms=500",
                 "--upgrade-timeout-ms=700",
                 "--connect-timeout-ms=900",
                 "--max-payload=2048",
                 "--outbox-max-frames=8",
                 "--outbox-max-bytes=65536",
                 "--broker=amqp",
                 "--amqp-url=amqps://u:p@mq.example.com:5671/vh",
                 "--exchange=events",
                 "--broadcast-exchange=events.all",
                 "--amqp-queue=pusher.node-1",
                 "--unbind-grace-ms=0",
                 "--amqp-heartbeat-s=0",
                 "--amqp-reconnect-max-ms=5000",
                 "--jwt-secret=s3cret",
                 "--jwt-public-key=" + key,
                 "--jwt-leeway-s=5",
                 "--jwt-audience=pusher",
                 "--jwt-issuer=https://id.example.com",
                 "--jwt-require-exp",
                 "--api-key=k-123",
                 "--log-level=debug",
                 "--log-format=json",
                 "--drain-ms=0"});
    EXPECT_EQ(c.server.listen_host, "::1");
    EXPECT_EQ(c.server.listen_port, 0);
    EXPECT_EQ(c.server.threads, 3u);
    EXPECT_EQ(c.server.tls_cert, "/etc/pusher/cert.pem");
    EXPECT_EQ(c.server.tls_key, "/etc/pusher/key.pem");
    EXPECT_THAT(c.server.allowed_origins,
                ElementsAre("https://app.example.com", "http://localhost:3000", "https://[::1]:8443"));
    EXPECT_EQ(c.server.max_connections, 10u);
    EXPECT_EQ(c.server.max_connections_per_ip, 5u);
    EXPECT_EQ(c.server.connection_rate_per_ip, 2u);
    EXPECT_EQ(c.engineio.ping_interval, 1000ms);
    EXPECT_EQ(c.engineio.ping_timeout, 500ms);
    EXPECT_EQ(c.engineio.upgrade_timeout, 700ms);
    EXPECT_EQ(c.engineio.connect_timeout, 900ms);
    EXPECT_EQ(c.engineio.max_payload, 2048u);
    EXPECT_EQ(c.engineio.outbox_max_frames, 8u);
    EXPECT_EQ(c.engineio.outbox_max_bytes, 65536u);
    EXPECT_EQ(c.broker.kind, broker_kind::amqp);
    EXPECT_EQ(c.broker.url, "amqps://u:p@mq.example.com:5671/vh");
    EXPECT_EQ(c.broker.exchange, "events");
    EXPECT_EQ(c.broker.broadcast_exchange, "events.all");
    EXPECT_EQ(c.broker.queue, "pusher.node-1");
    EXPECT_EQ(c.broker.unbind_grace, 0ms);
    EXPECT_EQ(c.broker.heartbeat, 0s);
    EXPECT_EQ(c.broker.reconnect_max, 5000ms);
    EXPECT_EQ(c.auth.jwt_secret, "s3cret");
    EXPECT_EQ(c.auth.jwt_public_key_file, key);
    EXPECT_EQ(c.auth.leeway, 5s);
    EXPECT_EQ(c.auth.audience, "pusher");
    EXPECT_EQ(c.auth.issuer, "https://id.example.com");
    EXPECT_TRUE(c.auth.require_exp);
    EXPECT_FALSE(c.auth.dev_auth);
    EXPECT_EQ(c.api.api_keys, std::vector<std::string>{"k-123"});
    EXPECT_EQ(c.log.level, "debug");
    EXPECT_EQ(c.log.format, log_format::json);
    EXPECT_EQ(c.shutdown.drain, 0ms);
}

// ---- precedence: defaults < file < env < flags ----

TEST_F(config_test, precedence_file_then_env_then_flags_for_each_kind_of_option) {
    auto f = file(R"(
dev_auth = true
exchange = "from-file"
unbind_grace_ms = 111
allowed_origins = ["https://file.example.com"]
log_level = "warn"
ping_interval_ms = 1234
)");
    // File only.
    auto c = ok({"--config", f});
    EXPECT_EQ(c.config_file, f);
    EXPECT_EQ(c.broker.exchange, "from-file");
    EXPECT_EQ(c.broker.unbind_grace, 111ms);
    EXPECT_THAT(c.server.allowed_origins, ElementsAre("https://file.example.com"));
    EXPECT_TRUE(c.auth.dev_auth);
    EXPECT_EQ(c.log.level, "warn");
    EXPECT_EQ(c.engineio.ping_interval, 1234ms);

    // Env over file.
    env_map env{{"PUSHER_EXCHANGE", "from-env"},
                {"PUSHER_UNBIND_GRACE_MS", "222"},
                {"PUSHER_ALLOWED_ORIGINS", "https://env.example.com"},
                {"PUSHER_JWT_SECRET", "env-secret"},
                {"PUSHER_DEV_AUTH", "off"}};
    c = ok({"--config", f}, env);
    EXPECT_EQ(c.broker.exchange, "from-env");
    EXPECT_EQ(c.broker.unbind_grace, 222ms);
    EXPECT_THAT(c.server.allowed_origins, ElementsAre("https://env.example.com"));
    EXPECT_FALSE(c.auth.dev_auth);
    EXPECT_EQ(c.auth.jwt_secret, "env-secret");
    EXPECT_EQ(c.log.level, "warn");               // untouched by env: still the file's
    EXPECT_EQ(c.engineio.ping_interval, 1234ms);  // idem

    // Flags over env.
    c = ok({"--config", f, "--exchange", "from-flag", "--unbind-grace-ms=333", "--allowed-origins", "*", "--dev-auth",
            "--jwt-secret", "flag-secret"},
           env);
    EXPECT_EQ(c.broker.exchange, "from-flag");
    EXPECT_EQ(c.broker.unbind_grace, 333ms);
    EXPECT_TRUE(c.server.allowed_origins.empty());
    EXPECT_TRUE(c.auth.dev_auth);
    EXPECT_EQ(c.auth.jwt_secret, "flag-secret");
    EXPECT_EQ(c.log.level, "warn");
}

TEST_F(config_test, config_file_from_env_and_flag_overrides_it) {
    auto a = file("dev_auth = true\nexchange = \"a\"\n", "a.toml");
    auto b = file("dev_auth = true\nexchange = \"b\"\n", "b.toml");
    EXPECT_EQ(ok({}, {{"PUSHER_CONFIG", a}}).broker.exchange, "a");
    EXPECT_EQ(ok({"--config", b}, {{"PUSHER_CONFIG", a}}).broker.exchange, "b");
    EXPECT_EQ(ok({"--config", b}, {{"PUSHER_CONFIG", a}}).config_file, b);
}

TEST_F(config_test, repeated_flag_takes_the_last_value) {
    auto c = ok({"--dev-auth", "--threads", "2", "--threads=5", "--listen", "127.0.0.1:1", "--listen=127.0.0.1:2"});
    EXPECT_EQ(c.server.threads, 5u);
    EXPECT_EQ(c.server.listen_port, 2);
}

TEST_F(config_test, empty_env_value_counts_as_unset) {
    auto f = file("jwt_secret = \"file-secret\"\nexchange = \"x\"\n");
    auto c = ok({"--config", f}, {{"PUSHER_JWT_SECRET", ""}, {"PUSHER_THREADS", ""}, {"PUSHER_EXCHANGE", ""}});
    EXPECT_EQ(c.auth.jwt_secret, "file-secret");
    EXPECT_EQ(c.broker.exchange, "x");
}

TEST_F(config_test, toml_keys_may_use_dashes_or_underscores) {
    auto f = file("dev-auth = true\namp-placeholder = 1\n");
    EXPECT_THAT(errors({"--config", f}), ElementsAre(f + ":2:1: unknown key \"amp-placeholder\""));
    f = file("dev-auth = true\nunbind-grace-ms = 7\nbroadcast_exchange = \"b\"\n");
    auto c = ok({"--config", f});
    EXPECT_EQ(c.broker.unbind_grace, 7ms);
    EXPECT_EQ(c.broker.broadcast_exchange, "b");
    f = file("dev_auth = true\nunbind-grace-ms = 7\nunbind_grace_ms = 8\n");
    EXPECT_THAT(errors({"--config", f}), ElementsAre(f + ":3:1: unbind_grace_ms repeats unbind-grace-ms"));
}

// ---- booleans ----

TEST_F(config_test, booleans_from_env_accept_the_usual_spellings) {
    for (std::string yes : {"1", "true", "TRUE", "yes", "Yes", "on", "ON"}) {
        EXPECT_TRUE(ok({}, {{"PUSHER_DEV_AUTH", yes}}).auth.dev_auth) << yes;
    }
    for (std::string no : {"0", "false", "False", "no", "NO", "off", "Off"}) {
        EXPECT_FALSE(ok({"--jwt-secret=s"}, {{"PUSHER_DEV_AUTH", no}}).auth.dev_auth) << no;
    }
    EXPECT_EQ(error_of({}, {{"PUSHER_JWT_REQUIRE_EXP", "maybe"}}),
              "PUSHER_JWT_REQUIRE_EXP: expected true or false (or 1/0, yes/no, on/off), got \"maybe\"");
}

TEST_F(config_test, boolean_flags_take_an_optional_value) {
    EXPECT_TRUE(ok({"--dev-auth"}).auth.dev_auth);
    EXPECT_TRUE(ok({"--dev-auth=yes"}).auth.dev_auth);
    EXPECT_FALSE(ok({"--jwt-secret=s", "--dev-auth=false"}).auth.dev_auth);
    EXPECT_FALSE(ok({"--jwt-secret=s", "--dev-auth=0"}, {{"PUSHER_DEV_AUTH", "1"}}).auth.dev_auth);
    EXPECT_EQ(error_of({"--jwt-require-exp=sure"}),
              "--jwt-require-exp: expected true or false (or 1/0, yes/no, on/off), got \"sure\"");
}

TEST_F(config_test, booleans_in_toml_are_toml_booleans) {
    EXPECT_TRUE(ok({"--config", file("dev_auth = true\n")}).auth.dev_auth);
    auto f = file("dev_auth = \"yes\"\n");
    EXPECT_THAT(errors({"--config", f}), ElementsAre(f + ":1:1: dev_auth: expected true or false"));
}

// ---- validation: one clear line per problem ----

TEST_F(config_test, listen_must_be_host_colon_port) {
    EXPECT_EQ(error_of({"--listen", "x"}), "--listen: expected HOST:PORT, got \"x\"");
    EXPECT_EQ(error_of({"--listen", "8080"}), "--listen: expected HOST:PORT, got \"8080\"");
    EXPECT_EQ(error_of({"--listen", ":8080"}), "--listen: expected HOST:PORT, got \":8080\"");
    EXPECT_EQ(error_of({"--listen", "127.0.0.1:"}),
              "--listen: expected HOST:PORT with PORT in 0..65535, got \"127.0.0.1:\"");
    EXPECT_EQ(error_of({"--listen", "127.0.0.1:65536"}),
              "--listen: expected HOST:PORT with PORT in 0..65535, got \"127.0.0.1:65536\"");
    EXPECT_EQ(error_of({"--listen", "127.0.0.1:-1"}),
              "--listen: expected HOST:PORT with PORT in 0..65535, got \"127.0.0.1:-1\"");
    EXPECT_EQ(error_of({"--listen", "example.com:80"}),
              "--listen: expected HOST:PORT with HOST an IP address or localhost (IPv6 in brackets: [::1]:8080), "
              "got \"example.com:80\"");
    EXPECT_EQ(error_of({"--listen", "::1:80"}),
              "--listen: expected HOST:PORT with HOST an IP address or localhost (IPv6 in brackets: [::1]:8080), "
              "got \"::1:80\"");
    EXPECT_EQ(error_of({"--listen", "300.1.1.1:80"}),
              "--listen: expected HOST:PORT with HOST an IP address or localhost (IPv6 in brackets: [::1]:8080), "
              "got \"300.1.1.1:80\"");
    auto c = ok({"--jwt-secret=s", "--listen", "0.0.0.0:443", "--api-key", "k"});
    EXPECT_EQ(c.server.listen_host, "0.0.0.0");
    EXPECT_EQ(c.server.listen_port, 443);
    EXPECT_EQ(ok({"--dev-auth", "--listen", "localhost:0"}).server.listen_host, "localhost");
    EXPECT_EQ(ok({"--jwt-secret=s", "--listen", "[::]:80", "--api-insecure"}).server.listen_host, "::");
}

TEST_F(config_test, broker_must_be_memory_or_amqp) {
    EXPECT_EQ(error_of({"--broker", "kafka"}), "--broker: expected memory or amqp, got \"kafka\"");
    EXPECT_EQ(error_of({}, {{"PUSHER_BROKER", "AMQP"}}), "PUSHER_BROKER: expected memory or amqp, got \"AMQP\"");
}

TEST_F(config_test, amqp_url_must_be_amqp_and_is_never_echoed) {
    auto e = error_of({"--amqp-url", "http://user:hunter2@mq:5672/"});
    EXPECT_EQ(e, "--amqp-url: expected amqp:// or amqps:// URLs, comma-separated");
    EXPECT_THAT(e, ::testing::Not(HasSubstr("hunter2")));
    EXPECT_EQ(ok({"--dev-auth", "--amqp-url", "AMQPS://h/"}).broker.url, "AMQPS://h/");
    // The nodes of a cluster: every entry must be an AMQP URL; the list is kept as given.
    EXPECT_EQ(ok({"--dev-auth", "--amqp-url", "amqp://a:5701/, amqp://b:5702/"}).broker.url,
              "amqp://a:5701/, amqp://b:5702/");
    auto e2 = error_of({"--amqp-url", "amqp://a/,http://u:hunter2@b/"});
    EXPECT_EQ(e2, "--amqp-url: expected amqp:// or amqps:// URLs, comma-separated");
    EXPECT_THAT(e2, ::testing::Not(HasSubstr("hunter2")));
    EXPECT_EQ(error_of({"--amqp-url", "amqp://a/,"}), "--amqp-url: expected amqp:// or amqps:// URLs, comma-separated");
}

TEST_F(config_test, trusted_proxies_are_cidrs) {
    EXPECT_EQ(ok({"--dev-auth", "--trusted-proxies", "10.0.0.0/8, ::1"}).server.trusted_proxies, "10.0.0.0/8, ::1");
    EXPECT_EQ(error_of({"--trusted-proxies", "10.0.0.0/33"}),
              "--trusted-proxies: bad prefix length in \"10.0.0.0/33\"");
    EXPECT_EQ(error_of({"--trusted-proxies", "nginx"}), "--trusted-proxies: not an IP address or CIDR: \"nginx\"");
}

TEST_F(config_test, exchange_and_queue_names_follow_amqp_rules) {
    EXPECT_EQ(error_of({"--exchange", ""}), "--exchange: must not be empty");
    EXPECT_EQ(error_of({"--exchange", "a b"}), "--exchange: expected letters, digits, '-', '_', '.', ':', got \"a b\"");
    EXPECT_EQ(error_of({"--broadcast-exchange", "amq.fanout"}),
              "--broadcast-exchange: names starting with \"amq.\" are reserved by the broker, got \"amq.fanout\"");
    EXPECT_EQ(error_of({"--amqp-queue", "q/1"}),
              "--amqp-queue: expected letters, digits, '-', '_', '.', ':', got \"q/1\"");
    EXPECT_EQ(error_of({"--exchange", std::string(256, 'x')}),
              "--exchange: longer than 255 bytes, got \"" + std::string(32, 'x') + "\"");
    EXPECT_EQ(error_of({"--exchange", "same", "--broadcast-exchange", "same"}),
              "--exchange and --broadcast-exchange must differ (both \"same\")");
    EXPECT_EQ(ok({"--dev-auth", "--amqp-queue", ""}).broker.queue, "");
}

TEST_F(config_test, undelivered_exchange_from_flag_env_and_file_empty_is_off) {
    EXPECT_EQ(ok({"--dev-auth", "--undelivered-exchange", "lost.events"}).broker.undelivered_exchange, "lost.events");
    EXPECT_EQ(ok({"--dev-auth", "--undelivered-exchange", ""}).broker.undelivered_exchange, "");
    EXPECT_EQ(ok({"--dev-auth"}, {{"PUSHER_UNDELIVERED_EXCHANGE", "from.env"}}).broker.undelivered_exchange,
              "from.env");
    auto f = file("dev-auth = true\nundelivered-exchange = \"from.file\"\n");
    EXPECT_EQ(ok({"--config", f}).broker.undelivered_exchange, "from.file");
    EXPECT_EQ(error_of({"--undelivered-exchange", "amq.x"}),
              "--undelivered-exchange: names starting with \"amq.\" are reserved by the broker, got \"amq.x\"");
    EXPECT_EQ(error_of({"--undelivered-exchange", "pusher"}),
              "--undelivered-exchange must differ from --exchange and --broadcast-exchange (got \"pusher\")");
    EXPECT_EQ(error_of({"--undelivered-exchange", "pusher.broadcast"}),
              "--undelivered-exchange must differ from --exchange and --broadcast-exchange (got \"pusher.broadcast\")");
}

TEST_F(config_test, integers_must_be_in_range) {
    EXPECT_EQ(error_of({"--threads", "abc"}), "--threads: expected an integer in 0..1024, got \"abc\"");
    EXPECT_EQ(error_of({"--threads", "-1"}), "--threads: expected an integer in 0..1024, got \"-1\"");
    EXPECT_EQ(error_of({"--threads", "+4"}), "--threads: expected an integer in 0..1024, got \"+4\"");
    EXPECT_EQ(error_of({"--threads", "4 "}), "--threads: expected an integer in 0..1024, got \"4 \"");
    EXPECT_EQ(error_of({"--threads", "1025"}), "--threads: expected an integer in 0..1024, got \"1025\"");
    EXPECT_EQ(error_of({"--threads="}), "--threads: expected an integer in 0..1024, got \"\"");
    EXPECT_EQ(error_of({"--ping-interval-ms", "5"}),
              "--ping-interval-ms: expected an integer in 10..3600000, got \"5\"");
    EXPECT_EQ(error_of({"--max-payload", "99999999999999999999999"}),
              "--max-payload: expected an integer in 64..1073741824, got \"99999999999999999999999\"");
    EXPECT_EQ(error_of({}, {{"PUSHER_UNBIND_GRACE_MS", "1.5"}}),
              "PUSHER_UNBIND_GRACE_MS: expected an integer in 0..3600000, got \"1.5\"");
    EXPECT_EQ(error_of({"--amqp-heartbeat-s", "65536"}),
              "--amqp-heartbeat-s: expected an integer in 0..65535, got \"65536\"");
    EXPECT_EQ(error_of({"--jwt-leeway-s", "3601"}), "--jwt-leeway-s: expected an integer in 0..3600, got \"3601\"");
    EXPECT_EQ(ok({"--dev-auth", "--threads", "0"}).server.threads, std::max(1u, std::thread::hardware_concurrency()));
}

TEST_F(config_test, allowed_origins_must_be_origins) {
    EXPECT_EQ(error_of({"--allowed-origins", "example.com"}),
              "--allowed-origins: \"example.com\" is not an origin (expected scheme://host[:port] or *)");
    EXPECT_EQ(error_of({"--allowed-origins", "https://a.com,https://b.com/"}),
              "--allowed-origins: \"https://b.com/\" is not an origin (expected scheme://host[:port] or *)");
    EXPECT_EQ(error_of({"--allowed-origins", "https://a.com:0"}),
              "--allowed-origins: \"https://a.com:0\" is not an origin (expected scheme://host[:port] or *)");
    EXPECT_EQ(error_of({"--allowed-origins", "ftp://a.com"}),
              "--allowed-origins: \"ftp://a.com\" is not an origin (expected scheme://host[:port] or *)");
    EXPECT_EQ(error_of({"--allowed-origins", "https://"}),
              "--allowed-origins: \"https://\" is not an origin (expected scheme://host[:port] or *)");
    for (std::string bad : {"https://a.com:", "https://[::1]x", "https://[nope]", "https://a_b.com", "http://:80"}) {
        EXPECT_EQ(error_of({"--allowed-origins", bad}),
                  "--allowed-origins: \"" + bad + "\" is not an origin (expected scheme://host[:port] or *)");
    }
    EXPECT_THAT(ok({"--dev-auth", "--allowed-origins", "https://[::1],http://[::1]:3000"}).server.allowed_origins,
                ElementsAre("https://[::1]", "http://[::1]:3000"));
    auto c = ok({"--dev-auth", "--allowed-origins", " https://a.com , ,https://A.com,http://b.com:8080"});
    EXPECT_THAT(c.server.allowed_origins, ElementsAre("https://a.com", "http://b.com:8080"));
    EXPECT_TRUE(ok({"--dev-auth", "--allowed-origins", "https://a.com,*"}).server.allowed_origins.empty());
    EXPECT_TRUE(ok({"--dev-auth", "--allowed-origins", ""}).server.allowed_origins.empty());
}

TEST_F(config_test, log_level_and_format_are_choices) {
    EXPECT_EQ(error_of({"--log-level", "verbose"}),
              "--log-level: expected one of trace, debug, info, warn, error, critical, off, got \"verbose\"");
    EXPECT_EQ(error_of({"--log-format", "xml"}), "--log-format: expected plain or json, got \"xml\"");
}

TEST_F(config_test, api_key_must_fit_in_a_header_and_is_never_echoed) {
    auto e = error_of({"--api-key", "two words"});
    EXPECT_EQ(e, "--api-key: must be printable ASCII without spaces");
    EXPECT_EQ(error_of({"--api-key", "a,,b"}), "--api-key: an empty key in the list");
}

// Secure by default: /api/* publishes to any user, so off loopback it needs a key or an explicit opt-out.
TEST_F(config_test, a_listener_that_is_not_loopback_needs_an_api_key_or_api_insecure) {
    EXPECT_THAT(errors({"--jwt-secret=s", "--listen", "0.0.0.0:8080"}),
                ElementsAre("--listen 0.0.0.0 is not loopback and /api/* has no key: set --api-key KEY[,KEY...] (or, "
                            "to let anyone who reaches it publish to any user, --api-insecure)"));
    EXPECT_EQ(ok({"--jwt-secret=s", "--listen", "0.0.0.0:8080", "--api-key", "old, new"}).api.api_keys,
              (std::vector<std::string>{"old", "new"}));
    auto open = ok({"--jwt-secret=s", "--listen", "[::]:8080", "--api-insecure"});
    EXPECT_TRUE(open.api.insecure);
    EXPECT_THAT(pusher::config::warnings(open), ::testing::Contains(HasSubstr("--api-insecure")));
    EXPECT_TRUE(ok({"--jwt-secret=s", "--api-key", ""}).api.api_keys.empty()) << "loopback: no key needed";
}

TEST_F(config_test, dev_auth_requires_a_loopback_listener) {
    EXPECT_EQ(error_of({"--listen", "0.0.0.0:8080"}),
              "--dev-auth requires a loopback --listen address (got \"0.0.0.0\")");
    EXPECT_EQ(error_of({"--listen", "[::]:8080"}), "--dev-auth requires a loopback --listen address (got \"::\")");
    EXPECT_EQ(error_of({"--listen", "10.1.2.3:8080"}),
              "--dev-auth requires a loopback --listen address (got \"10.1.2.3\")");
    for (std::string l : {"127.0.0.1:1", "127.1.2.3:1", "[::1]:1", "localhost:1", "[::ffff:127.0.0.1]:1"}) {
        EXPECT_TRUE(ok({"--dev-auth", "--listen", l}).auth.dev_auth) << l;
    }
}

TEST_F(config_test, some_authentication_method_is_required) {
    std::string const none =
        "no authentication configured: set --jwt-secret (or --jwt-secret-file) and/or --jwt-public-key (or "
        "--dev-auth for local "
        "development)";
    EXPECT_THAT(errors({}), ElementsAre(none));
    EXPECT_THAT(errors({"--jwt-secret="}), ElementsAre(none));
    EXPECT_TRUE(ok({"--jwt-secret", "s"}).auth.jwt_secret == "s");
    EXPECT_EQ(ok({"--jwt-public-key", "/k.pem"}).auth.jwt_public_key_file, "/k.pem");
    EXPECT_EQ(ok({}, {{"PUSHER_JWT_SECRET", "e"}}).auth.jwt_secret, "e");
}

TEST_F(config_test, tls_cert_and_key_go_together) {
    EXPECT_EQ(error_of({"--tls-cert", "c.pem"}), "--tls-cert and --tls-key must be set together");
    EXPECT_EQ(error_of({"--tls-key", "k.pem"}), "--tls-cert and --tls-key must be set together");
}

TEST_F(config_test, command_line_syntax_errors) {
    EXPECT_THAT(errors({"--bogus"}), ElementsAre("The following argument was not expected: --bogus (see --help)"));
    EXPECT_THAT(errors({"--dev-auth", "stray"}),
                ElementsAre("The following argument was not expected: stray (see --help)"));
    EXPECT_THAT(errors({"--threads"}), ElementsAre("--threads: 1 required N missing (see --help)"));
    EXPECT_THAT(errors({"--dev-auth", "--config="}), ElementsAre("--config: expected a file name"));
}

TEST_F(config_test, every_problem_is_reported_not_just_the_first) {
    auto e = errors({"--listen", "x", "--broker", "kafka", "--threads", "many"}, {{"PUSHER_LOG_FORMAT", "xml"}});
    EXPECT_THAT(e, ElementsAre("PUSHER_LOG_FORMAT: expected plain or json, got \"xml\"",
                               "--listen: expected HOST:PORT, got \"x\"",
                               "--threads: expected an integer in 0..1024, got \"many\"",
                               "--broker: expected memory or amqp, got \"kafka\""));
    auto r = pusher::config::load({"--listen", "x"}, lookup({}));
    ASSERT_FALSE(r.has_value());
    EXPECT_FALSE(r.error().is_help());
    EXPECT_EQ(r.error().message(), "--listen: expected HOST:PORT, got \"x\"");
    // Checks across options wait until every option parses (no cascade of follow-up errors).
    EXPECT_THAT(errors({"--listen", "0.0.0.0:1", "--dev-auth", "--threads", "x"}),
                ElementsAre("--threads: expected an integer in 0..1024, got \"x\""));
    r = pusher::config::load({"--listen", "0.0.0.0:1", "--dev-auth", "--tls-key", "k"}, lookup({}));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "--dev-auth requires a loopback --listen address (got \"0.0.0.0\")\n"
              "--tls-cert and --tls-key must be set together");
}

TEST_F(config_test, control_characters_in_bad_values_are_escaped) {
    EXPECT_EQ(error_of({"--broker", "x\nERROR fake log line"}),
              "--broker: expected memory or amqp, got \"x\\nERROR fake log line\"");
}

// Regression (found by fuzz/targets/config_load.cpp): toml++ quotes the character it choked on as is, so
// `dev_auth = tru` followed by a newline gave a two-line error; CLI11 echoes a stray argument the same way.
TEST_F(config_test, every_error_is_one_line_whatever_the_input) {
    auto f = file("listen = \"[::1]:0\"\ndev_auth = tru\n");
    auto e = errors({"--config", f});
    ASSERT_EQ(e.size(), 1u);
    EXPECT_THAT(e[0], ::testing::StartsWith(f + ":2:15: Error while parsing boolean"));
    EXPECT_EQ(e[0].find('\n'), std::string::npos) << e[0];
    EXPECT_THAT(errors({"--dev-auth", "stray\nERROR fake"}),
                ElementsAre("The following argument was not expected: stray\\nERROR fake (see --help)"));
}

// ---- the TOML file ----

TEST_F(config_test, toml_syntax_error_reports_file_line_and_column) {
    auto f = file("dev_auth = true\nthreads = [1, 2\n");
    auto e = errors({"--config", f});
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0], f + ":2:17: Error while parsing array: encountered end-of-file");
    f = file("listen = \"127.0.0.1:8080\n");
    EXPECT_THAT(errors({"--config", f}), ElementsAre(::testing::StartsWith(f + ":1:25: Error while parsing string")));
}

TEST_F(config_test, toml_unknown_keys_tables_and_wrong_types_are_errors) {
    auto f = file(R"(dev_auth = true
lisen = "127.0.0.1:1"
threads = "4"
exchange = 5
max_payload = -1
allowed_origins = [1]
config = "other.toml"
[server]
listen = "127.0.0.1:2"
)");
    EXPECT_THAT(errors({"--config", f}),
                ElementsAre(f + ":2:1: unknown key \"lisen\"", f + ":3:1: threads: expected an integer",
                            f + ":4:1: exchange: expected a string",
                            f + ":5:1: max_payload: expected a non-negative integer, got -1",
                            f + ":6:1: allowed_origins: expected an array of strings (without commas)",
                            f + ":7:1: unknown key \"config\"",
                            f + ":8:2: tables are not supported; use top-level keys named like the flags (found "
                                "[server])"));
}

TEST_F(config_test, toml_values_are_validated_like_flags) {
    auto f = file("dev_auth = true\nlisten = \"nowhere\"\nbroker = \"kafka\"\nthreads = 2000\n");
    EXPECT_THAT(errors({"--config", f}),
                ElementsAre(f + ":2:1: listen: expected HOST:PORT, got \"nowhere\"",
                            f + ":3:1: broker: expected memory or amqp, got \"kafka\"",
                            f + ":4:1: threads: expected an integer in 0..1024, got \"2000\""));
    // Lists may also be one comma-separated string.
    auto g = file("dev_auth = true\nallowed_origins = \"https://a.com,https://b.com\"\n", "g.toml");
    EXPECT_THAT(ok({"--config", g}).server.allowed_origins, ElementsAre("https://a.com", "https://b.com"));
}

TEST_F(config_test, unreadable_config_file_is_one_clear_error) {
    auto missing = (dir_ / "missing.toml").string();
    EXPECT_THAT(errors({"--dev-auth", "--config", missing}),
                ElementsAre("--config: cannot read \"" + missing + "\": No such file or directory"));
    EXPECT_THAT(errors({"--dev-auth"}, {{"PUSHER_CONFIG", missing}}),
                ElementsAre("--config: cannot read \"" + missing + "\": No such file or directory"));
}

TEST_F(config_test, empty_toml_file_is_fine) {
    EXPECT_TRUE(ok({"--dev-auth", "--config", file("")}).auth.dev_auth);
}

// ---- --help ----

TEST_F(config_test, help_returns_the_usage_listing_every_option) {
    for (std::string h : {"--help", "-h"}) {
        auto r = pusher::config::load({"--listen", "bad", h}, lookup({}));
        ASSERT_FALSE(r.has_value());
        EXPECT_TRUE(r.error().is_help());
        EXPECT_TRUE(r.error().errors.empty());
        EXPECT_EQ(r.error().usage, pusher::config::usage());
    }
    auto const u = pusher::config::usage();
    EXPECT_THAT(u, ::testing::StartsWith("Usage: pusher [OPTIONS]\n"));
    std::size_t longest = 0;
    for (std::size_t at = 0, next = 0; at < u.size(); at = next + 1) {
        next = u.find('\n', at);
        next = next == std::string::npos ? u.size() : next;
        longest = std::max(longest, next - at);
    }
    EXPECT_LE(longest, 120u);
    // Help texts are wrapped: compare with runs of white space folded to one space.
    std::string folded;
    for (char ch : u) {
        if (std::isspace(static_cast<unsigned char>(ch))) {
            if (!folded.empty() && folded.back() != ' ') {
                folded += ' ';
            }
        } else {
            folded += ch;
        }
    }
    for (auto const& o : pusher::config::options()) {
        EXPECT_THAT(u, HasSubstr(std::string(o.flag))) << o.flag;
        EXPECT_THAT(folded, HasSubstr(std::string(o.help) + " [default: " + std::string(o.default_text) + "]"))
            << o.flag;
    }
    EXPECT_THAT(u, HasSubstr("--listen HOST:PORT"));
    EXPECT_THAT(u, HasSubstr("PUSHER_AMQP_URL"));
}

// ---- names ----

TEST_F(config_test, contract_flags_have_their_env_and_toml_names) {
    std::map<std::string, std::pair<std::string, std::string>> expected{
        {"--config", {"PUSHER_CONFIG", ""}},
        {"--listen", {"PUSHER_LISTEN", "listen"}},
        {"--broker", {"PUSHER_BROKER", "broker"}},
        {"--amqp-url", {"PUSHER_AMQP_URL", "amqp_url"}},
        {"--exchange", {"PUSHER_EXCHANGE", "exchange"}},
        {"--broadcast-exchange", {"PUSHER_BROADCAST_EXCHANGE", "broadcast_exchange"}},
        {"--undelivered-exchange", {"PUSHER_UNDELIVERED_EXCHANGE", "undelivered_exchange"}},
        {"--unbind-grace-ms", {"PUSHER_UNBIND_GRACE_MS", "unbind_grace_ms"}},
        {"--jwt-secret", {"PUSHER_JWT_SECRET", "jwt_secret"}},
        {"--jwt-public-key", {"PUSHER_JWT_PUBLIC_KEY", "jwt_public_key"}},
        {"--dev-auth", {"PUSHER_DEV_AUTH", "dev_auth"}},
        {"--api-key", {"PUSHER_API_KEY", "api_key"}},
        {"--allowed-origins", {"PUSHER_ALLOWED_ORIGINS", "allowed_origins"}},
        {"--threads", {"PUSHER_THREADS", "threads"}},
    };
    for (auto const& [flag, names] : expected) {
        auto const& all = pusher::config::options();
        auto it = std::find_if(all.begin(), all.end(), [&](auto const& o) { return o.flag == flag; });
        ASSERT_NE(it, all.end()) << flag;
        EXPECT_EQ(it->env, names.first);
        EXPECT_EQ(it->toml_key, names.second);
    }
}

// ---- warnings and helpers ----

TEST_F(config_test, warnings_flag_risky_but_valid_settings) {
    EXPECT_THAT(pusher::config::warnings(ok({"--dev-auth"})),
                ElementsAre(HasSubstr("--dev-auth is on: clients choose their own user id")));
    EXPECT_THAT(pusher::config::warnings(ok({"--jwt-secret", "short"})),
                ElementsAre(HasSubstr("--jwt-secret is shorter than 32 bytes")));
    EXPECT_THAT(pusher::config::warnings(
                    ok({"--jwt-secret", std::string(32, 's'), "--listen", "0.0.0.0:80", "--api-insecure"})),
                ElementsAre("--api-insecure: /api/* has no key while listening on 0.0.0.0: anyone who reaches it can "
                            "publish to any user",
                            "no --allowed-origins while listening on 0.0.0.0: web pages from any origin may connect"));
    EXPECT_TRUE(pusher::config::warnings(ok({"--jwt-secret", std::string(32, 's'), "--listen", "0.0.0.0:80",
                                             "--api-key", "k", "--allowed-origins", "https://a.com"}))
                    .empty());
}

TEST_F(config_test, loopback_addresses) {
    for (auto h : {"127.0.0.1", "127.255.0.1", "::1", "localhost", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
        EXPECT_TRUE(pusher::config::is_loopback(h)) << h;
    }
    for (auto h : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "example.com", "", "::ffff:10.0.0.1", "[::1]"}) {
        EXPECT_FALSE(pusher::config::is_loopback(h)) << h;
    }
}

TEST_F(config_test, process_env_reads_the_real_environment) {
    ::setenv("PUSHER_TEST_CONFIG_PROBE", "v", 1);
    auto env = pusher::config::process_env();
    EXPECT_EQ(env("PUSHER_TEST_CONFIG_PROBE"), std::optional<std::string>("v"));
    ::unsetenv("PUSHER_TEST_CONFIG_PROBE");
    EXPECT_EQ(env("PUSHER_TEST_CONFIG_PROBE"), std::nullopt);
}

}  // namespace

// The broker's options are amqp_broker's own struct: every default is the broker's, and every field has a flag.
TEST_F(config_test, every_amqp_option_is_reachable_with_the_brokers_defaults) {
    auto const d = ok({"--dev-auth"});
    pusher::broker::amqp_options const broker_defaults;
    EXPECT_EQ(d.broker.heartbeat, broker_defaults.heartbeat);
    EXPECT_EQ(d.broker.reconnect_max, broker_defaults.reconnect_max);
    EXPECT_EQ(d.broker.publish_window, broker_defaults.publish_window);
    EXPECT_TRUE(d.broker.tls_verify_peer);
    EXPECT_TRUE(d.broker.tls_verify_hostname);
    EXPECT_EQ(d.engineio.max_frames_per_write, 0u);

    auto const c = ok({"--dev-auth", "--amqp-reconnect-min-ms",
                       "200",        "--amqp-connect-timeout-ms",
                       "3000",       "--amqp-subscribe-timeout-ms",
                       "4000",       "--amqp-publish-timeout-ms",
                       "6000",       "--amqp-publish-window",
                       "64",         "--amqp-publish-backlog",
                       "1000",       "--amqp-connection-name",
                       "n1",         "--amqp-tls-ca-file",
                       "/ca.pem",    "--amqp-tls-cert",
                       "/c.pem",     "--amqp-tls-key",
                       "/k.pem",     "--amqp-tls-verify",
                       "peer",       "--max-frames-per-write",
                       "1"});
    EXPECT_EQ(c.broker.reconnect_min, 200ms);
    EXPECT_EQ(c.broker.connect_timeout, 3000ms);
    EXPECT_EQ(c.broker.subscribe_timeout, 4000ms);
    EXPECT_EQ(c.broker.publish_timeout, 6000ms);
    EXPECT_EQ(c.broker.publish_window, 64u);
    EXPECT_EQ(c.broker.publish_backlog, 1000u);
    EXPECT_EQ(c.broker.connection_name, "n1");
    EXPECT_EQ(c.broker.tls_ca_file, "/ca.pem");
    EXPECT_EQ(c.broker.tls_cert_file, "/c.pem");
    EXPECT_EQ(c.broker.tls_key_file, "/k.pem");
    EXPECT_TRUE(c.broker.tls_verify_peer);
    EXPECT_FALSE(c.broker.tls_verify_hostname);
    EXPECT_EQ(c.engineio.max_frames_per_write, 1u);
    EXPECT_FALSE(ok({"--dev-auth", "--amqp-tls-verify", "none"}).broker.tls_verify_peer);

    EXPECT_EQ(error_of({"--amqp-tls-verify", "maybe"}),
              "--amqp-tls-verify: expected full, peer or none, got \"maybe\"");
    EXPECT_EQ(error_of({"--dev-auth", "--amqp-tls-cert", "/c.pem"}),
              "--amqp-tls-cert and --amqp-tls-key go together (set both or neither)");
    EXPECT_EQ(error_of({"--dev-auth", "--amqp-reconnect-min-ms", "5000", "--amqp-reconnect-max-ms", "1000"}),
              "--amqp-reconnect-min-ms must not exceed --amqp-reconnect-max-ms");
}
