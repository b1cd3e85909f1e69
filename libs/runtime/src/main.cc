#include "runtime/main.h"

#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "auth/enforcer.h"
#include "common/clock.h"
#include "common/version.h"
#include "config/loader.h"
#include "observability/grpc_server.h"
#include "observability/http_server.h"
#include "observability/logging.h"
#include "observability/metrics.h"

namespace sa::runtime {

namespace ctl = streamadmin::control::v1;
namespace cfg = streamadmin::config::v1;

void SetCommonDefaults(int grpc_port, int http_port, cfg::ServerConfig* server, cfg::LogConfig* log,
                       cfg::NatsConfig* nats) {
  server->set_grpc_listen(absl::StrCat("0.0.0.0:", grpc_port));
  server->set_http_listen(absl::StrCat("0.0.0.0:", http_port));
  server->set_shutdown_grace_s(20);
  log->set_level("info");
  log->set_format("json");
  if (nats) {
    nats->add_servers("nats://127.0.0.1:4222");
    nats->set_connect_timeout_ms(2000);
    nats->set_reconnect_wait_ms(100);
    nats->set_reconnect_max_wait_ms(5000);
    nats->set_reconnect_jitter_ms(100);
    nats->set_reconnect_buffer_bytes(8 << 20);
    nats->set_max_pending_acks(4096);
    nats->set_ack_timeout_ms(5000);
  }
}

absl::Status ValidateCommon(const cfg::ServerConfig& server, const cfg::NatsConfig* nats) {
  if (auto hp = obs::ParseHostPort(server.grpc_listen()); !hp.ok())
    return absl::InvalidArgumentError(absl::StrCat("key 'server.grpc_listen': ", hp.status().message()));
  if (auto hp = obs::ParseHostPort(server.http_listen()); !hp.ok())
    return absl::InvalidArgumentError(absl::StrCat("key 'server.http_listen': ", hp.status().message()));
  if (nats) {
    if (nats->servers().empty()) return absl::InvalidArgumentError("key 'nats.servers': at least one server is needed");
    for (const auto& s : nats->servers()) {
      if (s.rfind("nats://", 0) != 0 && s.rfind("tls://", 0) != 0)
        return absl::InvalidArgumentError(absl::StrCat("key 'nats.servers': '", s, "' is not a nats:// or tls:// URL"));
    }
    if (nats->max_pending_acks() == 0)
      return absl::InvalidArgumentError("key 'nats.max_pending_acks': must be at least 1");
  }
  const auto& a = server.auth();
  if (!a.mode().empty() && a.mode() != "none" && a.mode() != "token")
    return absl::InvalidArgumentError(absl::StrCat("key 'server.auth.mode': '", a.mode(), "' is not none or token"));
  if (a.mode() == "token" && a.public_key().empty() && a.public_key_file().empty())
    return absl::InvalidArgumentError("key 'server.auth.public_key': required when server.auth.mode is token");
  const auto& t = server.tls();
  if (t.enabled() && (t.cert_file().empty() || t.key_file().empty()))
    return absl::InvalidArgumentError("key 'server.tls': enabled needs cert_file and key_file");
  if (t.require_client_cert() && t.client_ca_file().empty())
    return absl::InvalidArgumentError("key 'server.tls.client_ca_file': required by require_client_cert");
  return absl::OkStatus();
}

namespace internal {
namespace {

const char* StateName(ctl::ServingState s) { return ctl::ServingState_Name(s).c_str(); }

// How long past its timeout a Drain call waits for the application's own
// answer (which names what is unfinished) before giving the generic one.
constexpr absl::Duration kDrainAnswerGrace = absl::Milliseconds(250);

// Owns the running service: state machine, control plane, signals.
class ServiceHost final : public obs::ControlHandler {
 public:
  ServiceHost(ErasedDefinition def, std::unique_ptr<Application> app)
      : def_(std::move(def)), app_(std::move(app)), started_us_(NowUnixMicros()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    instance_ = def_.server().instance().empty() ? absl::StrCat(host, ":", getpid()) : def_.server().instance();
    state_gauge_ = &obs::MetricsRegistry::Default().GetGauge(
        "streamadmin_service_state", "Serving state (control.v1.ServingState number)", {{"service", def_.name}});
    obs::MetricsRegistry::Default()
        .GetGauge("streamadmin_service_start_time_seconds", "Unix time the service started", {{"service", def_.name}})
        .Set(static_cast<double>(started_us_) / 1e6);
    SetState(ctl::SERVING_STATE_STARTING);
  }

  absl::Status Run(const sigset_t& signals) {
    auto http = obs::HttpServer::Start(def_.server().http_listen(), [this] { return Readiness(); });
    if (!http.ok()) return http.status();
    auto enforcer = auth::Enforcer::Create(def_.server(), def_.nats(), def_.name);
    if (!enforcer.ok()) return enforcer.status();
    app_->AttachEnforcer(enforcer->get());
    obs::GrpcServer::Options opts;
    opts.listen = def_.server().grpc_listen();
    opts.service_name = def_.name;
    opts.control = this;
    opts.services = app_->GrpcServices();
    opts.interceptors = app_->GrpcInterceptors();
    // Every mutating call that reaches a handler is audited (auth/enforcer.h).
    opts.interceptors.push_back((*enforcer)->MakeCallAuditInterceptorFactory());
    opts.credentials = (*enforcer)->Credentials();
    if (def_.server().tls().enabled() && !opts.credentials)
      return absl::InvalidArgumentError("server.tls: cannot load the certificate or key");
    if ((*enforcer)->enabled()) spdlog::info("gRPC auth: token (health and reflection open)");
    auto grpc = obs::GrpcServer::Start(std::move(opts));
    if (!grpc.ok()) return grpc.status();
    grpc_ = grpc->get();

    if (auto st = app_->Start(); !st.ok()) {
      (*grpc)->Shutdown(absl::Seconds(1));
      return absl::Status(st.code(), absl::StrCat("start failed: ", st.message()));
    }
    SetState(ctl::SERVING_STATE_RUNNING);
    (*grpc)->SetServing(true);
    spdlog::info("{} {} serving: grpc port {}, http port {} (/metrics /healthz /readyz), instance {}", def_.name,
                 kVersion, (*grpc)->port(), (*http)->port(), instance_);

    int sig = 0;
    sigwait(&signals, &sig);
    const absl::Duration grace = absl::Seconds(def_.server().shutdown_grace_s());
    spdlog::info("signal {} received: draining (grace {})", strsignal(sig), absl::FormatDuration(grace));
    (*grpc)->SetServing(false);
    {
      std::lock_guard lock(mu_);
      if (!drain_.valid()) StartDrainLocked(grace);
      // Stop() must not run beside Drain: a drain past the grace is waited
      // out (the orchestrator's kill is the bound then).
      if (drain_.wait_for(absl::ToChronoNanoseconds(grace + kDrainAnswerGrace)) != std::future_status::ready)
        spdlog::error("drain still running after the grace of {}; waiting for it before stopping",
                      absl::FormatDuration(grace));
      drain_.wait();
      SetState(ctl::SERVING_STATE_STOPPING);
    }
    (*grpc)->Shutdown(absl::Seconds(2));
    grpc_ = nullptr;
    app_->Stop();
    (*http)->Stop();
    spdlog::info("{} stopped", def_.name);
    return absl::OkStatus();
  }

  // ControlHandler
  ctl::GetStatusResponse Status() override {
    ctl::GetStatusResponse r;
    r.set_service(def_.name);
    r.set_version(kVersion);
    r.set_instance(instance_);
    r.set_state(state_.load());
    r.set_started_at_us(started_us_);
    r.set_uptime_s((NowUnixMicros() - started_us_) / 1000000);
    for (auto& d : app_->Dependencies()) *r.add_dependencies() = std::move(d);
    for (auto& [k, v] : app_->Details()) (*r.mutable_details())[k] = v;
    return r;
  }
  std::string EffectiveConfigJson() override { return config::ToRedactedJson(*def_.config); }

  absl::StatusOr<ctl::ServingState> Pause() override {
    return Toggle(ctl::SERVING_STATE_RUNNING, ctl::SERVING_STATE_PAUSED, &Application::Pause, "pause", "paused");
  }
  absl::StatusOr<ctl::ServingState> Resume() override {
    return Toggle(ctl::SERVING_STATE_PAUSED, ctl::SERVING_STATE_RUNNING, &Application::Resume, "resume", "resumed");
  }
  // Answers by `timeout` (+ kDrainAnswerGrace) whatever the application
  // does: a drain still running then is DEADLINE_EXCEEDED and the state stays
  // DRAINING; calling Drain again waits for the same drain.
  absl::StatusOr<ctl::ServingState> Drain(absl::Duration timeout) override {
    std::lock_guard lock(mu_);
    if (timeout == absl::ZeroDuration()) timeout = absl::Seconds(def_.server().shutdown_grace_s());
    if (!drain_.valid()) {
      if (state_ != ctl::SERVING_STATE_RUNNING && state_ != ctl::SERVING_STATE_PAUSED)
        return absl::FailedPreconditionError(absl::StrCat("cannot drain while ", StateName(state_)));
      StartDrainLocked(timeout);
    }
    if (drain_.wait_for(absl::ToChronoNanoseconds(timeout + kDrainAnswerGrace)) != std::future_status::ready)
      return absl::DeadlineExceededError(absl::StrCat("drain did not finish within ", absl::FormatDuration(timeout),
                                                      "; in-flight work is still finishing (state DRAINING): call "
                                                      "Drain again to wait longer, or stop the process"));
    if (absl::Status st = drain_.get(); !st.ok()) return st;
    return state_.load();
  }

 private:
  // Pause and Resume: from `from` to `to` through the application's `step`;
  // already at `to` is a no-op, any other state is FAILED_PRECONDITION.
  absl::StatusOr<ctl::ServingState> Toggle(ctl::ServingState from, ctl::ServingState to,
                                           absl::Status (Application::*step)(), const char* verb, const char* done) {
    std::lock_guard lock(mu_);
    if (state_ == to) return state_.load();
    if (state_ != from)
      return absl::FailedPreconditionError(absl::StrCat("cannot ", verb, " while ", StateName(state_)));
    if (auto st = ((*app_).*step)(); !st.ok()) return st;
    SetState(to);
    spdlog::info("{}", done);
    return state_.load();
  }
  absl::Status Readiness() {
    ctl::ServingState s = state_.load();
    if (s != ctl::SERVING_STATE_RUNNING)
      return absl::UnavailableError(absl::StrCat("state ", StateName(s)));
    for (const auto& d : app_->Dependencies()) {
      if (!d.healthy()) return absl::UnavailableError(absl::StrCat(d.name(), ": ", d.detail()));
    }
    return absl::OkStatus();
  }
  void SetState(ctl::ServingState s) {
    state_ = s;
    state_gauge_->Set(s);
  }
  // mu_ held. The application drains on its own thread, so that a caller is
  // answered at its timeout even when the application overruns it; the
  // thread sets DRAINED when the application returns.
  void StartDrainLocked(absl::Duration timeout) {
    SetState(ctl::SERVING_STATE_DRAINING);
    if (grpc_) grpc_->SetServing(false);
    drain_ = std::async(std::launch::async, [this, timeout] {
               absl::Status st = app_->Drain(timeout);
               if (st.ok()) {
                 spdlog::info("drained");
               } else {
                 spdlog::error("drain incomplete: {}", std::string(st.message()));
               }
               SetState(ctl::SERVING_STATE_DRAINED);
               return st;
             }).share();
  }

  ErasedDefinition def_;
  std::unique_ptr<Application> app_;
  int64_t started_us_;
  std::string instance_;
  std::mutex mu_;  // serialises state transitions
  std::shared_future<absl::Status> drain_;  // the application's Drain, once started (mu_)
  std::atomic<ctl::ServingState> state_{ctl::SERVING_STATE_UNSPECIFIED};
  obs::Gauge* state_gauge_;
  obs::GrpcServer* grpc_ = nullptr;
};

}  // namespace

int RunMain(int argc, char** argv, ErasedDefinition def) {
  CLI::App cli{absl::StrCat("Stream-Admin ", def.name, " service")};
  std::string config_path;
  bool print_config = false, check_config = false, version = false;
  cli.add_option("-c,--config", config_path, "YAML config file")->envname("STREAM_ADMIN_CONFIG");
  cli.add_flag("--print-config", print_config, "print the effective config (secrets redacted) and exit");
  cli.add_flag("--check-config", check_config, "validate the config and exit");
  cli.add_flag("--version", version, "print the version and exit");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return cli.exit(e);
  }
  if (version) {
    std::printf("%s %s\n", def.name.c_str(), kVersion);
    return 0;
  }

  auto fail = [&](const absl::Status& st) {
    std::fprintf(stderr, "%s: %s\n", def.name.c_str(), std::string(st.message()).c_str());
    return 2;
  };
  if (!config_path.empty()) {
    if (auto st = config::MergeYamlFile(config_path, def.config); !st.ok()) return fail(st);
  }
  if (auto st = config::ApplyEnvironment(config::ProcessEnvironment(), def.config, {"STREAM_ADMIN_CONFIG"});
      !st.ok())
    return fail(st);
  if (auto st = def.finalize(); !st.ok()) return fail(st);
  if (auto st = def.validate(); !st.ok()) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("config ", config_path.empty() ? "<defaults+environment>" : config_path, ": ", st.message())));
  }
  if (print_config) {
    std::cout << config::ToRedactedYaml(*def.config);
    return 0;
  }
  if (check_config) {
    std::printf("%s: config ok\n", def.name.c_str());
    return 0;
  }
  if (auto st = obs::InitLogging(def.name, def.log().level(), def.log().format()); !st.ok()) return fail(st);

  // Block the shutdown signals in every thread; the main thread takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto app = def.create();
  if (!app.ok()) {
    spdlog::critical("cannot create {}: {}", def.name, std::string(app.status().message()));
    return 1;
  }
  ServiceHost host(std::move(def), std::move(*app));
  if (auto st = host.Run(signals); !st.ok()) {
    spdlog::critical("{}", std::string(st.message()));
    return 1;
  }
  return 0;
}

}  // namespace internal
}  // namespace sa::runtime
