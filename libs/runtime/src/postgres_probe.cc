#include "runtime/postgres_probe.h"

#include "observability/metrics.h"
#include "pg/connection.h"

namespace sa::runtime {

streamadmin::control::v1::Dependency ProbePostgres(const std::string& name, const std::string& dsn) {
  streamadmin::control::v1::Dependency d;
  d.set_name(name);
  // connect_timeout bounds the probe; a dsn without it would wait for the OS.
  switch (pg::Ping(dsn, /*connect_timeout_s=*/2)) {
    case pg::PingResult::kOk:
      d.set_healthy(true);
      d.set_detail("accepting connections");
      break;
    case pg::PingResult::kRejected:
      d.set_detail("server is up but rejecting connections (starting up or shutting down)");
      break;
    case pg::PingResult::kNoResponse:
      d.set_detail("no response");
      break;
    case pg::PingResult::kBadConninfo:
      d.set_detail("invalid connection string");
      break;
  }
  return d;
}

PostgresProbes::PostgresProbes(std::vector<Target> targets, absl::Duration interval)
    : targets_(std::move(targets)), interval_(interval) {
  auto& registry = obs::MetricsRegistry::Default();
  for (const auto& t : targets_) {
    probes_total_.push_back(&registry.GetCounter("streamadmin_runtime_postgres_probes_total",
                                                 "PQping probes of a PostgreSQL dependency (background, per interval)",
                                                 {{"dependency", t.name}}));
    streamadmin::control::v1::Dependency d;
    d.set_name(t.name);
    d.set_detail("not probed yet");
    results_.push_back(std::move(d));
  }
  if (!targets_.empty()) thread_ = std::thread([this] { Loop(); });
}

PostgresProbes::~PostgresProbes() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<streamadmin::control::v1::Dependency> PostgresProbes::Results() const {
  std::lock_guard lock(mu_);
  return results_;
}

void PostgresProbes::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    for (size_t i = 0; i < targets_.size(); ++i) {
      auto d = ProbePostgres(targets_[i].name, targets_[i].dsn);
      probes_total_[i]->Inc();
      std::lock_guard results_lock(mu_);
      results_[i] = std::move(d);
    }
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoNanoseconds(interval_), [this] { return stop_; });
  }
}

}  // namespace sa::runtime
