#include "cli/local_stack.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bus/connection.h"
#include "cli/control_client.h"
#include "cli/tail.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/wait.h"
#include "wire/subjects.h"

namespace sa::cli {
namespace {

namespace fs = std::filesystem;

struct ServiceSpec {
  const char* name;
  int index;
  // Extra YAML for the service beyond server/nats (databases).
  std::string extra_yaml;
};

struct RunningService {
  ServiceSpec spec;
  std::string target;
  int http_port;
  std::unique_ptr<testing::Process> process;
};

std::string SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

bool Healthy(const std::string& target, std::string* why) {
  ControlClient client(target, absl::Seconds(2));
  if (auto st = client.Health(); !st.ok()) {
    *why = std::string(st.message());
    return false;
  }
  auto status = client.GetStatus();
  if (!status.ok()) {
    *why = std::string(status.status().message());
    return false;
  }
  for (const auto& d : status->dependencies()) {
    if (!d.healthy()) {
      *why = absl::StrCat(d.name(), ": ", d.detail());
      return false;
    }
  }
  return true;
}

void PrintStatus(const std::vector<RunningService>& services) {
  std::printf("%-14s %-16s %-9s %-8s %s\n", "SERVICE", "GRPC", "STATE", "METRICS", "DEPENDENCIES");
  for (const auto& s : services) {
    ControlClient client(s.target, absl::Seconds(2));
    auto st = client.GetStatus();
    std::string deps;
    if (st.ok()) {
      for (const auto& d : st->dependencies())
        absl::StrAppend(&deps, deps.empty() ? "" : ", ", d.name(), d.healthy() ? " ok" : " DOWN");
    }
    std::printf("%-14s %-16s %-9s :%-7d %s\n", s.spec.name, s.target.c_str(),
                st.ok() ? StateLabel(st->state()).c_str() : "UNREACHABLE", s.http_port,
                st.ok() ? deps.c_str() : std::string(st.status().message()).c_str());
  }
  std::fflush(stdout);
}

std::string IngestSources(const LocalStackOptions& o) {
  std::string y = "sources:\n";
  if (o.live) {
    // Public market data; no keys needed.
    absl::StrAppend(&y,
                    "  - {name: coinbase-live, kind: websocket, venue: coinbase, websocket: {channels: [market_trades, "
                    "ticker, level2, heartbeats], symbols: [BTC-USD, ETH-USD]}}\n",
                    "  - {name: kraken-live, kind: websocket, venue: kraken, websocket: {channels: [trade, ticker, book], "
                    "symbols: [BTC-USD, ETH-USD]}}\n",
                    "  - {name: binance-live, kind: websocket, venue: binance, websocket: {channels: [aggTrade, depth, "
                    "bookTicker, kline_1m], symbols: [BTC-USDT, ETH-USDT]}}\n");
    return y;
  }
  std::string dir = o.samples_dir.empty() ? SA_DEFAULT_SAMPLES_DIR : o.samples_dir;
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().string().ends_with(".jsonl.zst") || e.path().string().ends_with(".jsonl")) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::string name = fs::path(f).filename().string();
    name = "replay-" + name.substr(0, name.find('.'));
    absl::StrAppend(&y, "  - {name: ", name, ", kind: replay, replay: {path: \"", f, "\", speed: ", o.speed,
                    ", loop: true}}\n");
  }
  return files.empty() ? "" : y;
}

// Prints what arrives on the canonical subjects: a rolling count and the
// latest message of each kind per venue. Returns once `until` says so.
class LiveView {
 public:
  explicit LiveView(const std::string& nats_url) {
    streamadmin::config::v1::NatsConfig cfg;
    cfg.add_servers(nats_url);
    cfg.set_name("stream-admin-local-view");
    auto conn = bus::Connection::Connect(cfg);
    if (!conn.ok()) return;
    conn_ = std::move(*conn);
    for (const char* subject : {wire::kTradeAll, wire::kBookAll, wire::kCandleAll, wire::kStatusAll}) {
      auto sub = conn_->Subscribe(subject, [this](const bus::InboundMessage& m) { OnMessage(m); });
      if (sub.ok()) subs_.push_back(std::move(*sub));
    }
  }
  // Subscriptions go first: their handlers write to the maps below, and a
  // Subscription's destructor returns only once its handler has finished.
  ~LiveView() {
    subs_.clear();
    if (conn_) conn_->Close();
  }

  bool SawTradesAndBooks() {
    std::lock_guard lock(mu_);
    return counts_["trade"] > 0 && counts_["book"] > 0;
  }
  void Print() {
    std::lock_guard lock(mu_);
    std::printf("\n-- %llu trades, %llu book updates, %llu candles, %llu status events on NATS --\n",
                static_cast<unsigned long long>(counts_["trade"]), static_cast<unsigned long long>(counts_["book"]),
                static_cast<unsigned long long>(counts_["candle"]), static_cast<unsigned long long>(counts_["status"]));
    for (const auto& [key, line] : latest_) std::printf("  %-40s %s\n", key.c_str(), line.c_str());
    std::fflush(stdout);
  }

 private:
  void OnMessage(const bus::InboundMessage& m) {
    std::vector<std::string> parts = absl::StrSplit(m.subject, '.');
    if (parts.size() < 3) return;
    std::string kind = parts[1];
    std::string venue = kind == "candle" && parts.size() > 3 ? parts[3] : parts[2];
    std::string line = SummarizeMessage(m.subject, m.data);
    std::lock_guard lock(mu_);
    ++counts_[kind];
    latest_[absl::StrCat(m.subject.substr(0, m.subject.find('.', 3)), " ", venue)] = line;
  }

  std::unique_ptr<bus::Connection> conn_;
  std::vector<std::unique_ptr<bus::Subscription>> subs_;
  std::mutex mu_;
  std::map<std::string, uint64_t> counts_;
  std::map<std::string, std::string> latest_;
};

// --once: the warehouse side works end to end. A row written to the CDC
// source reaches the warehouse (cdc-bridge -> CDC -> warehouse-sink), and so
// do trades (normalizer -> MD -> warehouse-sink).
bool WarehouseFilled(testing::PostgresServer& pg, int timeout_s) {
  if (auto st = pg.Exec("CREATE TABLE IF NOT EXISTS local_check (id int PRIMARY KEY, at timestamptz DEFAULT now());"
                        "INSERT INTO local_check (id) VALUES (1) ON CONFLICT DO NOTHING");
      !st.ok()) {
    std::fprintf(stderr, "stream-admin local: %s\n", std::string(st.message()).c_str());
    return false;
  }
  std::string trades, cdc_rows;
  const bool stored = testing::WaitFor(
      [&] {
        trades = pg.Query("SELECT count(*) FROM md.trades", "warehouse").value_or("0");
        cdc_rows = pg.Query("SELECT count(*) FROM cdc_pg_public.local_check", "warehouse").value_or("0");
        return trades != "0" && cdc_rows == "1";
      },
      absl::Seconds(timeout_s));
  std::printf("\nwarehouse (written by warehouse-sink): %s trades in md.trades, %s CDC row(s) of public.local_check\n",
              trades.c_str(), cdc_rows.c_str());
  if (!stored) std::fprintf(stderr, "the warehouse did not get both trades and the CDC row within %d s\n", timeout_s);
  return stored;
}

}  // namespace

int RunLocalStack(const LocalStackOptions& o) {
  // Ctrl-C is taken with sigwait below; block it before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string bin_dir = o.bin_dir.empty() ? SelfDir() : o.bin_dir;
  const std::string run_dir = fs::absolute(o.run_dir.empty() ? ".stream-admin-local" : o.run_dir).string();
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) {
    std::fprintf(stderr, "stream-admin local: cannot create %s: %s\n", run_dir.c_str(), ec.message().c_str());
    return 1;
  }

  std::printf("starting nats-server (JetStream) ...\n");
  auto nats = testing::NatsServer::Start();
  if (!nats.ok()) {
    std::fprintf(stderr, "stream-admin local: nats-server: %s\n", std::string(nats.status().message()).c_str());
    return 1;
  }
  std::printf("starting PostgreSQL (wal_level=logical) ...\n");
  auto pg = testing::PostgresServer::Start();
  if (!pg.ok()) {
    std::fprintf(stderr, "stream-admin local: postgres: %s\n", std::string(pg.status().message()).c_str());
    return 1;
  }
  // The CDC source (postgres), the warehouse, and the admin's own database: the
  // admin's tables (password and key hashes) must not be captured by CDC.
  for (const char* db : {"warehouse", "admin"}) {
    if (auto st = (*pg)->Exec(absl::StrCat("CREATE DATABASE ", db)); !st.ok()) {
      std::fprintf(stderr, "stream-admin local: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  const std::string pg_dsn = (*pg)->dsn();
  const std::string wh_dsn = absl::StrCat("host=127.0.0.1 port=", (*pg)->port(), " user=postgres dbname=warehouse");
  const std::string admin_dsn = absl::StrCat("host=127.0.0.1 port=", (*pg)->port(), " user=postgres dbname=admin");
  std::printf("  nats:     %s\n  postgres: %s (CDC source; warehouse: dbname=warehouse)\n\n", (*nats)->url().c_str(),
              pg_dsn.c_str());

  std::vector<ServiceSpec> specs = {
      {"ingest", 1, IngestSources(o)},
      {"normalizer", 2, ""},
      {"cdc-bridge", 3, absl::StrCat("source:\n  dsn: \"", pg_dsn, "\"\n")},
      // Trades and CDC rows into the warehouse.
      {"warehouse-sink", 6, absl::StrCat("warehouse:\n  dsn: \"", wh_dsn, "\"\n")},
      {"anomaly", 4, ""},
      // Continuous views over MD, CDC and anomalies (definitions from admin).
      {"views", 7, ""},
      // Queries run in the warehouse as the read-only role sa_query, which the
      // admin creates there itself (query.setup_dsn, as the sink's user).
      {"admin", 5,
       absl::StrCat("database:\n  dsn: \"", admin_dsn, "\"\nquery:\n  warehouse:\n    dsn: \"", wh_dsn,
                    "\"\n  role: sa_query\n  setup_dsn: \"", wh_dsn, "\"\n")},
  };
  // Writes the service's config and starts it on `rs.target` / `rs.http_port`.
  auto spawn = [&](RunningService& rs) -> bool {
    const ServiceSpec& spec = rs.spec;
    std::string cfg_path = absl::StrCat(run_dir, "/", spec.name, ".yaml");
    std::ofstream(cfg_path) << "server:\n  grpc_listen: \"" << rs.target << "\"\n  http_listen: \"127.0.0.1:"
                            << rs.http_port << "\"\n  shutdown_grace_s: 5\nnats:\n  servers: [\"" << (*nats)->url()
                            << "\"]\n"
                            << spec.extra_yaml;
    testing::Process::Options popts;
    popts.log_file = absl::StrCat(run_dir, "/", spec.name, ".log");
    auto proc = testing::Process::Spawn({absl::StrCat(bin_dir, "/", spec.name), "--config", cfg_path}, popts);
    if (!proc.ok()) {
      std::fprintf(stderr, "stream-admin local: %s: %s\n", spec.name, std::string(proc.status().message()).c_str());
      return false;
    }
    rs.process = std::move(*proc);
    return true;
  };
  std::vector<RunningService> services;
  for (const auto& spec : specs) {
    RunningService rs{spec, absl::StrCat("127.0.0.1:", o.grpc_base_port + spec.index),
                      o.http_base_port + spec.index, nullptr};
    if (!spawn(rs)) return 1;
    services.push_back(std::move(rs));
  }

  bool all_healthy = true;
  for (auto& s : services) {
    std::string why;
    bool ok = false;
    // A port taken by someone else between choosing it and binding it: the
    // service exits saying it cannot listen; start it again on free ports.
    for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
      ok = testing::WaitFor([&] { return s.process->Exited() || Healthy(s.target, &why); },
                            absl::Seconds(o.timeout_s)) &&
           !s.process->Exited();
      if (ok || !s.process->Exited()) break;
      (void)s.process->WaitForOutputEnd(absl::Seconds(2));  // its last words
      if (!absl::StrContains(s.process->Output(), "cannot listen")) break;
      // Keep metrics at gRPC port + the same offset (`monitor`'s convention).
      const int offset = o.http_base_port - o.grpc_base_port;
      auto grpc_port = testing::PickFreePortPair(offset);
      if (!grpc_port.ok()) break;
      const int http_port = *grpc_port + offset;
      std::fprintf(stderr, "%s could not listen on %s / %d; starting it on free ports %d / %d\n", s.spec.name,
                   s.target.c_str(), s.http_port, *grpc_port, http_port);
      s.target = absl::StrCat("127.0.0.1:", *grpc_port);
      s.http_port = http_port;
      if (!spawn(s)) break;
    }
    if (!ok) {
      all_healthy = false;
      std::fprintf(stderr, "%s is not healthy: %s%s (log: %s/%s.log)\n", s.spec.name, why.c_str(),
                   s.process->Exited() ? " (exited)" : "", run_dir.c_str(), s.spec.name);
    }
  }
  PrintStatus(services);
  if (all_healthy) {
    std::printf("\nall services healthy. Logs and configs: %s\n", run_dir.c_str());
    std::printf("try: %s/stream-admin status -t %s   |   metrics of ingest: curl localhost:%d/metrics\n",
                bin_dir.c_str(), services.front().target.c_str(), o.http_base_port + 1);
    const auto admin = std::find_if(services.begin(), services.end(),
                                    [](const RunningService& s) { return std::string(s.spec.name) == "admin"; });
    std::printf("     %s/stream-admin query -t %s 'md.trades | summarize n = count() by venue'\n", bin_dir.c_str(),
                admin->target.c_str());
  }

  bool flowing = true;
  if (all_healthy) {
    LiveView view((*nats)->url());
    std::printf("\nmarket data: %s. Watch it yourself with\n  %s/stream-admin tail --server %s --summary 'md.trade.>'\n",
                o.live ? "live exchange feeds" : "replaying data/samples recordings", bin_dir.c_str(),
                (*nats)->url().c_str());
    if (o.once) {
      flowing = testing::WaitFor([&] { return view.SawTradesAndBooks(); }, absl::Seconds(o.timeout_s));
      view.Print();
      if (!flowing) std::fprintf(stderr, "no trades and book updates arrived within %d s\n", o.timeout_s);
      if (flowing) flowing = WarehouseFilled(**pg, o.timeout_s);
    } else {
      std::printf("Ctrl-C stops the stack.\n");
      std::fflush(stdout);
      // The view refreshes every 5 s until a shutdown signal arrives.
      timespec period{5, 0};
      while (sigtimedwait(&signals, nullptr, &period) < 0) view.Print();
    }
  }
  std::printf("stopping ...\n");
  for (auto it = services.rbegin(); it != services.rend(); ++it) (void)it->process->Terminate(absl::Seconds(10));
  return all_healthy && flowing ? 0 : 1;
}

}  // namespace sa::cli
