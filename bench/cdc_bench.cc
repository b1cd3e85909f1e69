// CDC (issue [3]) throughput and latency against a real PostgreSQL 15 and a
// real nats-server, each figure beside its raw limit measured in the same run
// (see docs/PERFORMANCE.md, section "CDC (issue [3])").
//
//   build/bench/cdc_bench [--rows=500000] [--txn_rows=1000]
//                         [--lag_rate=10000] [--lag_txn_rows=100] [--lag_s=20] [--warmup_s=2]
//                         [--sink_rows=200000] [--sink_batch=20000]
//                         [--phases=source,lag,bridge_lag,sink] [--source_steps=abcdef]
//                         [--bridge_env=K=V] [--keep]
//
// The harness starts its own PostgreSQL (sa::testing::PostgresServer: initdb,
// wal_level=logical, fsync=off, loopback, free port) and nats-server
// (sa::testing::NatsServer, JetStream file storage in a fresh directory).
//
//   source      Table bench_src (id bigint PK, v numeric, t text, ts
//               timestamptz). Two logical slots are created BEFORE the writes:
//               bench_pgoutput (pgoutput, ReplicationClient::EnsureSlot, the
//               publication covers bench_src only) and bench_td (test_decoding,
//               SQL) (and bench_bridge_src for (e)). Then --rows rows are written in transactions of
//               --txn_rows (INSERT ... SELECT generate_series), so both slots
//               hold the same WAL. Timed, each from process/client start to
//               the last event:
//                 (a) pg_recvlogical --slot bench_td --start -f /dev/null
//                     --endpos <WAL insert position after the writes> --no-loop
//                     (test_decoding's default options);
//                 (b) ReplicationClient (pgoutput) decoding every event into
//                     ChangeEvents, nothing else (slot not confirmed, so (c)
//                     reads the same WAL again);
//                 (c) (b) plus, per event, what cdc-bridge does before
//                     publishing (server name, ts_ms, subject
//                     cdc.bench.public.bench_src, Nats-Msg-Id
//                     <server>:<commit LSN>:<index>, serialize) and a
//                     bus::JetStreamPublisher publish into stream CDC
//                     (runtime::CdcStream()), ending when every ack is in;
//                 (d) the raw limit: the same number of messages, same subject,
//                     same payload sizes (random bytes), msg ids of the same
//                     length, through a bare JetStreamPublisher into a fresh CDC.
//                 (e) the real build/bin/cdc-bridge (no warehouse sink) on a third
//                     slot, bench_bridge_src (pgoutput, also created before the
//                     writes), from spawn until its
//                     streamadmin_cdc_events_acked_total reaches --rows
//                     (scraped from /metrics with WaitFor: at most 50 ms late).
//                 (f) context for (e): the same events (subject, msg id, payload
//                     as (c) builds them), published straight through nats.c
//                     (js_PublishMsgAsync, the call libs/bus makes, with the
//                     same 4,096 publishes in flight) into a fresh CDC stream of
//                     the same configuration, ending when every ack is in: what
//                     the transport allows this process without our code.
//               --source_steps=ce runs only some of them (for a profile).
//   lag         A writer commits --lag_txn_rows rows per transaction every
//               lag_txn_rows/lag_rate seconds (clock_nanosleep, absolute
//               deadlines) for --lag_s. A reduced copy of cdc-bridge's loop
//               (Confirm -> Poll(50 ms) -> publish each event; acks confirm the
//               slot in commit order) reads its own slot. Latency per event =
//               ack received (on the publisher's ack thread) - commit time of its
//               transaction (SourcePosition.commit_time_us; both CLOCK_REALTIME of
//               this machine). Events of the first --warmup_s are not counted.
//   bridge_lag  The same writer, but the real build/bin/cdc-bridge (no
//               warehouse sink, its own slot) publishes, and a core NATS subscriber on
//               cdc.bench.public.bench_bridge records arrival - commit time.
//               A core subscriber gets the message when nats-server receives
//               the publish, just before the ack is sent.
//   sink        --sink_rows OP_CREATE ChangeEvents (same 4 columns, 1000 per
//               source transaction) built in memory, applied with
//               warehouse::ChangeApplier::Apply in batches of --sink_batch into
//               a fresh database; then the same rows as OP_UPDATE events with
//               new values (later LSNs): the upsert case. Raw limit: COPY
//               copy_target FROM STDIN (text format, PQputCopyData) of the same
//               rows into an identical empty table, one COPY per batch.
//
// Each phase prints the CPU used by the walsender (server-side decoding), the
// other PostgreSQL processes, nats-server, this harness, its children
// (pg_recvlogical, cdc-bridge) and everything else, plus the load average.
// Bounded: every wait has a deadline; a watchdog ends the process after 290 s
// (children die with it: PR_SET_PDEATHSIG).
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench_util.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "cdc/pgoutput.h"
#include "cdc/replication_client.h"
#include "pg/connection.h"
#include "runtime/main.h"
#include "runtime/streams.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"
#include "warehouse/change_applier.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace {

namespace cfg = ::streamadmin::config::v1;
namespace cdcpb = ::streamadmin::cdc::v1;
using Clock = std::chrono::steady_clock;

constexpr int kWatchdogSeconds = 290;
constexpr char kServer[] = "bench";
constexpr char kRecvLogical[] = "/usr/lib/postgresql/15/bin/pg_recvlogical";

struct Args {
  int64_t rows = 500000;
  int64_t txn_rows = 1000;
  int64_t lag_rate = 10000;
  int64_t lag_txn_rows = 100;
  double lag_s = 20;
  double warmup_s = 2;
  int64_t sink_rows = 200000;
  int64_t sink_batch = 20000;
  std::set<std::string> phases = {"source", "lag", "bridge_lag", "sink"};
  std::string bridge_env;  // e.g. GLIBC_TUNABLES=glibc.malloc.mxfast=0: set for cdc-bridge only (experiments)
  std::string source_steps = "abcdef";  // which of source's (a)..(f) run; (d) needs (c) (to profile one step)
  bool keep = false;
  std::string json_path;  // --json=PATH: the summary's figures as JSON (scripts/bench.sh)
};

using sa::bench::BinPath;
using sa::bench::Check;
using sa::bench::CheckOr;
using sa::bench::Die;
using sa::bench::MachineJiffies;
using sa::bench::Seconds;

int64_t RealtimeUs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// --- CPU accounting --------------------------------------------------------------

struct ProcStat {
  std::string comm;
  pid_t ppid = 0;
  double cpu = 0;  // utime + stime, seconds
};
bool ReadProcStat(const std::string& path, ProcStat* out) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  out->comm = line.substr(open + 1, close - open - 1);
  std::vector<std::string> f = absl::StrSplit(line.substr(close + 2), ' ');
  uint64_t ut = 0, st = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[1], &out->ppid) || !absl::SimpleAtoi(f[11], &ut) ||
      !absl::SimpleAtoi(f[12], &st))
    return false;
  out->cpu = static_cast<double>(ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return true;
}

// Samples /proc every 100 ms between Start() and Stop() and attributes CPU to
// classes: "walsender" and "postgres other" (children of our postmaster),
// "nats-server", "harness" (this process), and our children by name. A
// process that exits between samples loses at most 100 ms of its CPU.
// Threading: Start/Stop from one thread; the sampler thread is internal.
class CpuSampler {
 public:
  CpuSampler(pid_t postmaster, pid_t nats) : postmaster_(postmaster), nats_(nats) {}
  ~CpuSampler() { (void)Stop(); }

  void Start() {
    first_.clear();
    last_.clear();
    t0_ = Clock::now();
    machine0_ = MachineJiffies();
    load0_ = LoadAvg();
    Sample(true);
    stop_ = false;
    thread_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) {
        lock.unlock();
        Sample(false);
        lock.lock();
      }
    });
  }

  // "walsender 0.98, postgres other 0.05, harness 0.80, ... cores; machine 1.9 of 2 busy; load 2.1 -> 2.3"
  std::string Stop() {
    if (!thread_.joinable()) return "";
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    Sample(false);
    const double wall = Seconds(t0_, Clock::now());
    std::map<std::string, double> by_class;
    for (const auto& [pid, v] : last_) by_class[v.first] += v.second - first_[pid];
    const auto [busy, all] = MachineJiffies();
    const double cores = static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    const double machine = all > machine0_.second ? cores * static_cast<double>(busy - machine0_.first) /
                                                        static_cast<double>(all - machine0_.second)
                                                  : 0;
    std::string out;
    double ours = 0;
    for (const auto& [cls, s] : by_class) {
      absl::StrAppend(&out, out.empty() ? "" : ", ", cls, " ", absl::StrFormat("%.2f", s / wall));
      ours += s / wall;
    }
    absl::StrAppend(&out, " cores; machine ", absl::StrFormat("%.2f", machine), " of ", cores,
                    " busy, everything else ", absl::StrFormat("%.2f", std::max(0.0, machine - ours)),
                    "; load average ", load0_, " -> ", LoadAvg());
    return out;
  }

 private:
  void Sample(bool initial) {
    const pid_t self = ::getpid();
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
      pid_t pid;
      if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
      ProcStat st;
      if (!ReadProcStat(entry.path().string() + "/stat", &st)) continue;
      std::string cls;
      if (pid == self) {
        cls = "harness";
      } else if (pid == nats_) {
        cls = "nats-server";
      } else if (pid == postmaster_ || st.ppid == postmaster_) {
        std::ifstream in(entry.path() / "cmdline");
        std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        cls = absl::StrContains(cmd, "walsender") ? "walsender" : "postgres other";
      } else if (st.ppid == self) {
        cls = st.comm;  // pg_recvlogical, cdc-bridge
      } else {
        continue;
      }
      if (!first_.count(pid)) first_[pid] = initial ? st.cpu : 0;
      // A backend shows "walsender" in its title only once authenticated: keep the class once seen.
      if (auto it = last_.find(pid); it != last_.end() && it->second.first == "walsender") cls = "walsender";
      last_[pid] = {cls, st.cpu};
    }
  }

  pid_t postmaster_, nats_;
  std::map<pid_t, double> first_;
  std::map<pid_t, std::pair<std::string, double>> last_;
  Clock::time_point t0_;
  std::pair<uint64_t, uint64_t> machine0_;
  std::string load0_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = true;
  std::thread thread_;
};

// --- helpers -------------------------------------------------------------------------

struct Rate {
  uint64_t events = 0;
  double seconds = 0;
  double per_s() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
};

void PrintRate(const std::string& name, const Rate& r, const std::string& cpu) {
  std::printf("  %-46s %8" PRIu64 " in %7.3f s = %9.0f /s\n      cpu: %s\n", name.c_str(), r.events, r.seconds,
              r.per_s(), cpu.c_str());
  std::fflush(stdout);
}

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // ms
};
Percentiles Summarize(std::vector<int64_t> us) {
  Percentiles p;
  p.n = us.size();
  if (us.empty()) return p;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
    return static_cast<double>(us[std::min(i, us.size() - 1)]) / 1e3;
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(us.back()) / 1e3;
  return p;
}
std::string Format(const Percentiles& p) {
  return absl::StrFormat("p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms (%zu events)", p.p50,
                         p.p90, p.p99, p.p999, p.max, p.n);
}

std::unique_ptr<sa::bus::Connection> ConnectNats(const std::string& url, const std::string& name) {
  cfg::ServerConfig server;
  cfg::LogConfig log;
  cfg::NatsConfig nats;
  sa::runtime::SetCommonDefaults(0, 0, &server, &log, &nats);  // the services' defaults (4096 acks in flight)
  nats.clear_servers();
  nats.add_servers(url);
  nats.set_name(name);
  auto conn = CheckOr(sa::bus::Connection::Connect(nats), "connect to nats-server");
  if (!conn->WaitConnected(absl::Seconds(10))) Die("not connected to nats-server");
  return conn;
}

void RecreateCdcStream(sa::bus::JetStream& js) {
  (void)js.DeleteStream("CDC");  // NotFound the first time
  Check(js.EnsureStream(sa::runtime::CdcStream()), "EnsureStream CDC");
}

pid_t PostmasterPid(const sa::testing::PostgresServer& pg) {
  std::ifstream in(pg.data_dir() + "/postmaster.pid");
  std::string first;
  pid_t pid = 0;
  if (!std::getline(in, first) || !absl::SimpleAtoi(first, &pid)) Die("cannot read postmaster.pid");
  return pid;
}

std::string Q(sa::testing::PostgresServer& pg, const std::string& sql) { return CheckOr(pg.Query(sql), sql); }
uint64_t QueryLsn(sa::testing::PostgresServer& pg, const std::string& sql) {
  return CheckOr(sa::cdc::ParseLsn(Q(pg, sql)), sql);
}

void WaitSlotInactive(sa::testing::PostgresServer& pg, const std::string& slot) {
  const std::string sql =
      absl::StrCat("SELECT active FROM pg_replication_slots WHERE slot_name = '", slot, "'");
  if (!sa::testing::WaitFor([&] { return Q(pg, sql) == "f"; }, absl::Seconds(30)))
    Die(absl::StrCat("slot ", slot, " still active after 30 s"));
}

// What cdc-bridge does to an event before publishing it (services/cdc-bridge/src/app.cc).
sa::bus::Message BridgeMessage(cdcpb::ChangeEvent& e, uint64_t commit_lsn, uint32_t index, int64_t now_ms) {
  e.mutable_table()->set_server(kServer);
  e.set_ts_ms(now_ms);
  sa::bus::Message m;
  m.subject = sa::wire::CdcSubject(kServer, e.table().schema(), e.table().table());
  m.msg_id = sa::wire::CdcEventMsgId(kServer, sa::cdc::FormatLsn(commit_lsn), index);
  e.SerializeToString(&m.data);
  return m;
}

sa::cdc::ReplicationOptions ReplOptions(const sa::testing::PostgresServer& pg, const std::string& slot,
                                        const std::string& publication, const std::string& table) {
  sa::cdc::ReplicationOptions o;
  o.conninfo = pg.dsn();
  o.slot_name = slot;
  o.publication_name = publication;
  o.include_tables = {table};
  o.server_name = kServer;
  o.status_interval = absl::Seconds(1);  // cdc-bridge's default status_interval_ms
  return o;
}

// The real cdc-bridge (without a warehouse sink) on `slot`/`publication` (both are
// created if missing, reused if they exist). Its HTTP port is returned in
// `http_port` for /metrics.
struct Bridge {
  std::unique_ptr<sa::testing::Process> process;
  int http_port = 0;
};
Bridge StartBridge(const std::string& bin, const sa::testing::PostgresServer& pg, const std::string& nats_url,
                   const std::string& dir, const std::string& slot, const std::string& publication,
                   const std::string& table, const std::string& env) {
  Bridge b;
  const int grpc_port = CheckOr(sa::testing::PickFreePort(), "port");
  b.http_port = CheckOr(sa::testing::PickFreePort(), "port");
  const std::string cfg_path = absl::StrCat(dir, "/cdc-bridge-", slot, ".yaml");
  std::ofstream(cfg_path) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:"
                          << b.http_port << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << nats_url
                          << "]\nsource:\n  dsn: \"" << pg.dsn() << "\"\nconnector:\n  server_name: " << kServer << "\n  slot_name: " << slot
                          << "\n  publication_name: " << publication << "\n  include_tables: [" << table
                          << "]\n  heartbeat_interval_s: 10\n  status_interval_ms: 1000\n  lag_refresh_interval_ms: 2000\n";
  sa::testing::Process::Options popts;
  popts.log_file = absl::StrCat(dir, "/cdc-bridge-", slot, ".log");
  std::vector<std::string> argv = {bin, "--config", cfg_path};
  if (!env.empty()) argv.insert(argv.begin(), {"/usr/bin/env", env});  // env execs the bridge: same pid
  b.process = CheckOr(sa::testing::Process::Spawn(argv, popts), "spawn cdc-bridge");
  return b;
}

// GET http://127.0.0.1:port/metrics and sum the series of `name` (0 when unreachable).
double ScrapeMetric(int port, const std::string& name) {
  const std::string body = sa::bench::FetchMetricsText(port);
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() <= name.size() || (line[name.size()] != ' ' && line[name.size()] != '{'))
      continue;
    const size_t sp = line.rfind(' ');
    double v;
    if (sp != absl::string_view::npos && absl::SimpleAtod(line.substr(sp + 1), &v)) sum += v;
  }
  return sum;
}

// --- source ----------------------------------------------------------------------------

// The messages (c) would publish, decoded from `opts`' slot without
// confirming it (not timed).
std::vector<sa::bus::Message> DecodeBridgeMessages(const sa::cdc::ReplicationOptions& opts, int64_t rows) {
  std::vector<sa::bus::Message> out;
  out.reserve(static_cast<size_t>(rows));
  auto c = CheckOr(sa::cdc::ReplicationClient::Connect(opts), "replication connect");
  Check(c->Start(), "Start");
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  const int64_t now_ms = RealtimeUs() / 1000;
  while (out.size() < static_cast<size_t>(rows) && Clock::now() < deadline) {
    auto txs = CheckOr(c->Poll(absl::Milliseconds(200)), "Poll");
    for (auto& tx : txs)
      for (size_t i = 0; i < tx.events.size(); ++i)
        out.push_back(BridgeMessage(tx.events[i], tx.commit_lsn, static_cast<uint32_t>(i), now_ms));
  }
  if (out.size() != static_cast<size_t>(rows)) Die(absl::StrCat("decode for (f): ", out.size(), " of ", rows));
  return out;
}

// (f): `msgs` through nats.c's asynchronous JetStream publish on a connection
// of its own, 4,096 in flight (the services' max_pending_acks), from the first
// publish until every ack is in. nats.c only here: the bench measures the
// transport without libs/bus.
struct BareAcks {
  std::atomic<uint64_t> acked{0}, failed{0};
};
void BareOnAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr*, void* closure) {
  auto* acks = static_cast<BareAcks*>(closure);
  if (pa != nullptr) {
    acks->acked.fetch_add(1, std::memory_order_relaxed);
  } else {
    acks->failed.fetch_add(1, std::memory_order_relaxed);
  }
  natsMsg_Destroy(msg);
}

Rate BareJetStreamPublish(const std::string& url, const std::vector<sa::bus::Message>& msgs, CpuSampler& cpu,
                          std::string* cpu_line) {
  auto check = [](natsStatus s, const char* what) {
    if (s != NATS_OK) Die(absl::StrCat("(f) ", what, ": ", natsStatus_GetText(s)));
  };
  natsConnection* nc = nullptr;
  check(natsConnection_ConnectTo(&nc, url.c_str()), "connect");
  BareAcks acks;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4096;
  jo.PublishAsync.StallWait = 50;
  jo.PublishAsync.AckHandler = BareOnAck;
  jo.PublishAsync.AckHandlerClosure = &acks;
  jsCtx* js = nullptr;
  check(natsConnection_JetStream(&js, nc, &jo), "JetStream context");
  cpu.Start();
  const auto t0 = Clock::now();
  for (const auto& m : msgs) {
    natsMsg* msg = nullptr;
    check(natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.data.data(), static_cast<int>(m.data.size())), "message");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = m.msg_id.c_str();
    natsStatus s;
    do {
      s = js_PublishMsgAsync(js, &msg, &po);
    } while (s == NATS_TIMEOUT);
    natsMsg_Destroy(msg);  // no-op once nats.c took it
    check(s, "publish");
  }
  jsPubOptions done;
  jsPubOptions_Init(&done);
  done.MaxWait = 120000;
  check(js_PublishAsyncComplete(js, &done), "wait for acks");
  const Rate r{msgs.size(), Seconds(t0, Clock::now())};
  *cpu_line = cpu.Stop();
  if (acks.acked.load() != msgs.size() || acks.failed.load() != 0)
    Die(absl::StrCat("(f): ", acks.acked.load(), " acked, ", acks.failed.load(), " failed of ", msgs.size()));
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return r;
}

struct SourceResult {
  Rate write, recvlogical, decode, publish, raw;
  Rate bridge, bridge_streaming;  // (e): from spawn; from its first ack
  Rate bare;                      // (f)
  uint64_t wal_bytes = 0;
  double avg_payload = 0;
};

SourceResult RunSource(sa::testing::PostgresServer& pg, const std::string& nats_url, const std::string& dir,
                       CpuSampler& cpu, const Args& args) {
  SourceResult r;
  std::printf("\n== source: %" PRId64 " rows in transactions of %" PRId64 "\n", args.rows, args.txn_rows);
  Check(pg.Exec("CREATE TABLE bench_src (id bigint PRIMARY KEY, v numeric, t text, ts timestamptz);"
                "CREATE TABLE bench_marker (x int)"),
        "create bench_src");
  const auto opts = ReplOptions(pg, "bench_pgoutput", "bench_pub", "public.bench_src");
  {
    auto c = CheckOr(sa::cdc::ReplicationClient::Connect(opts), "replication connect");
    Check(c->EnsurePublication(), "EnsurePublication");
    auto slot = CheckOr(c->EnsureSlot(), "EnsureSlot");
    if (!slot.created) Die("slot bench_pgoutput existed already");
  }
  WaitSlotInactive(pg, "bench_pgoutput");
  Check(pg.Exec("SELECT pg_create_logical_replication_slot('bench_td', 'test_decoding')"), "create bench_td");
  const std::string bridge_bin = BinPath("cdc-bridge");
  const bool run_bridge = absl::StrContains(args.source_steps, "e") && ::access(bridge_bin.c_str(), X_OK) == 0;
  if (run_bridge)  // (e)'s slot; cdc-bridge finds it and reuses it (and publication bench_pub)
    Check(pg.Exec("SELECT pg_create_logical_replication_slot('bench_bridge_src', 'pgoutput')"), "create bench_bridge_src");

  // Writes (not a benchmark figure, printed for reference).
  auto w = CheckOr(sa::pg::Connection::Connect(pg.dsn()), "connect writer");
  const uint64_t start_lsn = QueryLsn(pg, "SELECT pg_current_wal_lsn()");
  const auto w0 = Clock::now();
  for (int64_t first = 1; first <= args.rows; first += args.txn_rows) {
    const int64_t last = std::min(args.rows, first + args.txn_rows - 1);
    CheckOr(w->Exec("INSERT INTO bench_src SELECT g, g * 1.5, md5(g::text), now() "
                    "FROM generate_series($1::bigint, $2::bigint) g",
                    {std::to_string(first), std::to_string(last)}),
            "insert");
  }
  r.write = {static_cast<uint64_t>(args.rows), Seconds(w0, Clock::now())};
  const uint64_t end_lsn = QueryLsn(pg, "SELECT pg_current_wal_lsn()");
  r.wal_bytes = end_lsn - start_lsn;
  // A record past end_lsn, so pg_recvlogical --endpos stops as soon as it is there.
  Check(pg.Exec("INSERT INTO bench_marker VALUES (1)"), "marker");
  std::printf("  written in %.2f s (%.0f rows/s, not a figure); WAL %s .. %s = %.1f MB\n", r.write.seconds,
              r.write.per_s(), sa::cdc::FormatLsn(start_lsn).c_str(), sa::cdc::FormatLsn(end_lsn).c_str(),
              static_cast<double>(r.wal_bytes) / 1e6);

  // (a) pg_recvlogical + test_decoding.
  if (absl::StrContains(args.source_steps, "a")) {
    cpu.Start();
    const auto t0 = Clock::now();
    auto res = CheckOr(sa::testing::RunProcess({kRecvLogical, "-d", pg.dsn(), "--slot", "bench_td", "--start", "-f",
                                                "/dev/null", "--endpos", sa::cdc::FormatLsn(end_lsn), "--no-loop"},
                                               absl::Seconds(120)),
                       "pg_recvlogical");
    r.recvlogical = {static_cast<uint64_t>(args.rows), Seconds(t0, Clock::now())};
    const std::string c = cpu.Stop();
    if (res.exit_code != 0) Die(absl::StrCat("pg_recvlogical exit ", res.exit_code, ": ", res.output));
    const uint64_t confirmed =
        QueryLsn(pg, "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'bench_td'");
    PrintRate("(a) pg_recvlogical test_decoding -> /dev/null", r.recvlogical, c);
    std::printf("      slot bench_td confirmed to %s (end %s)\n", sa::cdc::FormatLsn(confirmed).c_str(),
                sa::cdc::FormatLsn(end_lsn).c_str());
  }

  // (b) ReplicationClient, decode only; the slot is not confirmed.
  if (absl::StrContains(args.source_steps, "b")) {
    cpu.Start();
    const auto t0 = Clock::now();
    auto c = CheckOr(sa::cdc::ReplicationClient::Connect(opts), "replication connect");
    Check(c->Start(), "Start");
    uint64_t events = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (events < static_cast<uint64_t>(args.rows) && Clock::now() < deadline) {
      auto txs = CheckOr(c->Poll(absl::Milliseconds(200)), "Poll");
      for (const auto& tx : txs) events += tx.events.size();
    }
    r.decode = {events, Seconds(t0, Clock::now())};
    const std::string s = cpu.Stop();
    if (events != static_cast<uint64_t>(args.rows)) Die(absl::StrCat("decode: ", events, " events of ", args.rows));
    PrintRate("(b) ReplicationClient pgoutput, decode only", r.decode, s);
  }
  WaitSlotInactive(pg, "bench_pgoutput");

  auto conn = ConnectNats(nats_url, "cdc-bench");
  auto js = CheckOr(sa::bus::JetStream::Create(*conn), "JetStream");
  std::vector<uint32_t> sizes;
  sizes.reserve(static_cast<size_t>(args.rows));
  const bool run_bare = absl::StrContains(args.source_steps, "f");
  std::vector<sa::bus::Message> same_events;  // for (f): the messages (c) publishes
  // (c) decode + publish to JetStream, every ack in.
  if (absl::StrContains(args.source_steps, "c")) {
    RecreateCdcStream(*js);
    auto publisher = CheckOr(sa::bus::JetStreamPublisher::Create(*conn), "JetStreamPublisher");
    cpu.Start();
    const auto t0 = Clock::now();
    auto c = CheckOr(sa::cdc::ReplicationClient::Connect(opts), "replication connect");
    Check(c->Start(), "Start");
    uint64_t events = 0, last_end = 0;
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (events < static_cast<uint64_t>(args.rows) && Clock::now() < deadline) {
      auto txs = CheckOr(c->Poll(absl::Milliseconds(200)), "Poll");
      const int64_t now_ms = RealtimeUs() / 1000;
      for (auto& tx : txs) {
        for (size_t i = 0; i < tx.events.size(); ++i) {
          sa::bus::Message m = BridgeMessage(tx.events[i], tx.commit_lsn, static_cast<uint32_t>(i), now_ms);
          sizes.push_back(static_cast<uint32_t>(m.data.size()));
          Check(publisher->Publish(m), "Publish");
          if (run_bare) same_events.push_back(std::move(m));
        }
        events += tx.events.size();
        last_end = tx.end_lsn;
      }
    }
    Check(publisher->Flush(absl::Seconds(120)), "Flush");
    r.publish = {events, Seconds(t0, Clock::now())};
    const std::string s = cpu.Stop();
    c->Confirm(last_end);
    (void)c->Poll(absl::Milliseconds(1));
    const auto st = publisher->stats();
    if (events != static_cast<uint64_t>(args.rows) || st.acked != events || st.failed != 0)
      Die(absl::StrCat("publish: ", events, " events, ", st.acked, " acked, ", st.failed, " failed"));
    const auto info = CheckOr(js->GetStreamInfo("CDC"), "stream info");
    PrintRate("(c) ReplicationClient + publish to JetStream", r.publish, s);
    double total = 0;
    for (uint32_t x : sizes) total += x;
    r.avg_payload = total / static_cast<double>(sizes.size());
    std::printf("      stream CDC: %" PRIu64 " messages, %.1f MB; payload %.0f B on average; publisher: max in "
                "flight %" PRId64 " of %" PRId64 ", %" PRIu64 " retried\n",
                info.messages, static_cast<double>(info.bytes) / 1e6, r.avg_payload, st.max_in_flight,
                publisher->max_pending_acks(), st.retried);
  }

  // (d) raw limit: bare publish of the same number of same-size messages.
  if (absl::StrContains(args.source_steps, "d") && !sizes.empty()) {
    RecreateCdcStream(*js);
    std::mt19937_64 rng(42);
    std::vector<sa::bus::Message> msgs(sizes.size());
    const std::string subject = sa::wire::CdcSubject(kServer, "public", "bench_src");
    for (size_t i = 0; i < sizes.size(); ++i) {
      msgs[i].subject = subject;
      // Same length as "<server>:<lsn>:<index>" (e.g. "bench:0/1A2B3C4D:999").
      msgs[i].msg_id = absl::StrFormat("%s:0/%08X:%d", kServer, static_cast<uint32_t>(i / 1000), static_cast<int>(i % 1000));
      msgs[i].data.resize(sizes[i]);
      for (auto& ch : msgs[i].data) ch = static_cast<char>(rng());
    }
    auto publisher = CheckOr(sa::bus::JetStreamPublisher::Create(*conn), "JetStreamPublisher");
    cpu.Start();
    const auto t0 = Clock::now();
    for (const auto& m : msgs) Check(publisher->Publish(m), "Publish");
    Check(publisher->Flush(absl::Seconds(120)), "Flush");
    r.raw = {msgs.size(), Seconds(t0, Clock::now())};
    const std::string s = cpu.Stop();
    if (publisher->stats().acked != msgs.size()) Die("raw publish: not every message acked");
    PrintRate("(d) bare JetStream publish, same sizes (limit)", r.raw, s);
    (void)js->DeleteStream("CDC");
  }

  // (e) the real cdc-bridge on its own slot (same WAL), no warehouse sink: from
  // spawn until streamadmin_cdc_events_acked_total (JetStream acks) reaches
  // --rows.
  if (run_bridge) {
    cpu.Start();
    const auto t0 = Clock::now();
    auto bridge = StartBridge(bridge_bin, pg, nats_url, dir, "bench_bridge_src", "bench_pub", "public.bench_src",
                              args.bridge_env);
    Clock::time_point first, end;
    double acked = 0, acked_first = 0;
    // A counter in another process: WaitFor (checks 1 ms apart at first, then
    // up to 50 ms: the end time is late by at most 50 ms, 0.5 % of ~10 s).
    (void)sa::testing::WaitFor(
        [&] {
          if (bridge.process->Exited()) return true;
          acked = ScrapeMetric(bridge.http_port, "streamadmin_cdc_events_acked_total");
          end = Clock::now();
          if (acked > 0 && acked_first == 0) {
            first = end;
            acked_first = acked;
          }
          return acked >= static_cast<double>(args.rows);
        },
        absl::Seconds(120));
    const std::string s = cpu.Stop();
    (void)bridge.process->Signal(SIGTERM);
    (void)bridge.process->Wait(absl::Seconds(20));
    if (acked < static_cast<double>(args.rows))
      Die(absl::StrCat("cdc-bridge acked ", acked, " of ", args.rows, " events; its output:\n", bridge.process->Output()));
    r.bridge = {static_cast<uint64_t>(args.rows), Seconds(t0, end)};
    r.bridge_streaming = {static_cast<uint64_t>(args.rows - static_cast<int64_t>(acked_first)), Seconds(first, end)};
    PrintRate("(e) real cdc-bridge, spawn -> last ack", r.bridge, s);
    std::printf("      from its first ack: %.0f /s (%.0f acked at the first scrape, %.2f s after spawn)\n",
                r.bridge_streaming.per_s(), acked_first, Seconds(t0, first));
  }

  // (f) the same events straight through nats.c.
  if (run_bare) {
    if (same_events.empty()) same_events = DecodeBridgeMessages(opts, args.rows);  // untimed: (c) did not run
    RecreateCdcStream(*js);
    std::string s_bare_cpu;
    r.bare = BareJetStreamPublish(nats_url, same_events, cpu, &s_bare_cpu);
    PrintRate("(f) same events, bare nats.c js_PublishMsgAsync", r.bare, s_bare_cpu);
    (void)js->DeleteStream("CDC");
  }
  return r;
}

// --- lag -----------------------------------------------------------------------------------

// Commits `txn_rows` rows every txn_rows/rate seconds into `table` for
// `seconds` (absolute deadlines); returns the offered rows and how often it
// was late by more than one period.
struct WriterResult {
  uint64_t rows = 0;
  uint64_t late = 0;
  double seconds = 0;
  int64_t start_us = 0;
};
WriterResult RunWriter(const std::string& dsn, const std::string& table, const Args& args) {
  auto w = CheckOr(sa::pg::Connection::Connect(dsn), "connect writer");
  const std::string sql = absl::StrCat("INSERT INTO ", table,
                                       " SELECT g, g * 1.5, md5(g::text), clock_timestamp() "
                                       "FROM generate_series($1::bigint, $2::bigint) g");
  const int64_t period_ns = args.lag_txn_rows * 1'000'000'000 / args.lag_rate;
  const int64_t ticks = static_cast<int64_t>(args.lag_s * 1e9) / period_ns;
  WriterResult r;
  r.start_us = RealtimeUs();
  timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  const auto t0 = Clock::now();
  int64_t id = 1;
  for (int64_t t = 0; t < ticks; ++t) {
    CheckOr(w->Exec(sql, {std::to_string(id), std::to_string(id + args.lag_txn_rows - 1)}), "writer insert");
    id += args.lag_txn_rows;
    r.rows += static_cast<uint64_t>(args.lag_txn_rows);
    next.tv_nsec += period_ns;
    while (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t behind = (now.tv_sec - next.tv_sec) * 1'000'000'000 + (now.tv_nsec - next.tv_nsec);
    if (behind > period_ns) ++r.late;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
  r.seconds = Seconds(t0, Clock::now());
  return r;
}

struct LagResult {
  Percentiles lat;
  WriterResult writer;
  uint64_t received = 0;
  std::string cpu;
};

std::string WriterLine(const WriterResult& w) {
  return absl::StrFormat("writer: %llu rows in %.2f s = %.0f rows/s offered, late by > 1 period %llu times",
                         static_cast<unsigned long long>(w.rows), w.seconds, static_cast<double>(w.rows) / w.seconds,
                         static_cast<unsigned long long>(w.late));
}

// A reduced copy of cdc-bridge's loop: Confirm(acked) -> Poll(50 ms) -> publish.
LagResult RunLag(sa::testing::PostgresServer& pg, const std::string& nats_url, CpuSampler& cpu, const Args& args) {
  std::printf("\n== lag via ReplicationClient + JetStreamPublisher (reduced bridge loop): %" PRId64
              " rows/s as %" PRId64 "-row transactions, %.0f s\n",
              args.lag_rate, args.lag_txn_rows, args.lag_s);
  Check(pg.Exec("CREATE TABLE bench_lag (id bigint PRIMARY KEY, v numeric, t text, ts timestamptz)"), "create");
  auto conn = ConnectNats(nats_url, "cdc-bench-lag");
  auto js = CheckOr(sa::bus::JetStream::Create(*conn), "JetStream");
  RecreateCdcStream(*js);

  struct Tx {
    uint64_t end_lsn;
    size_t remaining;
    int64_t commit_us;
  };
  std::mutex mu;
  std::map<uint64_t, Tx> pending;  // by commit LSN
  std::atomic<uint64_t> confirmable{0};
  std::vector<int64_t> lat_us;
  std::atomic<int64_t> count_from_us{INT64_MAX};  // commits before this are warm-up
  std::atomic<uint64_t> acked{0};

  sa::bus::JetStreamPublisher::Options popts;
  popts.on_ack = [&](const std::string& msg_id) {
    const int64_t now = RealtimeUs();
    const size_t a = msg_id.find(':'), b = msg_id.rfind(':');
    auto lsn = sa::cdc::ParseLsn(absl::string_view(msg_id).substr(a + 1, b - a - 1));
    if (!lsn.ok()) return;
    std::lock_guard lock(mu);
    auto it = pending.find(*lsn);
    if (it == pending.end()) return;
    if (it->second.commit_us >= count_from_us.load()) lat_us.push_back(now - it->second.commit_us);
    --it->second.remaining;
    uint64_t up_to = 0;
    while (!pending.empty() && pending.begin()->second.remaining == 0) {
      up_to = pending.begin()->second.end_lsn;
      pending.erase(pending.begin());
    }
    if (up_to > confirmable.load()) confirmable = up_to;
    acked.fetch_add(1);
  };
  auto publisher = CheckOr(sa::bus::JetStreamPublisher::Create(*conn, popts), "JetStreamPublisher");
  auto c = CheckOr(sa::cdc::ReplicationClient::Connect(ReplOptions(pg, "bench_lag", "bench_lag_pub", "public.bench_lag")),
                   "replication connect");
  Check(c->EnsurePublication(), "EnsurePublication");
  (void)CheckOr(c->EnsureSlot(), "EnsureSlot");
  Check(c->Start(), "Start");

  LagResult r;
  std::atomic<bool> writer_done{false};
  std::atomic<uint64_t> expected{0};
  count_from_us = RealtimeUs() + static_cast<int64_t>(args.warmup_s * 1e6);
  cpu.Start();
  std::thread writer([&] {
    r.writer = RunWriter(pg.dsn(), "bench_lag", args);
    expected = r.writer.rows;
    writer_done = true;
  });
  uint64_t published = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(static_cast<int>(args.lag_s) + 30);
  while (Clock::now() < deadline && !(writer_done && acked.load() >= expected.load())) {
    c->Confirm(confirmable.load());
    auto txs = CheckOr(c->Poll(absl::Milliseconds(50)), "Poll");
    const int64_t now_ms = RealtimeUs() / 1000;
    for (auto& tx : txs) {
      {
        std::lock_guard lock(mu);
        pending[tx.commit_lsn] = {tx.end_lsn, tx.events.size(), tx.commit_time_us};
      }
      for (size_t i = 0; i < tx.events.size(); ++i) {
        Check(publisher->Publish(BridgeMessage(tx.events[i], tx.commit_lsn, static_cast<uint32_t>(i), now_ms)),
              "Publish");
        ++published;
      }
    }
  }
  writer.join();
  r.cpu = cpu.Stop();
  Check(publisher->Flush(absl::Seconds(10)), "Flush");
  {
    std::lock_guard lock(mu);
    r.lat = Summarize(lat_us);
  }
  r.received = acked.load();
  std::printf("  %s\n  published %" PRIu64 ", acked %" PRIu64 "\n  commit -> JetStream ack: %s\n  cpu: %s\n",
              WriterLine(r.writer).c_str(), published, r.received, Format(r.lat).c_str(), r.cpu.c_str());
  std::fflush(stdout);
  return r;
}

// The real cdc-bridge binary; a core NATS subscriber timestamps arrivals.
LagResult RunBridgeLag(sa::testing::PostgresServer& pg, const std::string& nats_url, const std::string& dir,
                       CpuSampler& cpu, const Args& args) {
  LagResult r;
  const std::string bin = BinPath("cdc-bridge");
  if (::access(bin.c_str(), X_OK) != 0) {
    std::printf("\n== bridge_lag: %s not built, skipped\n", bin.c_str());
    return r;
  }
  std::printf("\n== lag via the real cdc-bridge (core NATS subscriber on cdc.bench.public.bench_bridge): %" PRId64
              " rows/s as %" PRId64 "-row transactions, %.0f s\n",
              args.lag_rate, args.lag_txn_rows, args.lag_s);
  Check(pg.Exec("CREATE TABLE bench_bridge (id bigint PRIMARY KEY, v numeric, t text, ts timestamptz)"), "create");
  auto conn = ConnectNats(nats_url, "cdc-bench-bridge-lag");
  auto js = CheckOr(sa::bus::JetStream::Create(*conn), "JetStream");
  (void)js->DeleteStream("CDC");  // the bridge creates it afresh

  std::mutex mu;
  std::vector<int64_t> lat_us;
  std::atomic<int64_t> from_us{INT64_MAX};  // commits before this are warm-up (set when the writer starts)
  std::atomic<uint64_t> received{0};
  auto sub = CheckOr(conn->Subscribe(sa::wire::CdcSubject(kServer, "public", "bench_bridge"),
                                     [&](const sa::bus::InboundMessage& m) {
                                       const int64_t now = RealtimeUs();
                                       cdcpb::ChangeEvent e;
                                       if (!e.ParseFromString(m.data)) return;
                                       received.fetch_add(1);
                                       if (e.source().commit_time_us() < from_us.load()) return;
                                       std::lock_guard lock(mu);
                                       lat_us.push_back(now - e.source().commit_time_us());
                                     }),
                     "subscribe");
  Check(conn->Flush(absl::Seconds(5)), "flush subscription");

  auto bridge = StartBridge(bin, pg, nats_url, dir, "bench_bridge", "bench_bridge_pub", "public.bench_bridge",
                            args.bridge_env);
  const std::string active_sql = "SELECT coalesce((SELECT active::text FROM pg_replication_slots WHERE slot_name = "
                                 "'bench_bridge'), 'none')";
  if (!sa::testing::WaitFor([&] { return Q(pg, active_sql) == "true" || Q(pg, active_sql) == "t"; },
                            absl::Seconds(30)))
    Die(absl::StrCat("cdc-bridge never streamed; its output:\n", bridge.process->Output()));

  from_us = RealtimeUs() + static_cast<int64_t>(args.warmup_s * 1e6);
  cpu.Start();
  r.writer = RunWriter(pg.dsn(), "bench_bridge", args);
  (void)sa::testing::WaitFor([&] { return received.load() >= r.writer.rows; }, absl::Seconds(30));
  r.cpu = cpu.Stop();
  r.received = received.load();
  {
    std::lock_guard lock(mu);
    r.lat = Summarize(lat_us);
  }
  (void)bridge.process->Signal(SIGTERM);
  auto code = bridge.process->Wait(absl::Seconds(20));
  std::printf("  %s\n  received %" PRIu64 " (cdc-bridge exit %s)\n  commit -> core NATS arrival: %s\n  cpu: %s\n",
              WriterLine(r.writer).c_str(), r.received,
              code.ok() ? std::to_string(*code).c_str() : code.status().ToString().c_str(), Format(r.lat).c_str(),
              r.cpu.c_str());
  std::fflush(stdout);
  if (r.received < r.writer.rows) std::printf("  WARNING: %" PRIu64 " events missing\n", r.writer.rows - r.received);
  return r;
}

// --- sink ------------------------------------------------------------------------------------

struct SinkResult {
  Rate insert, upsert, copy;
};

std::string RowText(int64_t id) { return absl::StrFormat("%016x%016x", id * 0x9E3779B97F4A7C15ULL, id * 31ULL); }
constexpr int64_t kTsBaseUs = 1'795'000'000'000'000;  // 2026-11-18

void AddColumn(cdcpb::ChangeEvent& e, const char* name, const char* type, uint32_t oid, bool pk,
               const std::function<void(cdcpb::Value*)>& set, bool after) {
  auto* c = after ? e.add_after() : e.add_before();
  c->set_name(name);
  c->set_type_name(type);
  c->set_type_oid(oid);
  c->set_key(pk);
  c->set_primary_key(pk);
  set(c->mutable_value());
}

std::vector<cdcpb::ChangeEvent> BuildEvents(int64_t n, cdcpb::Op op, uint64_t first_lsn, int64_t salt) {
  std::vector<cdcpb::ChangeEvent> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto& e = out[static_cast<size_t>(i)];
    e.set_op(op);
    auto* t = e.mutable_table();
    t->set_server(kServer);
    t->set_database("postgres");
    t->set_schema("public");
    t->set_table("bench_sink");
    e.mutable_source()->set_lsn(first_lsn + static_cast<uint64_t>(i / 1000));  // 1000 events per transaction
    e.mutable_source()->set_index(static_cast<uint32_t>(i % 1000));
    const int64_t id = i + 1;
    if (op == cdcpb::OP_UPDATE)
      AddColumn(e, "id", "int8", 20, true, [&](cdcpb::Value* v) { v->set_int_value(id); }, false);
    AddColumn(e, "id", "int8", 20, true, [&](cdcpb::Value* v) { v->set_int_value(id); }, true);
    AddColumn(e, "v", "numeric", 1700, false,
              [&](cdcpb::Value* v) { v->set_numeric_value(absl::StrCat(id + salt, ".5")); }, true);
    AddColumn(e, "t", "text", 25, false, [&](cdcpb::Value* v) { v->set_text_value(RowText(id + salt)); }, true);
    AddColumn(e, "ts", "timestamptz", 1184, false,
              [&](cdcpb::Value* v) { v->set_timestamptz_us(kTsBaseUs + (id + salt) * 1000); }, true);
  }
  return out;
}

Rate ApplyAll(sa::warehouse::ChangeApplier& applier, const std::vector<cdcpb::ChangeEvent>& events, int64_t batch) {
  const auto t0 = Clock::now();
  for (size_t start = 0; start < events.size(); start += static_cast<size_t>(batch)) {
    const size_t end = std::min(events.size(), start + static_cast<size_t>(batch));
    std::vector<const cdcpb::ChangeEvent*> ptrs;
    ptrs.reserve(end - start);
    for (size_t i = start; i < end; ++i) ptrs.push_back(&events[i]);
    auto res = CheckOr(applier.Apply(kServer, ptrs, events[end - 1].source().lsn()), "Apply");
    if (res.applied != ptrs.size() || !res.rejected.empty() || res.slow_path)
      Die(absl::StrCat("Apply: ", res.applied, " applied of ", ptrs.size(), ", ", res.rejected.size(),
                       " rejected, slow path ", res.slow_path));
  }
  return {events.size(), Seconds(t0, Clock::now())};
}

SinkResult RunSink(sa::testing::PostgresServer& pg, CpuSampler& cpu, const Args& args) {
  std::printf("\n== sink: %" PRId64 " rows, batches of %" PRId64 "\n", args.sink_rows, args.sink_batch);
  SinkResult r;
  const std::string db = absl::StrCat("sink_", ::getpid());
  Check(pg.Exec(absl::StrCat("CREATE DATABASE ", db)), "create database");
  const std::string dsn = absl::StrCat(pg.dsn(), " dbname=", db);
  auto inserts = BuildEvents(args.sink_rows, cdcpb::OP_CREATE, 1000, 0);
  auto updates = BuildEvents(args.sink_rows, cdcpb::OP_UPDATE, 1000 + static_cast<uint64_t>(args.sink_rows), 7);

  auto applier = CheckOr(sa::warehouse::ChangeApplier::Connect({.conninfo = dsn}), "ChangeApplier");
  cpu.Start();
  r.insert = ApplyAll(*applier, inserts, args.sink_batch);
  PrintRate("ChangeApplier inserts (empty table)", r.insert, cpu.Stop());
  cpu.Start();
  r.upsert = ApplyAll(*applier, updates, args.sink_batch);
  PrintRate("ChangeApplier updates (every key present)", r.upsert, cpu.Stop());
  const std::string check = CheckOr(
      pg.Query(absl::StrCat("SELECT count(*), sum(v) FROM cdc_", kServer, "_public.bench_sink"), db), "check");
  std::printf("      target count, sum(v): %s\n", check.c_str());

  // Raw limit: COPY of the same rows (the insert images) into an identical table.
  Check(pg.Exec("CREATE TABLE copy_target (id bigint PRIMARY KEY, v numeric, t text, ts timestamp with time zone)", db),
        "create copy_target");
  std::vector<std::string> chunks;
  for (int64_t start = 0; start < args.sink_rows; start += args.sink_batch) {
    std::string buf;
    for (int64_t i = start; i < std::min(args.sink_rows, start + args.sink_batch); ++i) {
      const int64_t id = i + 1;
      absl::StrAppend(&buf, id, "\t", id, ".5\t", RowText(id), "\t",
                      absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(kTsBaseUs + id * 1000),
                                       absl::UTCTimeZone()),
                      "\n");
    }
    chunks.push_back(std::move(buf));
  }
  auto pc = CheckOr(sa::pg::Connection::Connect(dsn), "connect copy");
  PGconn* raw = pc->raw();
  cpu.Start();
  const auto t0 = Clock::now();
  for (const auto& chunk : chunks) {
    PGresult* res = PQexec(raw, "COPY copy_target (id, v, t, ts) FROM STDIN");
    if (PQresultStatus(res) != PGRES_COPY_IN) Die(absl::StrCat("COPY: ", PQerrorMessage(raw)));
    PQclear(res);
    if (PQputCopyData(raw, chunk.data(), static_cast<int>(chunk.size())) != 1 || PQputCopyEnd(raw, nullptr) != 1)
      Die(absl::StrCat("COPY data: ", PQerrorMessage(raw)));
    while ((res = PQgetResult(raw)) != nullptr) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK) Die(absl::StrCat("COPY: ", PQerrorMessage(raw)));
      PQclear(res);
    }
  }
  r.copy = {static_cast<uint64_t>(args.sink_rows), Seconds(t0, Clock::now())};
  PrintRate("COPY FROM STDIN, same rows (limit)", r.copy, cpu.Stop());
  std::printf("      copy_target count: %s\n",
              CheckOr(pg.Query("SELECT count(*) FROM copy_target", db), "count").c_str());
  return r;
}

// --- main ---------------------------------------------------------------------------------------

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto [key, value] = sa::bench::SplitFlag(arg);
    bool ok = true;
    if (key == "--rows") ok = absl::SimpleAtoi(value, &a.rows) && a.rows > 0;
    else if (key == "--txn_rows") ok = absl::SimpleAtoi(value, &a.txn_rows) && a.txn_rows > 0;
    else if (key == "--lag_rate") ok = absl::SimpleAtoi(value, &a.lag_rate) && a.lag_rate > 0;
    else if (key == "--lag_txn_rows") ok = absl::SimpleAtoi(value, &a.lag_txn_rows) && a.lag_txn_rows > 0;
    else if (key == "--lag_s") ok = absl::SimpleAtod(value, &a.lag_s) && a.lag_s > 0 && a.lag_s <= 120;
    else if (key == "--warmup_s") ok = absl::SimpleAtod(value, &a.warmup_s) && a.warmup_s >= 0;
    else if (key == "--sink_rows") ok = absl::SimpleAtoi(value, &a.sink_rows) && a.sink_rows > 0;
    else if (key == "--sink_batch") ok = absl::SimpleAtoi(value, &a.sink_batch) && a.sink_batch > 0 && a.sink_batch % 1000 == 0;
    else if (key == "--phases") {
      a.phases.clear();
      for (absl::string_view p : absl::StrSplit(value, ',', absl::SkipEmpty())) a.phases.insert(std::string(p));
    } else if (key == "--bridge_env") {
      a.bridge_env = value;
      ok = absl::StrContains(value, "=");
    } else if (key == "--source_steps") {
      a.source_steps = value;
    } else if (key == "--keep") a.keep = true;
    else if (key == "--json") ok = !(a.json_path = value).empty();
    else ok = false;
    if (!ok)
      Die(absl::StrCat("bad argument '", arg,
                       "'\nusage: cdc_bench [--rows=N] [--txn_rows=N] [--lag_rate=N] [--lag_txn_rows=N] [--lag_s=S] "
                       "[--warmup_s=S] [--sink_rows=N] [--sink_batch=N (multiple of 1000)] "
                       "[--phases=source,lag,bridge_lag,sink] [--source_steps=abcdef] [--bridge_env=K=V] [--keep] "
                       "[--json=PATH]"));
  }
  if (a.warmup_s >= a.lag_s) Die("--warmup_s must be shorter than --lag_s");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  sa::bench::StartWatchdog("cdc_bench", kWatchdogSeconds);
  const auto bench_start = Clock::now();
  std::printf("cdc_bench %s UTC, load average %s\n",
              absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(), LoadAvg().c_str());

  auto dir = CheckOr(sa::testing::TempDir::Create("cdc-bench"), "TempDir");
  sa::testing::NatsServer::Options nopts;
  nopts.store_dir = dir.path() + "/jetstream";
  auto nats = CheckOr(sa::testing::NatsServer::Start(nopts), "start nats-server");
  auto pg = CheckOr(sa::testing::PostgresServer::Start(), "start PostgreSQL");
  std::printf("nats-server %s (file storage in %s); PostgreSQL %s\n", nats->url().c_str(), nats->store_dir().c_str(),
              pg->dsn().c_str());
  CpuSampler cpu(PostmasterPid(*pg), nats->pid());

  SourceResult source;
  LagResult lag, bridge_lag;
  SinkResult sink;
  if (args.phases.count("source")) source = RunSource(*pg, nats->url(), dir.path(), cpu, args);
  if (args.phases.count("lag")) lag = RunLag(*pg, nats->url(), cpu, args);
  if (args.phases.count("bridge_lag")) bridge_lag = RunBridgeLag(*pg, nats->url(), dir.path(), cpu, args);
  if (args.phases.count("sink")) sink = RunSink(*pg, cpu, args);

  std::printf("\n== summary (%.1f s total, load average now %s)\n", Seconds(bench_start, Clock::now()),
              LoadAvg().c_str());
  std::printf("| figure | measured | limit in the same run | target |\n|---|---|---|---|\n");
  if (args.phases.count("source")) {
    std::printf("| (a) pg_recvlogical + test_decoding, %" PRId64 " events | %.0f events/s | | |\n", args.rows,
                source.recvlogical.per_s());
    std::printf("| (b) ReplicationClient decode only | %.0f events/s | %.0f (a) | |\n", source.decode.per_s(),
                source.recvlogical.per_s());
    std::printf("| (c) source events/s into JetStream | **%.0f events/s** | %.0f (a), %.0f (d) | >= 50k: %s |\n",
                source.publish.per_s(), source.recvlogical.per_s(), source.raw.per_s(),
                source.publish.per_s() >= 50000 ? "met" : "MISSED");
    std::printf("| (d) bare JetStream publish, %.0f B avg | %.0f msg/s | (the limit) | |\n", source.avg_payload,
                source.raw.per_s());
    if (source.bridge.events > 0)
      std::printf("| (e) real cdc-bridge into JetStream (spawn -> last ack; from first ack) | **%.0f events/s**; %.0f "
                  "events/s | %.0f (a), %.0f (d) | >= 50k: %s |\n",
                  source.bridge.per_s(), source.bridge_streaming.per_s(), source.recvlogical.per_s(), source.raw.per_s(),
                  source.bridge.per_s() >= 50000 ? "met" : "MISSED");
    if (source.bare.events > 0)
      std::printf("| (f) the same events, bare nats.c JetStream async publish | %.0f msg/s | (context for (e)) | |\n",
                  source.bare.per_s());
  }
  auto lag_row = [&](const char* name, const LagResult& l) {
    if (l.lat.n == 0) return;
    std::printf("| %s @ %" PRId64 " rows/s | p50 %.1f / p99 **%.1f** / max %.1f ms | | p99 < 100 ms: %s |\n", name,
                args.lag_rate, l.lat.p50, l.lat.p99, l.lat.max, l.lat.p99 < 100 ? "met" : "MISSED");
  };
  lag_row("lag commit -> JetStream ack (reduced bridge loop)", lag);
  lag_row("lag commit -> core NATS arrival (real cdc-bridge)", bridge_lag);
  if (args.phases.count("sink")) {
    std::printf("| sink inserts, ChangeApplier | **%.0f rows/s** | %.0f (COPY) | >= 100k: %s |\n", sink.insert.per_s(),
                sink.copy.per_s(), sink.insert.per_s() >= 100000 ? "met" : "MISSED");
    std::printf("| sink updates (upsert), ChangeApplier | %.0f rows/s | %.0f (COPY) | >= 100k: %s |\n",
                sink.upsert.per_s(), sink.copy.per_s(), sink.upsert.per_s() >= 100000 ? "met" : "MISSED");
    std::printf("| COPY FROM STDIN | %.0f rows/s | (the limit) | |\n", sink.copy.per_s());
  }
  std::fflush(stdout);
  if (!args.json_path.empty()) {
    // One round (scripts/bench.sh runs the binary once per round); rates per
    // second, latencies in ms; a phase or step not run gives no keys.
    std::vector<std::pair<std::string, double>> f;
    auto put = [&](const char* key, double v) {
      if (v > 0) f.push_back({key, v});
    };
    if (args.phases.count("source")) {
      put("recvlogical_events_s", source.recvlogical.per_s());
      put("decode_events_s", source.decode.per_s());
      put("source_loop_events_s", source.publish.per_s());
      put("raw_publish_msg_s", source.raw.per_s());
      put("bridge_events_s", source.bridge.per_s());
      put("bridge_streaming_events_s", source.bridge_streaming.per_s());
      put("bare_js_publish_msg_s", source.bare.per_s());
    }
    if (lag.lat.n > 0) put("lag_p99_ms", lag.lat.p99);
    if (bridge_lag.lat.n > 0) put("bridge_lag_p99_ms", bridge_lag.lat.p99);
    if (args.phases.count("sink")) {
      put("sink_insert_rows_s", sink.insert.per_s());
      put("sink_upsert_rows_s", sink.upsert.per_s());
      put("copy_rows_s", sink.copy.per_s());
    }
    std::string out = "{\"bench\": \"cdc\", \"rounds\": [{";
    for (size_t i = 0; i < f.size(); ++i)
      absl::StrAppend(&out, i ? ", " : "", "\"", f[i].first, "\": ", absl::StrFormat("%.3f", f[i].second));
    absl::StrAppend(&out, "}]}\n");
    std::ofstream file(args.json_path);
    file << out;
    if (!file.flush()) Die("cannot write " + args.json_path);
  }
  if (args.keep) {
    std::printf("kept %s\n", dir.path().c_str());
    std::_Exit(0);
  }
  return 0;
}
