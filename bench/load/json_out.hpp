#pragma once
// Serialises a Boost.JSON value with plain decimal numbers (Boost.JSON 1.81 prints doubles as 1.2345E4, which is
// valid JSON but hard to read in a report). Non-finite numbers become null.
#include <boost/json/value.hpp>

#include <string>

namespace pusher::load {
std::string to_json_text(boost::json::value const& v);
}  // namespace pusher::load
