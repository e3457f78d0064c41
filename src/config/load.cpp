// config::load: defaults, then the TOML file, then PUSHER_* env, then flags; each source goes through the same option
// parsers. The only translation unit that includes CLI11 (2 s of compile time per TU, docs/dependencies.md §7).
#include "common/json_text.hpp"
#include "config/option_table.hpp"
#include "config/send_options.hpp"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <thread>

namespace pusher::config {
namespace {
// A node id nobody chose: 8 random hex digits.
std::string random_node_id() {
    std::random_device rd;
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    for (std::uint32_t r = rd(), i = 0; i < 8; ++i, r >>= 4) {
        id.push_back(hex[r & 15]);
    }
    return id;
}

constexpr std::size_t max_config_file_bytes = 1 << 20;

// An error as one line: control characters escaped as in JSON. Values go through `got` already; this catches the
// text others put in a message (toml++ quotes the offending character, raw; CLI11 echoes a stray argument).
std::string one_line(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        auto const u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            out += "\\u00";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

struct flag_values {
    std::string config_file;
    bool config_given = false;
    std::vector<std::pair<detail::option const*, std::string>> values;  // in table order
};

// Flags via CLI11: every option is captured as text, parsed later by the shared option parsers.
// Returns an error line, or empty. Throws nothing: CLI11's exceptions are caught here.
std::string parse_flags(std::vector<std::string> const& args, flag_values& out, bool& help) {
    CLI::App app{"", "pusher"};
    app.set_help_flag("-h,--help");
    auto const& table = detail::option_table();
    std::vector<std::string> text(table.size());
    std::vector<CLI::Option*> opts(table.size());
    auto* config_opt = app.add_option("--config", out.config_file)
                           ->type_name("FILE")
                           ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    for (std::size_t i = 0; i < table.size(); ++i) {
        auto name = std::string(table[i].info.flag);
        if (table[i].type == detail::value_type::boolean) {
            // `--dev-auth` alone is "true"; `--dev-auth=false` is parsed like the env value.
            opts[i] = app.add_flag(name, text[i]);
        } else {
            opts[i] = app.add_option(name, text[i])
                          ->type_name(std::string(table[i].info.value_name))
                          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        }
    }
    // CLI11 wants the arguments in reverse order when given as a vector. It also refuses `--name=` (an empty value,
    // which we use to clear a string set by the file or env) but takes `--name ""`, so split those.
    std::vector<std::string> reversed;
    for (auto it = args.rbegin(); it != args.rend(); ++it) {
        if (it->starts_with("--") && it->size() > 3 && it->back() == '=' && it->find('=') == it->size() - 1) {
            reversed.emplace_back();
            reversed.push_back(it->substr(0, it->size() - 1));
        } else {
            reversed.push_back(*it);
        }
    }
    try {
        app.parse(reversed);
    } catch (CLI::CallForHelp const&) {
        help = true;
        return {};
    } catch (CLI::ParseError const& e) {
        return e.what();
    }
    out.config_given = config_opt->count() > 0;
    for (std::size_t i = 0; i < table.size(); ++i) {
        if (opts[i]->count() > 0) {
            out.values.emplace_back(&table[i], std::move(text[i]));
        }
    }
    return {};
}

detail::option const* find_option_by_key(std::string_view key) {
    std::string k(key);
    std::replace(k.begin(), k.end(), '-', '_');
    for (auto const& o : detail::option_table()) {
        if (o.info.toml_key == k) {
            return &o;
        }
    }
    return nullptr;
}

std::string where(std::string const& file, toml::source_region const& src) {
    return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

// A TOML value as option text, if its type fits the option; else the error.
std::optional<std::string> toml_text(detail::option const& o, toml::node const& v, std::string& error) {
    using vt = detail::value_type;
    switch (o.type) {
        case vt::text:
            if (auto s = v.as_string()) {
                return s->get();
            }
            error = "expected a string";
            return std::nullopt;
        case vt::integer:
            if (auto i = v.as_integer()) {
                if (i->get() < 0) {
                    error = "expected a non-negative integer, got " + std::to_string(i->get());
                    return std::nullopt;
                }
                return std::to_string(i->get());
            }
            error = "expected an integer";
            return std::nullopt;
        case vt::boolean:
            if (auto b = v.as_boolean()) {
                return b->get() ? "true" : "false";
            }
            error = "expected true or false";
            return std::nullopt;
        case vt::list:
            if (auto s = v.as_string()) {
                return s->get();
            }
            if (auto a = v.as_array()) {
                std::string joined;
                for (auto const& item : *a) {
                    auto s = item.as_string();
                    if (s == nullptr || s->get().find(',') != std::string::npos) {
                        error = "expected an array of strings (without commas)";
                        return std::nullopt;
                    }
                    joined += joined.empty() ? "" : ",";
                    joined += s->get();
                }
                return joined;
            }
            error = "expected an array of strings or a comma-separated string";
            return std::nullopt;
    }
    return std::nullopt;
}

std::optional<std::string> read_text_file(std::string const& path, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        error = "cannot read " + json_text::quote(path) + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string data;
    char buf[8192];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && data.size() <= max_config_file_bytes) {
        data.append(buf, n);
    }
    bool const bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) {
        error = "cannot read " + json_text::quote(path);
        return std::nullopt;
    }
    if (data.size() > max_config_file_bytes) {
        error = json_text::quote(path) + " is larger than 1 MiB";
        return std::nullopt;
    }
    return data;
}

void apply_file(std::string const& path, config& cfg, std::vector<std::string>& errors) {
    std::string error;
    auto text = read_text_file(path, error);
    if (!text) {
        errors.push_back("--config: " + error);
        return;
    }
    toml::table root;
    try {
        root = toml::parse(*text, path);
    } catch (toml::parse_error const& e) {
        errors.push_back(where(path, e.source()) + ": " + std::string(e.description()));
        return;
    }
    // toml::table is ordered by key; report in the order of the file.
    std::vector<std::pair<toml::key const*, toml::node const*>> entries;
    for (auto const& [key, value] : root) {
        entries.emplace_back(&key, &value);
    }
    std::sort(entries.begin(), entries.end(), [](auto const& a, auto const& b) {
        auto const& x = a.first->source().begin;
        auto const& y = b.first->source().begin;
        return x.line != y.line ? x.line < y.line : x.column < y.column;
    });
    std::map<detail::option const*, std::string> seen;  // option -> the key that set it
    for (auto const& [key_ptr, value_ptr] : entries) {
        auto const& key = *key_ptr;
        auto const& value = *value_ptr;
        auto const at = where(path, key.source());
        if (value.is_table()) {
            errors.push_back(at + ": tables are not supported; use top-level keys named like the flags (found [" +
                             std::string(key.str()) + "])");
            continue;
        }
        auto const* o = find_option_by_key(key.str());
        if (o == nullptr) {
            errors.push_back(at + ": unknown key " + json_text::quote(key.str()));
            continue;
        }
        if (auto [it, fresh] = seen.emplace(o, std::string(key.str())); !fresh) {
            errors.push_back(at + ": " + std::string(key.str()) + " repeats " + it->second);
            continue;
        }
        auto t = toml_text(*o, value, error);
        if (!t) {
            errors.push_back(at + ": " + std::string(key.str()) + ": " + error);
            continue;
        }
        if (auto e = o->apply(cfg, *t); !e.empty()) {
            errors.push_back(at + ": " + std::string(key.str()) + ": " + e);
        }
    }
}

}  // namespace

boost::system::result<config, load_error> load(std::vector<std::string> const& args, env_lookup const& env) {
    flag_values flags;
    bool help = false;
    if (auto e = parse_flags(args, flags, help); !e.empty()) {
        return load_error{{one_line(e) + " (see --help)"}, {}};
    }
    if (help) {
        return load_error{{}, usage()};
    }
    // An empty environment variable counts as unset (`PUSHER_JWT_SECRET=` in a compose file means "none").
    auto getenv = [&env](std::string const& name) -> std::optional<std::string> {
        auto v = env ? env(name) : std::nullopt;
        return v && !v->empty() ? v : std::nullopt;
    };

    config cfg;
    std::vector<std::string> errors;
    if (flags.config_given) {
        cfg.config_file = flags.config_file;
        if (cfg.config_file.empty()) {
            errors.push_back("--config: expected a file name");
        }
    } else if (auto f = getenv("PUSHER_CONFIG")) {
        cfg.config_file = *f;
    }
    if (!cfg.config_file.empty()) {
        apply_file(cfg.config_file, cfg, errors);
    }
    for (auto const& o : detail::option_table()) {
        if (auto v = getenv(o.info.env)) {
            if (auto e = o.apply(cfg, *v); !e.empty()) {
                errors.push_back(o.info.env + ": " + e);
            }
        }
    }
    for (auto const& [o, text] : flags.values) {
        if (auto e = o->apply(cfg, text); !e.empty()) {
            errors.push_back(std::string(o->info.flag) + ": " + e);
        }
    }
    // Checks across options only make sense once every option parsed: a file that failed to parse would otherwise
    // also report "no authentication configured" for the secret it held.
    if (errors.empty()) {
        detail::cross_check(cfg, errors);
    }
    if (!errors.empty()) {
        for (auto& e : errors) {
            e = one_line(e);  // one problem per line, as documented, whatever the input held
        }
        return load_error{std::move(errors), {}};
    }
    if (cfg.broker.node_id.empty()) {
        cfg.broker.node_id = random_node_id();
    }
    if (cfg.server.threads == 0) {
        cfg.server.threads = std::max(1u, std::thread::hardware_concurrency());
    }
    return cfg;
}

// ---- pusher send ----

namespace {
// The server's options that `pusher send` takes too (same flag, env variable and parser).
constexpr std::string_view send_shared_flags[] = {"--amqp-url",
                                                  "--exchange",
                                                  "--broadcast-exchange",
                                                  "--undelivered-exchange",
                                                  "--amqp-connect-timeout-ms",
                                                  "--amqp-publish-timeout-ms",
                                                  "--amqp-tls-ca-file",
                                                  "--amqp-tls-cert",
                                                  "--amqp-tls-key",
                                                  "--amqp-tls-verify",
                                                  "--api-key"};

bool shared_with_send(detail::option const& o) {
    return std::find(std::begin(send_shared_flags), std::end(send_shared_flags), o.info.flag) !=
           std::end(send_shared_flags);
}
}  // namespace

boost::system::result<send_options, load_error> load_send(std::vector<std::string> const& args, env_lookup const& env) {
    CLI::App app{
        "pusher send: publish one notification, through a running pusher's /api/publish (--server) or "
        "straight to RabbitMQ with the AMQP contract (--amqp-url). Exit status: 0 sent, 1 unreachable or "
        "refused, 2 bad input, 3 API key refused. Options shared with the server are also read from its "
        "environment variables (PUSHER_AMQP_URL, PUSHER_API_KEY, ...); --server from PUSHER_SERVER.",
        "pusher send"};
    app.set_help_flag("-h,--help");
    send_options out;
    std::string server;
    std::vector<std::string> users;
    bool broadcast = false;
    app.add_option("--server", server, "a running pusher (POST /api/publish) [default: http://127.0.0.1:8080]")
        ->type_name("URL");
    app.add_option("--user,--users", users, "the user(s) to notify (repeatable, comma-separated)")
        ->type_name("ID[,ID...]")
        ->delimiter(',');
    app.add_flag("--broadcast", broadcast, "every connected user");
    app.add_option("--event", out.event, "the Socket.IO event name [default: notification]")->type_name("NAME");
    app.add_option("--data", out.data, "the payload as JSON; - reads it from standard input [default: null]")
        ->type_name("JSON|-");
    auto const& table = detail::option_table();
    std::vector<std::string> text(table.size());
    std::vector<CLI::Option*> opts(table.size(), nullptr);
    for (std::size_t i = 0; i < table.size(); ++i) {
        if (shared_with_send(table[i])) {
            opts[i] = app.add_option(std::string(table[i].info.flag), text[i], std::string(table[i].info.help))
                          ->type_name(std::string(table[i].info.value_name))
                          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
        }
    }
    try {
        std::vector<std::string> reversed(args.rbegin(), args.rend());
        app.parse(reversed);
    } catch (CLI::CallForHelp const&) {
        return load_error{{}, app.help()};
    } catch (CLI::ParseError const& e) {
        return load_error{{one_line(e.what())}, app.help()};
    }
    auto getenv = [&env](std::string const& name) -> std::optional<std::string> {
        auto v = env ? env(name) : std::nullopt;
        return v && !v->empty() ? v : std::nullopt;
    };
    config cfg;
    std::vector<std::string> errors;
    bool amqp_url_given = false;
    for (std::size_t i = 0; i < table.size(); ++i) {
        if (opts[i] == nullptr) {
            continue;
        }
        auto const& o = table[i];
        std::optional<std::string> value;
        std::string source;
        if (opts[i]->count() > 0) {
            value = text[i];
            source = std::string(o.info.flag);
        } else if (auto v = getenv(o.info.env)) {
            value = *v;
            source = o.info.env;
        }
        if (!value) {
            continue;
        }
        amqp_url_given = amqp_url_given || o.info.flag == "--amqp-url";
        if (auto e = o.apply(cfg, *value); !e.empty()) {
            errors.push_back(source + ": " + e);
        }
    }
    if (server.empty()) {
        server = getenv("PUSHER_SERVER").value_or("");
    }
    if (!server.empty() && amqp_url_given) {
        errors.emplace_back("give one of --server URL or --amqp-url URL, not both");
    }
    if (broadcast == !users.empty()) {
        errors.emplace_back("give --user/--users or --broadcast (one of them)");
    }
    if (std::any_of(users.begin(), users.end(), [](auto const& u) { return u.empty(); })) {
        errors.emplace_back("--user: an empty user id");
    }
    if (out.event.empty()) {
        errors.emplace_back("--event must not be empty");
    }
    if (cfg.broker.tls_cert_file.empty() != cfg.broker.tls_key_file.empty()) {
        errors.emplace_back("--amqp-tls-cert and --amqp-tls-key go together (set both or neither)");
    }
    if (!errors.empty()) {
        for (auto& e : errors) {
            e = one_line(e);
        }
        return load_error{std::move(errors), app.help()};
    }
    out.amqp = amqp_url_given;
    out.server = out.amqp ? std::string() : (server.empty() ? std::string("http://127.0.0.1:8080") : server);
    out.broker = cfg.broker;
    out.api_key = cfg.api.api_keys.empty() ? std::string() : cfg.api.api_keys.front();
    out.users = std::move(users);
    out.broadcast = broadcast;
    return out;
}

}  // namespace pusher::config
