#pragma once
// error_tally: counts error texts so that a report shows "connect: Connection refused (x1200)" once instead of
// 1200 lines; keeps at most `max_kinds` distinct texts (the rest are counted under "other").
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace pusher::load {
class error_tally {
  public:
    explicit error_tally(std::size_t max_kinds = 8) : max_kinds_(max_kinds) {}
    void add(std::string const& text, std::uint64_t n = 1) {
        if (counts_.size() >= max_kinds_ && counts_.find(text) == counts_.end()) {
            counts_["(other errors)"] += n;
            return;
        }
        counts_[text] += n;
    }
    void merge(error_tally const& other) {
        for (auto const& [text, n] : other.counts_) {
            add(text, n);
        }
    }
    bool empty() const { return counts_.empty(); }
    std::map<std::string, std::uint64_t> const& counts() const { return counts_; }
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        for (auto const& [text, n] : counts_) {
            out.push_back(n == 1 ? text : text + " (x" + std::to_string(n) + ")");
        }
        return out;
    }

  private:
    std::size_t max_kinds_;
    std::map<std::string, std::uint64_t> counts_;
};
}  // namespace pusher::load
