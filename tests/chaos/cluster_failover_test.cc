// Scale out and survive (issue [12]): the market data pipeline on a 3-node
// JetStream cluster with every stream replicated 3 times. While ingest replays
// the four recordings at their recorded pace, the leader of MD_RAW and then
// the leader of MD is SIGKILLed mid-stream and restarted. Every service is
// given all three URLs and must fail over on its own: none is restarted.
// Afterwards MD holds every trade the venues sent exactly once (oracle: the
// recordings, trade_oracle.h), nothing was dead-lettered, and the warehouse
// (warehouse-sink's market-data part, reading MD) holds each of them once.
//
// The second test does the same for change data capture under load: the
// leader of CDC is killed twice while a workload writes the source,
// cdc-bridge streams it and warehouse-sink writes the warehouse; afterwards
// every warehouse table equals its source table, row for row.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "e2e_util.h"
#include "pg_workload.h"
#include "service_runner.h"
#include "stream_reader.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "testing/nats_cluster.h"
#include "testing/postgres_server.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"
#include "trade_oracle.h"

namespace sa {
namespace {

namespace mdpb = streamadmin::marketdata::v1;


// The warning and error lines of a service's log (its last 40).
std::string WarningsOf(const std::string& log) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < log.size()) {
    size_t end = log.find('\n', start);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(start, end - start);
    if (line.find("\"warning\"") != std::string::npos || line.find("\"error\"") != std::string::npos)
      lines.push_back(line.substr(0, 300));
    start = end + 1;
  }
  std::string out;
  for (size_t i = lines.size() > 40 ? lines.size() - 40 : 0; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

class ClusterFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::NatsCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    auto dir = testing::TempDir::Create("cluster");
    ASSERT_TRUE(dir.ok());
    dir_ = std::make_unique<testing::TempDir>(std::move(*dir));
    streamadmin::config::v1::NatsConfig cfg;
    for (const auto& u : cluster_->urls()) cfg.add_servers(u);
    auto conn = bus::Connection::Connect(cfg);
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = std::move(*conn);
    ASSERT_TRUE(conn_->WaitConnected(absl::Seconds(10)));
  }

  // The stream's leader, as JetStream reports it ("" while there is none).
  std::string Leader(const std::string& stream) {
    auto js = bus::JetStream::Create(*conn_);
    if (!js.ok()) return "";
    auto info = (*js)->GetStreamInfo(stream);
    return info.ok() ? info->leader : "";
  }
  // The stream's message count (0 if JetStream does not answer within 10 s:
  // the test connection may be failing over itself).
  uint64_t Messages(const std::string& stream) {
    uint64_t n = 0;
    (void)testing::WaitFor(
        [&] {
          auto js = bus::JetStream::Create(*conn_);
          if (!js.ok()) return false;
          auto info = (*js)->GetStreamInfo(stream);
          if (info.ok()) n = info->messages;
          return info.ok();
        },
        absl::Seconds(10));
    return n;
  }

  // SIGKILLs the leader of `stream` once it holds `after` messages, waits
  // until another node leads it, and restarts the killed node.
  void KillLeaderOf(const std::string& stream, uint64_t after) {
    ASSERT_TRUE(
        testing::WaitFor([&] { return Messages(stream) >= after && !Leader(stream).empty(); }, absl::Seconds(60)))
        << stream << " holds " << Messages(stream);
    const std::string leader = Leader(stream);
    const int i = cluster_->IndexOf(leader);
    ASSERT_GE(i, 0) << leader;
    const uint64_t held = Messages(stream);
    ASSERT_TRUE(cluster_->node(i).Kill().ok());
    std::printf("%s: leader %s SIGKILLed at about %llu messages\n", stream.c_str(), leader.c_str(),
                static_cast<unsigned long long>(held));
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          const std::string now = Leader(stream);
          return !now.empty() && now != leader;
        },
        absl::Seconds(30)))
        << "no new leader for " << stream;
    std::printf("%s: %s leads now\n", stream.c_str(), Leader(stream).c_str());
    ASSERT_TRUE(cluster_->node(i).Resume().ok());
    ++failovers_;
  }

  // cdc-bridge's config: source `source`, its own slot and publication,
  // then `extra` connector keys.
  static std::string BridgeYaml(testing::PostgresServer& source, const std::string& name, const std::string& extra) {
    return absl::StrCat("source:\n  dsn: \"", source.dsn(), "\"\nconnector:\n  server_name: pg\n  slot_name: ", name,
                        "_slot\n  publication_name: ", name, "_pub\n", extra);
  }
  // warehouse-sink's config: warehouse `warehouse` (database "warehouse"), then `extra` keys.
  static std::string SinkYaml(testing::PostgresServer& warehouse, const std::string& extra) {
    return absl::StrCat("warehouse:\n  dsn: \"", warehouse.dsn(), " dbname=warehouse\"\n", extra);
  }

  std::unique_ptr<testing::NatsCluster> cluster_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<bus::Connection> conn_;
  int failovers_ = 0;
};

TEST_F(ClusterFailover, LeadersOfMdRawAndMdKilledMidStreamLoseAndDoubleNoTrade) {
  e2e::TradeMultiset want;
  for (const auto& r : e2e::kRecordings) {
    auto t = e2e::TradesInRecording(e2e::Fixture(r.file), r.venue);
    ASSERT_TRUE(t.ok()) << t.status();
    want.merge(*t);
  }
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  ASSERT_TRUE((*pg)->Exec("CREATE DATABASE warehouse").ok());
  e2e::ServiceRunner runner(dir_->path(), cluster_->urls(), "  stream_replicas: 3\n");
  // Market data only: cdc-bridge is not needed, and the CDC part is off.
  auto sink = runner.Start({.binary = "warehouse-sink", .yaml = SinkYaml(**pg, "cdc:\n  disabled: true\n")});
  ASSERT_TRUE(sink.ok()) << sink.status();
  auto normalizer = runner.Start({.binary = "normalizer"});
  ASSERT_TRUE(normalizer.ok()) << normalizer.status();
  auto ingest = runner.Start({.binary = "ingest", .yaml = e2e::ReplayRecordingsYaml("1")});
  ASSERT_TRUE(ingest.ok()) << ingest.status();

  // The recordings last about 31 s at their pace.
  KillLeaderOf("MD_RAW", 3000);
  KillLeaderOf("MD", 6000);

  size_t wanted = 0;
  for (const auto& [k, n] : want) wanted += static_cast<size_t>(n);
  e2e::StoredTrades md;
  const bool all = testing::WaitFor(
      [&] {
        auto read = e2e::ReadStoredTrades(*conn_);
        if (!read.has_value()) return false;
        md = std::move(*read);
        return md.count >= wanted;
      },
      absl::Seconds(60));
  if (!all) {
    auto js = bus::JetStream::Create(*conn_);
    auto ci = (*js)->GetConsumerInfo("MD_RAW", "normalizer");
    std::printf(
        "MD_RAW %llu messages, MD %llu; normalizer consumer: %s pending %llu, "
        "ack pending %lld, waiting %lld, "
        "delivered %llu, ack floor %llu\n",
        static_cast<unsigned long long>(Messages("MD_RAW")), static_cast<unsigned long long>(Messages("MD")),
        ci.ok() ? "" : std::string(ci.status().message()).c_str(),
        static_cast<unsigned long long>(ci.ok() ? ci->num_pending : 0),
        static_cast<long long>(ci.ok() ? ci->num_ack_pending : -1),
        static_cast<long long>(ci.ok() ? ci->num_waiting : -1),
        static_cast<unsigned long long>(ci.ok() ? ci->delivered_stream_seq : 0),
        static_cast<unsigned long long>(ci.ok() ? ci->ack_floor_stream_seq : 0));
  }
  ASSERT_TRUE(all) << md.count << " of " << wanted << "\n"
                   << e2e::DiffTrades(want, md.keys) << "\nnormalizer:\n"
                   << WarningsOf(normalizer->process->Output()) << "\ningest:\n"
                   << WarningsOf(ingest->process->Output());
  EXPECT_EQ(e2e::DiffTrades(want, md.keys), "");
  EXPECT_EQ(md.count, wanted);
  // What the normalizer could not handle. Known limit (docs/ARCHITECTURE.md):
  // a raw frame whose publish was in flight when the MD_RAW leader died can
  // still be stored after newer ones (the publisher resends in order only what
  // it knows failed); the normalizer dead-letters it as out_of_order. Anything
  // else dead-lettered is a failure.
  size_t out_of_order = 0;
  for (const auto& m : e2e::ReadAll(*conn_, "DLQ", "dlq.>")) {
    std::string reason;
    for (const auto& [k, v] : m.headers)
      if (k == "Sa-Dlq-Reason") reason = v;
    EXPECT_EQ(reason, "out_of_order") << m.subject;
    ++out_of_order;
  }
  // The warehouse: every trade MD holds, once.
  auto rows = [&]() -> std::vector<std::string> {
    auto r = (*pg)->Query(
        "SELECT venue || '|' || symbol || '|' || trade_id "
        "FROM md.trades ORDER BY 1",
        "warehouse");
    if (!r.ok() || r->empty()) return {};
    return absl::StrSplit(*r, '\n');
  };
  EXPECT_TRUE(testing::WaitFor([&] { return rows().size() >= md.warehouse_keys.size(); }, absl::Seconds(60)))
      << rows().size() << " of " << md.warehouse_keys.size() << " trades in the warehouse";
  const std::vector<std::string> in_warehouse = rows();
  EXPECT_EQ(in_warehouse, std::vector<std::string>(md.warehouse_keys.begin(), md.warehouse_keys.end()));
  // Nobody was restarted: both services failed over on their own.
  EXPECT_FALSE(normalizer->process->Exited());
  EXPECT_FALSE(ingest->process->Exited());
  EXPECT_FALSE(sink->process->Exited());
  auto js = bus::JetStream::Create(*conn_);
  ASSERT_TRUE(js.ok());
  for (const char* s : {"MD_RAW", "MD"}) {
    auto info = (*js)->GetStreamInfo(s);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->replicas, 3) << s;
  }
  std::printf(
      "cluster failover: %d leader kills, %llu raw frames (%zu stored out of order, dead-lettered), %zu "
      "trades expected, %zu in MD, %zu in the warehouse, 0 lost, 0 doubled\n",
      failovers_, static_cast<unsigned long long>(Messages("MD_RAW")), out_of_order, wanted, md.count,
      in_warehouse.size());
}

TEST_F(ClusterFailover, LeaderOfCdcKilledTwiceUnderLoadLeavesEveryWarehouseTableEqualToItsSource) {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto wh = testing::PostgresServer::Start();  // the warehouse in a cluster of its own
  ASSERT_TRUE(wh.ok()) << wh.status();
  ASSERT_TRUE((*wh)->Exec("CREATE DATABASE warehouse").ok());
  ASSERT_TRUE((*pg)->Exec(e2e::WorkloadSchemaSql()).ok());
  e2e::ServiceRunner runner(dir_->path(), cluster_->urls(), "  stream_replicas: 3\n");
  e2e::PgWorkload load((*pg)->dsn(), {.seed = 20261202, .tx_per_second = 150});
  auto bridge = runner.Start({.binary = "cdc-bridge", .yaml = BridgeYaml(**pg, "cluster", "  status_interval_ms: 200\n")});
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  auto sink = runner.Start({.binary = "warehouse-sink", .yaml = SinkYaml(**wh, "")});
  ASSERT_TRUE(sink.ok()) << sink.status();
  KillLeaderOf("CDC", 1500);
  KillLeaderOf("CDC", Messages("CDC") + 1500);
  load.Stop();
  ASSERT_GT(load.committed(), 500) << "the workload did not run";
  std::string summary;
  for (const char* t : e2e::kWorkloadTables) {
    const std::string want = e2e::TableDigest(**pg, t, "postgres");
    const std::string copy = absl::StrCat("cdc_pg_public.", t);
    EXPECT_TRUE(testing::WaitFor([&] { return e2e::TableDigest(**wh, copy, "warehouse") == want; }, absl::Seconds(120)))
        << t << ": warehouse " << e2e::TableDigest(**wh, copy, "warehouse") << " != source " << want << "\n"
        << WarningsOf(bridge->process->Output()) << WarningsOf(sink->process->Output());
    absl::StrAppend(&summary, t, " ", want.substr(0, want.find(':')), " rows, ");
  }
  EXPECT_FALSE(bridge->process->Exited());
  EXPECT_FALSE(sink->process->Exited());
  EXPECT_TRUE(e2e::ReadAll(*conn_, "DLQ", "dlq.>").empty());
  std::printf(
      "cluster failover cdc: %d leader kills, %lld source "
      "transactions, %llu CDC messages; %s0 lost, "
      "0 doubled\n",
      failovers_, static_cast<long long>(load.committed()), static_cast<unsigned long long>(Messages("CDC")),
      summary.c_str());
}

}  // namespace
}  // namespace sa
