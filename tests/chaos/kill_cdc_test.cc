// Kill anywhere, change data capture: cdc-bridge (the source side) and
// warehouse-sink (the warehouse side) are SIGKILLed at many distinct points
// while a generated workload writes the source — inserts, updates, deletes,
// multi-row transactions, and a 30,000-row table that is snapshotted in
// chunks while it is written — and restarted each time. Armed crash points
// fall after a transaction is published, after the slot is confirmed, after
// a watermark, after a snapshot chunk and after its stored position (in
// cdc-bridge), after a warehouse COMMIT and between its acks (in
// warehouse-sink); the other process is SIGKILLed at the same moment, as
// when both sides ran in one. The rest are outside SIGKILLs of both at
// random moments. Afterwards every warehouse table equals its source table,
// row for row (PostgreSQL's own md5 over every row's text on both sides).
//
// The second test does the same for market data: trades already in MD (some
// without a venue trade id, as Kraken's) reach md.trades exactly once while
// warehouse-sink is killed between its COMMIT and its acks.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "chaos_util.h"
#include "e2e_util.h"
#include "pg_workload.h"
#include "service_runner.h"
#include "stream_reader.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "testing/postgres_server.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

class KillAnywhereCdc : public e2e::NatsPostgresTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(e2e::NatsPostgresTest::SetUp());
    // The warehouse in a cluster of its own, as in production.
    auto wh = testing::PostgresServer::Start();
    ASSERT_TRUE(wh.ok()) << wh.status();
    wh_ = std::move(*wh);
    ASSERT_TRUE(wh_->Exec("CREATE DATABASE warehouse").ok());
  }

  std::string BridgeYaml(const std::string& extra) const {
    return absl::StrCat("source:\n  dsn: \"", pg_->dsn(),
                        "\"\nconnector:\n  server_name: pg\n  slot_name: chaos_slot\n"
                        "  publication_name: chaos_pub\n  status_interval_ms: 200\n",
                        extra);
  }
  // warehouse-sink on the warehouse cluster, then `extra` top-level keys.
  std::string SinkYaml(const std::string& extra) const {
    return absl::StrCat("warehouse:\n  dsn: \"", wh_->dsn(), " dbname=warehouse\"\n", extra);
  }

  std::unique_ptr<testing::PostgresServer> wh_;  // the warehouse
};

struct KillPoint {
  const char* name;
  uint64_t max_pass;  // the armed pass is uniform in 1..max_pass
};

TEST_F(KillAnywhereCdc, BridgeAndSinkKilledAtManyPointsLeaveEveryWarehouseTableEqualToItsSource) {
  const int kills = chaos::Kills(50);
  const uint64_t seed = chaos::AnnouncedSeed("kill-anywhere cdc", kills);
  std::mt19937_64 rng(seed);
  ASSERT_TRUE(pg_->Exec(e2e::WorkloadSchemaSql() + e2e::SnapshotTableSql(30000)).ok());
  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  const std::string yaml = BridgeYaml("  snapshot_mode: initial\n  snapshot_chunk_size: 200\n");
  const std::string sink_yaml = SinkYaml("");
  e2e::PgWorkload load(pg_->dsn(), {.seed = seed, .snapshot_table = true, .tx_per_second = 150});

  // While the snapshot runs (the first kills) its points come first; then
  // the streaming ones. An armed point that is not reached within 5 s (the
  // snapshot is over, say) becomes an outside kill.
  const KillPoint kSnapshotPoints[] = {
      {"cdc.chunk_published", 4},  {"cdc.snapshot_state_saved", 4}, {"sink.batch_committed", 4},
      {"sink.event_acked", 300},   {"cdc.watermark_published", 10},  {"outside SIGKILL", 0},
  };
  const KillPoint kStreamPoints[] = {
      {"cdc.transaction_published", 60}, {"cdc.slot_confirmed", 20}, {"cdc.watermark_published", 20},
      {"sink.batch_committed", 8},       {"sink.event_acked", 400},  {"outside SIGKILL", 0},
  };
  std::map<std::string, int> by_point;
  for (int i = 0; i < kills; ++i) {
    const bool snapshot_phase = i < kills * 2 / 5;
    const KillPoint& p = snapshot_phase ? kSnapshotPoints[rng() % std::size(kSnapshotPoints)]
                                        : kStreamPoints[rng() % std::size(kStreamPoints)];
    e2e::ServiceSpec bridge_spec{.binary = "cdc-bridge", .yaml = yaml};
    // Started beside cdc-bridge, not after it: they come up together, as when they were one process.
    e2e::ServiceSpec sink_spec{.binary = "warehouse-sink", .yaml = sink_yaml, .wait_healthy = false};
    const bool outside = p.max_pass == 0;
    const uint64_t pass = outside ? 0 : 1 + rng() % p.max_pass;
    // cdc.* points are cdc-bridge's, sink.* ones warehouse-sink's.
    const bool in_sink = absl::StartsWith(p.name, "sink.");
    if (!outside) (in_sink ? sink_spec : bridge_spec).env.push_back(e2e::CrashAt(p.name, pass));
    auto sink = runner.Start(sink_spec);
    ASSERT_TRUE(sink.ok()) << sink.status();
    auto bridge = runner.Start(bridge_spec);
    ASSERT_TRUE(bridge.ok()) << bridge.status();
    e2e::RunningService& armed = in_sink ? *sink : *bridge;
    const absl::Duration wait = outside ? absl::Milliseconds(100 + rng() % 1500) : absl::Seconds(5);
    auto code = armed.process->Wait(wait);
    if (code.ok()) {
      ASSERT_EQ(*code, 128 + 9) << armed.process->Output().substr(0, 4000);
      ++by_point[p.name];
    } else {
      ASSERT_TRUE(armed.process->Kill().ok());
      ++by_point[outside ? "outside SIGKILL" : "outside SIGKILL (armed point not reached)"];
    }
    ASSERT_TRUE((in_sink ? *bridge : *sink).process->Kill().ok());
  }
  load.Stop();
  ASSERT_GT(load.committed(), 1000) << "the workload did not run";

  auto last = runner.Start({.binary = "cdc-bridge", .yaml = yaml});
  ASSERT_TRUE(last.ok()) << last.status();
  auto last_sink = runner.Start({.binary = "warehouse-sink", .yaml = sink_yaml});
  ASSERT_TRUE(last_sink.ok()) << last_sink.status();
  std::vector<std::string> tables(std::begin(e2e::kWorkloadTables), std::end(e2e::kWorkloadTables));
  tables.push_back("big");
  std::string summary;
  for (const auto& t : tables) {
    const std::string want = e2e::TableDigest(*pg_, t, "postgres");
    const std::string copy = absl::StrCat("cdc_pg_public.", t);
    EXPECT_TRUE(testing::WaitFor([&] { return e2e::TableDigest(*wh_, copy, "warehouse") == want; },
                                 absl::Seconds(180)))
        << t << ": warehouse " << e2e::TableDigest(*wh_, copy, "warehouse") << " != source " << want << "\n"
        << last->process->Output().substr(0, 6000) << last_sink->process->Output().substr(0, 6000);
    absl::StrAppend(&summary, t, " ", want.substr(0, want.find(':')), " rows, ");
  }
  std::string points;
  for (const auto& [n, c] : by_point) absl::StrAppend(&points, n, " x", c, ", ");
  std::printf("kill-anywhere cdc: %d kills (%s); %lld source transactions; %s0 lost, 0 doubled\n", kills,
              points.c_str(), static_cast<long long>(load.committed()), summary.c_str());
  // Nothing was parked: every event was applied.
  EXPECT_TRUE(e2e::ReadAll(*conn_, "DLQ", "dlq.>").empty());
}

TEST_F(KillAnywhereCdc, MarketDataSinkKilledBetweenCommitAndAcksStoresEveryTradeOnce) {
  const int kills = chaos::Kills(50) / 2;
  std::mt19937_64 rng(chaos::AnnouncedSeed("kill-anywhere md sink", kills));
  auto js = bus::JetStream::Create(*conn_);
  ASSERT_TRUE(js.ok());
  streamadmin::config::v1::StreamConfig md;
  md.set_name("MD");
  for (const char* s : {"md.trade.>", "md.ticker.>", "md.book.>", "md.candle.>", "md.status.>"}) md.add_subjects(s);
  md.set_duplicate_window_s(120);
  ASSERT_TRUE((*js)->EnsureStream(md).ok());
  auto publisher = bus::JetStreamPublisher::Create(*conn_, {});
  ASSERT_TRUE(publisher.ok());
  // The oracle: what the test published, by warehouse key.
  std::set<std::string> want;
  constexpr int kTrades = 20000;
  const int64_t t0 = 1786309548LL * 1000000000LL;
  for (int i = 0; i < kTrades; ++i) {
    mdpb::Trade t;
    const bool kraken = i % 3 == 0;
    t.mutable_origin()->set_venue(kraken ? "kraken" : "coinbase");
    t.mutable_origin()->set_symbol(i % 2 ? "BTC-USD" : "ETH-USD");
    t.mutable_origin()->set_exchange_time_ns(t0 + i * 7000000LL);
    if (!kraken) t.set_trade_id(std::to_string(1000000 + i));
    t.mutable_price()->set_value(absl::StrCat(60000 + i % 100, ".", i % 7));
    t.mutable_size()->set_value(absl::StrCat("0.", i + 1));
    t.set_side(i % 2 ? mdpb::SIDE_BUY : mdpb::SIDE_SELL);
    const std::string id = kraken ? absl::StrCat("trade:kraken:conn-1:", i, ":0")
                                  : absl::StrCat("trade:coinbase:", t.origin().symbol(), ":", t.trade_id());
    want.insert(absl::StrCat(t.origin().venue(), "|", t.origin().symbol(), "|", kraken ? id : t.trade_id(), "|",
                             t.price().value(), "|", t.size().value()));
    ASSERT_TRUE(
        (*publisher)->Publish({absl::StrCat("md.trade.", t.origin().venue(), ".", t.origin().symbol()),
                               t.SerializeAsString(), id, {}})
            .ok());
  }
  ASSERT_TRUE((*publisher)->Flush(absl::Seconds(30)).ok());

  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  // Market data only: no cdc-bridge, the CDC part off.
  const std::string yaml = SinkYaml("cdc:\n  disabled: true\nmarket_data:\n  batch: 500\n");
  int crashed = 0;
  for (int i = 0; i < kills; ++i) {
    const bool commit = rng() % 2 == 0;
    const uint64_t pass = commit ? 1 + rng() % 3 : 1 + rng() % 400;
    auto sink = runner.Start({.binary = "warehouse-sink",
                              .yaml = yaml,
                              .env = {e2e::CrashAt(commit ? "md_sink.batch_committed" : "md_sink.message_acked", pass)}});
    ASSERT_TRUE(sink.ok()) << sink.status();
    auto code = sink->process->Wait(absl::Seconds(10));
    if (code.ok()) {
      ++crashed;
    } else {
      ASSERT_TRUE(sink->process->Kill().ok());  // everything stored already
    }
  }
  auto last = runner.Start({.binary = "warehouse-sink", .yaml = yaml});
  ASSERT_TRUE(last.ok()) << last.status();
  auto rows = [&]() -> std::set<std::string> {
    auto r = wh_->Query("SELECT venue || '|' || symbol || '|' || trade_id || '|' || price || '|' || size FROM md.trades",
                        "warehouse");
    if (!r.ok() || r->empty()) return {};
    std::vector<std::string> lines = absl::StrSplit(*r, '\n');
    return {lines.begin(), lines.end()};
  };
  EXPECT_TRUE(testing::WaitFor([&] { return rows().size() >= want.size(); }, absl::Seconds(120)))
      << rows().size() << " of " << want.size() << "\n" << last->process->Output().substr(0, 4000);
  auto got = rows();
  auto count = wh_->Query("SELECT count(*) FROM md.trades", "warehouse");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, std::to_string(kTrades)) << "rows stored twice or lost";
  EXPECT_TRUE(got == want) << got.size() << " distinct rows, want " << want.size();
  std::printf("kill-anywhere md sink: %d kills (%d at armed points), %d trades published, %zu rows, 0 lost, 0 doubled\n",
              kills, crashed, kTrades, got.size());
}

}  // namespace
}  // namespace sa
