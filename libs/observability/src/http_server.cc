#include "observability/http_server.h"

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "observability/metrics.h"

namespace sa::obs {

absl::StatusOr<std::pair<std::string, int>> ParseHostPort(const std::string& listen) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("listen address '", listen,
                                                   "' is not host:port with a port in 0..65535"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, port);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                               ReadinessFn readiness,
                                                               MetricsRegistry* registry) {
  auto hp = ParseHostPort(listen);
  if (!hp.ok()) return hp.status();
  if (!registry) registry = &MetricsRegistry::Default();
  std::unique_ptr<HttpServer> self(new HttpServer());
  self->server_ = std::make_unique<httplib::Server>();
  auto& srv = *self->server_;
  srv.Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->RenderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  srv.Get("/readyz", [readiness](const httplib::Request&, httplib::Response& res) {
    absl::Status st = readiness ? readiness() : absl::OkStatus();
    if (st.ok()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(absl::StrCat("not ready: ", st.message(), "\n"), "text/plain");
    }
  });
  const auto& [host, port] = *hp;
  int bound = port == 0 ? srv.bind_to_any_port(host.c_str()) : (srv.bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("HTTP server cannot listen on ", listen,
                                               " (address in use or not local?)"));
  }
  self->port_ = bound;
  self->thread_ = std::thread([s = self->server_.get()] { s->listen_after_bind(); });
  return self;
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace sa::obs
