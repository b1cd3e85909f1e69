// warehouse-sink as a service of its own (issue [7] item 5):
// - market data reaches md.trades with cdc-bridge never started, every trade
//   of the recordings there once (oracle: the recordings, trade_oracle.h);
// - its readiness follows the warehouse (down, then back) while cdc-bridge,
//   which no longer depends on the warehouse, stays ready and keeps capturing;
// - cdc-bridge starts and is ready without any warehouse configured, and a
//   config that still names one is refused with where the key went.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "cdc_e2e_fixture.h"
#include "runtime/streams.h"
#include "service_runner.h"
#include "stream_reader.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "trade_oracle.h"

namespace sa {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
using ::testing::HasSubstr;

class WarehouseSinkE2E : public e2e::CdcBridgeE2E {
 protected:
  static bool Ready(int http_port) {
    httplib::Client http("127.0.0.1", http_port);
    auto r = http.Get("/readyz");
    return r && r->status == 200;
  }
  static int64_t Detail(const std::string& target, const std::string& key) {
    auto st = cli::ControlClient(target, absl::Seconds(2)).GetStatus();
    int64_t v = -1;
    if (st.ok() && st->details().count(key)) (void)absl::SimpleAtoi(st->details().at(key), &v);
    return v;
  }
  static std::vector<std::string> Lines(const absl::StatusOr<std::string>& r) {
    if (!r.ok() || r->empty()) return {};
    return absl::StrSplit(*r, '\n');
  }
};

// The recordings whose trades carry venue ids (Kraken's do not; its trades
// are compared through MD in cdc_warehouse_e2e_test).
const e2e::Recording kRecordings[] = {{"binance.jsonl.zst", "binance"},
                                 {"coinbase-exchange.jsonl.zst", "coinbase-exchange"},
                                 {"coinbase-advanced-trade.jsonl.zst", "coinbase"}};

TEST_F(WarehouseSinkE2E, TradesOfReplayedRecordingsReachTheWarehouseWithCdcBridgeNeverStarted) {
  e2e::TradeMultiset want;
  for (const auto& r : kRecordings) {
    auto t = e2e::TradesInRecording(e2e::Fixture(r.file), r.venue);
    ASSERT_TRUE(t.ok()) << t.status();
    want.merge(*t);
  }
  size_t wanted = 0;
  for (const auto& [k, n] : want) {
    ASSERT_EQ(n, 1) << k << ": ids are unique per venue and symbol";
    ++wanted;
  }
  Sink sink = StartSink();
  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  auto normalizer = runner.Start({.binary = "normalizer"});
  ASSERT_TRUE(normalizer.ok()) << normalizer.status();
  auto ingest = runner.Start({.binary = "ingest", .yaml = e2e::ReplayRecordingsYaml("0", kRecordings)});
  ASSERT_TRUE(ingest.ok()) << ingest.status();

  // MD against the oracle first; it also gives each venue symbol's canonical
  // name, the warehouse's `symbol`.
  e2e::TradeMultiset in_md;
  std::map<std::string, std::string> canonical;  // "venue|venue symbol" -> symbol
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        in_md.clear();
        for (const auto& m : e2e::ReadAll(*conn_, "MD", "md.trade.>")) {
          mdpb::Trade t;
          if (!t.ParseFromString(m.data)) continue;
          ++in_md[e2e::TradeKeyOf(t)];
          canonical[absl::StrCat(t.origin().venue(), "|", t.origin().venue_symbol())] = t.origin().symbol();
        }
        return in_md.size() >= wanted;
      },
      absl::Seconds(120)))
      << in_md.size() << " of " << wanted << "\n"
      << e2e::DiffTrades(want, in_md);
  ASSERT_EQ(e2e::DiffTrades(want, in_md), "");

  // The warehouse: every trade id of the recordings, once.
  std::vector<std::string> expected;
  for (const auto& [key, n] : want) {
    std::vector<std::string> part = absl::StrSplit(key, absl::MaxSplits('|', 2));  // venue|venue symbol|id
    ASSERT_EQ(part.size(), 3u) << key;
    const auto symbol = canonical.find(absl::StrCat(part[0], "|", part[1]));
    ASSERT_NE(symbol, canonical.end()) << key;
    expected.push_back(absl::StrCat(part[0], "|", symbol->second, "|", part[2]));
  }
  std::sort(expected.begin(), expected.end());
  auto rows = [&] {
    return Lines(pg_->Query("SELECT venue || '|' || symbol || '|' || trade_id FROM md.trades ORDER BY 1", "warehouse"));
  };
  EXPECT_TRUE(testing::WaitFor([&] { return rows().size() >= expected.size(); }, absl::Seconds(120)))
      << rows().size() << " of " << expected.size() << "\n"
      << sink.process->Output().substr(0, 4000);
  std::vector<std::string> got = rows();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "the warehouse's trades differ from the recordings'";
  EXPECT_EQ(Detail(sink.target, "warehouse_md_trades"), static_cast<int64_t>(wanted));
  EXPECT_TRUE(e2e::ReadAll(*conn_, "DLQ", "dlq.warehouse").empty()) << "no trade dead-lettered";
  // cdc-bridge never ran: the stream it creates does not exist.
  auto js = bus::JetStream::Create(*conn_);
  ASSERT_TRUE(js.ok());
  EXPECT_FALSE((*js)->GetStreamInfo("CDC").ok());
}

TEST_F(WarehouseSinkE2E, ReadinessFollowsTheWarehouseWhileCdcBridgeStaysReady) {
  // The warehouse in a cluster of its own: stopping it leaves the source up.
  auto wh = testing::PostgresServer::Start();
  ASSERT_TRUE(wh.ok()) << wh.status();
  ASSERT_TRUE(pg_->Exec("CREATE TABLE items (id int PRIMARY KEY, v text)").ok());
  Bridge bridge = StartBridge();
  Sink sink = StartSink("", (*wh)->dsn());
  ASSERT_TRUE(testing::WaitFor([&] { return Ready(bridge.http_port) && Ready(sink.http_port); }, absl::Seconds(30)))
      << bridge.process->Output() << sink.process->Output();
  auto warehouse_rows = [&] {
    auto r = (*wh)->Query("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM cdc_pg_public.items");
    return r.ok() ? *r : std::string(r.status().message());
  };
  ASSERT_TRUE(pg_->Exec("INSERT INTO items VALUES (1, 'before')").ok());
  ASSERT_TRUE(testing::WaitFor([&] { return warehouse_rows() == "1=before"; }, absl::Seconds(30))) << warehouse_rows();

  ASSERT_TRUE((*wh)->Stop().ok());
  EXPECT_TRUE(testing::WaitFor([&] { return !Ready(sink.http_port); }, absl::Seconds(30)));
  auto status = cli::ControlClient(sink.target, absl::Seconds(2)).GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  std::map<std::string, bool> healthy;
  for (const auto& d : status->dependencies()) healthy[d.name()] = d.healthy();
  EXPECT_EQ(healthy, (std::map<std::string, bool>{{"nats", true}, {"warehouse", false}}));
  // Capture goes on: a change made now is published, and cdc-bridge is
  // ready at every look while the warehouse is down.
  const int64_t acked = Detail(bridge.target, "events_acked");
  ASSERT_GE(acked, 1);
  ASSERT_TRUE(pg_->Exec("INSERT INTO items VALUES (2, 'during')").ok());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        EXPECT_TRUE(Ready(bridge.http_port)) << "cdc-bridge not ready while the warehouse is down";
        return Detail(bridge.target, "events_acked") > acked;
      },
      absl::Seconds(30)));
  EXPECT_FALSE(Ready(sink.http_port));

  ASSERT_TRUE((*wh)->Resume().ok());
  EXPECT_TRUE(testing::WaitFor([&] { return Ready(sink.http_port); }, absl::Seconds(30)));
  EXPECT_TRUE(Ready(bridge.http_port));
  // What was captured during the outage reaches the warehouse.
  EXPECT_TRUE(testing::WaitFor([&] { return warehouse_rows() == "1=before,2=during"; }, absl::Seconds(60)))
      << warehouse_rows() << "\n"
      << sink.process->Output().substr(0, 4000);
}

// The market-data part acks cumulatively (one ack per stored batch). Its nak
// path: a batch that cannot be stored is not nak'd — the next stored batch's
// ack would cover it — but the durable rewinds to its ack floor. Trades
// published while the warehouse is down are all there once it is back, each
// once, and the durable has nothing left unacknowledged.
TEST_F(WarehouseSinkE2E, TradesPublishedWhileTheWarehouseIsDownAreAllStoredOnceItIsBack) {
  auto wh = testing::PostgresServer::Start();
  ASSERT_TRUE(wh.ok()) << wh.status();
  auto js = bus::JetStream::Create(*conn_);
  ASSERT_TRUE(js.ok());
  ASSERT_TRUE((*js)->EnsureStream(runtime::MdStream()).ok());  // as the normalizer creates it
  auto publisher = bus::JetStreamPublisher::Create(*conn_, {});
  ASSERT_TRUE(publisher.ok());
  std::vector<std::string> want;  // the oracle: symbol|trade id|price|size, sorted
  auto publish = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      mdpb::Trade t;
      t.mutable_origin()->set_venue("coinbase");
      t.mutable_origin()->set_symbol(i % 2 ? "BTC-USD" : "ETH-USD");
      t.mutable_origin()->set_exchange_time_ns(1786309548LL * 1000000000LL + i * 7000000LL);
      t.set_trade_id(std::to_string(5000000 + i));
      t.mutable_price()->set_value(absl::StrCat(60000 + i % 100, ".", i % 7));
      t.mutable_size()->set_value(absl::StrCat("0.", i + 1));
      t.set_side(i % 2 ? mdpb::SIDE_BUY : mdpb::SIDE_SELL);
      want.push_back(
          absl::StrCat(t.origin().symbol(), "|", t.trade_id(), "|", t.price().value(), "|", t.size().value()));
      ASSERT_TRUE((*publisher)
                      ->Publish({absl::StrCat("md.trade.coinbase.", t.origin().symbol()),
                                 t.SerializeAsString(),
                                 absl::StrCat("trade:coinbase:", t.origin().symbol(), ":", t.trade_id()),
                                 {}})
                      .ok());
    }
    ASSERT_TRUE((*publisher)->Flush(absl::Seconds(30)).ok());
  };
  auto rows = [&] {
    std::vector<std::string> r = Lines(
        (*wh)->Query("SELECT symbol || '|' || trade_id || '|' || price || '|' || size FROM md.trades ORDER BY 1"));
    std::sort(r.begin(), r.end());
    return r;
  };
  Sink sink = StartSink("cdc:\n  disabled: true\nmarket_data:\n  batch: 100\n", (*wh)->dsn());
  publish(0, 1000);
  ASSERT_TRUE(testing::WaitFor([&] { return rows().size() >= 1000; }, absl::Seconds(60)))
      << rows().size() << "\n"
      << sink.process->Output().substr(0, 4000);

  ASSERT_TRUE((*wh)->Stop().ok());
  publish(1000, 3000);
  // Batches fail and rewind while it is down (the sink says why).
  ASSERT_TRUE(testing::WaitFor([&] { return !Ready(sink.http_port); }, absl::Seconds(30)));
  ASSERT_TRUE((*wh)->Resume().ok());
  std::sort(want.begin(), want.end());
  EXPECT_TRUE(testing::WaitFor([&] { return rows().size() >= want.size(); }, absl::Seconds(120)))
      << rows().size() << " of " << want.size() << "\n"
      << sink.process->Output().substr(0, 4000);
  EXPECT_TRUE(rows() == want) << "the warehouse's trades differ from those published";
  EXPECT_EQ(Lines((*wh)->Query("SELECT count(*) FROM md.trades")), std::vector<std::string>{"3000"});
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto info = (*js)->GetConsumerInfo("MD", "warehouse-trades");
        return info.ok() && info->ack_floor_stream_seq == 3000 && info->num_ack_pending == 0;
      },
      absl::Seconds(30)));
  auto info = (*js)->GetConsumerInfo("MD", "warehouse-trades");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ack_policy, bus::AckPolicy::kAll);
}

TEST_F(WarehouseSinkE2E, CdcBridgeStartsAndIsReadyWithNoWarehouseConfigured) {
  ASSERT_TRUE(pg_->Exec("DROP DATABASE warehouse").ok());  // there is none to reach
  Bridge bridge = StartBridge();
  ASSERT_TRUE(testing::WaitFor([&] { return Ready(bridge.http_port); }, absl::Seconds(30))) << bridge.process->Output();
  cli::ControlClient client(bridge.target, absl::Seconds(2));
  auto status = client.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  std::vector<std::string> deps;
  for (const auto& d : status->dependencies()) deps.push_back(d.name());
  EXPECT_EQ(deps, (std::vector<std::string>{"nats", "source", "replication"}));
  auto config = client.GetConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(*config, ::testing::Not(HasSubstr("warehouse")));
  EXPECT_THAT(*config, ::testing::Not(HasSubstr("sink")));

  // A config of before the move, with the warehouse and the sink, is refused
  // at start-up, saying where the key went.
  const std::string old = absl::StrCat(dir_->path(), "/old-cdc-bridge.yaml");
  std::ofstream(old) << "source:\n  dsn: \"" << pg_->dsn() << "\"\nwarehouse:\n  dsn: \"" << pg_->dsn()
                     << " dbname=warehouse\"\nsink:\n  market_data_disabled: true\n";
  auto r = testing::RunProcess({e2e::BinDir() + "/cdc-bridge", "--config", old, "--check-config"}, absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2) << r->output;
  EXPECT_THAT(r->output, HasSubstr(absl::StrCat("config ", old,
                                                ":3:1: key 'warehouse': moved to the warehouse-sink "
                                                "service")));
}

}  // namespace
}  // namespace sa
