#include "json_out.hpp"

#include <boost/json/serialize.hpp>

#include <cmath>
#include <cstdio>

namespace pusher::load {
namespace {
void write(std::string& out, boost::json::value const& v) {
    switch (v.kind()) {
        case boost::json::kind::double_: {
            double const d = v.get_double();
            if (!std::isfinite(d)) {
                out += "null";
                return;
            }
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.12g", d);
            out += buf;
            return;
        }
        case boost::json::kind::array: {
            out += '[';
            bool first = true;
            for (auto const& x : v.get_array()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                write(out, x);
            }
            out += ']';
            return;
        }
        case boost::json::kind::object: {
            out += '{';
            bool first = true;
            for (auto const& kv : v.get_object()) {
                if (!first) {
                    out += ',';
                }
                first = false;
                out += boost::json::serialize(boost::json::string_view(kv.key()));
                out += ':';
                write(out, kv.value());
            }
            out += '}';
            return;
        }
        default:
            out += boost::json::serialize(v);
            return;
    }
}
}  // namespace

std::string to_json_text(boost::json::value const& v) {
    std::string out;
    write(out, v);
    return out;
}
}  // namespace pusher::load
