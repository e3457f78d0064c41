// Temporary stub so that dependants link while the implementation lands.
#include "engineio/server.hpp"

namespace pusher::engineio {
class engine {
  public:
    engine(options o, handler& h) : opts(std::move(o)), h_(&h) {}
    options opts;
    counters stats;
    handler* h_;
};

server::server(options opts, handler& h) : engine_(std::make_shared<engine>(std::move(opts), h)) {}
server::~server() = default;
std::size_t server::body_limit() const {
    return engine_->opts.max_payload;
}
void server::handle(httpd::request, httpd::reply rep) {
    rep.send(httpd::response::text(503, "not yet\n"));
}
void server::close_all(disconnect_reason) {}
std::size_t server::session_count() const {
    return 0;
}
std::shared_ptr<session> server::find(std::string_view) const {
    return nullptr;
}
counters const& server::stats() const {
    return engine_->stats;
}
options const& server::opts() const {
    return engine_->opts;
}
}  // namespace pusher::engineio
