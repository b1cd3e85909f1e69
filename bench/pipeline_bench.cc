// Market data pipeline throughput and latency, against a real nats-server,
// in one run (see docs/PERFORMANCE.md for the figures and how to read them).
//
//   build/bench/pipeline_bench [--messages=200000] [--fetch_batch=0]
//                              [--rate=20000] [--latency_s=12] [--warmup_s=2]
//                              [--phases=rtt,transport,relay,e2e,relay_latency,latency,services]
//                              [--rounds=1] [--reader=core|pull] [--pace_us=250] [--keep]
//                              [--json=PATH]
//
// The harness starts its own nats-server (sa::testing::NatsServer: loopback,
// free port, fresh store directory, JetStream file storage as the streams of
// production say) and, for the pipeline phases, the real `normalizer` binary.
// --rounds=N runs every selected phase N times, each round on a fresh
// nats-server and normalizer, and adds the medians (runs on this shared
// machine differ by +-15 %; each round's ratio is taken within the round).
//
// Workload: every recv and http frame of the four recordings in
// shared/fixtures/exchanges, repeated in passes until --messages frames. Each
// pass uses new conn ids ("bench.<pass>.<recorded conn>", frame_seq 1, 2, ...
// per conn), as ingest's looping replay does, so every Nats-Msg-Id is unique
// and the decoders see every pass as a new connection; venue sequence numbers
// and trade ids are shifted per pass (RenumberForPass). Payloads above 64 KiB
// are zstd-compressed with Sa-Encoding: zstd exactly as ingest does; the
// compression is done before timing (it is ingest's cost, not the transport's).
//
//   rtt        Core NATS ping-pong through bus::Connection with publishes
//              left to nats.c's flusher thread, then written at once
//              (Publish + Flush): shows the client-side write delay.
//   transport  The transport limit. The workload through MD_RAW
//              (runtime::MdRawStream()) with a bare bus::JetStreamPublisher
//              and a bare pull consumer (Fetch + Ack, no decoding):
//                publish-only   into an empty stream, nobody consuming;
//                consume-only   the stored stream read back by a durable;
//                combined       fresh stream, publisher and consumer at once:
//                               first publish -> last message consumed.
//   e2e        The same frames published to md.raw.<venue> (by this harness,
//              with ingest's headers and msg ids, not by the ingest binary)
//              while the normalizer consumes them; a subscriber reads the
//              canonical outputs: --reader=core (default) core NATS
//              subscriptions on md.{trade,book,ticker,candle,status}.>, as a
//              user subscribes to the subjects; --reader=pull a durable pull
//              consumer on stream MD, an ack per message. Raw frames/s = frames / (first
//              raw publish -> the normalizer's durable has acked the last frame;
//              it acks only after the frame's outputs are stored in MD).
//   relay      The limit of e2e (issue [13]): the same frames through the
//              same two JetStream hops with a bare relay process in place of
//              the normalizer (fetch, republish the bytes, ack once stored;
//              see RunRelayProcess). Frames/s measured as in e2e.
//   relay_latency  The latency phase below through the bare relay: a core
//              subscriber on relay.> takes now - Sa-Recv-Ns of each copy.
//              Both latency phases also sample the resident memory of the
//              normalizer (relay) and nats-server every 50 ms after the warm-up.
//   services   The latency phase's load once more, through the normalizer
//              and the real anomaly, views (one filter view) and
//              warehouse-sink (into its own PostgreSQL) binaries, sampling
//              the resident memory of each (RunServices).
//   latency    Trade frames (Kraken `trade`, Binance `aggTrade`) paced at
//              --rate msg/s on two new conns (what is due is published on one
//              wake-up every --pace_us; 0: a sleep per frame), Sa-Recv-Ns =
//              publish time, their
//              exchange times rewritten to now and Binance aggregate trade ids
//              renumbered (as a live feed would look). First the transport
//              alone: the same paced frames into a stream configured like
//              MD_RAW, read by a bare pull consumer (now - Sa-Recv-Ns). Then
//              through the normalizer: a core NATS subscriber on md.trade.>
//              records now - origin.receive_time_ns. The first --warmup_s of
//              each are not counted.
//
// --fetch_batch: the normalizer's consumer.fetch_batch (0: its default, 1024)
// --prefetch: consumer.prefetch of the normalizer and of the bare consumers
//   (default 2048, the normalizer's; 0: a pull request per Fetch)
// --send_asap=none|normalizer|all: nats.send_asap on the normalizer, or on
//   it and every harness connection (default none, as shipped)
// and the bare consumers' batch (0: 1024, the same). Each phase also prints the
// CPU used by the normalizer, nats-server, this harness and everything else
// on the machine, so a run on a shared machine says how shared it was.
// Running it with LD_PRELOAD=build/bench/libnats_send_asap_preload.so is an
// experiment (see nats_send_asap_preload.cc); the first lines say which.
//
// --json=PATH writes every round's figures (scripts/bench.sh reads it).
// Bounded: every wait has a deadline and a watchdog ends the process after
// 300 s a round (children die with it: PR_SET_PDEATHSIG). Loopback traffic only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
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
#include "bus/kv.h"
#include "cli/control_client.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/raw_codec.h"
#include "marketdata/raw_wire.h"
#include "marketdata/recording.h"
#include "runtime/main.h"
#include "runtime/streams.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "streamadmin/views/v1/views.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "wire/subjects.h"

namespace {

namespace cfg = ::streamadmin::config::v1;
namespace mdpb = ::streamadmin::marketdata::v1;
using Clock = std::chrono::steady_clock;
using sa::md::RawFrame;

constexpr size_t kCompressOverBytes = 64 << 10;  // ingest's threshold (services/ingest/src/app.cc)
constexpr int kWatchdogSeconds = 300;            // per round (a loaded round took 160 s)
// The normalizer's consumer.fetch_batch default (services/normalizer/src/config.cc).
constexpr int kDefaultFetchBatch = 1024;
// And its consumer.prefetch default; the bare consumers use the same value
// (--prefetch sets both; 0 turns standing requests off).
constexpr int kDefaultPrefetch = 2048;
int g_prefetch = kDefaultPrefetch;
// --send_asap: nats.send_asap for "none", the "normalizer" only, or "all"
// (the normalizer and every harness connection).
std::string g_send_asap = "none";
// --reader: how e2e's subscriber reads the canonical messages. "core": a core
// NATS subscription on md.{trade,book,ticker,candle,status}.> (what a user
// subscribing to the subjects does); "pull": a durable pull consumer on MD
// with prefetch and an ack per message.
std::string g_reader = "core";

struct Args {
  int64_t messages = 200000;
  int fetch_batch = 0;  // 0: the normalizer's default (and kDefaultFetchBatch for the bare consumer, the same value)
  int rate = 20000;
  int64_t pace_us = 250;  // latency phase: publish what is due every pace_us (0: a sleep per frame)
  int rounds = 1;         // each on a fresh nats-server and normalizer; the summary adds medians
  std::vector<std::string> nats_args;  // --nats_arg=X (repeatable): appended to nats-server's command line
  double latency_s = 12;
  double warmup_s = 2;
  std::set<std::string> phases = {"rtt", "transport", "relay", "e2e", "relay_latency", "latency", "services"};
  bool keep = false;  // keep the temp dir (normalizer log, nats-server log)
  std::string json_path;  // --json=PATH: every round's figures as JSON
  std::string as_relay;   // --as_relay=URL: be the bare relay process (internal)
};

using sa::bench::Check;
using sa::bench::CheckOr;
using sa::bench::Die;
using sa::bench::Seconds;

int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

using sa::bench::FixturePath;
using sa::bench::MachineJiffies;

// --- output -------------------------------------------------------------------

struct Rate {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double per_s() const { return seconds > 0 ? static_cast<double>(messages) / seconds : 0; }
  double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
};

void PrintRate(const std::string& name, const Rate& r) {
  std::printf("  %-34s %9" PRIu64 " msgs %8.1f MB in %6.3f s = %10.0f msg/s %8.1f MB/s\n", name.c_str(), r.messages,
              static_cast<double>(r.bytes) / 1e6, r.seconds, r.per_s(), r.mb_per_s());
  std::fflush(stdout);
}

// --- CPU accounting (to tell CPU-bound from waiting) ----------------------------

// utime + stime of a /proc stat line, in seconds.
double StatCpuSeconds(const std::string& path, std::string* comm = nullptr) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return 0;
  const size_t open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return 0;
  if (comm) *comm = line.substr(open + 1, close - open - 1);
  std::vector<std::string> f = absl::StrSplit(line.substr(close + 2), ' ');
  // After "pid (comm) ": state=0 ... utime=11 stime=12 (fields 14 and 15 of proc(5)).
  uint64_t ut = 0, st = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &ut) || !absl::SimpleAtoi(f[12], &st)) return 0;
  return static_cast<double>(ut + st) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU seconds of every thread of `pid`, by tid, with the thread's name.
std::map<std::string, std::pair<std::string, double>> ThreadCpu(pid_t pid) {
  std::map<std::string, std::pair<std::string, double>> out;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  for (const auto& entry : std::filesystem::directory_iterator(dir, std::filesystem::directory_options::skip_permission_denied)) {
    std::string comm;
    const double s = StatCpuSeconds(entry.path().string() + "/stat", &comm);
    out[entry.path().filename().string()] = {comm, s};
  }
  return out;
}

// CPU seconds of every process on the machine, by pid, with its name.
std::map<pid_t, std::pair<std::string, double>> AllProcessCpu() {
  std::map<pid_t, std::pair<std::string, double>> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    pid_t pid;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::string comm;
    const double s = StatCpuSeconds(entry.path().string() + "/stat", &comm);
    out[pid] = {comm, s};
  }
  return out;
}

// What some processes and the machine did between Start() and Report().
class CpuWatch {
 public:
  explicit CpuWatch(std::vector<std::pair<std::string, pid_t>> processes) : processes_(std::move(processes)) {}
  void Start() {
    before_.clear();
    for (const auto& [name, pid] : processes_) before_.push_back(ThreadCpu(pid));
    all_before_ = AllProcessCpu();
    machine_ = MachineJiffies();
    t0_ = Clock::now();
  }
  // "normalizer 0.93 cores (busiest thread 'normalizer' 0.71), nats-server 1.02 cores, ..., machine 1.87 of 2 busy"
  std::string Report() const {
    const double wall = Seconds(t0_, Clock::now());
    std::string out;
    for (size_t i = 0; i < processes_.size(); ++i) {
      double total = 0, top = 0;
      std::string top_name;
      for (const auto& [tid, v] : ThreadCpu(processes_[i].second)) {
        auto it = before_[i].find(tid);
        const double d = v.second - (it == before_[i].end() ? 0 : it->second.second);
        total += d;
        if (d > top) {
          top = d;
          top_name = v.first;
        }
      }
      absl::StrAppend(&out, processes_[i].first, " ", absl::StrFormat("%.2f", total / wall), " cores (busiest thread '",
                      top_name, "' ", absl::StrFormat("%.2f", top / wall), "), ");
    }
    const auto [busy, all] = MachineJiffies();
    const double cores = static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN));
    const double machine = all > machine_.second ? cores * static_cast<double>(busy - machine_.first) /
                                                       static_cast<double>(all - machine_.second)
                                                 : 0;
    absl::StrAppend(&out, "machine ", absl::StrFormat("%.2f", machine), " of ", cores, " cores busy");
    // Everything else that ran meanwhile (other jobs on a shared machine).
    std::set<pid_t> ours;
    for (const auto& [name, pid] : processes_) ours.insert(pid);
    double others = 0;
    std::vector<std::pair<double, std::string>> top;
    for (const auto& [pid, v] : AllProcessCpu()) {
      if (ours.count(pid)) continue;
      auto it = all_before_.find(pid);
      const double d = v.second - (it == all_before_.end() ? 0 : it->second.second);
      if (d <= 0) continue;
      others += d;
      top.push_back({d, v.first});
    }
    std::sort(top.rbegin(), top.rend());
    double ours_cores = 0;
    for (size_t i = 0; i < processes_.size(); ++i) {
      for (const auto& [tid, v] : ThreadCpu(processes_[i].second)) {
        auto it = before_[i].find(tid);
        ours_cores += (v.second - (it == before_[i].end() ? 0 : it->second.second)) / wall;
      }
    }
    // machine - ours also counts processes that started and ended meanwhile
    // (compiler jobs, tests) and interrupt time, which no /proc/<pid> shows.
    absl::StrAppend(&out, "; everything else ", absl::StrFormat("%.2f", std::max(0.0, machine - ours_cores)),
                    " cores, of which live processes ", absl::StrFormat("%.2f", others / wall));
    for (size_t i = 0; i < std::min<size_t>(3, top.size()); ++i)
      absl::StrAppend(&out, i == 0 ? " (" : ", ", top[i].second, " ", absl::StrFormat("%.2f", top[i].first / wall));
    if (!top.empty()) absl::StrAppend(&out, ")");
    return out;
  }

 private:
  std::vector<std::pair<std::string, pid_t>> processes_;
  std::vector<std::map<std::string, std::pair<std::string, double>>> before_;
  std::map<pid_t, std::pair<std::string, double>> all_before_;
  std::pair<uint64_t, uint64_t> machine_;
  Clock::time_point t0_;
};

// --- workload -------------------------------------------------------------------

struct Workload {
  std::vector<sa::bus::Message> messages;
  uint64_t wire_bytes = 0;   // payload bytes as published (compressed where ingest compresses)
  uint64_t frame_bytes = 0;  // frame text before compression
  int passes = 0;
  size_t frames_per_pass = 0;
};

struct VenueFile {
  const char* venue;
  const char* file;
};
constexpr VenueFile kVenues[] = {{"kraken", "kraken.jsonl.zst"},
                                 {"binance", "binance.jsonl.zst"},
                                 {"coinbase-exchange", "coinbase-exchange.jsonl.zst"},
                                 {"coinbase", "coinbase-advanced-trade.jsonl.zst"}};

// Adds `offset` to every number after `"key":` (or inside `"key":"..."` when
// `quoted`); other occurrences of the key (e.g. Binance's "a":[asks]) stay.
void OffsetNumbers(std::string& text, const std::string& key, bool quoted, uint64_t offset) {
  const std::string needle = absl::StrCat("\"", key, "\":", quoted ? "\"" : "");
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at)) {
    at += needle.size();
    size_t end = at;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    uint64_t value;
    if (end == at || !absl::SimpleAtoi(absl::string_view(text).substr(at, end - at), &value)) continue;
    const std::string shifted = std::to_string(value + offset);
    text.replace(at, end - at, shifted);
    at += shifted.size();
  }
}

// Pass `run` of a frame as a live feed would carry it: the venue's message
// sequence numbers and trade ids moved past every earlier pass, so the
// decoders see no out-of-order data (Coinbase Exchange checks `sequence` per
// product across connections) and MD's dedup keeps every trade (trade outputs
// are keyed by the venue's trade id). Books need nothing: each pass brings its
// own snapshots. Called on uncompressed payloads only (snapshots need nothing).
void RenumberForPass(const std::string& venue, int run, std::string& text) {
  if (run == 0) return;
  const uint64_t offset = static_cast<uint64_t>(run) * 10'000'000'000ULL;
  if (venue == "coinbase-exchange") {
    OffsetNumbers(text, "sequence", false, offset);
    OffsetNumbers(text, "trade_id", false, offset);
  } else if (venue == "coinbase") {
    OffsetNumbers(text, "trade_id", true, offset);
  } else if (venue == "binance" && text.find(R"("e":"aggTrade")") != std::string::npos) {
    OffsetNumbers(text, "a", false, offset);
  }
}

Workload BuildWorkload(int64_t min_messages) {
  struct Prepared {
    std::string venue, conn, kind, url, payload;
    uint64_t frame_seq, frame_bytes;
    bool zstd;
  };
  std::vector<Prepared> pass;
  for (const auto& v : kVenues) {
    auto frames = CheckOr(sa::md::ReadRawFrames(FixturePath(v.file), v.venue), v.file);
    for (RawFrame& f : frames) {
      Prepared p{f.venue, f.conn, std::string(sa::md::FrameKindName(f.kind)), f.url, f.data, f.frame_seq, f.data.size(), false};
      p.payload.shrink_to_fit();
      p.zstd = sa::md::CompressRawPayload(&p.payload, kCompressOverBytes);
      pass.push_back(std::move(p));
    }
  }
  Workload w;
  w.frames_per_pass = pass.size();
  w.passes = static_cast<int>((static_cast<size_t>(min_messages) + pass.size() - 1) / pass.size());
  w.messages.reserve(pass.size() * static_cast<size_t>(w.passes));
  const std::string now = std::to_string(RealtimeNs());
  for (int run = 0; run < w.passes; ++run) {
    for (const Prepared& p : pass) {
      sa::bus::Message m;
      const std::string conn = absl::StrCat("bench.", run, ".", p.conn);
      m.subject = sa::md::RawSubject(p.venue);
      m.msg_id = sa::md::RawMsgId(p.venue, conn, p.frame_seq);
      m.headers = {{sa::md::kHeaderConn, conn},
                   {sa::md::kHeaderFrameSeq, std::to_string(p.frame_seq)},
                   {sa::md::kHeaderRecvNs, now},
                   {sa::md::kHeaderKind, p.kind}};
      if (!p.url.empty()) m.headers.emplace_back(sa::md::kHeaderUrl, p.url);
      if (p.zstd) m.headers.emplace_back(sa::md::kHeaderEncoding, sa::md::kEncodingZstd);
      m.data = p.payload;
      if (!p.zstd) RenumberForPass(p.venue, run, m.data);
      w.wire_bytes += m.data.size();
      w.frame_bytes += p.frame_bytes;
      w.messages.push_back(std::move(m));
    }
  }
  return w;
}

// --- bus helpers -------------------------------------------------------------------

std::unique_ptr<sa::bus::Connection> Connect(const std::string& url, const std::string& name) {
  cfg::ServerConfig server;
  cfg::LogConfig log;
  cfg::NatsConfig nats;
  sa::runtime::SetCommonDefaults(0, 0, &server, &log, &nats);  // the services' defaults
  nats.clear_servers();
  nats.add_servers(url);
  nats.set_name(name);
  nats.set_send_asap(g_send_asap == "all");
  auto conn = CheckOr(sa::bus::Connection::Connect(nats), "connect");
  if (!conn->WaitConnected(absl::Seconds(10))) Die("not connected to nats-server");
  return conn;
}

cfg::ConsumerConfig BareConsumer(const std::string& stream, const std::string& durable, const std::string& filter,
                                 int fetch_batch) {
  cfg::ConsumerConfig c;  // as the normalizer's default consumer, other name
  c.set_stream(stream);
  c.set_durable(durable);
  c.set_filter_subject(filter);
  c.set_ack_wait_s(30);
  c.set_max_ack_pending(20000);
  c.set_fetch_batch(static_cast<uint32_t>(fetch_batch));
  c.set_prefetch(static_cast<uint32_t>(g_prefetch));
  return c;
}

void RecreateStream(sa::bus::JetStream& js, const cfg::StreamConfig& config) {
  (void)js.DeleteStream(config.name());  // NotFound the first time
  Check(js.EnsureStream(config), "EnsureStream " + config.name());
}

// Publishes `messages` with one JetStreamPublisher and waits for every ack.
// Returns the time the first Publish started and the time Flush returned.
std::pair<Clock::time_point, Clock::time_point> PublishAll(sa::bus::Connection& conn,
                                                           const std::vector<sa::bus::Message>& messages) {
  auto publisher = CheckOr(sa::bus::JetStreamPublisher::Create(conn), "JetStreamPublisher");
  const auto start = Clock::now();
  for (const auto& m : messages) Check(publisher->Publish(m), "Publish");
  Check(publisher->Flush(absl::Seconds(60)), "Flush");
  const auto end = Clock::now();
  const auto st = publisher->stats();
  if (st.failed != 0) Die(absl::StrCat(st.failed, " publishes failed"));
  std::printf("    (publisher: %" PRIu64 " acked, %" PRIu64 " retried, max in flight %" PRId64 " of %" PRId64 ")\n", st.acked,
              st.retried, st.max_in_flight, publisher->max_pending_acks());
  return {start, end};
}

// A bare pull consumer: Fetch + Ack until `expected` messages or `deadline`.
struct ConsumeResult {
  uint64_t messages = 0, bytes = 0;
  Clock::time_point first, last;
  std::map<std::string, uint64_t> by_kind;  // subject's second token (MD outputs)
};
ConsumeResult ConsumeAll(sa::bus::Connection& conn, const cfg::ConsumerConfig& config, uint64_t expected,
                         Clock::time_point deadline, const std::atomic<bool>* stop = nullptr, bool by_kind = false,
                         std::atomic<uint64_t>* progress = nullptr) {
  auto js = CheckOr(sa::bus::JetStream::Create(conn), "JetStream");
  Check(js->EnsurePullConsumer(config), "EnsurePullConsumer " + config.durable());
  auto sub = CheckOr(js->PullSubscribe(config), "PullSubscribe " + config.durable());
  ConsumeResult r;
  while (r.messages < expected && Clock::now() < deadline && !(stop && stop->load())) {
    auto msgs = sub->Fetch(static_cast<int>(config.fetch_batch()), absl::Milliseconds(100));
    if (!msgs.ok()) {
      std::fprintf(stderr, "fetch %s: %s\n", config.durable().c_str(), msgs.status().ToString().c_str());
      continue;
    }
    if (msgs->empty()) continue;
    const auto now = Clock::now();
    if (r.messages == 0) r.first = now;
    r.last = now;
    for (auto& m : *msgs) {
      r.bytes += m.data().size();
      if (by_kind) {
        std::vector<absl::string_view> tokens = absl::StrSplit(m.subject(), '.');
        ++r.by_kind[tokens.size() > 1 ? std::string(tokens[1]) : m.subject()];
      }
      (void)m.Ack();
    }
    r.messages += msgs->size();
    if (progress) progress->store(r.messages);
  }
  return r;
}

// GET http://127.0.0.1:port/metrics: {metric line name with labels -> value}.
std::map<std::string, double> ScrapeMetrics(int port) {
  std::map<std::string, double> out;
  const std::string body = sa::bench::FetchMetricsText(port);
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.rfind(' ');
    double v;
    if (sp == absl::string_view::npos || !absl::SimpleAtod(line.substr(sp + 1), &v)) continue;
    out[std::string(line.substr(0, sp))] = v;
  }
  return out;
}
double SumMetric(const std::map<std::string, double>& m, const std::string& prefix) {
  double s = 0;
  for (const auto& [k, v] : m) {
    if (k.rfind(prefix, 0) == 0 && (k.size() == prefix.size() || k[prefix.size()] == '{')) s += v;
  }
  return s;
}

// --- phase: transport ----------------------------------------------------------

struct TransportResult {
  Rate publish, consume, combined, combined_publish;
};

TransportResult RunTransport(const std::string& url, const Workload& w, int fetch_batch, pid_t nats_pid) {
  std::printf("\n[transport] %zu raw frames through MD_RAW, bare JetStreamPublisher + bare pull consumer (fetch %d)\n",
              w.messages.size(), fetch_batch);
  TransportResult r;
  auto pub_conn = Connect(url, "bench-transport-pub");
  auto sub_conn = Connect(url, "bench-transport-sub");
  auto js = CheckOr(sa::bus::JetStream::Create(*pub_conn), "JetStream");
  const uint64_t n = w.messages.size();

  // 1. publish-only
  RecreateStream(*js, sa::runtime::MdRawStream());
  auto [p0, p1] = PublishAll(*pub_conn, w.messages);
  r.publish = {n, w.wire_bytes, Seconds(p0, p1)};
  PrintRate("publish-only (to ack of last)", r.publish);

  // 2. consume-only, from the stored stream
  const auto c0 = Clock::now();
  auto consumed = ConsumeAll(*sub_conn, BareConsumer("MD_RAW", "bench-transport", sa::wire::kRawAll, fetch_batch), n,
                             Clock::now() + std::chrono::seconds(30));
  if (consumed.messages != n) Die(absl::StrCat("consume-only got ", consumed.messages, " of ", n));
  r.consume = {n, consumed.bytes, Seconds(c0, consumed.last)};
  PrintRate("consume-only (stored stream)", r.consume);

  // 3. combined: fresh stream, consumer waiting, then publish
  RecreateStream(*js, sa::runtime::MdRawStream());
  ConsumeResult both;
  std::atomic<bool> ready{false};
  std::thread consumer([&] {
    ready = true;
    both = ConsumeAll(*sub_conn, BareConsumer("MD_RAW", "bench-transport2", sa::wire::kRawAll, fetch_batch), n,
                      Clock::now() + std::chrono::seconds(40));
  });
  while (!ready) std::this_thread::yield();
  // Publish once the consumer has bound and its pull request is waiting.
  const auto bound_deadline = Clock::now() + std::chrono::seconds(10);
  while (true) {
    auto ci = js->GetConsumerInfo("MD_RAW", "bench-transport2");
    if (ci.ok() && ci->num_waiting > 0) break;
    if (Clock::now() > bound_deadline) Die("bare consumer bench-transport2 did not bind within 10 s");
    absl::SleepFor(absl::Milliseconds(5));  // NOLINT: polling the server for the consumer's state
  }
  CpuWatch cpu({{"nats-server", nats_pid}, {"harness", ::getpid()}});
  cpu.Start();
  auto [q0, q1] = PublishAll(*pub_conn, w.messages);
  consumer.join();
  const std::string cpu_report = cpu.Report();
  if (both.messages != n) Die(absl::StrCat("combined run consumed ", both.messages, " of ", n));
  r.combined_publish = {n, w.wire_bytes, Seconds(q0, q1)};
  r.combined = {n, both.bytes, Seconds(q0, both.last)};
  PrintRate("combined: publish side", r.combined_publish);
  PrintRate("combined: first publish->last consumed", r.combined);
  std::printf("  cpu during the combined run: %s\n", cpu_report.c_str());
  Check(js->DeleteStream("MD_RAW"), "DeleteStream MD_RAW");
  return r;
}

// --- the normalizer --------------------------------------------------------------

struct Normalizer {
  std::unique_ptr<sa::testing::Process> process;
  int http_port = 0;
  std::string log_path;
};

Normalizer StartNormalizer(const std::string& url, const std::string& dir, int fetch_batch, sa::bus::JetStream& js) {
  Normalizer n;
  const int grpc_port = CheckOr(sa::testing::PickFreePort(), "PickFreePort");
  n.http_port = CheckOr(sa::testing::PickFreePort(), "PickFreePort");
  const std::string config = absl::StrCat(dir, "/normalizer.yaml");
  std::ofstream(config) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:"
                        << n.http_port << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << url << "]\n"
                        << (g_send_asap != "none" ? "  send_asap: true\n" : "")
                        << "consumer: {prefetch: " << g_prefetch
                        << (fetch_batch > 0 ? absl::StrCat(", fetch_batch: ", fetch_batch) : "") << "}\n";
  sa::testing::Process::Options opts;
  n.log_path = absl::StrCat(dir, "/normalizer.log");
  opts.log_file = n.log_path;
  n.process = CheckOr(sa::testing::Process::Spawn({sa::bench::BinPath("normalizer"), "--config", config}, opts),
                      "spawn normalizer");
  // Ready when its durable on MD_RAW has a pull request waiting and MD exists.
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    auto ci = js.GetConsumerInfo("MD_RAW", "normalizer");
    if (ci.ok() && ci->num_waiting > 0 && js.GetStreamInfo("MD").ok()) break;
    if (Clock::now() > deadline) Die("normalizer not consuming after 30 s:\n" + n.process->Output().substr(0, 4000));
    absl::SleepFor(absl::Milliseconds(20));  // NOLINT: polling the server for the consumer's state
  }
  return n;
}

// --- the bare relay ------------------------------------------------------------------

// The limit of the normalizer's work without our code (issue [13]): the same
// raw frames through the same two JetStream hops. A separate process (this
// binary with --as_relay, so it competes for the cores as the normalizer
// does) binds a durable on MD_RAW configured like the normalizer's (fetch
// batch, prefetch, ack wait, max ack pending), republishes each frame's bytes
// unchanged to relay.<raw subject> in stream RELAY (MD's configuration, other
// name and subjects) with the frame's own Nats-Msg-Id and its Sa-Recv-Ns (for
// the latency phase), and acks the raw frames once RELAY has acked their
// copies, in order, one cumulative ack per run (ack-all, as the normalizer
// acks its frames once MD has their outputs). No
// decoding, no protobuf, no metrics.
constexpr char kRelayPrefix[] = "relay.";
constexpr char kRelayDurable[] = "bench-relay";

cfg::StreamConfig RelayStream() {
  cfg::StreamConfig s = sa::runtime::MdStream();
  s.set_name("RELAY");
  s.clear_subjects();
  s.add_subjects(absl::StrCat(kRelayPrefix, ">"));
  return s;
}

// Runs until SIGTERM (or its parent dies); exit 0.
int RunRelayProcess(const std::string& url, int fetch_batch) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  static std::atomic<bool> stop{false};
  std::signal(SIGTERM, [](int) { stop = true; });
  auto conn = Connect(url, "bench-relay");
  auto js = CheckOr(sa::bus::JetStream::Create(*conn), "JetStream");
  Check(js->EnsureStream(RelayStream()), "EnsureStream RELAY");
  const cfg::ConsumerConfig c = BareConsumer("MD_RAW", kRelayDurable, sa::wire::kRawAll, fetch_batch);
  // Acked cumulatively, as the normalizer acks its raw frames.
  Check(js->EnsurePullConsumer(c, sa::bus::AckPolicy::kAll), "EnsurePullConsumer");
  auto sub = CheckOr(js->PullSubscribe(c), "PullSubscribe");
  // Raw frames waiting for their copy's ack, in publish order; acked_ counts
  // RELAY's acks (on nats.c's ack thread).
  std::mutex mu;
  std::condition_variable cv;
  std::deque<sa::bus::ReceivedMessage> waiting;
  uint64_t published = 0, acked = 0, raw_acked = 0;
  sa::bus::JetStreamPublisher::Options po;
  po.on_ack = [&](const std::string&) {
    std::lock_guard lock(mu);
    ++acked;
    cv.notify_one();
  };
  auto publisher = CheckOr(sa::bus::JetStreamPublisher::Create(*conn, po), "JetStreamPublisher");
  std::thread acker([&] {
    std::vector<sa::bus::ReceivedMessage> ready;
    std::unique_lock lock(mu);
    while (!stop) {
      cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return raw_acked < acked && !waiting.empty(); });
      while (raw_acked < acked && !waiting.empty()) {
        ready.push_back(std::move(waiting.front()));
        waiting.pop_front();
        ++raw_acked;
      }
      lock.unlock();
      if (!ready.empty()) (void)ready.back().Ack();  // ack-all: the last acks the run
      ready.clear();
      lock.lock();
    }
  });
  std::printf("relay ready\n");
  std::fflush(stdout);
  while (!stop) {
    auto msgs = sub->Fetch(fetch_batch, absl::Milliseconds(100));
    if (!msgs.ok() || msgs->empty()) continue;
    std::vector<sa::bus::Message> outs(msgs->size());
    for (size_t i = 0; i < msgs->size(); ++i) {
      const sa::bus::ReceivedMessage& m = (*msgs)[i];
      sa::bus::Message& out = outs[i];
      out.subject = absl::StrCat(kRelayPrefix, m.subject());
      out.data = m.data();
      out.msg_id = m.msg_id();
      if (auto recv = m.header(sa::md::kHeaderRecvNs)) out.headers.emplace_back(sa::md::kHeaderRecvNs, *recv);
    }
    {
      std::lock_guard lock(mu);
      for (auto& m : *msgs) waiting.push_back(std::move(m));
      published += outs.size();
    }
    for (const auto& out : outs) Check(publisher->Publish(out), "relay publish");
  }
  (void)publisher->Flush(absl::Seconds(5));
  cv.notify_one();
  acker.join();
  std::_Exit(0);
}

struct Relay {
  std::unique_ptr<sa::testing::Process> process;
  std::string log_path;
};

Relay StartRelay(const std::string& url, const std::string& dir, int fetch_batch, sa::bus::JetStream& js) {
  Relay r;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) Die("readlink /proc/self/exe");
  sa::testing::Process::Options opts;
  r.log_path = absl::StrCat(dir, "/relay.log");
  opts.log_file = r.log_path;
  r.process = CheckOr(
      sa::testing::Process::Spawn({std::string(self, static_cast<size_t>(n)), "--as_relay=" + url,
                                   absl::StrCat("--fetch_batch=", fetch_batch), absl::StrCat("--prefetch=", g_prefetch),
                                   "--send_asap=" + std::string(g_send_asap == "none" ? "none" : "all")},
                                  opts),
      "spawn relay");
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (true) {
    auto ci = js.GetConsumerInfo("MD_RAW", kRelayDurable);
    if (ci.ok() && ci->num_waiting > 0 && js.GetStreamInfo("RELAY").ok()) break;
    if (Clock::now() > deadline) Die("relay not consuming after 30 s:\n" + r.process->Output().substr(0, 4000));
    absl::SleepFor(absl::Milliseconds(20));  // NOLINT: polling the server for the consumer's state
  }
  return r;
}

void StopRelay(Relay& relay, sa::bus::JetStream& js) {
  (void)relay.process->Signal(SIGTERM);
  auto code = relay.process->Wait(absl::Seconds(15));
  if (!code.ok() || *code != 0)
    std::fprintf(stderr, "relay exit: %s\n",
                 code.ok() ? std::to_string(*code).c_str() : code.status().ToString().c_str());
  (void)js.DeleteConsumer("MD_RAW", kRelayDurable);
  (void)js.DeleteStream("RELAY");
}

// --- phase: e2e --------------------------------------------------------------------

struct E2eResult {
  Rate raw, canonical, reader;
  double first_to_done_s = 0;
  uint64_t dlq = 0;
  double published_total = 0, batches = 0, batch_seconds = 0;
};

// What consumes MD_RAW in e2e and latency: the normalizer, or the bare relay.
struct Downstream {
  std::string name;     // "normalizer" or "relay"
  std::string durable;  // its durable on MD_RAW
  pid_t pid = 0;
  int http_port = 0;  // /metrics (the normalizer's), 0: none
  std::string log_path;
  std::string out_stream;  // where its outputs are stored: MD or RELAY
  bool relay() const { return name == "relay"; }
};

Downstream OfNormalizer(const Normalizer& n) {
  return {"normalizer", "normalizer", n.process->pid(), n.http_port, n.log_path, "MD"};
}
Downstream OfRelay(const Relay& r) { return {"relay", kRelayDurable, r.process->pid(), 0, r.log_path, "RELAY"}; }

E2eResult RunE2e(const std::string& url, const Workload& w, const Downstream& down, sa::bus::JetStream& js,
                 int fetch_batch, pid_t nats_pid) {
  std::printf("\n[e2e%s] %zu raw frames published to md.raw.<venue> by the harness while the %s runs\n",
              down.relay() ? " relay" : "", w.messages.size(), down.name.c_str());
  E2eResult r;
  const uint64_t n = w.messages.size();
  auto pub_conn = Connect(url, "bench-e2e-pub");
  auto read_conn = Connect(url, "bench-e2e-reader");

  std::atomic<bool> stop_reader{false};
  std::atomic<uint64_t> read_so_far{0};
  ConsumeResult outputs;
  std::thread reader;
  std::vector<std::unique_ptr<sa::bus::Subscription>> core_subs;
  std::mutex core_mu;  // guards `outputs` while core subscriptions deliver
  std::vector<std::string> reader_subjects;
  if (down.relay()) {
    reader_subjects.push_back(absl::StrCat(kRelayPrefix, ">"));
  } else {
    for (const char* kind : {"trade", "book", "ticker", "candle", "status"})
      reader_subjects.push_back(absl::StrCat("md.", kind, ".>"));  // wire-lint: ok (one per kind)
  }
  if (g_reader == "pull") {
    reader = std::thread([&] {
      outputs = ConsumeAll(*read_conn, BareConsumer(down.out_stream, "bench-reader", "", 1000), UINT64_MAX,
                           Clock::now() + std::chrono::seconds(90), &stop_reader, /*by_kind=*/true, &read_so_far);
    });
  } else {
    for (const std::string& subject : reader_subjects) {
      const std::string kind = subject.substr(0, subject.size() - 2);
      core_subs.push_back(CheckOr(read_conn->Subscribe(subject,
                                                       [&, kind](const sa::bus::InboundMessage& m) {
                                                         std::lock_guard<std::mutex> lock(core_mu);
                                                         const auto now = Clock::now();
                                                         if (outputs.messages == 0) outputs.first = now;
                                                         outputs.last = now;
                                                         outputs.bytes += m.data.size();
                                                         ++outputs.by_kind[kind];
                                                         ++outputs.messages;
                                                         read_so_far.store(outputs.messages, std::memory_order_relaxed);
                                                       }),
                                  "Subscribe md.*"));
    }
    Check(read_conn->Flush(absl::Seconds(5)), "flush subscriptions");
  }

  CpuWatch cpu({{down.name, down.pid}, {"nats-server", nats_pid}, {"harness", ::getpid()}});
  cpu.Start();
  // Done: the normalizer's (relay's) durable has acked every raw frame (it acks a frame
  // only after the frame's outputs are acknowledged by the MD stream).
  std::atomic<bool> done{false};
  Clock::time_point done_at;
  std::thread watcher([&] {
    auto wjs = CheckOr(sa::bus::JetStream::Create(*read_conn), "JetStream");
    const auto deadline = Clock::now() + std::chrono::seconds(80);
    while (Clock::now() < deadline) {
      auto ci = wjs->GetConsumerInfo("MD_RAW", down.durable);
      if (ci.ok() && ci->ack_floor_stream_seq >= n && ci->num_ack_pending == 0 && ci->num_pending == 0) {
        done_at = Clock::now();
        done = true;
        return;
      }
      // A consumer info request costs nats-server a scan of the stream's
      // blocks (at 2-ms polling that was 6 % of its CPU in a profile): poll
      // every 2 ms only over the last 2 % of the frames.
      const bool close = ci.ok() && ci->ack_floor_stream_seq + n / 50 >= n;
      absl::SleepFor(absl::Milliseconds(close ? 2 : 25));  // NOLINT: sampling the consumer's ack floor
    }
  });
  auto [p0, p1] = PublishAll(*pub_conn, w.messages);
  watcher.join();
  if (!done) Die(absl::StrCat(down.name, " did not ack every raw frame within 80 s; see ", down.log_path));
  const std::string cpu_report = cpu.Report();
  // Let the reader catch up with what MD holds, then stop it. (A core
  // subscriber also sees the publishes MD drops as duplicates, so it gets a
  // few more.)
  auto md = CheckOr(js.GetStreamInfo(down.out_stream), down.out_stream + " info");
  const uint64_t want = md.messages;
  const auto reader_deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < reader_deadline) {
    if (read_so_far.load() >= want) break;
    absl::SleepFor(absl::Milliseconds(10));  // NOLINT: polling the reader's count, bounded by reader_deadline
  }
  stop_reader = true;
  if (reader.joinable()) reader.join();
  core_subs.clear();  // no handler runs after this
  if (g_reader == "pull") (void)js.DeleteConsumer(down.out_stream, "bench-reader");
  if (read_so_far.load() < want) {
    std::printf("  WARNING: the %s reader got %" PRIu64 " of %" PRIu64 " canonical messages\n", g_reader.c_str(),
                read_so_far.load(), want);
    for (const auto& e : read_conn->AsyncErrors()) std::printf("    reader connection error: %s\n", e.c_str());
  }

  const double elapsed = Seconds(p0, done_at);
  r.first_to_done_s = elapsed;
  r.raw = {n, w.wire_bytes, elapsed};
  r.canonical = {md.messages, md.bytes, elapsed};
  r.reader = {outputs.messages, outputs.bytes, Seconds(p0, outputs.last)};
  auto dlq = js.GetStreamInfo("DLQ");
  r.dlq = dlq.ok() ? dlq->messages : 0;
  if (down.relay()) {
    std::printf("  publisher done after %.3f s (raw publish side: %.0f msg/s)\n", Seconds(p0, p1),
                static_cast<double>(n) / Seconds(p0, p1));
    PrintRate("raw frames through the bare relay", r.raw);
    PrintRate("copies stored in RELAY", r.canonical);
    PrintRate("copies received by a core subscriber", r.reader);
    std::printf("  cpu during the run: %s\n", cpu_report.c_str());
    std::fflush(stdout);
    return r;
  }
  auto metrics = ScrapeMetrics(down.http_port);
  r.published_total = SumMetric(metrics, "streamadmin_normalizer_published_total");
  r.batches = SumMetric(metrics, "streamadmin_normalizer_batch_seconds_count");
  r.batch_seconds = SumMetric(metrics, "streamadmin_normalizer_batch_seconds_sum");

  std::printf("  publisher done after %.3f s (raw publish side: %.0f msg/s)\n", Seconds(p0, p1),
              static_cast<double>(n) / Seconds(p0, p1));
  PrintRate("raw frames through the normalizer", r.raw);
  PrintRate("canonical messages stored in MD", r.canonical);
  PrintRate(g_reader == "pull" ? "canonical read by an MD pull consumer" : "canonical received by core subscribers", r.reader);
  std::printf("  cpu during the run: %s\n", cpu_report.c_str());
  std::printf("  outputs by kind:");
  for (const auto& [k, v] : outputs.by_kind) std::printf(" %s=%" PRIu64, k.c_str(), v);
  std::printf("\n  normalizer: published_total %.0f (MD stores once what repeats across passes: candles built from trades are keyed by symbol + open time), %.0f batches, mean %.1f "
              "frames/batch, %.3f s summed decode->raw-ack time of batches (%.0f%% of the run; batches overlap); DLQ %" PRIu64 " (fetch_batch %s)\n",
              r.published_total, r.batches, r.batches > 0 ? static_cast<double>(n) / r.batches : 0, r.batch_seconds,
              100 * r.batch_seconds / elapsed, r.dlq,
              fetch_batch > 0 ? std::to_string(fetch_batch).c_str() : "default 1024");
  std::fflush(stdout);
  return r;
}

// --- phase: latency ----------------------------------------------------------------

// A trade frame and where its clock fields are, so each publish can stamp
// them with the current time in place (same width).
struct TradeTemplate {
  std::string venue;
  std::string data;
  std::vector<size_t> kraken_time_at;  // "1618678142.557535": 10 + 1 + 6 chars
  std::vector<size_t> binance_ms_at;   // "E": and "T": 13 digits
  size_t binance_agg_at = std::string::npos, binance_agg_len = 0;  // "a": digits
  int trades = 0;  // canonical trades it decodes into
};

std::vector<TradeTemplate> TradeTemplates() {
  std::vector<TradeTemplate> out;
  for (const auto& v : kVenues) {
    const std::string venue = v.venue;
    if (venue != "kraken" && venue != "binance") continue;
    for (RawFrame& f : CheckOr(sa::md::ReadRawFrames(FixturePath(v.file), venue), v.file)) {
      const std::string& d = f.data;
      TradeTemplate t;
      t.venue = venue;
      t.data = d;
      if (venue == "kraken" && d.find(R"(,"trade",")") != std::string::npos) {
        for (size_t at = d.find('"'); at != std::string::npos; at = d.find('"', at + 1)) {
          if (at + 18 < d.size() && d[at + 18] == '"' && d[at + 11] == '.' &&
              std::all_of(d.begin() + at + 1, d.begin() + at + 11, ::isdigit) &&
              std::all_of(d.begin() + at + 12, d.begin() + at + 18, ::isdigit)) {
            t.kraken_time_at.push_back(at + 1);
            at += 18;
          }
        }
        if (t.kraken_time_at.empty()) continue;
      } else if (venue == "binance" && d.find(R"("e":"aggTrade")") != std::string::npos) {
        for (const char* key : {"\"E\":", "\"T\":"}) {
          size_t at = d.find(key);
          if (at != std::string::npos) t.binance_ms_at.push_back(at + 4);
        }
        size_t at = d.find("\"a\":");
        if (at == std::string::npos) continue;
        t.binance_agg_at = at + 4;
        while (isdigit(d[t.binance_agg_at + t.binance_agg_len])) ++t.binance_agg_len;
      } else {
        continue;
      }
      out.push_back(std::move(t));
    }
  }
  // How many trades each decodes into, with the normalizer's own decoders.
  class Count : public sa::md::Sink {
   public:
    void OnTrade(const mdpb::Trade&) override { ++trades; }
    void OnTicker(const mdpb::Ticker&) override {}
    void OnBookUpdate(const mdpb::BookUpdate&) override {}
    void OnCandle(const mdpb::Candle&) override {}
    void OnVenueStatus(const mdpb::VenueStatus&) override {}
    void OnResyncRequest(const sa::md::ResyncRequest&) override {}
    int trades = 0;
  };
  for (auto& t : out) {
    auto decoder = CheckOr(sa::md::DecoderRegistry::Global().Create(t.venue), "decoder");
    RawFrame f;
    f.venue = t.venue;
    f.conn = "probe";
    f.frame_seq = 1;
    f.recv_time_ns = RealtimeNs();
    f.data = t.data;
    sa::md::ReserveJsonPadding(f.data);
    Count c;
    Check(decoder->Decode(f, c), "decode template " + t.data.substr(0, 80));
    t.trades = c.trades;
  }
  return out;
}

struct Percentiles {
  uint64_t samples = 0;
  int64_t min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};
Percentiles Summarize(std::vector<int64_t>& v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  p.samples = v.size();
  p.min = v.front();
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = v.back();
  return p;
}
void PrintPercentiles(const std::string& what, const Percentiles& p) {
  std::printf("  %s (us): min %.0f p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f  [%" PRIu64 " samples]\n",
              what.c_str(), p.min / 1e3, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3, p.p999 / 1e3, p.max / 1e3, p.samples);
}

struct PacedResult {
  uint64_t frames = 0, expected_trades = 0;
  double seconds = 0, rate = 0;
  int64_t lag_p99 = 0, lag_max = 0;  // publisher behind its schedule
  int64_t max_in_flight = 0;
};

// Publishes trade frames at args.rate from `start_ns` for args.latency_s with
// one JetStreamPublisher (as ingest does), Sa-Recv-Ns = the publish time.
PacedResult PublishPaced(sa::bus::Connection& conn, const std::vector<TradeTemplate>& templates, const Args& args,
                         const std::string& subject_prefix, int64_t start_ns, int64_t count_from_ns) {
  auto publisher = CheckOr(sa::bus::JetStreamPublisher::Create(conn), "JetStreamPublisher");
  ::prctl(PR_SET_TIMERSLACK, 1UL);  // wake-ups to the microsecond: pacing at 50 us steps
  const std::string run = std::to_string(RealtimeNs() / 1'000'000);
  const std::map<std::string, std::string> conn_id = {{"kraken", "lat." + run + ".kraken"},
                                                      {"binance", "lat." + run + ".binance"}};
  std::map<std::string, uint64_t> seq;
  uint64_t agg_id = 1'000'000'000;
  const uint64_t total = static_cast<uint64_t>(args.rate * args.latency_s);
  std::vector<int64_t> lag;
  lag.reserve(total);
  PacedResult r;
  const int64_t interval_ns = 1'000'000'000 / args.rate;
  // Sleeps at most once per --pace_us: every frame due by then is published
  // on that wake-up (as ingest publishes what one socket read brought). A
  // sleep per frame cost the harness about 0.4 cores at 20k/s on this VM.
  const int64_t pace_ns = std::max<int64_t>(interval_ns, args.pace_us * 1000);
  int64_t awake_until = 0;
  for (uint64_t i = 0; i < total; ++i) {
    const int64_t due = start_ns + static_cast<int64_t>(i) * interval_ns;
    if (due > awake_until) {
      timespec ts{static_cast<time_t>(due / 1'000'000'000), static_cast<long>(due % 1'000'000'000)};
      while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
      awake_until = due + pace_ns - 1;
    }
    const TradeTemplate& t = templates[i % templates.size()];
    const int64_t now = RealtimeNs();
    if (now >= count_from_ns) lag.push_back(now - due);
    sa::bus::Message m;
    m.data = t.data;
    if (t.venue == "kraken") {
      char stamp[32];
      std::snprintf(stamp, sizeof(stamp), "%010" PRId64 ".%06" PRId64, now / 1'000'000'000, now / 1000 % 1'000'000);
      for (size_t at : t.kraken_time_at) m.data.replace(at, 17, stamp);
    } else {
      const std::string ms = std::to_string(now / 1'000'000);
      for (size_t at : t.binance_ms_at) m.data.replace(at, 13, ms);
      m.data.replace(t.binance_agg_at, t.binance_agg_len, std::to_string(++agg_id));  // after the fixed-width edits
    }
    const std::string& c = conn_id.at(t.venue);
    const uint64_t s = ++seq[t.venue];
    m.subject = subject_prefix + t.venue;
    m.msg_id = sa::md::RawMsgId(t.venue, c, s);
    m.headers = {{sa::md::kHeaderConn, c},
                 {sa::md::kHeaderFrameSeq, std::to_string(s)},
                 {sa::md::kHeaderRecvNs, std::to_string(now)},
                 {sa::md::kHeaderKind, "ws"}};
    Check(publisher->Publish(m), "Publish");
    r.expected_trades += static_cast<uint64_t>(t.trades);
  }
  const int64_t end_ns = RealtimeNs();
  Check(publisher->Flush(absl::Seconds(10)), "Flush");
  r.frames = total;
  r.seconds = static_cast<double>(end_ns - start_ns) / 1e9;
  r.rate = static_cast<double>(total) / r.seconds;
  r.max_in_flight = publisher->stats().max_in_flight;
  Percentiles l = Summarize(lag);
  r.lag_p99 = l.p99;
  r.lag_max = l.max;
  return r;
}

// Resident set size of `pid` (VmRSS of /proc/<pid>/status), in KiB; 0 when gone.
int64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    int64_t kib = 0;
    std::vector<absl::string_view> f = absl::StrSplit(line.substr(6), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (!f.empty() && absl::SimpleAtoi(f[0], &kib)) return kib;
  }
  return 0;
}

// RSS samples of one process while the paced load runs, after the warm-up.
struct RssResult {
  int64_t median_kib = 0, max_kib = 0;
  int samples = 0;
};
RssResult SummarizeRss(std::vector<int64_t> v) {
  RssResult r;
  if (v.empty()) return r;
  std::sort(v.begin(), v.end());
  r.median_kib = v[v.size() / 2];
  r.max_kib = v.back();
  r.samples = static_cast<int>(v.size());
  return r;
}

struct LatencyResult {
  PacedResult paced;
  RssResult rss, nats_rss;  // the normalizer's (relay's) and nats-server's, at steady state under the load
  std::map<std::string, RssResult> others_rss;  // services consuming MD meanwhile (phase services)
  Percentiles transport;  // raw publish -> bare pull consumer (no decoding)
  Percentiles pipeline;   // raw publish -> md.trade through the normalizer
  uint64_t received = 0;
  double drain_rate = 0;  // frames / (first publish -> last trade received)
};

// The transport's own latency at the same rate: the same frames into a
// stream configured like MD_RAW (runtime::MdRawStream(), other name and
// subjects) read by a bare pull consumer (Fetch + Ack) that takes
// now - Sa-Recv-Ns of each frame.
Percentiles RunTransportLatency(const std::string& url, const Args& args, const std::vector<TradeTemplate>& templates,
                                int fetch_batch) {
  auto pub_conn = Connect(url, "bench-latency-raw-pub");
  auto sub_conn = Connect(url, "bench-latency-raw-sub");
  auto js = CheckOr(sa::bus::JetStream::Create(*pub_conn), "JetStream");
  cfg::StreamConfig stream = sa::runtime::MdRawStream();
  stream.set_name("BENCH_RAW");
  stream.clear_subjects();
  stream.add_subjects("bench.raw.>");
  RecreateStream(*js, stream);
  const uint64_t total = static_cast<uint64_t>(args.rate * args.latency_s);
  const int64_t start_ns = RealtimeNs() + 300'000'000;
  const int64_t count_from_ns = start_ns + static_cast<int64_t>(args.warmup_s * 1e9);
  std::vector<int64_t> samples;
  samples.reserve(total);
  std::thread consumer([&] {
    auto cjs = CheckOr(sa::bus::JetStream::Create(*sub_conn), "JetStream");
    const cfg::ConsumerConfig c = BareConsumer("BENCH_RAW", "bench-latency", "bench.raw.>", fetch_batch);
    Check(cjs->EnsurePullConsumer(c), "EnsurePullConsumer");
    auto sub = CheckOr(cjs->PullSubscribe(c), "PullSubscribe");
    uint64_t got = 0;
    const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(args.latency_s * 1000) + 15000);
    while (got < total && Clock::now() < deadline) {
      auto msgs = sub->Fetch(fetch_batch, absl::Milliseconds(100));
      if (!msgs.ok()) continue;
      const int64_t now = RealtimeNs();
      for (auto& m : *msgs) {
        int64_t recv = 0;
        if (absl::SimpleAtoi(m.header(sa::md::kHeaderRecvNs).value_or("0"), &recv) && recv >= count_from_ns)
          samples.push_back(now - recv);
        (void)m.Ack();
      }
      got += msgs->size();
    }
  });
  PacedResult paced = PublishPaced(*pub_conn, templates, args, "bench.raw.", start_ns, count_from_ns);
  consumer.join();
  Check(js->DeleteStream("BENCH_RAW"), "DeleteStream BENCH_RAW");
  std::printf("  transport only: %" PRIu64 " frames at %.0f msg/s into BENCH_RAW (MD_RAW's config), bare pull consumer "
              "(fetch %d), publisher behind schedule p99 %.0f us\n",
              paced.frames, paced.rate, fetch_batch, paced.lag_p99 / 1e3);
  Percentiles p = Summarize(samples);
  PrintPercentiles("raw publish -> bare consumer", p);
  std::fflush(stdout);
  return p;
}

// Through the normalizer, or (down.relay()) through the bare relay: then
// `pipeline` is raw publish -> the relay's copy at a core subscriber on
// relay.> (now - its Sa-Recv-Ns), one sample per frame instead of per trade,
// and the transport-only run is skipped (`with_transport`).
LatencyResult RunLatency(const std::string& url, const Args& args, int fetch_batch, const Downstream& down,
                         pid_t nats_pid, bool with_transport,
                         const std::vector<std::pair<std::string, pid_t>>& others = {}) {
  std::printf("\n[latency%s] trade frames paced at %d msg/s for %.0f s (first %.0f s not counted); fetch_batch %s\n",
              down.relay() ? " relay" : "", args.rate, args.latency_s, args.warmup_s,
              fetch_batch > 0 ? std::to_string(fetch_batch).c_str() : "default 1024");
  std::vector<TradeTemplate> templates = TradeTemplates();
  if (templates.empty()) Die("no trade frames in the recordings");
  LatencyResult r;
  if (with_transport)
    r.transport = RunTransportLatency(url, args, templates, fetch_batch > 0 ? fetch_batch : kDefaultFetchBatch);

  auto pub_conn = Connect(url, "bench-latency-pub");
  auto sub_conn = Connect(url, "bench-latency-sub");
  const int64_t start_ns = RealtimeNs() + 300'000'000;
  const int64_t count_from_ns = start_ns + static_cast<int64_t>(args.warmup_s * 1e9);
  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(args.rate * args.latency_s * 2));
  std::atomic<uint64_t> received{0};
  std::atomic<int64_t> last_received_ns{0};
  auto sub = CheckOr(sub_conn->Subscribe(down.relay() ? absl::StrCat(kRelayPrefix, ">") : sa::wire::kTradeAll,
                                         [&](const sa::bus::InboundMessage& m) {
                                           const int64_t now = RealtimeNs();
                                           int64_t recv = 0;
                                           if (down.relay()) {
                                             for (const auto& [k, v] : m.headers) {
                                               if (k == sa::md::kHeaderRecvNs) (void)absl::SimpleAtoi(v, &recv);
                                             }
                                           } else {
                                             mdpb::Trade t;
                                             if (!t.ParseFromString(m.data)) return;
                                             recv = t.origin().receive_time_ns();
                                           }
                                           if (recv >= count_from_ns) samples.push_back(now - recv);
                                           last_received_ns.store(now, std::memory_order_relaxed);
                                           received.fetch_add(1, std::memory_order_relaxed);
                                         }),
                     "Subscribe md.trade.>");
  Check(sub_conn->Flush(absl::Seconds(5)), "flush subscription");

  // How far the normalizer's durable lags (sampled every 50 ms): frames
  // stored but not yet fetched, and fetched but not yet acked.
  std::atomic<bool> stop_sampler{false};
  uint64_t max_pending = 0;
  int64_t max_ack_pending = 0;
  std::vector<int64_t> rss, nats_rss;  // after the warm-up, every 50 ms
  std::vector<std::vector<int64_t>> others_rss(others.size());
  std::thread sampler([&] {
    auto sjs = CheckOr(sa::bus::JetStream::Create(*sub_conn), "JetStream");
    while (!stop_sampler) {
      if (auto ci = sjs->GetConsumerInfo("MD_RAW", down.durable); ci.ok()) {
        max_pending = std::max(max_pending, ci->num_pending);
        max_ack_pending = std::max(max_ack_pending, ci->num_ack_pending);
      }
      if (RealtimeNs() >= count_from_ns) {
        rss.push_back(RssKiB(down.pid));
        nats_rss.push_back(RssKiB(nats_pid));
        for (size_t i = 0; i < others.size(); ++i) others_rss[i].push_back(RssKiB(others[i].second));
      }
      absl::SleepFor(absl::Milliseconds(50));  // NOLINT: sampling
    }
  });
  std::vector<std::pair<std::string, pid_t>> watched = {{down.name, down.pid}, {"nats-server", nats_pid}};
  watched.insert(watched.end(), others.begin(), others.end());
  watched.push_back({"harness", ::getpid()});
  CpuWatch cpu(watched);
  cpu.Start();
  r.paced = PublishPaced(*pub_conn, templates, args, sa::md::kRawSubjectPrefix, start_ns, count_from_ns);
  const std::string cpu_report = cpu.Report();
  stop_sampler = true;
  sampler.join();
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  const uint64_t expected = down.relay() ? r.paced.frames : r.paced.expected_trades;
  while (received.load() < expected && Clock::now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));  // NOLINT: waiting for the last outputs, bounded
  }
  sub.reset();  // the handler is not running after this: samples is ours
  r.received = received.load();
  r.pipeline = Summarize(samples);
  r.rss = SummarizeRss(rss);
  r.nats_rss = SummarizeRss(nats_rss);
  for (size_t i = 0; i < others.size(); ++i) {
    r.others_rss[others[i].first] = SummarizeRss(others_rss[i]);
    std::printf("  resident memory under the load: %s median %.1f MiB, max %.1f MiB\n", others[i].first.c_str(),
                r.others_rss[others[i].first].median_kib / 1024.0, r.others_rss[others[i].first].max_kib / 1024.0);
  }
  std::printf("  through the %s: %" PRIu64
              " frames in %.3f s = %.0f msg/s to md.raw.{kraken,binance}; %s "
              "expected %" PRIu64 ", received %" PRIu64 "\n",
              down.name.c_str(), r.paced.frames, r.paced.seconds, r.paced.rate, down.relay() ? "copies" : "trades",
              down.relay() ? r.paced.frames : r.paced.expected_trades, r.received);
  PrintPercentiles(
      down.relay() ? "raw publish -> relay copy at a core subscriber" : "raw publish -> md.trade at a core subscriber",
      r.pipeline);
  std::printf(
      "  resident memory under the load (50 ms samples after the warm-up): %s median %.1f MiB, max %.1f MiB; "
      "nats-server median %.1f MiB, max %.1f MiB\n",
      down.name.c_str(), r.rss.median_kib / 1024.0, r.rss.max_kib / 1024.0, r.nats_rss.median_kib / 1024.0,
      r.nats_rss.max_kib / 1024.0);
  r.drain_rate = static_cast<double>(r.paced.frames) / (static_cast<double>(last_received_ns.load() - start_ns) / 1e9);
  std::printf(
      "  %s throughput on these frames: %.0f frames/s (frames / first publish -> last output received; "
      "equals the offered rate when it keeps up)\n",
      down.name.c_str(), r.drain_rate);
  std::printf("  cpu while publishing: %s\n", cpu_report.c_str());
  std::printf("  publisher behind schedule (us): p99 %.0f max %.0f; raw publishes in flight max %" PRId64
              "; normalizer durable: max %" PRIu64 " pending, max %" PRId64 " ack pending (50 ms samples)\n",
              r.paced.lag_p99 / 1e3, r.paced.lag_max / 1e3, r.paced.max_in_flight, max_pending, max_ack_pending);
  std::fflush(stdout);
  return r;
}

// --- phase: services ----------------------------------------------------------------

// The services that consume the normalizer's output, each the real binary
// from the build, started beside the running normalizer: anomaly (scores
// md.trade and books), views (one filter view on md.trade, every trade
// passes) and warehouse-sink (md.trade and md.candle into a fresh
// PostgreSQL). Their resident memory is sampled while the latency phase's
// 20k msg/s load runs once more through all of them.
struct ServiceProcess {
  std::string name;
  std::unique_ptr<sa::testing::Process> process;
};

ServiceProcess StartService(const std::string& dir, const std::string& name, const std::string& url,
                            const std::string& yaml) {
  const int grpc_port = CheckOr(sa::testing::PickFreePort(), "PickFreePort");
  const std::string config = absl::StrCat(dir, "/", name, ".yaml");
  std::ofstream(config) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                        << "\n  http_listen: 127.0.0.1:0\n  shutdown_grace_s: 5\nnats:\n  servers: [" << url << "]\n"
                        << yaml;
  sa::testing::Process::Options opts;
  opts.log_file = absl::StrCat(dir, "/", name, ".log");
  std::string bin = sa::bench::BinPath("normalizer");  // build/bin/normalizer: the others are beside it
  bin = absl::StrCat(bin.substr(0, bin.rfind('/')), "/", name);
  ServiceProcess s{name, CheckOr(sa::testing::Process::Spawn({bin, "--config", config}, opts), "spawn " + name)};
  sa::cli::ControlClient control(absl::StrCat("127.0.0.1:", grpc_port), absl::Seconds(1));
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!control.Health().ok()) {
    if (Clock::now() > deadline) Die(name + " not SERVING after 60 s:\n" + s.process->Output().substr(0, 4000));
    absl::SleepFor(absl::Milliseconds(50));  // NOLINT: polling the service's health
  }
  return s;
}

LatencyResult RunServices(const std::string& url, const Args& args, const std::string& dir, const Downstream& down,
                          sa::bus::JetStream& js, pid_t nats_pid) {
  std::printf("\n[services] anomaly, views (one filter view) and warehouse-sink beside the normalizer\n");
  auto pg = CheckOr(sa::testing::PostgresServer::Start(), "start PostgreSQL");
  Check(pg->Exec("CREATE DATABASE warehouse"), "create warehouse");
  std::vector<ServiceProcess> services;
  services.push_back(StartService(dir, "anomaly", url, ""));
  services.push_back(StartService(dir, "views", url, ""));
  services.push_back(StartService(dir, "warehouse-sink", url,
                                  absl::StrCat("warehouse:\n  dsn: \"", pg->dsn(), " dbname=warehouse\"\n")));
  auto defs = CheckOr(sa::bus::KeyValue::Create(js, "VIEW_DEFINITIONS"), "view definitions bucket");
  ::streamadmin::views::v1::ViewDefinition d;
  d.set_name("bench_all_trades");
  d.set_version(1);
  d.set_statement("md.trade | where price > 0");
  d.mutable_start()->set_beginning(false);
  d.add_owner_permissions("*:*");
  d.set_created_at_ns(1);
  Check(defs->Put(d.name(), d.SerializeAsString()).status(), "put view definition");
  std::vector<std::pair<std::string, pid_t>> pids;
  for (const auto& s : services) pids.push_back({s.name, s.process->pid()});
  LatencyResult r = RunLatency(url, args, args.fetch_batch, down, nats_pid, false, pids);
  for (auto& s : services) {
    (void)s.process->Signal(SIGTERM);
    (void)s.process->Wait(absl::Seconds(15));
  }
  return r;
}

// --- phase: rtt ------------------------------------------------------------------

// Core NATS round trips through bus::Connection, twice: publishes left to
// nats.c's flusher thread (what every bus publish, JetStream async publish,
// ack and pull request does), then each publish followed by Connection::Flush
// (which writes the buffer at once). The difference is the flusher's delay.
struct RttResult {
  int64_t buffered_p50 = 0, buffered_p99 = 0, flushed_p50 = 0, flushed_p99 = 0;
};

RttResult RunRtt(const std::string& url) {
  std::printf("\n[rtt] core NATS ping-pong between two bus::Connections, 500 round trips per mode\n");
  RttResult r;
  auto a = Connect(url, "bench-rtt-a");
  auto b = Connect(url, "bench-rtt-b");
  for (bool flush : {false, true}) {
    auto echo = CheckOr(b->Subscribe("bench.rtt.ping",
                                     [&](const sa::bus::InboundMessage& m) {
                                       (void)b->Publish("bench.rtt.pong", m.data);
                                       if (flush) (void)b->Flush(absl::Seconds(1));
                                     }),
                        "Subscribe ping");
    std::mutex mu;
    std::condition_variable cv;
    uint64_t got = 0;
    auto back = CheckOr(a->Subscribe("bench.rtt.pong",
                                     [&](const sa::bus::InboundMessage&) {
                                       std::lock_guard lock(mu);
                                       ++got;
                                       cv.notify_one();
                                     }),
                        "Subscribe pong");
    Check(a->Flush(absl::Seconds(5)), "flush");
    Check(b->Flush(absl::Seconds(5)), "flush");
    std::vector<int64_t> rtt;
    for (uint64_t i = 1; i <= 500; ++i) {
      const auto t0 = Clock::now();
      Check(a->Publish("bench.rtt.ping", "x"), "publish ping");
      if (flush) Check(a->Flush(absl::Seconds(1)), "flush ping");
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(2), [&] { return got >= i; })) Die("rtt: pong lost");
      rtt.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    }
    std::sort(rtt.begin(), rtt.end());
    const int64_t p50 = rtt[rtt.size() / 2], p99 = rtt[rtt.size() * 99 / 100];
    (flush ? r.flushed_p50 : r.buffered_p50) = p50;
    (flush ? r.flushed_p99 : r.buffered_p99) = p99;
    std::printf("  %-44s p50 %6.0f us  p99 %6.0f us\n",
                flush ? "Publish + Connection::Flush (written at once)" : "Publish only (nats.c flusher thread)",
                p50 / 1e3, p99 / 1e3);
  }
  std::fflush(stdout);
  return r;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto [key, value] = sa::bench::SplitFlag(arg);
    bool ok = true;
    if (key == "--messages") {
      ok = absl::SimpleAtoi(value, &a.messages) && a.messages > 0;
    } else if (key == "--fetch_batch") {
      ok = absl::SimpleAtoi(value, &a.fetch_batch) && a.fetch_batch >= 0;
    } else if (key == "--send_asap") {
      g_send_asap = value;
      ok = value == "none" || value == "normalizer" || value == "all";
    } else if (key == "--reader") {
      g_reader = value;
      ok = value == "core" || value == "pull";
    } else if (key == "--prefetch") {
      ok = absl::SimpleAtoi(value, &g_prefetch) && g_prefetch >= 0;
    } else if (key == "--nats_arg") {
      a.nats_args.push_back(value);
    } else if (key == "--rounds") {
      ok = absl::SimpleAtoi(value, &a.rounds) && a.rounds >= 1 && a.rounds <= 9;
    } else if (key == "--pace_us") {
      ok = absl::SimpleAtoi(value, &a.pace_us) && a.pace_us >= 0 && a.pace_us <= 100000;
    } else if (key == "--rate") {
      ok = absl::SimpleAtoi(value, &a.rate) && a.rate > 0 && a.rate <= 1'000'000;
    } else if (key == "--latency_s") {
      ok = absl::SimpleAtod(value, &a.latency_s) && a.latency_s > 0 && a.latency_s <= 60;
    } else if (key == "--warmup_s") {
      ok = absl::SimpleAtod(value, &a.warmup_s) && a.warmup_s >= 0;
    } else if (key == "--phases") {
      a.phases.clear();
      for (absl::string_view p : absl::StrSplit(value, ',', absl::SkipEmpty())) a.phases.insert(std::string(p));
    } else if (key == "--keep") {
      a.keep = true;
    } else if (key == "--json") {
      a.json_path = value;
      ok = !value.empty();
    } else if (key == "--as_relay") {
      a.as_relay = value;
      ok = !value.empty();
    } else {
      ok = false;
    }
    if (!ok) {
      Die(absl::StrCat(
          "bad argument '", arg,
          "'\nusage: pipeline_bench [--messages=N] [--fetch_batch=N] [--prefetch=N] [--send_asap=none|normalizer|all] "
          "[--reader=core|pull] [--rate=N] [--pace_us=N] [--rounds=N] [--nats_arg=X ...] [--latency_s=S] "
          "[--warmup_s=S] [--phases=rtt,transport,relay,e2e,relay_latency,latency,services] [--keep] [--json=PATH]"));
    }
  }
  if (a.warmup_s >= a.latency_s) Die("--warmup_s must be shorter than --latency_s");
  return a;
}


// One round: a fresh nats-server (and normalizer), every selected phase.
struct Round {
  RttResult rtt;
  TransportResult transport;
  E2eResult e2e, relay;
  LatencyResult latency, relay_latency, services;
  double ratio() const {
    return transport.combined.per_s() > 0 ? e2e.raw.per_s() / transport.combined.per_s() : 0;
  }
  double relay_ratio() const { return relay.raw.per_s() > 0 ? e2e.raw.per_s() / relay.raw.per_s() : 0; }
};

Round RunRound(const Args& args, const Workload& w, const std::string& dir, int round) {
  Round out;
  const int consumer_batch = args.fetch_batch > 0 ? args.fetch_batch : kDefaultFetchBatch;
  sa::testing::NatsServer::Options nopts;
  nopts.store_dir = absl::StrCat(dir, "/jetstream-", round);
  nopts.extra_args = args.nats_args;
  auto nats = CheckOr(sa::testing::NatsServer::Start(nopts), "start nats-server");
  std::printf("\n==== round %d of %d: nats-server %s, store %s (file storage)\n", round + 1, args.rounds,
              nats->url().c_str(), nats->store_dir().c_str());
  const pid_t nats_pid = nats->pid();
  if (args.phases.count("rtt")) out.rtt = RunRtt(nats->url());
  if (args.phases.count("transport")) out.transport = RunTransport(nats->url(), w, consumer_batch, nats_pid);
  if (args.phases.count("relay") || args.phases.count("relay_latency")) {
    auto conn = Connect(nats->url(), "bench-admin");
    auto js = CheckOr(sa::bus::JetStream::Create(*conn), "JetStream");
    RecreateStream(*js, sa::runtime::MdRawStream());
    const std::string rdir = absl::StrCat(dir, "/relay-", round);
    std::filesystem::create_directories(rdir);
    Relay relay = StartRelay(nats->url(), rdir, consumer_batch, *js);
    if (args.phases.count("relay")) out.relay = RunE2e(nats->url(), w, OfRelay(relay), *js, consumer_batch, nats_pid);
    if (args.phases.count("relay_latency"))
      out.relay_latency = RunLatency(nats->url(), args, consumer_batch, OfRelay(relay), nats_pid, false);
    StopRelay(relay, *js);
  }
  if (args.phases.count("e2e") || args.phases.count("latency") || args.phases.count("services")) {
    auto conn = Connect(nats->url(), "bench-admin");
    auto js = CheckOr(sa::bus::JetStream::Create(*conn), "JetStream");
    RecreateStream(*js, sa::runtime::MdRawStream());
    const std::string ndir = absl::StrCat(dir, "/normalizer-", round);
    std::filesystem::create_directories(ndir);
    Normalizer normalizer = StartNormalizer(nats->url(), ndir, args.fetch_batch, *js);
    if (args.phases.count("e2e"))
      out.e2e = RunE2e(nats->url(), w, OfNormalizer(normalizer), *js, args.fetch_batch, nats_pid);
    if (args.phases.count("latency"))
      out.latency = RunLatency(nats->url(), args, args.fetch_batch, OfNormalizer(normalizer), nats_pid, true);
    if (args.phases.count("services"))
      out.services = RunServices(nats->url(), args, ndir, OfNormalizer(normalizer), *js, nats_pid);
    (void)normalizer.process->Signal(SIGTERM);
    auto code = normalizer.process->Wait(absl::Seconds(15));
    if (!code.ok() || *code != 0)
      std::fprintf(stderr, "normalizer exit: %s\n",
                   code.ok() ? std::to_string(*code).c_str() : code.status().ToString().c_str());
  }
  if (args.keep) std::printf("kept nats-server log %s\n", nats->log_path().c_str());
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void PrintRound(const Args& args, const Round& r, const char* label) {
  std::printf("-- %s\n", label);
  if (args.phases.count("rtt")) {
    std::printf("core rtt, buffered publish  p50 %6.0f us p99 %6.0f us;  flushed publish p50 %6.0f us p99 %6.0f us\n",
                r.rtt.buffered_p50 / 1e3, r.rtt.buffered_p99 / 1e3, r.rtt.flushed_p50 / 1e3, r.rtt.flushed_p99 / 1e3);
  }
  if (args.phases.count("transport")) {
    std::printf("transport publish-only   %10.0f msg/s %7.1f MB/s\n", r.transport.publish.per_s(),
                r.transport.publish.mb_per_s());
    std::printf("transport consume-only   %10.0f msg/s %7.1f MB/s\n", r.transport.consume.per_s(),
                r.transport.consume.mb_per_s());
    std::printf("transport combined       %10.0f msg/s %7.1f MB/s  (the limit)\n", r.transport.combined.per_s(),
                r.transport.combined.mb_per_s());
  }
  if (args.phases.count("relay"))
    std::printf("e2e raw through bare relay %8.0f msg/s %7.1f MB/s  (the limit of two hops)\n", r.relay.raw.per_s(),
                r.relay.raw.mb_per_s());
  if (args.phases.count("relay") && args.phases.count("e2e"))
    std::printf("e2e normalizer / bare relay %.0f%% (target >= 90%%)\n", 100 * r.relay_ratio());
  if (args.phases.count("relay_latency")) {
    const auto& p = r.relay_latency.pipeline;
    std::printf(
        "latency @ %.0f msg/s, via bare relay  p50 %.0f us p90 %.0f us p99 %.0f us p99.9 %.0f us max %.0f us; "
        "relay RSS %.1f MiB\n",
        r.relay_latency.paced.rate, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3, p.p999 / 1e3, p.max / 1e3,
        r.relay_latency.rss.median_kib / 1024.0);
  }
  if (args.phases.count("e2e")) {
    std::printf("e2e raw through normalizer %8.0f msg/s %7.1f MB/s", r.e2e.raw.per_s(), r.e2e.raw.mb_per_s());
    if (r.ratio() > 0) std::printf("  = %.0f%% of the transport limit (target >= 50%%)", 100 * r.ratio());
    std::printf("\ne2e canonical stored     %10.0f msg/s\n", r.e2e.canonical.per_s());
  }
  if (args.phases.count("latency")) {
    const auto& t = r.latency.transport;
    const auto& p = r.latency.pipeline;
    std::printf("latency @ %.0f msg/s, transport only  p50 %.0f us p90 %.0f us p99 %.0f us p99.9 %.0f us max %.0f us\n",
                r.latency.paced.rate, t.p50 / 1e3, t.p90 / 1e3, t.p99 / 1e3, t.p999 / 1e3, t.max / 1e3);
    std::printf(
        "latency @ %.0f msg/s, via normalizer  p50 %.0f us p90 %.0f us p99 %.0f us p99.9 %.0f us max %.0f us "
        "(target p99 < 1000 us); normalizer kept %.0f frames/s; RSS normalizer %.1f MiB, nats-server %.1f MiB\n",
        r.latency.paced.rate, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3, p.p999 / 1e3, p.max / 1e3, r.latency.drain_rate,
        r.latency.rss.median_kib / 1024.0, r.latency.nats_rss.median_kib / 1024.0);
  }
}

// Every round's figures, one object per round (rates in msg/s, latencies in
// microseconds, memory in KiB); a phase not run gives no keys. For
// scripts/bench.sh, which takes the medians.
void WriteJson(const Args& args, const std::vector<Round>& rounds) {
  std::string out = "{\"bench\": \"pipeline\", \"rounds\": [";
  for (size_t i = 0; i < rounds.size(); ++i) {
    const Round& r = rounds[i];
    std::vector<std::pair<std::string, double>> f;
    if (args.phases.count("transport")) f.push_back({"transport_limit_msg_s", r.transport.combined.per_s()});
    if (args.phases.count("relay")) f.push_back({"relay_frames_s", r.relay.raw.per_s()});
    if (args.phases.count("e2e")) f.push_back({"normalizer_frames_s", r.e2e.raw.per_s()});
    auto latency = [&](const std::string& prefix, const LatencyResult& l) {
      f.push_back({prefix + "_p50_us", l.pipeline.p50 / 1e3});
      f.push_back({prefix + "_p99_us", l.pipeline.p99 / 1e3});
      f.push_back({prefix + "_rate_msg_s", l.paced.rate});
      f.push_back({prefix + "_offered_msg_s", static_cast<double>(args.rate)});
      f.push_back({prefix + "_drain_frames_s", l.drain_rate});
      f.push_back({prefix + "_rss_kib", static_cast<double>(l.rss.median_kib)});
      f.push_back({prefix + "_rss_max_kib", static_cast<double>(l.rss.max_kib)});
      f.push_back({prefix + "_nats_rss_kib", static_cast<double>(l.nats_rss.median_kib)});
    };
    if (args.phases.count("relay_latency")) latency("latency_relay", r.relay_latency);
    if (args.phases.count("latency")) {
      latency("latency_normalizer", r.latency);
      f.push_back({"latency_transport_p50_us", r.latency.transport.p50 / 1e3});
      f.push_back({"latency_transport_p99_us", r.latency.transport.p99 / 1e3});
    }
    if (args.phases.count("services")) {
      f.push_back({"services_rate_msg_s", r.services.paced.rate});
      f.push_back({"services_normalizer_rss_kib", static_cast<double>(r.services.rss.median_kib)});
      f.push_back({"services_nats_rss_kib", static_cast<double>(r.services.nats_rss.median_kib)});
      for (const auto& [name, rss] : r.services.others_rss) {
        std::string key = name;
        std::replace(key.begin(), key.end(), '-', '_');
        f.push_back({absl::StrCat("services_", key, "_rss_kib"), static_cast<double>(rss.median_kib)});
        f.push_back({absl::StrCat("services_", key, "_rss_max_kib"), static_cast<double>(rss.max_kib)});
      }
    }
    absl::StrAppend(&out, i ? ", " : "", "{");
    for (size_t j = 0; j < f.size(); ++j)
      absl::StrAppend(&out, j ? ", " : "", "\"", f[j].first, "\": ", absl::StrFormat("%.3f", f[j].second));
    absl::StrAppend(&out, "}");
  }
  absl::StrAppend(&out, "]}\n");
  std::ofstream file(args.json_path);
  file << out;
  if (!file.flush()) Die("cannot write " + args.json_path);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  if (!args.as_relay.empty())
    return RunRelayProcess(args.as_relay, args.fetch_batch > 0 ? args.fetch_batch : kDefaultFetchBatch);
  sa::bench::StartWatchdog("pipeline_bench", kWatchdogSeconds * args.rounds);
  const auto bench_start = Clock::now();

  auto dir = CheckOr(sa::testing::TempDir::Create("pipeline-bench"), "TempDir");
  std::printf("fixtures %s; nats-server GOGC=%s\n", FixturePath("").c_str(),
              std::getenv("GOGC") ? std::getenv("GOGC") : "(unset: 100)");
  const char* preload = std::getenv("LD_PRELOAD");
  const bool send_asap = preload != nullptr && std::string(preload).find("nats_send_asap") != std::string::npos;
  std::printf("nats.c send-ASAP preload (bench/nats_send_asap_preload.cc): %s\n",
              send_asap ? "ON (experiment: harness and normalizer write every publish at once)" : "off (as shipped)");

  Workload w = BuildWorkload(args.messages);
  std::printf("workload: %zu frames (%d passes of %zu), %.1f MB frame text, %.1f MB on the wire (frames > 64 KiB zstd)\n",
              w.messages.size(), w.passes, w.frames_per_pass, static_cast<double>(w.frame_bytes) / 1e6,
              static_cast<double>(w.wire_bytes) / 1e6);
  std::fflush(stdout);

  std::vector<Round> rounds;
  for (int i = 0; i < args.rounds; ++i) rounds.push_back(RunRound(args, w, dir.path(), i));

  std::printf("\n== summary (fetch_batch %s, prefetch %d, nats.send_asap %s, e2e reader %s, pace %" PRId64
              " us, send-ASAP preload %s, %zu frames, %d round(s), %.1f s total)\n",
              args.fetch_batch > 0 ? std::to_string(args.fetch_batch).c_str() : "default", g_prefetch,
              g_send_asap.c_str(), g_reader.c_str(), args.pace_us, send_asap ? "ON" : "off", w.messages.size(),
              args.rounds, Seconds(bench_start, Clock::now()));
  for (size_t i = 0; i < rounds.size(); ++i) PrintRound(args, rounds[i], absl::StrCat("round ", i + 1).c_str());
  if (rounds.size() > 1) {
    std::vector<double> limit, e2e, ratio, p99, tp99, relay, relay_ratio, relay_p99;
    for (const auto& r : rounds) {
      relay.push_back(r.relay.raw.per_s());
      relay_ratio.push_back(r.relay_ratio());
      relay_p99.push_back(r.relay_latency.pipeline.p99);
      limit.push_back(r.transport.combined.per_s());
      e2e.push_back(r.e2e.raw.per_s());
      ratio.push_back(r.ratio());
      p99.push_back(r.latency.pipeline.p99);
      tp99.push_back(r.latency.transport.p99);
    }
    std::printf("-- median of %zu rounds\n", rounds.size());
    if (args.phases.count("transport") && args.phases.count("e2e"))
      std::printf("transport limit %.0f msg/s, e2e %.0f frames/s, ratio %.0f%% (each round's own ratio; target >= 50%%)\n",
                  Median(limit), Median(e2e), 100 * Median(ratio));
    if (args.phases.count("relay") && args.phases.count("e2e"))
      std::printf(
          "bare relay %.0f frames/s, normalizer %.0f frames/s, ratio %.0f%% (each round's own; target >= 90%%)\n",
          Median(relay), Median(e2e), 100 * Median(relay_ratio));
    if (args.phases.count("latency"))
      std::printf("latency p99: transport only %.0f us, via normalizer %.0f us (target < 1000 us)\n", Median(tp99) / 1e3,
                  Median(p99) / 1e3);
    if (args.phases.count("relay_latency"))
      std::printf("latency p99 via bare relay %.0f us\n", Median(relay_p99) / 1e3);
  }
  if (!args.json_path.empty()) WriteJson(args, rounds);
  if (args.keep) {
    std::printf("kept %s\n", dir.path().c_str());
    std::_Exit(0);  // skip TempDir removal (the servers are killed by PDEATHSIG)
  }
  return 0;
}
