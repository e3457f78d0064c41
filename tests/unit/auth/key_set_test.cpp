// key_set and reloadable_verifier: several secrets and public keys at once (rotation), `kid` choosing the key, a
// token's own faults reported whatever key is tried, and a reload that swaps the set or, when it fails, keeps it.
#include "auth/key_set.hpp"
#include "token_kit.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace pusher::auth {
namespace {
using namespace std::chrono_literals;

constexpr std::int64_t t0 = 1'800'000'000;
clock::time_point const now{std::chrono::seconds(t0)};
std::string const old_secret = "an old secret of at least thirty-two bytes";
std::string const new_secret = "a new secret of at least thirty-two bytes!";

std::string claims(std::string const& sub) {
    return R"({"sub":")" + sub + R"(","exp":)" + std::to_string(t0 + 600) + "}";
}

std::string user_of(verifier const& v, std::string const& token) {
    auto r = v.verify(token, now);
    return r ? r->user : "refused: " + r.error().message;
}

// A new empty folder inside `dir`.
std::filesystem::path subdir(token_kit::temp_dir const& dir, std::string const& name) {
    auto p = std::filesystem::path(dir.write(".base", "")).parent_path() / name;
    std::filesystem::create_directories(p);
    return p;
}

void write(std::filesystem::path const& p, std::string const& content) {
    std::ofstream(p, std::ios::binary) << content;
}

std::shared_ptr<key_set const> load(key_sources const& s) {
    auto r = key_set::load(s);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : nullptr;
}

TEST(key_set, every_secret_of_the_file_and_the_flag_is_accepted) {
    token_kit::temp_dir dir;
    key_sources s;
    s.secret = "the flag's secret, thirty-two bytes or more";
    s.secret_file = dir.write("secrets", "# rotation\n" + old_secret + "\n\n" + new_secret + "  \r\n");
    auto set = load(s);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->size(), 3u);
    EXPECT_EQ(set->describe(), "HS256 x3");
    for (auto const& secret : {s.secret, old_secret, new_secret}) {
        EXPECT_EQ(user_of(*set, token_kit::libjwt_mint(JWT_ALG_HS256, secret, claims("alice"))), "alice");
    }
    EXPECT_EQ(
        user_of(*set, token_kit::libjwt_mint(JWT_ALG_HS256, "another secret, also quite long enough", claims("x"))),
        "refused: invalid signature");
    // The token's own fault is reported as such, not as a signature that no key matched.
    EXPECT_EQ(user_of(*set, token_kit::libjwt_mint(JWT_ALG_HS256, new_secret,
                                                   R"({"sub":"late","exp":)" + std::to_string(t0 - 3600) + "}")),
              "refused: token expired");
}

TEST(key_set, a_directory_of_public_keys_is_named_by_kid) {
    token_kit::temp_dir dir;
    auto const keys = subdir(dir, "k");
    auto old_key = token_kit::rsa_key(2048);
    auto new_key = token_kit::ec_key("P-256");
    write(keys / "2026-06.pem", token_kit::public_pem(old_key.get()));
    write(keys / "2026-12.pem", token_kit::public_pem(new_key.get()));
    write(keys / "notes.txt", "not a key");
    key_sources s;
    s.public_key_path = keys.string();
    auto set = load(s);
    ASSERT_TRUE(set);
    EXPECT_EQ(set->describe(), "RS256 kid 2026-06; ES256 kid 2026-12");
    auto const by_old = token_kit::raw_signed(old_key.get(), R"({"alg":"RS256","typ":"JWT"})", claims("a"));
    auto const by_new = token_kit::raw_signed(new_key.get(), R"({"alg":"ES256","kid":"2026-12"})", claims("b"));
    EXPECT_EQ(user_of(*set, by_old), "a");  // no kid: each key in turn
    EXPECT_EQ(user_of(*set, by_new), "b");  // kid: that key
    // A kid names its key: signed by the new key but naming the old one, it is checked against the old one only.
    auto const lying = token_kit::raw_signed(new_key.get(), R"({"alg":"ES256","kid":"2026-06"})", claims("c"));
    EXPECT_NE(user_of(*set, lying), "c");
    // An unknown kid (a key this node does not have yet) is tried against every key.
    auto const unknown = token_kit::raw_signed(new_key.get(), R"({"alg":"ES256","kid":"2027-06"})", claims("d"));
    EXPECT_EQ(user_of(*set, unknown), "d");
}

TEST(key_set, loading_fails_with_a_line_naming_the_source) {
    token_kit::temp_dir dir;
    key_sources s;
    s.secret_file = dir.write("empty", "# nothing\n\n");
    EXPECT_EQ(key_set::load(s).error().message, "the JWT secret file \"" + s.secret_file + "\" holds no secret");
    s = {};
    s.public_key_path = subdir(dir, "none").string();
    EXPECT_EQ(key_set::load(s).error().message,
              "the public key directory \"" + s.public_key_path + "\" holds no *.pem file");
    s = {};
    EXPECT_FALSE(key_set::load(s));
}

TEST(reloadable_verifier, a_reload_swaps_the_keys_and_a_failed_one_keeps_them) {
    token_kit::temp_dir dir;
    key_sources s;
    s.secret_file = dir.write("secrets", old_secret + "\n");
    reloadable_verifier v(s, load(s));
    auto const by_old = token_kit::libjwt_mint(JWT_ALG_HS256, old_secret, claims("o"));
    auto const by_new = token_kit::libjwt_mint(JWT_ALG_HS256, new_secret, claims("n"));
    EXPECT_EQ(user_of(v, by_old), "o");
    EXPECT_NE(user_of(v, by_new), "n");

    dir.write("secrets", old_secret + "\n" + new_secret + "\n");  // rotation, step 1: both
    ASSERT_TRUE(v.reload());
    EXPECT_EQ(user_of(v, by_old), "o");
    EXPECT_EQ(user_of(v, by_new), "n");

    dir.write("secrets", "\n");  // a broken file: the set in force stays
    auto failed = v.reload();
    ASSERT_FALSE(failed);
    EXPECT_EQ(user_of(v, by_old), "o");

    dir.write("secrets", new_secret + "\n");  // step 2: the old one is gone
    ASSERT_TRUE(v.reload());
    EXPECT_NE(user_of(v, by_old), "o");
    EXPECT_EQ(user_of(v, by_new), "n");
}
}  // namespace
}  // namespace pusher::auth
