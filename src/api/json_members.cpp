#include "api/json_members.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace pusher::api {
namespace {
// A cursor over JSON text. Every step checks bounds, so text that is not valid JSON fails instead of overrunning.
class scanner {
  public:
    explicit scanner(std::string_view text) : text_(text) {}

    void skip_ws() {
        while (pos_ < text_.size() &&
               (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
            ++pos_;
        }
    }
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }
    bool eat(char c) {
        if (peek() != c || at_end()) {
            return false;
        }
        ++pos_;
        return true;
    }
    std::size_t pos() const { return pos_; }
    std::string_view slice(std::size_t from) const { return text_.substr(from, pos_ - from); }

    // At an opening quote: moves past the closing one.
    bool skip_string() {
        if (!eat('"')) {
            return false;
        }
        while (!at_end()) {
            char const c = text_[pos_++];
            if (c == '\\') {
                if (at_end()) {
                    return false;
                }
                ++pos_;  // the escaped character (for \uXXXX the hex digits are plain characters)
            } else if (c == '"') {
                return true;
            }
        }
        return false;
    }

    // At the start of a value: moves past its end.
    bool skip_value() {
        char const c = peek();
        if (c == '"') {
            return skip_string();
        }
        if (c == '{' || c == '[') {
            std::size_t depth = 0;
            while (!at_end()) {
                char const d = peek();
                if (d == '"') {
                    if (!skip_string()) {
                        return false;
                    }
                    continue;
                }
                ++pos_;
                if (d == '{' || d == '[') {
                    ++depth;
                } else if (d == '}' || d == ']') {
                    if (--depth == 0) {
                        return true;
                    }
                }
            }
            return false;
        }
        // A number, true, false or null: runs until a delimiter.
        std::size_t const start = pos_;
        while (!at_end()) {
            char const d = peek();
            if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\t' || d == '\n' || d == '\r') {
                break;
            }
            ++pos_;
        }
        return pos_ > start;
    }

  private:
    std::string_view text_;
    std::size_t pos_ = 0;
};
}  // namespace

std::optional<std::string> decode_string(std::string_view raw) {
    if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') {
        return std::nullopt;
    }
    std::string_view const inner = raw.substr(1, raw.size() - 2);
    if (inner.find('\\') == std::string_view::npos) {
        return std::string(inner);  // the common case: no escapes, the bytes are the value
    }
    boost::system::error_code ec;
    boost::json::value const v = boost::json::parse(raw, ec);
    if (ec || !v.is_string()) {
        return std::nullopt;
    }
    return std::string(v.get_string().data(), v.get_string().size());
}

std::optional<std::vector<json_member>> object_members(std::string_view json) {
    scanner s(json);
    s.skip_ws();
    if (!s.eat('{')) {
        return std::nullopt;
    }
    std::vector<json_member> out;
    s.skip_ws();
    if (s.eat('}')) {
        s.skip_ws();
        return s.at_end() ? std::optional(std::move(out)) : std::nullopt;
    }
    for (;;) {
        s.skip_ws();
        std::size_t const key_start = s.pos();
        if (!s.skip_string()) {
            return std::nullopt;
        }
        auto key = decode_string(s.slice(key_start));
        if (!key) {
            return std::nullopt;
        }
        s.skip_ws();
        if (!s.eat(':')) {
            return std::nullopt;
        }
        s.skip_ws();
        std::size_t const value_start = s.pos();
        if (!s.skip_value()) {
            return std::nullopt;
        }
        out.push_back(json_member{std::move(*key), s.slice(value_start)});
        s.skip_ws();
        if (s.eat(',')) {
            continue;
        }
        if (s.eat('}')) {
            break;
        }
        return std::nullopt;
    }
    s.skip_ws();
    if (!s.at_end()) {
        return std::nullopt;
    }
    return out;
}
}  // namespace pusher::api
