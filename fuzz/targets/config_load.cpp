// Fuzz target: the configuration (config::load): a TOML file, PUSHER_* environment variables and flags.
// Input: [option][value]\n[TOML file]\0[flags, one per line]\0[environment, NAME=VALUE per line].
// The file lives in a memfd created once (/proc/self/fd/N, rewritten per input): no file is created per run, and
// flags naming other files (--config) are left out so that load reads nothing else.
// Invariants: load never throws and reports each problem as one line; the same input gives the same verdict; and
// the three sources accept and refuse the same values: [value] given to option #[option] as a TOML key, as
// PUSHER_<NAME> and as --<name>=<value> gives three configs or three refusals (config/option_table.hpp's promise).
#include "config/config.hpp"
#include "config/option_table.hpp"
#include "fuzz_support.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <map>

namespace config = pusher::config;
using pusher::fuzz::cursor;

namespace {
int file_fd = -1;
std::string file_path;

void write_file(std::string_view text) {
    FUZZ_CHECK(ftruncate(file_fd, 0) == 0);
    FUZZ_CHECK(pwrite(file_fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()));
}

using env_map = std::map<std::string, std::string>;

struct verdict {
    bool ok = false;
    bool help = false;
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
    bool operator==(verdict const&) const = default;
};

verdict run(std::vector<std::string> const& args, env_map const& env) {
    auto r = config::load(args, [&](std::string const& name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    verdict v;
    v.ok = r.has_value();
    if (r) {
        FUZZ_CHECK(r->server.threads >= 1);
        v.warnings = config::warnings(*r);
        return v;
    }
    v.help = r.error().is_help();
    FUZZ_CHECK(!v.help || !r.error().usage.empty());
    for (auto const& e : r.error().errors) {
        FUZZ_CHECK(!e.empty());
        FUZZ_CHECK_MSG(e.find('\n') == std::string::npos, e);  // one line each
    }
    v.errors = r.error().errors;
    return v;
}

// A TOML basic string holding `s` (valid UTF-8): control characters and DEL as \uXXXX.
std::string toml_string(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out = "\"";
    for (char c : s) {
        auto const u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u == 0x7f) {
            out += "\\u00";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0xf]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
    return out;
}

bool canonical_toml_integer(std::string_view s) {
    if (s.empty() || s.size() > 18 || (s.size() > 1 && s.front() == '0')) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// One value through the three sources.
void check_sources_agree(std::uint8_t index, std::string_view value) {
    auto const& table = config::detail::option_table();
    auto const& o = table[index % table.size()];
    if (value.empty() || value.find('\0') != std::string_view::npos) {
        return;  // an empty env variable means unset; NUL cannot be in one
    }
    // Some authentication, so that the cross-option checks pass; not through the option under test, since env
    // overrides the file and the file's value would not count.
    env_map const base = o.info.env == "PUSHER_JWT_SECRET"
                             ? env_map{{"PUSHER_JWT_PUBLIC_KEY", "/not/read/by/load.pem"}}
                             : env_map{{"PUSHER_JWT_SECRET", "a-base-secret-long-enough-for-hs256-0123456789"}};

    env_map env = base;
    env[o.info.env] = std::string(value);
    verdict const from_env = run({}, env);
    verdict const from_flag = run({std::string(o.info.flag) + "=" + std::string(value)}, base);
    FUZZ_CHECK_MSG(from_env.ok == from_flag.ok, std::string(o.info.flag));

    using vt = config::detail::value_type;
    std::string toml;
    switch (o.type) {
        case vt::text:
        case vt::list:
            if (!pusher::fuzz::reference_utf8(value)) {
                return;
            }
            toml = toml_string(value);
            break;
        case vt::integer:
            if (!canonical_toml_integer(value)) {
                return;
            }
            toml = std::string(value);
            break;
        case vt::boolean:
            if (value != "true" && value != "false") {
                return;
            }
            toml = std::string(value);
            break;
    }
    write_file(o.info.toml_key + " = " + toml + "\n");
    verdict const from_file = run({"--config", file_path}, base);
    FUZZ_CHECK_MSG(from_file.ok == from_env.ok, std::string(o.info.flag));
    FUZZ_CHECK(from_file.warnings == from_env.warnings);
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    file_fd = memfd_create("pusher-fuzz-config", 0);
    if (file_fd < 0) {
        std::perror("memfd_create");
        std::abort();
    }
    file_path = "/proc/self/fd/" + std::to_string(file_fd);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    cursor in(pusher::fuzz::as_text(data, size));
    std::uint8_t const option = in.byte();
    std::string_view const value = in.until('\n');
    std::string_view const toml = in.until('\0');
    std::string_view const flag_lines = in.until('\0');
    std::string_view env_lines = in.rest();

    check_sources_agree(option, value);

    write_file(toml);
    std::vector<std::string> args = {"--config", file_path};
    cursor flags(flag_lines);
    while (!flags.empty()) {
        std::string_view const a = flags.until('\n');
        if (a.find("config") == std::string_view::npos) {  // read no other file
            args.emplace_back(a);
        }
    }
    env_map env;
    cursor envs(env_lines);
    while (!envs.empty()) {
        std::string_view line = envs.until('\n');
        std::string_view const name = cursor(line).until('=');
        if (name != "PUSHER_CONFIG" && line.size() > name.size()) {
            env[std::string(name)] = std::string(line.substr(name.size() + 1));
        }
    }
    verdict const first = run(args, env);
    verdict const second = run(args, env);
    FUZZ_CHECK(first == second);
    return 0;
}
