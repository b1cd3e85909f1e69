#include "runtime/nats_service_app.h"

#include "runtime/postgres_probe.h"

namespace sa::runtime {

absl::Status NatsServiceApp::Start() {
  auto client = NatsClient::Start(nats_config_, streams_);
  if (!client.ok()) return client.status();
  nats_ = std::move(*client);
  return OnStart();
}

void NatsServiceApp::Stop() {
  OnStop();
  nats_.reset();
}

std::vector<streamadmin::control::v1::Dependency> NatsServiceApp::Dependencies() {
  std::vector<streamadmin::control::v1::Dependency> deps;
  if (nats_) deps.push_back(nats_->Health());
  for (const auto& pg : postgres_) deps.push_back(ProbePostgres(pg.name, pg.dsn));
  return deps;
}

}  // namespace sa::runtime
