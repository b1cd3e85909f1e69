#include "admin/app.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "admin/ask.h"
#include "admin/query.h"
#include "admin/services.h"
#include "admin/store.h"
#include "admin/views_admin.h"
#include "auth/crypto.h"
#include "auth/enforcer.h"
#include "common/clock.h"
#include "observability/grpc_server.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"

namespace sa::admin {

namespace cfg = streamadmin::config::v1;

cfg::AdminConfig DefaultConfig() {
  cfg::AdminConfig c;
  runtime::SetCommonDefaults(7105, 9105, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("admin");
  c.mutable_database()->set_dsn("host=127.0.0.1 port=5432 dbname=postgres user=postgres");
  c.mutable_auth()->set_access_token_ttl_s(300);
  c.mutable_auth()->set_refresh_token_ttl_s(86400);
  c.mutable_auth()->set_lockout_threshold(20);
  c.mutable_auth()->set_lockout_s(900);
  c.mutable_auth()->set_slowdown_after(5);
  c.mutable_auth()->set_slowdown_step_ms(50);
  c.mutable_auth()->set_bootstrap_user("admin");
  c.mutable_nats_jwt()->set_user_jwt_ttl_s(86400);
  c.mutable_nats_jwt()->set_max_user_jwt_ttl_s(86400);
  c.set_database_pool_size(4);
  c.mutable_query()->set_role("sa_query");
  c.mutable_query()->set_pool_size(4);
  c.mutable_query()->set_statement_timeout_ms(30000);
  c.mutable_query()->set_max_rows(10000);
  c.mutable_query()->set_catalog_refresh_s(30);
  return c;
}

absl::Status FinalizeConfig(cfg::AdminConfig* c) {
  // The admin verifies its own tokens: its public key follows from its signing key.
  if (c->server().auth().mode() == "token" && c->server().auth().public_key().empty() &&
      c->server().auth().public_key_file().empty()) {
    auto o = OptionsFromConfig(*c);
    if (!o.ok()) return o.status();
    if (!o->signing_secret_key.empty())
      c->mutable_server()->mutable_auth()->set_public_key(auth::Base64(o->signing_secret_key.substr(32)));
  }
  return absl::OkStatus();
}

absl::Status ValidateConfig(const cfg::AdminConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (c.database().dsn().empty()) return absl::InvalidArgumentError("key 'database.dsn': required");
  auto o = OptionsFromConfig(c);
  if (!o.ok()) return o.status();
  if (c.server().auth().mode() == "token" && o->signing_secret_key.empty())
    return absl::InvalidArgumentError("key 'auth.signing_key': required when server.auth.mode is token");
  if (c.auth().lockout_threshold() == 0) return absl::InvalidArgumentError("key 'auth.lockout_threshold': at least 1");
  if (c.database_pool_size() > 64) return absl::InvalidArgumentError("key 'database_pool_size': at most 64");
  auto q = QueryOptionsFromConfig(c.query());
  if (!q.ok()) return q.status();
  if (c.query().pool_size() > 64) return absl::InvalidArgumentError("key 'query.pool_size': at most 64");
  if (c.query().max_rows() > 10000000) return absl::InvalidArgumentError("key 'query.max_rows': at most 10000000");
  if (auto a = AskOptionsFromConfig(c.ask()); !a.ok()) return a.status();
  return absl::OkStatus();
}

namespace {

class AdminApp final : public runtime::NatsServiceApp {
 public:
  AdminApp(const cfg::AdminConfig& c, AdminOptions options, QueryOptions query, AskOptions ask)
      : NatsServiceApp(c.nats(), {}, {{"database", c.database().dsn()}}),
        config_(c),
        store_(c.database().dsn(), c.database_pool_size() ? static_cast<int>(c.database_pool_size()) : 4),
        core_(&store_, std::move(options),
              [this](const std::string& subject, const std::string& data) {
                return started_ ? nats().connection().Publish(subject, data)
                                : absl::UnavailableError("NATS not started");
              }),
        services_(&core_),
        query_engine_(std::move(query)),
        query_service_(MakeQueryService(&core_, &query_engine_, ask)),
        views_(&core_, &query_engine_,
               [this]() -> bus::Connection* { return started_ ? &nats().connection() : nullptr; }) {}

  std::vector<grpc::Service*> GrpcServices() override {
    auto s = services_.services();
    s.push_back(query_service_.get());
    s.push_back(views_.service());
    return s;
  }
  // Runs before the gRPC server starts: the stored revocations are in force
  // before the first call is served (when the database is reachable; else the
  // republish loop loads them as soon as it is).
  void AttachEnforcer(auth::Enforcer* enforcer) override {
    core_.SetEnforcer(enforcer);
    enforcer->SetDenialListener([this](const auth::Denial& d) { RecordDenial(d); });
    enforcer->SetCallListener([this](const auth::CallRecord& r) { core_.RecordCall(r); });
    LoadRevocations();
  }

  // Pause stops the admin's background work: republishing revocations,
  // pruning login failures, synchronising view definitions (in-flight rounds
  // finish first). The API, the audit log and the loading of stored
  // revocations (this process's own enforcement) go on: they answer callers,
  // they are not input the admin processes.
  absl::Status Pause() override {
    paused_ = true;
    // Waits out a round in progress (a slow database can hold one; then the
    // admin stays RUNNING rather than report a pause that has not happened).
    if (!round_mu_.try_lock_for(std::chrono::seconds(4))) {
      paused_ = false;
      return absl::DeadlineExceededError("not paused: a background round (revocations or views) is still running");
    }
    round_mu_.unlock();
    return absl::OkStatus();
  }
  absl::Status Resume() override {
    paused_ = false;
    return absl::OkStatus();
  }

 protected:
  absl::Status OnStart() override {
    started_ = true;
    if (auto st = store_.Connect(); !st.ok())
      spdlog::warn("admin database not reachable yet (calls fail with UNAVAILABLE until it is): {}",
                   std::string(st.message()));
    const auto& a = config_.auth();
    if (!a.bootstrap_password().empty()) {
      auto created = core_.Bootstrap(a.bootstrap_user(), a.bootstrap_password());
      if (!created.ok())
        return absl::Status(created.status().code(),
                            absl::StrCat("bootstrap administrator: ", created.status().message()));
      if (*created) spdlog::info("first administrator '{}' created", a.bootstrap_user());
    }
    // Denials on the other services arrive here for the audit log.
    auto sub = nats().connection().Subscribe(absl::StrCat(auth::kDenialSubjectPrefix, ">"),
                                             [this](const bus::InboundMessage& m) { OnRemoteDenial(m.data); });
    if (!sub.ok()) return sub.status();
    denial_sub_ = std::move(*sub);
    // So do the mutating calls of the other services.
    auto calls =
        nats().connection().Subscribe(absl::StrCat(auth::kCallSubjectPrefix, ">"),
                                      [this](const bus::InboundMessage& m) { OnRemoteCall(m.subject, m.data); });
    if (!calls.ok()) return calls.status();
    call_sub_ = std::move(*calls);
    republisher_ = std::thread([this] { RepublishLoop(); });
    view_sync_ = std::thread([this] { ViewSyncLoop(); });
    if (query_engine_.enabled()) {
      // The role and the catalog, off the start path (an unreachable warehouse
      // must not delay the admin); when it fails, the first query tries again.
      query_warmup_ = std::thread([this] {
        if (auto cat = query_engine_.FullCatalog(); !cat.ok())
          spdlog::warn("query: warehouse not ready yet (queries fail with its error until it is): {}",
                       std::string(cat.status().message()));
      });
    }
    return absl::OkStatus();
  }
  void OnStop() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (republisher_.joinable()) republisher_.join();
    if (view_sync_.joinable()) view_sync_.join();
    if (query_warmup_.joinable()) query_warmup_.join();
    denial_sub_.reset();
    call_sub_.reset();
  }

 private:
  void RecordDenial(const auth::Denial& d) {
    std::string detail = d.reason;
    if (!d.forwarded.empty()) absl::StrAppend(&detail, " [client-sent x-forwarded-for, unverified: ", d.forwarded, "]");
    core_.Audit(d.username.empty() ? "anonymous" : d.username, d.method, d.service, d.peer, obs::GrpcCodeName(d.code),
                detail);
  }
  // The service is the one the subject names (each service's NATS user may
  // publish on its own subject only), not what the message claims.
  void OnRemoteCall(const std::string& subject, const std::string& data) {
    auto r = auth::DecodeCallRecord(data);
    if (!r) return;
    r->service = subject.substr(std::string(auth::kCallSubjectPrefix).size());
    if (r->service == "admin") return;  // the admin records its own calls directly
    core_.RecordCall(*r);
  }
  void LoadRevocations() {
    auto st = core_.LoadRevocations();
    revocations_loaded_ = st.ok();
    if (!st.ok())
      spdlog::error("stored revocations not loaded yet (retried every 10 s): {}", std::string(st.message()));
  }
  void OnRemoteDenial(const std::string& data) {
    auto d = auth::DecodeDenial(data);
    if (!d) return;
    if (d->service.empty()) d->service = "?";
    RecordDenial(*d);
  }
  // Services that were disconnected when a revocation was published get it
  // within this period (tokens live access_token_ttl_s at most anyway).
  void RepublishLoop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(10), [this] { return stopping_; })) {
      lock.unlock();
      if (!revocations_loaded_) LoadRevocations();
      {
        std::lock_guard round(round_mu_);
        if (!paused_) {
          core_.RepublishRevocations();
          int64_t now = NowUnixMicros();
          // Names idle for a day forget their failures (users and unknown names alike).
          (void)store_.PruneLoginFailures(now - int64_t{86400} * 1000000, now);
        }
      }
      lock.lock();
    }
  }

  // View definitions into their bucket, owners' rights re-read (ViewsAdmin::Sync).
  void ViewSyncLoop() {
    std::unique_lock lock(mu_);
    bool failing = false;
    while (!cv_.wait_for(lock, std::chrono::seconds(3), [this] { return stopping_; })) {
      lock.unlock();
      {
        std::lock_guard round(round_mu_);
        if (!paused_) {
          absl::Status st = views_.Sync();
          if (!st.ok() && !failing) spdlog::warn("views: definitions not synchronised: {}", std::string(st.message()));
          if (st.ok() && failing) spdlog::info("views: definitions synchronised again");
          failing = !st.ok();
        }
      }
      lock.lock();
    }
  }

  cfg::AdminConfig config_;
  std::atomic<bool> started_{false};
  Store store_;
  AdminCore core_;
  AdminServices services_;
  QueryEngine query_engine_;
  std::unique_ptr<grpc::Service> query_service_;
  ViewsAdmin views_;
  std::thread view_sync_;
  std::thread query_warmup_;
  std::unique_ptr<bus::Subscription> denial_sub_;
  std::unique_ptr<bus::Subscription> call_sub_;
  std::atomic<bool> revocations_loaded_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread republisher_;
  std::atomic<bool> paused_{false};
  std::timed_mutex round_mu_;  // held by a background round (republish or view sync); Pause waits for it
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::AdminConfig& c) {
  auto o = OptionsFromConfig(c);
  if (!o.ok()) return o.status();
  auto q = QueryOptionsFromConfig(c.query());
  if (!q.ok()) return q.status();
  auto a = AskOptionsFromConfig(c.ask());
  if (!a.ok()) return a.status();
  return std::make_unique<AdminApp>(c, std::move(*o), std::move(*q), std::move(*a));
}

}  // namespace sa::admin
