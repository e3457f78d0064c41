#include "hub/hub.hpp"

#include "unit/hub/fake_session.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace pusher::hub {
namespace {
using testing::fake_session;

// Names built with += (GCC 12 warns falsely, -Wrestrict, on `name("u", n)`).
std::string name(std::string_view prefix, int n) {
    std::string s(prefix);
    s += std::to_string(n);
    return s;
}

std::shared_ptr<fake_session> make_session(std::string id = "sid") {
    return std::make_shared<fake_session>(std::move(id));
}

TEST(hub, delivers_one_shared_frame_to_every_session_of_the_user) {
    hub h;
    auto tab1 = make_session("a1");
    auto tab2 = make_session("a2");
    auto other = make_session("b1");
    EXPECT_TRUE(h.attach("alice", tab1));
    EXPECT_TRUE(h.attach("alice", tab2));
    EXPECT_TRUE(h.attach("bob", other));

    auto const f = make_frame(R"(42["mail.new",{"n":1}])");
    EXPECT_EQ(h.deliver("alice", f), 2u);
    ASSERT_EQ(tab1->frames().size(), 1u);
    ASSERT_EQ(tab2->frames().size(), 1u);
    // The same bytes, not a copy: every recipient shares the one encoded frame.
    EXPECT_EQ(tab1->frames()[0].get(), f.get());
    EXPECT_EQ(tab2->frames()[0].get(), f.get());
    EXPECT_EQ(other->count(), 0u);
}

TEST(hub, unknown_user_gets_nothing) {
    hub h;
    h.attach("alice", make_session());
    EXPECT_EQ(h.deliver("bob", make_frame("42[\"x\",1]")), 0u);
    EXPECT_EQ(h.deliver("", make_frame("42[\"x\",1]")), 0u);
    EXPECT_FALSE(h.has("bob"));
    EXPECT_TRUE(h.sessions_of("bob")->empty());
}

TEST(hub, attach_and_detach_bookkeeping) {
    hub h;
    auto s1 = make_session("1");
    auto s2 = make_session("2");
    EXPECT_TRUE(h.attach("alice", s1));
    EXPECT_FALSE(h.attach("alice", s1));  // already there: no duplicate delivery
    EXPECT_FALSE(h.attach("alice", nullptr));
    EXPECT_TRUE(h.attach("alice", s2));
    EXPECT_TRUE(h.attach("bob", s2));  // one session may be listed under two users (the hub does not judge)
    EXPECT_EQ(h.users(), 2u);
    EXPECT_EQ(h.sessions(), 3u);

    EXPECT_FALSE(h.detach("carol", *s1));  // not that user's
    EXPECT_FALSE(h.detach("bob", *s1));
    EXPECT_TRUE(h.detach("alice", *s1));
    EXPECT_FALSE(h.detach("alice", *s1));  // twice
    EXPECT_EQ(h.users(), 2u);
    EXPECT_EQ(h.sessions(), 2u);
    EXPECT_EQ(h.deliver("alice", make_frame("42[\"x\",1]")), 1u);
    EXPECT_EQ(s1->count(), 0u);
    EXPECT_EQ(s2->count(), 1u);

    EXPECT_TRUE(h.detach("alice", *s2));
    EXPECT_FALSE(h.has("alice"));  // the last session gone: the user is gone
    EXPECT_EQ(h.users(), 1u);
    EXPECT_TRUE(h.detach("bob", *s2));
    EXPECT_EQ(h.users(), 0u);
    EXPECT_EQ(h.sessions(), 0u);

    auto const st = h.stats();
    EXPECT_EQ(st.attaches, 3u);
    EXPECT_EQ(st.detaches, 3u);
    EXPECT_EQ(st.users, 0u);
    EXPECT_EQ(st.sessions, 0u);
}

TEST(hub, detach_releases_the_session) {
    hub h;
    auto s = make_session();
    std::weak_ptr<fake_session> weak = s;
    h.attach("alice", s);
    fake_session& ref = *s;
    s.reset();
    EXPECT_FALSE(weak.expired());  // the hub holds it while attached
    h.detach("alice", ref);
    EXPECT_TRUE(weak.expired());
}

TEST(hub, sessions_of_is_a_snapshot) {
    hub h;
    auto s1 = make_session("1");
    auto s2 = make_session("2");
    h.attach("alice", s1);
    h.attach("alice", s2);
    auto const before = h.sessions_of("alice");
    h.detach("alice", *s1);
    ASSERT_EQ(before->size(), 2u);  // copy on write: a list already handed out never changes
    EXPECT_EQ(h.sessions_of("alice")->size(), 1u);
    EXPECT_EQ(h.sessions_of("alice")->front(), s2);
}

TEST(hub, deliver_all_reaches_every_session_once) {
    hub h;
    std::vector<std::shared_ptr<fake_session>> all;
    for (int u = 0; u < 300; ++u) {
        for (int s = 0; s < 1 + u % 3; ++s) {
            all.push_back(make_session());
            h.attach(name("user", u), all.back());
        }
    }
    EXPECT_EQ(h.users(), 300u);
    EXPECT_EQ(h.sessions(), all.size());
    auto const f = make_frame("42[\"news\",null]");
    EXPECT_EQ(h.deliver_all(f), all.size());
    for (auto const& s : all) {
        ASSERT_EQ(s->count(), 1u);
        EXPECT_EQ(s->frames()[0].get(), f.get());
    }
    hub empty;
    EXPECT_EQ(empty.deliver_all(f), 0u);
}

TEST(hub, shard_count_is_a_power_of_two_and_one_shard_works) {
    EXPECT_EQ(hub{}.shard_count(), 64u);
    EXPECT_EQ(hub{0}.shard_count(), 1u);
    EXPECT_EQ(hub{5}.shard_count(), 8u);
    hub one{1};
    auto a = make_session();
    auto b = make_session();
    one.attach("alice", a);
    one.attach("bob", b);
    EXPECT_EQ(one.deliver("alice", make_frame("x")), 1u);
    EXPECT_EQ(one.deliver_all(make_frame("y")), 2u);
    EXPECT_EQ(a->count(), 2u);
    EXPECT_EQ(b->count(), 1u);
}

// A real session closes itself inside send() when its outbox overflows (slow consumer), and its close detaches it
// from the hub on the same thread: the hub must not hold a shard lock while sending, or this deadlocks.
TEST(hub, a_session_may_detach_itself_while_being_sent_to) {
    hub h;
    auto slow = make_session("slow");
    auto fine = make_session("fine");
    slow->on_send = [&h, raw = slow.get()] { h.detach("alice", *raw); };
    h.attach("alice", slow);
    h.attach("alice", fine);
    EXPECT_EQ(h.deliver("alice", make_frame("1")), 2u);  // both were attached when the message arrived
    EXPECT_EQ(h.deliver("alice", make_frame("2")), 1u);
    EXPECT_EQ(slow->count(), 1u);
    EXPECT_EQ(fine->count(), 2u);

    auto other = make_session("other");
    other->on_send = [&h, raw = other.get()] { h.detach("bob", *raw); };
    h.attach("bob", other);
    EXPECT_EQ(h.deliver_all(make_frame("3")), 2u);
    EXPECT_FALSE(h.has("bob"));
}

// Several threads attach and detach sessions of the same users while others deliver: the sessions attached for the
// whole test get every frame exactly once, in order per sender thread, and the counts end balanced.
TEST(hub, concurrent_attach_detach_and_deliver) {
    hub h{8};  // few shards: more contention
    constexpr int users = 16;
    constexpr int senders = 3;
    constexpr int frames_per_sender = 2000;
    constexpr int churners = 3;

    std::vector<std::shared_ptr<fake_session>> stable;
    for (int u = 0; u < users; ++u) {
        stable.push_back(make_session(name("stable", u)));
        h.attach(name("user", u), stable.back());
    }

    std::atomic<bool> stop{false};
    std::atomic<std::size_t> churn_cycles{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < churners; ++c) {
        threads.emplace_back([&, c] {
            std::vector<std::shared_ptr<fake_session>> mine;
            for (int u = 0; u < users; ++u) {
                mine.push_back(make_session(name("churn", c)));
                mine.back()->count_only();
            }
            while (!stop.load()) {
                for (int u = 0; u < users; ++u) {
                    ASSERT_TRUE(h.attach(name("user", u), mine[static_cast<std::size_t>(u)]));
                }
                for (int u = 0; u < users; ++u) {
                    ASSERT_TRUE(h.detach(name("user", u), *mine[static_cast<std::size_t>(u)]));
                }
                churn_cycles.fetch_add(1);
            }
        });
    }
    std::vector<std::thread> sending;
    for (int s = 0; s < senders; ++s) {
        sending.emplace_back([&, s] {
            for (int i = 0; i < frames_per_sender; ++i) {
                auto const f = make_frame(name(name("", s) + ":", i));
                if (i % 100 == 99) {
                    h.deliver_all(f);
                } else {
                    h.deliver(name("user", i % users), f);
                }
            }
        });
    }
    for (auto& t : sending) {
        t.join();
    }
    stop = true;
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_GT(churn_cycles.load(), 0u);

    EXPECT_EQ(h.users(), static_cast<std::size_t>(users));
    EXPECT_EQ(h.sessions(), static_cast<std::size_t>(users));
    auto const st = h.stats();
    EXPECT_EQ(st.attaches - st.detaches, static_cast<std::uint64_t>(users));

    // Expected per stable session: its share of direct frames plus every broadcast, from each sender.
    constexpr int broadcasts_per_sender = frames_per_sender / 100;
    for (int u = 0; u < users; ++u) {
        int direct = 0;
        for (int i = 0; i < frames_per_sender; ++i) {
            direct += (i % 100 != 99 && i % users == u) ? 1 : 0;
        }
        auto const texts = stable[static_cast<std::size_t>(u)]->texts();
        ASSERT_EQ(texts.size(), static_cast<std::size_t>(senders * (direct + broadcasts_per_sender))) << "user" << u;
        // Per sender, frames arrive in the order that sender delivered them.
        std::vector<int> last(senders, -1);
        for (auto const& t : texts) {
            auto const colon = t.find(':');
            int const s = std::stoi(t.substr(0, colon));
            int const i = std::stoi(t.substr(colon + 1));
            EXPECT_GT(i, last[static_cast<std::size_t>(s)]);
            last[static_cast<std::size_t>(s)] = i;
        }
    }
}

TEST(hub, many_users_spread_over_shards) {
    hub h;
    std::vector<std::shared_ptr<fake_session>> all;
    for (int u = 0; u < 10000; ++u) {
        all.push_back(make_session());
        all.back()->count_only();
        h.attach(name("u", u), all.back());
    }
    EXPECT_EQ(h.users(), 10000u);
    EXPECT_EQ(h.deliver_all(make_frame("x")), 10000u);
    for (int u = 0; u < 10000; u += 7) {
        EXPECT_EQ(h.deliver(name("u", u), make_frame("y")), 1u);
    }
    for (int u = 0; u < 10000; ++u) {
        h.detach(name("u", u), *all[static_cast<std::size_t>(u)]);
    }
    EXPECT_EQ(h.users(), 0u);
    EXPECT_EQ(h.sessions(), 0u);
}

}  // namespace
}  // namespace pusher::hub
