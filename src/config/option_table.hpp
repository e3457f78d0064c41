#pragma once
// Internal to the config module: the table of options, each with a parser that writes one `config` field, shared by
// the three sources (TOML file, environment, flags) so that they accept and refuse exactly the same values.
#include "config/config.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pusher::config::detail {

// What a TOML value must be for this option (env and flags are text, parsed by `apply`).
enum class value_type { text, integer, boolean, list };

struct option {
    option_info info;
    value_type type;
    // Parses `text` into `cfg`; returns the empty string, or the problem ("expected ..., got \"x\"").
    std::function<std::string(config& cfg, std::string_view text)> apply;
};

std::vector<option> const& option_table();

// True/false from 1/0, true/false, yes/no, on/off (any case).
std::optional<bool> parse_bool(std::string_view text);

// Checks that involve several options (dev-auth vs listen, some auth method, TLS pairs, ...); appends one line each.
void cross_check(config const& cfg, std::vector<std::string>& errors);

}  // namespace pusher::config::detail
