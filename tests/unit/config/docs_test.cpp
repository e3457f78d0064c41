// docs/configuration.md must document every option (flag, env, TOML key, default) and its example must load.
#include "config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

std::string read_doc() {
    std::ifstream in(std::string(PUSHER_DOCS_DIR) + "/configuration.md");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The table row of `flag`: the line that starts with "| `--flag".
std::string row_of(std::string const& doc, std::string_view flag) {
    std::istringstream lines(doc);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with("| `" + std::string(flag) + "`") || line.starts_with("| `" + std::string(flag) + " ")) {
            return line;
        }
    }
    return {};
}

TEST(configuration_doc, documents_every_option_with_env_toml_key_and_default) {
    auto doc = read_doc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md is missing";
    for (auto const& o : pusher::config::options()) {
        auto row = row_of(doc, o.flag);
        ASSERT_FALSE(row.empty()) << "no table row for " << o.flag;
        EXPECT_THAT(row, ::testing::HasSubstr("`" + o.env + "`")) << o.flag;
        if (!o.toml_key.empty()) {
            EXPECT_THAT(row, ::testing::HasSubstr("`" + o.toml_key + "`")) << o.flag;
        }
        EXPECT_THAT(row, ::testing::HasSubstr(std::string(o.default_text))) << o.flag;
    }
}

TEST(configuration_doc, example_toml_file_loads) {
    auto doc = read_doc();
    auto start = doc.find("```toml\n");
    ASSERT_NE(start, std::string::npos) << "no ```toml example";
    start += 8;
    auto end = doc.find("```", start);
    ASSERT_NE(end, std::string::npos);
    std::string tmpl = (std::filesystem::temp_directory_path() / "pusher-doc-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    auto path = tmpl + "/pusher.toml";
    std::ofstream(path) << doc.substr(start, end - start);
    auto r = pusher::config::load({"--config", path}, [](std::string const&) { return std::nullopt; });
    std::filesystem::remove_all(tmpl);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message());
}

}  // namespace
