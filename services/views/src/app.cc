#include "views_service/app.h"

#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"
#include "streamadmin/views/v1/views.grpc.pb.h"
#include "views/definition.h"
#include "views_service/coordinator.h"

namespace sa::views_service {

namespace cfg = streamadmin::config::v1;
namespace vpb = streamadmin::views::v1;

namespace {

cfg::StreamConfig ViewsStream() {
  cfg::StreamConfig s;
  s.set_name(views::kOutputStream);
  s.add_subjects(views::kOutputSubjects);
  s.set_storage("file");
  s.set_max_age_s(7 * 24 * 3600);
  // A replay after a crash re-publishes what followed the last checkpoint
  // with the same ids: the window must outlast the longest outage.
  s.set_duplicate_window_s(3600);
  return s;
}

std::string DefaultReplica() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return absl::StrCat("views-", getpid());
  return absl::StrCat(host, "-", getpid());
}

bool ValidReplica(const std::string& r) {
  if (r.empty() || r.size() > 128) return false;
  for (char c : r)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace

cfg::ViewsConfig DefaultConfig() {
  cfg::ViewsConfig c;
  runtime::SetCommonDefaults(7107, 9107, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("views");
  *c.add_streams() = ViewsStream();
  *c.add_streams() = runtime::DlqStream();
  c.set_lease_ttl_ms(5000);
  c.set_checkpoint_interval_ms(1000);
  c.set_memory_limit_bytes(64u << 20);
  c.set_max_views(100);
  c.set_fetch_batch(256);
  c.set_definitions_bucket(views::kDefinitionsBucket);
  c.set_leases_bucket(views::kLeasesBucket);
  c.set_checkpoints_bucket(views::kCheckpointsBucket);
  c.set_status_bucket(views::kStatusBucket);
  c.set_md_stream("MD");
  c.set_cdc_stream("CDC");
  c.set_anomaly_stream("ANOMALY");
  return c;
}

absl::Status ValidateConfig(const cfg::ViewsConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (!c.replica().empty() && !ValidReplica(c.replica()))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'replica': '", c.replica().substr(0, 64), "' must be 1-128 printable characters, no spaces"));
  if (c.lease_ttl_ms() < 1000 || c.lease_ttl_ms() > 600000)
    return absl::InvalidArgumentError(absl::StrCat("key 'lease_ttl_ms': ", c.lease_ttl_ms(), " must be 1000..600000"));
  if (c.checkpoint_interval_ms() < 10 || c.checkpoint_interval_ms() > 600000)
    return absl::InvalidArgumentError(
        absl::StrCat("key 'checkpoint_interval_ms': ", c.checkpoint_interval_ms(), " must be 10..600000"));
  if (c.memory_limit_bytes() < (1u << 20))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'memory_limit_bytes': ", c.memory_limit_bytes(), " must be at least 1048576 (1 MiB)"));
  if (c.max_views() == 0 || c.max_views() > 10000)
    return absl::InvalidArgumentError(absl::StrCat("key 'max_views': ", c.max_views(), " must be 1..10000"));
  if (c.fetch_batch() > 10000)
    return absl::InvalidArgumentError(
        absl::StrCat("key 'fetch_batch': ", c.fetch_batch(), " must be 1..10000 (0: the default, 256)"));
  const std::pair<const char*, const std::string*> names[] = {{"definitions_bucket", &c.definitions_bucket()},
                                                              {"leases_bucket", &c.leases_bucket()},
                                                              {"checkpoints_bucket", &c.checkpoints_bucket()},
                                                              {"status_bucket", &c.status_bucket()},
                                                              {"md_stream", &c.md_stream()},
                                                              {"cdc_stream", &c.cdc_stream()},
                                                              {"anomaly_stream", &c.anomaly_stream()}};
  for (const auto& [key, value] : names) {
    if (value->empty() || value->find_first_not_of(
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, "': '", value->substr(0, 64), "' must be a non-empty name of A-Z a-z 0-9 _ -"));
  }
  return runtime::ValidateStreams(c.streams());
}

namespace {

class ViewsApp final : public runtime::NatsServiceApp, public vpb::ViewsReplica::Service {
 public:
  explicit ViewsApp(const cfg::ViewsConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}), config_(c) {}

  absl::Status OnStart() override {
    CoordinatorOptions o;
    o.replica = config_.replica().empty() ? DefaultReplica() : config_.replica();
    o.lease_ttl = absl::Milliseconds(config_.lease_ttl_ms());
    o.max_views = config_.max_views();
    o.definitions_bucket = config_.definitions_bucket();
    o.leases_bucket = config_.leases_bucket();
    o.checkpoints_bucket = config_.checkpoints_bucket();
    o.status_bucket = config_.status_bucket();
    o.runner.sources = {config_.md_stream(), config_.cdc_stream(), config_.anomaly_stream()};
    o.runner.checkpoint_interval = absl::Milliseconds(config_.checkpoint_interval_ms());
    o.runner.default_memory_limit = config_.memory_limit_bytes();
    o.runner.fetch_batch = config_.fetch_batch() ? static_cast<int>(config_.fetch_batch()) : 256;
    replica_ = o.replica;
    coordinator_ = std::make_unique<Coordinator>(nats().connection(), std::move(o));
    coordinator_->Start();
    return absl::OkStatus();
  }

  absl::Status Pause() override {
    if (coordinator_) coordinator_->SetPaused(true);
    return absl::OkStatus();
  }
  absl::Status Resume() override {
    if (coordinator_) coordinator_->SetPaused(false);
    return absl::OkStatus();
  }
  // Hands the views over: each runner checkpoints, the leases are released,
  // another replica continues at once.
  absl::Status Drain(absl::Duration) override {
    if (coordinator_) coordinator_->Stop(true);
    return absl::OkStatus();
  }
  void OnStop() override {
    if (coordinator_) coordinator_->Stop(true);
    coordinator_.reset();
  }

  std::vector<streamadmin::control::v1::Dependency> Dependencies() override {
    auto deps = NatsServiceApp::Dependencies();
    streamadmin::control::v1::Dependency d;
    d.set_name("view-definitions");
    d.set_healthy(coordinator_ && coordinator_->healthy());
    d.set_detail(d.healthy() ? absl::StrCat("watching ", config_.definitions_bucket())
                             : absl::StrCat("not watching ", config_.definitions_bucket(), " yet"));
    deps.push_back(d);
    return deps;
  }

  std::map<std::string, std::string> Details() override {
    std::map<std::string, std::string> d;
    d["replica"] = replica_;
    if (coordinator_) {
      auto running = coordinator_->Running();
      d["views_running"] = std::to_string(running.size());
      d["views_defined"] = std::to_string(coordinator_->definitions());
      size_t stopped = 0;
      for (const auto& s : running) stopped += s.state() == vpb::VIEW_STATE_STOPPED;
      d["views_stopped"] = std::to_string(stopped);
    }
    return d;
  }

  std::vector<grpc::Service*> GrpcServices() override { return {this}; }

  grpc::Status ListRunning(grpc::ServerContext*, const vpb::ListRunningRequest*,
                           vpb::ListRunningResponse* out) override {
    if (coordinator_)
      for (auto& s : coordinator_->Running()) *out->add_views() = std::move(s);
    return grpc::Status::OK;
  }

 private:
  const cfg::ViewsConfig config_;
  std::string replica_;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::ViewsConfig& c) {
  return std::make_unique<ViewsApp>(c);
}

}  // namespace sa::views_service
