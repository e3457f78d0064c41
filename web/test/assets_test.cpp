// pusher::web: the embedded table matches the files on disk byte for byte, and lookups follow the URL rules.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "web/assets.hpp"

namespace {

std::string read_file(std::filesystem::path const& p) {
    std::ifstream in(p, std::ios::binary);
    EXPECT_TRUE(in) << p;
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

using pusher::web::find_asset;

TEST(web_assets, root_and_index_are_the_page) {
    auto const* root = find_asset("/");
    auto const* index = find_asset("/index.html");
    ASSERT_NE(root, nullptr);
    EXPECT_EQ(root, index);
    EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
    EXPECT_NE(root->body.find("/socket.io.min.js"), std::string_view::npos);
    EXPECT_NE(root->body.find("id=\"status\""), std::string_view::npos);
}

TEST(web_assets, content_types_follow_the_extension) {
    ASSERT_NE(find_asset("/app.js"), nullptr);
    EXPECT_EQ(find_asset("/app.js")->content_type, "text/javascript; charset=utf-8");
    ASSERT_NE(find_asset("/style.css"), nullptr);
    EXPECT_EQ(find_asset("/style.css")->content_type, "text/css; charset=utf-8");
    ASSERT_NE(find_asset("/socket.io.min.js"), nullptr);
    EXPECT_EQ(find_asset("/socket.io.min.js")->content_type, "text/javascript; charset=utf-8");
}

TEST(web_assets, query_and_fragment_are_ignored) {
    EXPECT_EQ(find_asset("/?user=alice&transport=polling"), find_asset("/index.html"));
    EXPECT_EQ(find_asset("/app.js?v=2#x"), find_asset("/app.js"));
}

TEST(web_assets, unknown_paths_are_not_found) {
    EXPECT_EQ(find_asset(""), nullptr);
    EXPECT_EQ(find_asset("/nope"), nullptr);
    EXPECT_EQ(find_asset("app.js"), nullptr);    // not a path
    EXPECT_EQ(find_asset("/app.js/"), nullptr);  // exact match only
    EXPECT_EQ(find_asset("/../web/demo/app.js"), nullptr);
    EXPECT_EQ(find_asset("/%61pp.js"), nullptr);  // no percent-decoding
    EXPECT_EQ(find_asset("/APP.JS"), nullptr);
}

TEST(web_assets, bodies_equal_the_files_byte_for_byte) {
    std::size_t demo_files = 0;
    for (auto const& entry : std::filesystem::directory_iterator(PUSHER_WEB_DEMO_DIR)) {
        ++demo_files;
        std::string path =
            "/";  // appended, not "/" + s: GCC 12 warns falsely (-Wrestrict) on operator+(char const*, &&)
        path += entry.path().filename().string();
        auto const* a = find_asset(path);
        ASSERT_NE(a, nullptr) << path;
        EXPECT_EQ(a->path, path);
        EXPECT_EQ(a->body, read_file(entry.path())) << path;
    }
    EXPECT_GE(demo_files, 3u);
    auto const* bundle = find_asset("/socket.io.min.js");
    ASSERT_NE(bundle, nullptr);
    EXPECT_EQ(bundle->body, read_file(PUSHER_WEB_BUNDLE));
    EXPECT_EQ(pusher::web::all_assets().size(), demo_files + 1);
}

}  // namespace
