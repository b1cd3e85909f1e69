#include "runtime/nats_service_app.h"

#include "runtime/postgres_probe.h"

namespace sa::runtime {

absl::Status NatsServiceApp::Start() {
  std::vector<PostgresProbes::Target> targets;
  for (const auto& pg : postgres_) targets.push_back({pg.name, pg.dsn});
  postgres_probes_ = std::make_unique<PostgresProbes>(std::move(targets));
  auto client = NatsClient::Start(nats_config_, streams_);
  if (!client.ok()) return client.status();
  nats_ = std::move(*client);
  return OnStart();
}

void NatsServiceApp::Stop() {
  OnStop();
  (void)StopConsuming(absl::ZeroDuration());
  publisher_.reset();  // cancels what it still holds: the window ignores it
  window_.reset();
  {
    std::lock_guard lock(loop_mu_);
    loop_.reset();
  }
  nats_.reset();
  // postgres_probes_ lives on with the application: /readyz may still be asked.
}

absl::Status NatsServiceApp::Pause() {
  std::lock_guard lock(loop_mu_);
  if (!loop_) return Application::Pause();  // nothing to pause: UNIMPLEMENTED
  loop_->SetPaused(true);
  return absl::OkStatus();
}

absl::Status NatsServiceApp::Resume() {
  std::lock_guard lock(loop_mu_);
  if (!loop_) return Application::Resume();
  loop_->SetPaused(false);
  return absl::OkStatus();
}

std::vector<streamadmin::control::v1::Dependency> NatsServiceApp::Dependencies() {
  std::vector<streamadmin::control::v1::Dependency> deps;
  if (nats_) deps.push_back(nats_->Health());
  {
    std::lock_guard lock(loop_mu_);
    if (loop_) deps.push_back(loop_->Health());
  }
  if (postgres_probes_) {
    for (auto& d : postgres_probes_->Results()) deps.push_back(std::move(d));
  }
  return deps;
}

absl::Status NatsServiceApp::StartConsuming(ConsumerLoop::Options loop, ConsumerLoop::Handler handler,
                                            AckWindow::Options window) {
  auto publisher = bus::JetStreamPublisher::Create(nats().connection());
  if (!publisher.ok()) return publisher.status();
  publisher_ = std::move(*publisher);
  window_ = std::make_unique<AckWindow>(window);
  loop.acks = window.acks;
  std::lock_guard lock(loop_mu_);
  loop_ = std::make_unique<ConsumerLoop>(nats(), std::move(loop), std::move(handler));
  loop_->Start();
  return absl::OkStatus();
}

absl::Status NatsServiceApp::StopConsuming(absl::Duration timeout) {
  {
    std::lock_guard lock(loop_mu_);
    if (!loop_) return absl::OkStatus();
  }
  loop_->Stop();  // loop_ changes only on the main thread (Start, Stop)
  return window_->Drain(timeout);
}

}  // namespace sa::runtime
