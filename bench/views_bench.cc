// views_bench: the views service's throughput beside the limit of the same
// work without our code, on one real nats-server, medians of rounds
// (docs/PERFORMANCE.md, "Continuous views").
//
//   views_bench [--messages=N] [--window_messages=N] [--rounds=N] [--json=PATH]
//
// Per round, on a fresh nats-server (file storage):
// 1. N trades are stored in MD (md.trade.<venue>.<symbol>, 3 venues x 4 symbols).
// 2. bare relay: a durable on MD, fetch 256 through runtime::ConsumerLoop
//    with one batch fetched ahead and one ack-all ack per batch (what the
//    views runner does), each payload republished as is to RELAY with a
//    Nats-Msg-Id (async, JetStreamPublisher), flushed at the end: the same two
//    JetStream hops and the same consume machinery as a filter view, with no
//    decoding, no predicate and no envelope.
// 3. filter view: the views service's runner (in process, coordinator and
//    leases included) on a view that matches every trade
//    (md.trade | where price > 0), outputs on view.<name>; timed from its
//    start until it has processed the last sequence and VIEWS stores every
//    output.
// 4. windowed aggregate: M trades (default 1,000,000; one per 10 ms of event
//    time), a 1-minute OHLCV + VWAP view by venue and symbol, beside the bare
//    consume of the same M messages (fetch ahead + ack per batch, nothing
//    published).
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench_util.h"
#include "bus/connection.h"
#include "runtime/consumer_loop.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "bus/kv.h"
#include "runtime/streams.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "streamadmin/views/v1/views.pb.h"
#include "testing/nats_server.h"
#include "views/definition.h"
#include "views_service/coordinator.h"
#include "wire/subjects.h"

namespace sa::bench {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
namespace vpb = streamadmin::views::v1;
namespace cfg = streamadmin::config::v1;

struct Args {
  int messages = 200000;
  int window_messages = 1000000;
  int rounds = 3;
  std::string json_path;  // --json=PATH: every round's figures (scripts/bench.sh)
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void Check(const absl::Status& st, const std::string& what) {
  if (!st.ok()) Die(absl::StrCat(what, ": ", st.message()));
}

// Stores `n` trades in MD; returns the last sequence.
uint64_t Fill(bus::Connection& conn, bus::JetStream& js, int n) {
  auto pub = bus::JetStreamPublisher::Create(conn);
  if (!pub.ok()) Die(std::string(pub.status().message()));
  const char* venues[] = {"kraken", "coinbase", "binance"};
  const char* symbols[] = {"BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"};
  const int64_t t0 = 1714564800LL * 1'000'000'000;
  for (int i = 0; i < n; ++i) {
    mdpb::Trade t;
    const char* venue = venues[i % 3];
    const char* symbol = symbols[(i / 3) % 4];
    t.mutable_origin()->set_venue(venue);
    t.mutable_origin()->set_symbol(symbol);
    t.mutable_origin()->set_exchange_time_ns(t0 + int64_t{i} * 10'000'000);
    t.mutable_price()->set_value(absl::StrCat(60000 + (i * 37) % 1000, ".", i % 100));
    t.mutable_size()->set_value(absl::StrCat("0.", 1 + i % 97));
    t.set_trade_id(absl::StrCat(i));
    t.set_side(i % 2 ? mdpb::SIDE_BUY : mdpb::SIDE_SELL);
    Check((*pub)->Publish(
              {wire::TradeSubject(venue, symbol), t.SerializeAsString(), absl::StrCat(venue, ":", i), {}}),
          "publish");
  }
  Check((*pub)->Flush(absl::Seconds(120)), "flush");
  auto info = js.GetStreamInfo("MD");
  if (!info.ok()) Die(std::string(info.status().message()));
  return info->last_seq;
}

// Fetch, (republish,) ack every message of MD; seconds. Through the same
// consume machinery as the views runner (runtime::ConsumerLoop fetching one
// batch ahead, an ack-all durable acked once per batch), so that the ratio
// measures what the view does with the messages, not how it fetches them.
double Relay(bus::Connection& conn, bus::JetStream& js, uint64_t last, bool republish, const std::string& durable) {
  cfg::ConsumerConfig c;
  c.set_stream("MD");
  c.set_durable(durable);
  c.set_filter_subject(wire::kTradeAll);
  c.set_ack_wait_s(60);
  c.set_max_ack_pending(20000);
  c.set_fetch_batch(256);
  auto pub = bus::JetStreamPublisher::Create(conn);
  if (!pub.ok()) Die(std::string(pub.status().message()));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  runtime::ConsumerLoop::Options o;
  o.consumer = c;
  o.name = "relay";
  o.fetch_ahead = 1;
  o.rewind_on_first_bind = false;
  o.bind = [&]() -> absl::StatusOr<std::unique_ptr<bus::PullSubscription>> {
    if (absl::Status st = js.RecreatePullConsumerAt(c, 1, bus::JetStream::AckPolicy::kAll); !st.ok()) return st;
    return js.PullSubscribe(c);
  };
  const absl::Time start = absl::Now();
  runtime::ConsumerLoop loop(std::move(o), [&](std::vector<bus::ReceivedMessage>& batch) {
    if (batch.empty()) return runtime::ConsumerLoop::Next::kFetch;
    if (republish)
      for (auto& m : batch)
        Check((*pub)->Publish(
                  {absl::StrCat("relay.", m.subject()), m.data(), absl::StrCat("r:", m.stream_sequence()), {}}),
              "relay publish");
    (void)batch.back().Ack();  // ack-all: frees the whole batch
    if (batch.back().stream_sequence() < last) return runtime::ConsumerLoop::Next::kFetch;
    {
      std::lock_guard lock(mu);
      done = true;
    }
    cv.notify_all();
    return runtime::ConsumerLoop::Next::kStop;
  });
  loop.Start();
  {
    std::unique_lock lock(mu);
    if (!cv.wait_for(lock, std::chrono::minutes(10), [&] { return done; })) Die("relay: the last message never came");
  }
  loop.Stop();
  Check((*pub)->Flush(absl::Seconds(120)), "relay flush");
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// A view over MD through the service's coordinator and runner; seconds until
// its checkpoint holds `last`.
double View(bus::Connection& conn, bus::JetStream& js, const std::string& name, const std::string& statement,
            uint64_t last, uint64_t* outputs) {
  auto defs = bus::KeyValue::Create(js, views::kDefinitionsBucket);
  if (!defs.ok()) Die(std::string(defs.status().message()));
  vpb::ViewDefinition d;
  d.set_name(name);
  d.set_version(1);
  d.set_statement(statement);
  d.mutable_start()->set_beginning(true);
  d.add_owner_permissions("*:*");
  d.set_created_at_ns(1);
  Check((*defs)->Put(name, d.SerializeAsString()).status(), "definition");
  auto vi = js.GetStreamInfo("VIEWS");
  const uint64_t views_before = vi.ok() ? vi->messages : 0;
  views_service::CoordinatorOptions o;
  o.replica = "bench";
  o.definitions_bucket = views::kDefinitionsBucket;
  o.leases_bucket = views::kLeasesBucket;
  o.checkpoints_bucket = views::kCheckpointsBucket;
  o.status_bucket = views::kStatusBucket;
  o.runner.fetch_batch = 256;
  o.runner.status_interval = absl::Milliseconds(20);
  const absl::Time start = absl::Now();
  views_service::Coordinator coordinator(conn, o);
  coordinator.Start();
  for (;;) {
    auto running = coordinator.Running();
    if (!running.empty() && running[0].state() == vpb::VIEW_STATE_STOPPED) Die(running[0].reason());
    if (!running.empty() && running[0].position() >= last) {
      *outputs = running[0].outputs();
      // Every output stored in VIEWS (the filter's are as many as its inputs).
      auto info = js.GetStreamInfo("VIEWS");
      if (info.ok() && info->messages >= views_before + *outputs) break;
    }
    absl::SleepFor(absl::Milliseconds(2));  // NOLINT: polling another thread's progress in a benchmark
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  coordinator.Stop(false);
  Check((*defs)->Delete(name), "drop");
  return secs;
}

struct Round {
  double relay_s, filter_s, consume_s, window_s;
  uint64_t filter_outputs, window_outputs;
};

Round RunRound(const Args& a) {
  auto server = testing::NatsServer::Start();
  if (!server.ok()) Die(std::string(server.status().message()));
  cfg::NatsConfig nc;
  nc.add_servers((*server)->url());
  nc.set_name("views-bench");
  auto conn = bus::Connection::Connect(nc);
  if (!conn.ok() || !(*conn)->WaitConnected(absl::Seconds(10))) Die("connect");
  auto js = bus::JetStream::Create(**conn);
  if (!js.ok()) Die("jetstream");
  Check((*js)->EnsureStream(runtime::MdStream()), "MD");
  Check((*js)->EnsureStream(runtime::DlqStream()), "DLQ");
  cfg::StreamConfig views;
  views.set_name("VIEWS");
  views.add_subjects(wire::kViewAll);
  views.set_duplicate_window_s(3600);
  Check((*js)->EnsureStream(views), "VIEWS");
  cfg::StreamConfig relay;
  relay.set_name("RELAY");
  relay.add_subjects("relay.>");
  relay.set_duplicate_window_s(3600);
  Check((*js)->EnsureStream(relay), "RELAY");

  Round r{};
  uint64_t last = Fill(**conn, **js, a.messages);
  r.relay_s = Relay(**conn, **js, last, true, "relay");
  r.filter_s = View(**conn, **js, "all", "md.trade | where price > 0", last, &r.filter_outputs);
  // The windowed aggregate over a million trades (stored after the first N).
  const uint64_t before = last;
  last = Fill(**conn, **js, a.window_messages);
  const uint64_t window_inputs = last;  // the view reads the whole stream
  r.consume_s = Relay(**conn, **js, window_inputs, false, "consume");
  r.window_s = View(**conn, **js, "ohlcv",
                    "md.trade | window tumbling 1m grace 5s | summarize open = first(price), high = max(price), "
                    "low = min(price), close = last(price), volume = sum(size), vwap = vwap(price, size), "
                    "n = count() by venue, symbol",
                    window_inputs, &r.window_outputs);
  (void)before;
  return r;
}

}  // namespace
}  // namespace sa::bench

int main(int argc, char** argv) {
  using namespace sa::bench;
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* key, int* out) {
      const std::string k = absl::StrCat("--", key, "=");
      return arg.rfind(k, 0) == 0 && absl::SimpleAtoi(arg.substr(k.size()), out);
    };
    if (arg.rfind("--json=", 0) == 0 && arg.size() > 7) {
      a.json_path = arg.substr(7);
      continue;
    }
    if (!value("messages", &a.messages) && !value("window_messages", &a.window_messages) && !value("rounds", &a.rounds))
      Die(absl::StrCat("unknown argument ", arg,
                       "\nusage: views_bench [--messages=N] [--window_messages=N] [--rounds=N] [--json=PATH]"));
  }
  StartWatchdog("views_bench", 1800 * a.rounds);
  std::vector<double> relay, filter, ratio, consume, window, wratio;
  for (int i = 0; i < a.rounds; ++i) {
    Round r = RunRound(a);
    const double rr = a.messages / r.relay_s, fr = a.messages / r.filter_s;
    const double total = a.messages + a.window_messages;
    const double cr = total / r.consume_s, wr = total / r.window_s;
    std::printf(
        "round %d: relay %.0f msg/s, filter view %.0f msg/s (%.0f %%, %llu outputs); consume %.0f msg/s, "
        "window view %.0f msg/s (%.0f %%, %llu windows)\n",
        i + 1, rr, fr, 100 * fr / rr, static_cast<unsigned long long>(r.filter_outputs), cr, wr, 100 * wr / cr,
        static_cast<unsigned long long>(r.window_outputs));
    relay.push_back(rr);
    filter.push_back(fr);
    ratio.push_back(fr / rr);
    consume.push_back(cr);
    window.push_back(wr);
    wratio.push_back(wr / cr);
  }
  std::printf(
      "median of %d rounds: filter view %.0f msg/s vs bare relay %.0f msg/s = %.0f %% (target >= 80 %%); "
      "windowed aggregate %.0f msg/s over %d trades vs bare consume %.0f msg/s = %.0f %%\n",
      a.rounds, Median(filter), Median(relay), 100 * Median(ratio), Median(window), a.messages + a.window_messages,
      Median(consume), 100 * Median(wratio));
  if (!a.json_path.empty()) {
    std::string out = "{\"bench\": \"views\", \"rounds\": [";
    for (size_t i = 0; i < relay.size(); ++i)
      absl::StrAppend(&out, i ? ", " : "", "{\"relay_msg_s\": ", relay[i], ", \"filter_msg_s\": ", filter[i],
                      ", \"consume_msg_s\": ", consume[i], ", \"window_msg_s\": ", window[i], "}");
    absl::StrAppend(&out, "]}\n");
    std::ofstream file(a.json_path);
    file << out;
    if (!file.flush()) Die("cannot write " + a.json_path);
  }
  return 0;
}
