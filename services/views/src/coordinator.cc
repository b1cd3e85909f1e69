#include "views_service/coordinator.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "observability/metrics.h"
#include "views/definition.h"

namespace sa::views_service {

namespace vpb = streamadmin::views::v1;

namespace {

// A watcher is re-created this often even when healthy: a JetStream restart
// can end its subscription silently, and a fresh one re-reads every key (so
// a missed delete is noticed too).
constexpr absl::Duration kWatchRefresh = absl::Seconds(10);

struct Probe {
  static obs::MetricsRegistry& Reg() { return obs::MetricsRegistry::Default(); }
  obs::Gauge& running = Reg().GetGauge("streamadmin_views_running", "Views this replica runs now");
  obs::Gauge& definitions = Reg().GetGauge("streamadmin_views_definitions", "View definitions this replica sees");
  obs::Counter& acquired = Reg().GetCounter("streamadmin_views_leases_total", "Lease events of this replica, by event",
                                            {{"event", "acquired"}});
  obs::Counter& lost =
      Reg().GetCounter("streamadmin_views_leases_total", "Lease events of this replica, by event", {{"event", "lost"}});
  obs::Counter& released = Reg().GetCounter("streamadmin_views_leases_total", "Lease events of this replica, by event",
                                            {{"event", "released"}});
};

Probe& probe() {
  static Probe* p = new Probe();
  return *p;
}

}  // namespace

Coordinator::Coordinator(bus::Connection& connection, CoordinatorOptions options)
    : connection_(connection), options_(std::move(options)) {}

Coordinator::~Coordinator() { Stop(false); }

void Coordinator::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Coordinator::SetPaused(bool paused) {
  paused_.store(paused);
  std::lock_guard lock(mu_);
  for (auto& [name, owned] : owned_) owned.runner->SetPaused(paused);
}

void Coordinator::Stop(bool handover) {
  if (stop_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  if (thread_.joinable()) thread_.join();
  std::map<std::string, Owned> owned;
  {
    std::lock_guard lock(mu_);
    owned.swap(owned_);
  }
  for (auto& [name, o] : owned) {
    o.runner->Stop(handover);
    if (handover && leases_kv_) {
      // Only our own lease: a compare-and-set delete is not available, so
      // re-check the holder first (a lease another replica took is left).
      auto e = leases_kv_->GetEntry(name);
      if (e.ok() && e->has_value() && (*e)->revision == o.lease_revision) {
        (void)leases_kv_->Delete(name);
        probe().released.Inc();
      }
    }
  }
  probe().running.Set(0);
}

size_t Coordinator::definitions() const {
  std::lock_guard lock(mu_);
  return definitions_.size();
}

std::vector<vpb::ViewStatus> Coordinator::Running() const {
  std::vector<vpb::ViewStatus> out;
  std::lock_guard lock(mu_);
  for (const auto& [name, o] : owned_) out.push_back(o.runner->Status());
  return out;
}

absl::Status Coordinator::Open() {
  auto js = bus::JetStream::Create(connection_);
  if (!js.ok()) return js.status();
  bus::KeyValue::Options plain;
  bus::KeyValue::Options leases;
  leases.ttl = options_.lease_ttl;
  auto defs = bus::KeyValue::Create(**js, options_.definitions_bucket, plain);
  if (!defs.ok()) return defs.status();
  auto lk = bus::KeyValue::Create(**js, options_.leases_bucket, leases);
  if (!lk.ok()) return lk.status();
  auto cps = bus::KeyValue::Create(**js, options_.checkpoints_bucket, plain);
  if (!cps.ok()) return cps.status();
  auto st = bus::KeyValue::Create(**js, options_.status_bucket, plain);
  if (!st.ok()) return st.status();
  js_ = *std::move(js);
  definitions_kv_ = *std::move(defs);
  leases_kv_ = *std::move(lk);
  checkpoints_kv_ = *std::move(cps);
  status_kv_ = *std::move(st);
  return absl::OkStatus();
}

void Coordinator::Loop() {
  absl::Duration backoff = absl::Milliseconds(200);
  auto pause = [&](absl::Duration d) {
    for (absl::Time until = absl::Now() + d; !stop_.load() && absl::Now() < until;)
      absl::SleepFor(absl::Milliseconds(50));  // NOLINT: retry pacing of a background loop
  };
  while (!stop_.load() && !definitions_kv_) {
    if (absl::Status st = Open(); !st.ok()) {
      spdlog::warn("views: buckets not ready: {}", std::string(st.message()));
      pause(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }
  const absl::Duration tick = options_.lease_ttl / 3;
  absl::Time next_reconcile = absl::Now();
  while (!stop_.load()) {
    auto watcher = definitions_kv_->Watch(">");
    if (!watcher.ok()) {
      healthy_.store(false);
      spdlog::warn("views: cannot watch {}: {}", options_.definitions_bucket, std::string(watcher.status().message()));
      Reconcile();  // keep renewing what runs
      pause(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    // The current values first (a fresh map: a key deleted while no watcher
    // ran is gone from it), then changes.
    std::map<std::string, vpb::ViewDefinition> fresh;
    bool initial = true;
    const absl::Time refresh_at = absl::Now() + kWatchRefresh;
    absl::Status error;
    while (!stop_.load() && absl::Now() < refresh_at) {
      auto next = (*watcher)->Next(std::max(absl::Milliseconds(1), std::min(tick, next_reconcile - absl::Now())));
      bool changed = false;
      if (next.ok()) {
        if (!next->has_value()) {
          initial = false;
          std::lock_guard lock(mu_);
          definitions_.swap(fresh);
          changed = true;
        } else {
          const auto& e = **next;
          vpb::ViewDefinition def;
          auto& target = initial ? fresh : definitions_;
          std::unique_lock lock(mu_, std::defer_lock);
          if (!initial) lock.lock();
          if (e.deleted) {
            target.erase(e.key);
          } else if (def.ParseFromString(e.value) && def.name() == e.key) {
            target[e.key] = std::move(def);
          } else {
            spdlog::error("views: definition {} in {} is not a ViewDefinition of that name; ignored", e.key,
                          options_.definitions_bucket);
          }
          changed = !initial;
        }
      } else if (next.status().code() != absl::StatusCode::kDeadlineExceeded) {
        error = next.status();
        break;
      }
      if (!initial) healthy_.store(true);
      if (changed || absl::Now() >= next_reconcile) {
        if (!initial) Reconcile();
        next_reconcile = absl::Now() + tick;
      }
    }
    if (!error.ok()) {
      healthy_.store(false);
      spdlog::warn("views: watching definitions: {}; watching again", std::string(error.message()));
      pause(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    } else {
      backoff = absl::Milliseconds(200);
    }
  }
}

void Coordinator::StartRunner(const std::string& name, const vpb::ViewDefinition& def, uint64_t lease_rev) {
  RunnerOptions ro = options_.runner;
  ro.replica = options_.replica;
  Owned o;
  o.runner = std::make_unique<ViewRunner>(connection_, *checkpoints_kv_, *status_kv_, def, std::move(ro));
  o.runner->SetPaused(paused_.load());
  o.lease_revision = lease_rev;
  o.renewed = absl::Now();
  o.runner->Start();
  std::lock_guard lock(mu_);
  owned_[name] = std::move(o);
}

void Coordinator::Drop(const std::string& name, Owned& owned) {
  owned.runner->Stop(false);
  spdlog::info("views: view {} dropped; removing its lease, checkpoint, status and durable", name);
  (void)checkpoints_kv_->Delete(name);
  (void)status_kv_->Delete(name);
  (void)leases_kv_->Delete(name);
  // The durable lives on the source stream; try each (a missing one is fine).
  for (const std::string& stream :
       {options_.runner.sources.md, options_.runner.sources.cdc, options_.runner.sources.anomaly})
    (void)js_->DeleteConsumer(stream, views::DurableName(name));
}

void Coordinator::Reconcile() {
  std::map<std::string, vpb::ViewDefinition> defs;
  std::vector<std::string> owned_names;
  {
    std::lock_guard lock(mu_);
    defs = definitions_;
    for (const auto& [name, o] : owned_) owned_names.push_back(name);
  }
  probe().definitions.Set(static_cast<double>(defs.size()));
  const std::string holder = options_.replica;
  // What we run: dropped, renewed or lost, restarted when changed.
  for (const std::string& name : owned_names) {
    std::unique_ptr<ViewRunner> finished;
    Owned* o = nullptr;
    {
      std::lock_guard lock(mu_);
      o = &owned_.at(name);
    }
    auto def = defs.find(name);
    if (def == defs.end()) {
      Drop(name, *o);
      std::lock_guard lock(mu_);
      owned_.erase(name);
      continue;
    }
    auto rev = leases_kv_->PutIfRevision(name, holder, o->lease_revision);
    if (rev.ok()) {
      o->lease_revision = *rev;
      o->renewed = absl::Now();
    } else if (rev.status().code() == absl::StatusCode::kFailedPrecondition ||
               absl::Now() - o->renewed >= options_.lease_ttl) {
      spdlog::warn("views: lease of {} lost ({}); stopping it here", name, std::string(rev.status().message()));
      probe().lost.Inc();
      o->runner->Stop(false);
      std::lock_guard lock(mu_);
      owned_.erase(name);
      continue;
    }  // else: NATS hiccup; the lease still runs, retry on the next tick
    if (!def->second.SerializeAsString().empty() &&
        def->second.SerializeAsString() != o->runner->definition().SerializeAsString()) {
      spdlog::info("views: view {} changed (v{} -> v{}); restarting it", name, o->runner->definition().version(),
                   def->second.version());
      // Same version (rights rewritten): the position carries over; a new
      // version starts where its definition says.
      o->runner->Stop(def->second.version() == o->runner->definition().version());
      const uint64_t lease_rev = o->lease_revision;
      StartRunner(name, def->second, lease_rev);
    }
  }
  // What nobody runs.
  for (const auto& [name, def] : defs) {
    {
      std::lock_guard lock(mu_);
      if (owned_.contains(name) || owned_.size() >= options_.max_views) continue;
    }
    auto rev = leases_kv_->PutIfAbsent(name, holder);
    if (!rev.ok()) continue;  // held by another replica (FailedPrecondition), or NATS down: next tick
    spdlog::info("views: lease of {} acquired; starting v{}", name, def.version());
    probe().acquired.Inc();
    StartRunner(name, def, *rev);
  }
  std::lock_guard lock(mu_);
  probe().running.Set(static_cast<double>(owned_.size()));
}

}  // namespace sa::views_service
