#pragma once
// The Engine.IO echo server of docs/conformance.md §4 in process: an io_pool of 2 threads, httpd on 127.0.0.1 port 0,
// engineio::server mounted at /engine.io/, and a handler that echoes every message and records opens and closes.
#include "common/io_pool.hpp"
#include "engineio/server.hpp"
#include "httpd/server.hpp"
#include "integration/engineio/client.hpp"
#include "support/wait.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace pusher::test {
using engineio::disconnect_reason;

class echo_handler final : public engineio::handler {
  public:
    struct echo_session final : engineio::session_handler {
        echo_session(std::shared_ptr<engineio::session> s, echo_handler& h) : s_(std::move(s)), h_(h) {}
        void on_message(std::string_view text) override { s_->send(make_frame("4" + std::string(text))); }
        void on_binary(std::string_view bytes) override { s_->send_binary(make_frame(std::string(bytes))); }
        void on_close(disconnect_reason why) override {
            std::lock_guard lock(h_.mutex_);
            h_.closes_[std::string(s_->id())] = why;
            ++h_.close_calls_;
        }
        std::shared_ptr<engineio::session> s_;
        echo_handler& h_;
    };

    std::unique_ptr<engineio::session_handler> on_open(std::shared_ptr<engineio::session> const& s) override {
        std::lock_guard lock(mutex_);
        ++opens_;
        return std::make_unique<echo_session>(s, *this);
    }

    std::optional<disconnect_reason> close_reason(std::string const& sid) {
        std::lock_guard lock(mutex_);
        auto it = closes_.find(sid);
        return it == closes_.end() ? std::nullopt : std::optional(it->second);
    }
    int opens() {
        std::lock_guard lock(mutex_);
        return opens_;
    }
    int close_calls() {
        std::lock_guard lock(mutex_);
        return close_calls_;
    }

  private:
    std::mutex mutex_;
    std::map<std::string, disconnect_reason> closes_;
    int opens_ = 0;
    int close_calls_ = 0;
};

class EngineIoTest : public ::testing::Test {
  protected:
    static engineio::options quiet_options() {
        engineio::options o;
        o.ping_interval = 25s;  // no heartbeat traffic unless a test asks for it
        o.ping_timeout = 20s;
        o.max_payload = 100'000;
        return o;
    }

    void start(engineio::options o = quiet_options(), httpd::options h = {}) {
        pool_ = std::make_unique<io_pool>(2);
        h.host = "127.0.0.1";
        h.port = 0;
        http_ = std::make_unique<httpd::server>(*pool_, h);
        eio_ = std::make_shared<engineio::server>(std::move(o), handler_);
        http_->add_route("/engine.io/", eio_);
        port_ = http_->start().port;
        pool_->start();
    }

    void TearDown() override {
        if (!pool_) {
            return;
        }
        eio_->close_all(disconnect_reason::server_shutdown);
        EXPECT_TRUE(wait_until([&] { return eio_->session_count() == 0; }));
        http_->stop();
        pool_->stop();
        http_.reset();
        eio_.reset();
        pool_.reset();
    }

    // Polling handshake: returns the sid (and checks the open packet's shape).
    std::string handshake(http_client& c) {
        auto r = c.get("/engine.io/?EIO=4&transport=polling");
        EXPECT_EQ(r.status, 200u);
        if (r.status != 200 || r.body.empty() || r.body[0] != '0') {
            ADD_FAILURE() << "bad handshake: " << r.body;
            return {};
        }
        auto v = boost::json::parse(r.body.substr(1));
        return std::string(v.as_object().at("sid").as_string());
    }

    std::string path(std::string const& query) const { return "/engine.io/?" + query; }
    std::string polling(std::string const& sid) const { return path("EIO=4&transport=polling&sid=" + sid); }
    std::string ws_target(std::string const& sid = {}) const {
        return sid.empty() ? path("EIO=4&transport=websocket") : path("EIO=4&transport=websocket&sid=" + sid);
    }

    // Opens a websocket session: returns the sid from its open packet.
    std::string ws_open(ws_client& ws) {
        EXPECT_TRUE(ws.ok()) << ws.handshake_error.message();
        auto m = ws.read();
        if (!m || m->data.empty() || m->data[0] != '0') {
            ADD_FAILURE() << "no open packet";
            return {};
        }
        auto v = boost::json::parse(m->data.substr(1));
        return std::string(v.as_object().at("sid").as_string());
    }

    echo_handler handler_;
    std::unique_ptr<io_pool> pool_;
    std::unique_ptr<httpd::server> http_;
    std::shared_ptr<engineio::server> eio_;
    std::uint16_t port_ = 0;
};
}  // namespace pusher::test
