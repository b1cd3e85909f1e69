// The warehouse end to end: source PostgreSQL -> pgoutput -> cdc-bridge ->
// JetStream -> warehouse-sink -> the warehouse database, compared with SQL
// (row count and a content hash over every column's text), and bad events
// parked on dlq.cdc while the rest flows.
#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>

#include <atomic>
#include <fstream>
#include <set>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bus/jetstream_publisher.h"
#include "absl/strings/str_split.h"
#include "cdc_e2e_fixture.h"
#include "service_runner.h"
#include "stream_reader.h"
#include "trade_oracle.h"
#include "streamadmin/cdc/v1/cdc.grpc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa {
namespace {

namespace cdcpb = streamadmin::cdc::v1;
using e2e::CdcBridgeE2E;
using e2e::Stored;

// count:md5 of every row's text, in key order.
std::string TableDigest(testing::PostgresServer& pg, const std::string& table, const std::string& db) {
  auto r = pg.Query(absl::StrCat("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') "
                                 "FROM ",
                                 table, " t"),
                    db);
  return r.ok() ? *r : absl::StrCat("error: ", r.status().message());
}

TEST_F(CdcBridgeE2E, WarehouseTableEqualsSourceForEveryType) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE typed (id int8 PRIMARY KEY, i2 int2, i4 int4, n numeric(30,10), t text,"
                        " v varchar(20), c char(5), b bool, ts timestamp, tz timestamptz, d date, u uuid, j json,"
                        " jb jsonb, by bytea, f4 float4, f8 float8, ai int4[], at text[], an numeric[], big text)")
                  .ok());
  Bridge bridge = StartBridge();
  Sink sink = StartSink();
  ASSERT_TRUE(pg_->Exec(
                     "INSERT INTO typed VALUES"
                     " (1, -32768, 2147483647, 12345678901234567890.0123456789, 'héllo \"q\" ''s'' \\ tab\t', 'v',"
                     "  'ab', true, '2024-02-29 23:59:58.123456', '2024-02-29 23:59:58.123456+05:30', '2024-02-29',"
                     "  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"b\": [1, 2],  \"a\": null}',"
                     "  '{\"b\": [1, 2], \"a\": null}', '\\x00ff10', 1.1, 0.1, '{1,NULL,-3}', '{\"a,b\",\"\\\"q\\\"\",NULL}',"
                     "  '{1.50,NaN}', repeat(md5('x'), 4000)),"
                     " (2, 0, 0, 'NaN', '', '', '', false, '0001-01-01 00:00:00', '1970-01-01 00:00:00+00',"
                     "  '1969-12-31', NULL, '[]', '[]', '\\x', 'Infinity', '-Infinity', '{}', '{}', '{}', 'small'),"
                     " (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
                     "  NULL, NULL, NULL, NULL, NULL),"
                     " (4, 1, 1, 1, 'to delete', 'x', 'x', true, now(), now(), now(), gen_random_uuid(), '1', '1',"
                     "  '\\x01', 1, 1, '{1}', '{x}', '{1}', 'x')")
                  .ok());
  // An update that leaves the TOASTed column alone, a key change, a delete.
  ASSERT_TRUE(pg_->Exec("UPDATE typed SET t = 'changed', n = 1e-10 WHERE id = 1").ok());
  ASSERT_TRUE(pg_->Exec("UPDATE typed SET id = 5 WHERE id = 2").ok());
  ASSERT_TRUE(pg_->Exec("DELETE FROM typed WHERE id = 4").ok());
  const std::string want = TableDigest(*pg_, "typed", "postgres");
  ASSERT_EQ(want.substr(0, 2), "3:");
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.typed", "warehouse") == want; },
                               absl::Seconds(30)))
      << TableDigest(*pg_, "cdc_pg_public.typed", "warehouse") << " != " << want << "\n"
      << bridge.process->Output() << sink.process->Output();
  EXPECT_EQ(Sql("SELECT length(big) FROM typed WHERE id = 1"),
            *pg_->Query("SELECT length(big) FROM cdc_pg_public.typed WHERE id = 1", "warehouse"))
      << "an unchanged TOAST value keeps the warehouse's copy, never a placeholder";
  // Same column types as the source (typmods aside).
  EXPECT_EQ(*pg_->Query("SELECT string_agg(format_type(atttypid, NULL), ',' ORDER BY attnum) FROM pg_attribute "
                        "WHERE attrelid = 'cdc_pg_public.typed'::regclass AND attnum > 0",
                        "warehouse"),
            Sql("SELECT string_agg(format_type(atttypid, NULL), ',' ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = 'typed'::regclass AND attnum > 0"));

  // A column added on the source appears in the warehouse.
  ASSERT_TRUE(pg_->Exec("ALTER TABLE typed ADD COLUMN extra int4; UPDATE typed SET extra = 7 WHERE id = 5").ok());
  const std::string want2 = TableDigest(*pg_, "typed", "postgres");
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.typed", "warehouse") == want2; },
                               absl::Seconds(30)))
      << TableDigest(*pg_, "cdc_pg_public.typed", "warehouse") << " != " << want2;

  // Truncate.
  ASSERT_TRUE(pg_->Exec("TRUNCATE typed").ok());
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.typed", "warehouse") == "0:"; },
                               absl::Seconds(30)));
  cli::ControlClient client(sink.target, absl::Seconds(2));
  auto st = client.GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->details().at("sink_dead_letters"), "0");
  EXPECT_TRUE(st->details().count("sink_position.pg"));
}

TEST_F(CdcBridgeE2E, EventsTheWarehouseCannotTakeAreDeadLetteredAndTheRestFlows) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE nokey (x int, y text); ALTER TABLE nokey REPLICA IDENTITY FULL;"
                        "CREATE TABLE good (id int PRIMARY KEY, v text)")
                  .ok());
  Bridge bridge = StartBridge();
  Sink sink = StartSink();
  ASSERT_TRUE(pg_->Exec("INSERT INTO nokey VALUES (1, 'a'); INSERT INTO good VALUES (1, 'one')").ok());

  // Crafted input on the stream, as a broken or foreign producer would send:
  // undecodable bytes, and a well-formed event with a value its column refuses.
  auto publisher = bus::JetStreamPublisher::Create(*conn_, {});
  ASSERT_TRUE(publisher.ok());
  ASSERT_TRUE((*publisher)->Publish({"cdc.other.public.junk", "\xff\xfe not protobuf", "junk-1", {}}).ok());
  cdcpb::ChangeEvent bad;
  bad.set_op(cdcpb::OP_CREATE);
  bad.mutable_table()->set_server("other");
  bad.mutable_table()->set_schema("public");
  bad.mutable_table()->set_table("prices");
  bad.mutable_source()->set_lsn(100);
  for (auto [id, price] : {std::pair{1, "1.5"}, std::pair{2, "not a number"}, std::pair{3, "3"}}) {
    cdcpb::ChangeEvent e = bad;
    e.mutable_source()->set_index(id);
    auto* k = e.add_after();
    k->set_name("id");
    k->set_type_name("int4");
    k->set_primary_key(true);
    k->mutable_value()->set_int_value(id);
    auto* p = e.add_after();
    p->set_name("price");
    p->set_type_name("numeric");
    p->mutable_value()->set_numeric_value(price);
    ASSERT_TRUE((*publisher)->Publish({"cdc.other.public.prices", e.SerializeAsString(), absl::StrCat("o:", id), {}}).ok());
  }
  cdcpb::ChangeEvent odd = bad;  // a type the source could not name
  odd.mutable_table()->set_table("odd");
  odd.mutable_source()->set_index(9);
  auto* ok = odd.add_after();
  ok->set_name("id");
  ok->set_type_name("int4");
  ok->set_primary_key(true);
  ok->mutable_value()->set_int_value(1);
  auto* strange = odd.add_after();
  strange->set_name("shape");
  strange->set_type_name("oid:99999");
  strange->mutable_value()->set_text_value("(1,2)");
  ASSERT_TRUE((*publisher)->Publish({"cdc.other.public.odd", odd.SerializeAsString(), "o:odd", {}}).ok());
  cdcpb::Watermark w;
  w.set_server("other");
  w.set_lsn(100);
  ASSERT_TRUE((*publisher)->Publish({"cdc.other.watermark", w.SerializeAsString(), "o:wm", {}}).ok());
  ASSERT_TRUE((*publisher)->Flush(absl::Seconds(10)).ok());

  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto r = pg_->Query("SELECT count(*) FROM cdc_pg_public.good", "warehouse");
        return r.ok() && *r == "1";
      },
      absl::Seconds(30)))
      << bridge.process->Output() << sink.process->Output();
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto r = pg_->Query("SELECT string_agg(id || '=' || price, ',' ORDER BY id) FROM cdc_other_public.prices",
                            "warehouse");
        return r.ok() && *r == "1=1.5,3=3";
      },
      absl::Seconds(30)))
      << sink.process->Output();
  std::vector<Stored> dlq;
  ASSERT_TRUE(testing::WaitFor([&] { return (dlq = Read("dlq.cdc")).size() >= 4; }, absl::Seconds(30)));
  std::map<std::string, std::string> reasons;  // subject -> reason
  for (const auto& d : dlq) reasons[d.headers.at("Sa-Dlq-Subject")] = d.headers.at("Sa-Dlq-Reason");
  EXPECT_EQ(reasons["cdc.pg.public.nokey"], "no_primary_key");
  EXPECT_EQ(reasons["cdc.other.public.junk"], "undecodable");
  EXPECT_EQ(reasons["cdc.other.public.prices"], "apply_failed");
  EXPECT_EQ(reasons["cdc.other.public.odd"], "unknown_type");
  for (const auto& d : dlq) {
    if (d.headers.at("Sa-Dlq-Subject") != "cdc.other.public.prices") continue;
    EXPECT_NE(d.headers.at("Sa-Dlq-Error").find("invalid input syntax for type numeric"), std::string::npos)
        << d.headers.at("Sa-Dlq-Error");
  }
  auto metrics = sink.process->Output();  // the errors are logged with the table named
  EXPECT_NE(metrics.find("public.nokey has no primary key"), std::string::npos);
}

// Random updates, deletes and inserts on `big` until stopped.
class Churn {
 public:
  explicit Churn(std::string dsn) : dsn_(std::move(dsn)) {
    thread_ = std::thread([this] {
      PGconn* c = PQconnectdb(dsn_.c_str());
      std::mt19937 rng(11);
      while (!stop_ && PQstatus(c) == CONNECTION_OK) {
        const int id = static_cast<int>(rng() % 30000) + 1;
        std::string sql;
        switch (rng() % 3) {
          case 0: sql = absl::StrCat("UPDATE big SET v = v + 1, note = note || 'u' WHERE id = ", id); break;
          case 1: sql = absl::StrCat("DELETE FROM big WHERE id = ", id); break;
          default:
            sql = absl::StrCat("INSERT INTO big VALUES (", id, ", 0, 'new') ON CONFLICT (id) DO UPDATE SET v = 0");
        }
        PQclear(PQexec(c, sql.c_str()));
        ++writes_;
      }
      PQfinish(c);
    });
  }
  ~Churn() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t writes() const { return writes_.load(); }

 private:
  std::string dsn_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> writes_{0};
  std::thread thread_;
};

std::vector<cdcpb::SnapshotState> Snapshots(cdcpb::Cdc::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  cdcpb::ListSnapshotsResponse r;
  if (!stub.ListSnapshots(&ctx, {}, &r).ok()) return {};
  return {r.snapshots().begin(), r.snapshots().end()};
}

// Waits (up to two minutes) until the bridge lists one snapshot, done.
bool OneSnapshotDone(cdcpb::Cdc::Stub& stub) {
  return testing::WaitFor(
      [&] {
        auto s = Snapshots(stub);
        return s.size() == 1 && s[0].state() == "done";
      },
      absl::Seconds(120));
}

TEST_F(CdcBridgeE2E, InitialSnapshotInChunksUnderConcurrentWritesEqualsSource) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE big (id int PRIMARY KEY, v int, note text);"
                        "INSERT INTO big SELECT g, g % 97, 'row ' || g FROM generate_series(1, 25000) g")
                  .ok());
  Churn churn(pg_->dsn());
  Bridge bridge = StartBridge("  snapshot_mode: initial\n  snapshot_chunk_size: 1000\n");
  Sink sink = StartSink();
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(bridge.target, grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(OneSnapshotDone(*stub)) << bridge.process->Output();
  churn.Stop();
  ASSERT_GT(churn.writes(), 100);
  auto s = Snapshots(*stub);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].table(), "big");
  EXPECT_GE(s[0].rows(), 20000u);
  const std::string want = TableDigest(*pg_, "big", "postgres");
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.big", "warehouse") == want; },
                               absl::Seconds(60)))
      << TableDigest(*pg_, "cdc_pg_public.big", "warehouse") << " != " << want;
}

TEST_F(CdcBridgeE2E, OnDemandSnapshotOfOneTableWhileStreamingEqualsSource) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE big (id int PRIMARY KEY, v int, note text);"
                        "INSERT INTO big SELECT g, g % 97, 'row ' || g FROM generate_series(1, 20000) g")
                  .ok());
  Bridge bridge = StartBridge("  snapshot_mode: never\n  snapshot_chunk_size: 2000\n");
  Sink warehouse_sink = StartSink();
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(bridge.target, grpc::InsecureChannelCredentials()));
  auto sink_stub =
      cdcpb::CdcSink::NewStub(grpc::CreateChannel(warehouse_sink.target, grpc::InsecureChannelCredentials()));
  Churn churn(pg_->dsn());
  // Streaming only: the warehouse sees the rows changed since the slot, not the others.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto r = pg_->Query("SELECT count(*) > 0 FROM cdc_pg_public.big", "warehouse");
        return r.ok() && *r == "t";
      },
      absl::Seconds(30)));
  EXPECT_LT(std::stoi(*pg_->Query("SELECT count(*) FROM cdc_pg_public.big", "warehouse")), 20000);

  grpc::ClientContext ctx;
  cdcpb::SnapshotTableRequest req;
  req.set_table("big");
  cdcpb::SnapshotTableResponse resp;
  ASSERT_TRUE(stub->SnapshotTable(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.snapshot().schema(), "public");
  grpc::ClientContext bad_ctx;
  req.set_table("");
  EXPECT_EQ(stub->SnapshotTable(&bad_ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_TRUE(OneSnapshotDone(*stub)) << bridge.process->Output();
  churn.Stop();
  const std::string want = TableDigest(*pg_, "big", "postgres");
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.big", "warehouse") == want; },
                               absl::Seconds(60)))
      << TableDigest(*pg_, "cdc_pg_public.big", "warehouse") << " != " << want;

  grpc::ClientContext sctx;
  cdcpb::SinkStatus sink;
  ASSERT_TRUE(sink_stub->GetSinkStatus(&sctx, {}, &sink).ok());
  EXPECT_TRUE(sink.enabled());
  ASSERT_EQ(sink.positions_size(), 1);
  EXPECT_EQ(sink.positions(0).server(), "pg");
  grpc::ClientContext cctx;
  cdcpb::ListConnectorsResponse conns;
  ASSERT_TRUE(stub->ListConnectors(&cctx, {}, &conns).ok());
  ASSERT_EQ(conns.connectors_size(), 1);
  EXPECT_EQ(conns.connectors(0).snapshot_mode(), "never");
  EXPECT_TRUE(conns.connectors(0).streaming());
}

TEST_F(CdcBridgeE2E, TradesAndCandlesAreCopiedIntoDayPartitionsOnceAndBadOnesDeadLettered) {
  auto js = bus::JetStream::Create(*conn_);
  ASSERT_TRUE(js.ok());
  streamadmin::config::v1::StreamConfig md;
  md.set_name("MD");
  for (const char* subj : {"md.trade.>", "md.ticker.>", "md.book.>", "md.candle.>", "md.status.>"}) md.add_subjects(subj);
  md.set_duplicate_window_s(120);
  ASSERT_TRUE((*js)->EnsureStream(md).ok());
  Sink sink = StartSink();
  auto publisher = bus::JetStreamPublisher::Create(*conn_, {});
  ASSERT_TRUE(publisher.ok());
  namespace mdpb = streamadmin::marketdata::v1;
  constexpr int64_t kDay = 86400LL * 1000000000LL;
  const int64_t t0 = 1763683200LL * 1000000000LL + kDay - 1000LL * 1000000LL;  // 1 s before a UTC midnight
  for (int i = 0; i < 2000; ++i) {
    mdpb::Trade t;
    t.mutable_origin()->set_venue("coinbase");
    t.mutable_origin()->set_symbol(i % 2 ? "BTC-USD" : "ETH-USD");
    t.mutable_origin()->set_exchange_time_ns(t0 + i * 1000000LL);  // 2 s over midnight
    t.set_trade_id(std::to_string(i));
    t.mutable_price()->set_value(absl::StrCat("100.", i));
    t.mutable_size()->set_value("0.5");
    t.set_side(mdpb::SIDE_SELL);
    const std::string subject = absl::StrCat("md.trade.coinbase.", t.origin().symbol());
    ASSERT_TRUE((*publisher)->Publish({subject, t.SerializeAsString(), absl::StrCat("trade:", i), {}}).ok());
    if (i == 7) {  // the same trade under another id: stored once
      ASSERT_TRUE((*publisher)->Publish({subject, t.SerializeAsString(), "trade:dup", {}}).ok());
    }
  }
  mdpb::Trade bad;
  bad.mutable_origin()->set_venue("coinbase");
  bad.mutable_origin()->set_symbol("BTC-USD");
  bad.mutable_origin()->set_exchange_time_ns(t0);
  bad.set_trade_id("bad");
  bad.mutable_price()->set_value("NaN or worse");
  bad.mutable_size()->set_value("1");
  ASSERT_TRUE((*publisher)->Publish({"md.trade.coinbase.BTC-USD", bad.SerializeAsString(), "trade:bad", {}}).ok());
  mdpb::Candle c;
  c.mutable_origin()->set_venue("coinbase");
  c.mutable_origin()->set_symbol("BTC-USD");
  c.set_open_time_ns(t0 - 59LL * 1000000000LL);
  for (auto* d : {c.mutable_open(), c.mutable_high(), c.mutable_low(), c.mutable_close(), c.mutable_volume()})
    d->set_value("100.5");
  c.set_closed(true);
  ASSERT_TRUE((*publisher)->Publish({"md.candle.1m.coinbase.BTC-USD", c.SerializeAsString(), "candle:1", {}}).ok());
  ASSERT_TRUE((*publisher)->Flush(absl::Seconds(10)).ok());

  auto q = [&](const std::string& sql) {
    auto r = pg_->Query(sql, "warehouse");
    return r.ok() ? *r : std::string("error");
  };
  EXPECT_TRUE(testing::WaitFor([&] { return q("SELECT count(*) FROM md.trades") == "2000"; }, absl::Seconds(30)))
      << q("SELECT count(*) FROM md.trades") << "\n" << sink.process->Output();
  // Partitions from the catalog and rows from each (tableoid::regclass would
  // name shards on Citus).
  EXPECT_EQ(q("SELECT string_agg(relid::text, ',' ORDER BY relid::text) FROM pg_partition_tree('md.trades') "
              "WHERE isleaf"),
            "md.trades_20251121,md.trades_20251122");
  EXPECT_EQ(q("SELECT (SELECT count(*) FROM md.trades_20251121) || ',' || (SELECT count(*) FROM md.trades_20251122)"),
            "1000,1000");
  EXPECT_EQ(q("SELECT price FROM md.trades WHERE trade_id = '1999'"), "100.1999");
  EXPECT_TRUE(testing::WaitFor([&] { return q("SELECT count(*) FROM md.candles") == "1"; }, absl::Seconds(30)));
  std::vector<Stored> dlq;
  ASSERT_TRUE(testing::WaitFor([&] { return !(dlq = Read("dlq.warehouse")).empty(); }, absl::Seconds(30)));
  EXPECT_EQ(dlq[0].headers["Sa-Dlq-Reason"], "invalid");
  EXPECT_NE(dlq[0].headers["Sa-Dlq-Error"].find("is not a decimal"), std::string::npos);
}

// Issue [6] item 1: a snapshot chunk was keyed at pg_current_wal_lsn() - 1.
// On a quiet source that is the end of the last streamed transaction - 1,
// exactly the watermark the bridge had already published for it, so the
// sink skipped every row of the chunk as a replay (51 of 950 rows reached
// the warehouse). The warehouse lives in a cluster of its own here, as in
// production: its writes would otherwise move the source's WAL on.
TEST_F(CdcBridgeE2E, SnapshotOfAQuietSourceAfterAStreamedTransactionReachesTheWarehouseWhole) {
  auto warehouse = testing::PostgresServer::Start();
  ASSERT_TRUE(warehouse.ok()) << warehouse.status();
  ASSERT_TRUE(pg_->Exec("CREATE TABLE quiet (id int PRIMARY KEY, v text);"
                        "INSERT INTO quiet SELECT g, 'row ' || g FROM generate_series(1, 1000) g;"
                        "CREATE TABLE marker (id int PRIMARY KEY)")
                  .ok());
  int grpc_port = *testing::PickFreePort();
  std::string cfg = absl::StrCat(dir_->path(), "/quiet.yaml");
  std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:0\n"
                     << "nats:\n  servers: [" << nats_->url() << "]\nsource:\n  dsn: \"" << pg_->dsn()
                     << "\"\nconnector:\n  server_name: pg\n"
                     << "  slot_name: quiet_slot\n  publication_name: quiet_pub\n  snapshot_mode: never\n"
                     << "  snapshot_chunk_size: 300\n  heartbeat_interval_s: 0\n";
  auto bridge = testing::Process::Spawn({e2e::BinDir() + "/cdc-bridge", "--config", cfg});
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  Sink sink = StartSink("", (*warehouse)->dsn());
  const std::string target = absl::StrCat("127.0.0.1:", grpc_port);
  cli::ControlClient client(target, absl::Seconds(2));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto st = client.GetStatus();
        return st.ok() && st->details().count("streaming") && st->details().at("streaming") == "true";
      },
      absl::Seconds(30)))
      << (*bridge)->Output();
  // One streamed transaction, applied (so its watermark is out); then quiet.
  ASSERT_TRUE(pg_->Exec("INSERT INTO marker VALUES (1)").ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = (*warehouse)->Query("SELECT count(*) FROM cdc_pg_public.marker");
        return r.ok() && *r == "1";
      },
      absl::Seconds(30)));
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  cdcpb::SnapshotTableRequest req;
  req.set_table("quiet");
  cdcpb::SnapshotTableResponse resp;
  ASSERT_TRUE(stub->SnapshotTable(&ctx, req, &resp).ok());
  const std::string want = TableDigest(*pg_, "quiet", "postgres");
  auto got = [&] { return TableDigest(**warehouse, "cdc_pg_public.quiet", "postgres"); };
  EXPECT_TRUE(testing::WaitFor([&] { return got() == want; }, absl::Seconds(60)))
      << got() << " != " << want << "\n" << (*bridge)->Output() << sink.process->Output();
  auto status = cli::ControlClient(sink.target, absl::Seconds(2)).GetStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->details().at("sink_skipped"), "0") << "no snapshot row may be taken for a replay";
}

// Issue [6] item 3: Kraken v1 trades carry no venue trade id; the warehouse
// dead-lettered them. The key is now MD's message id. The real pipeline
// (ingest replaying the Kraken recording, the normalizer, the sink) stores
// exactly the trades MD holds, compared trade by trade.
TEST_F(CdcBridgeE2E, KrakenTradesWithoutVenueIdsReachTheWarehouseOnce) {
  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  auto normalizer = runner.Start({.binary = "normalizer"});
  ASSERT_TRUE(normalizer.ok()) << normalizer.status();
  auto ingest =
      runner.Start({.binary = "ingest",
                    .yaml = absl::StrCat("sources:\n", e2e::ReplaySourceYaml("kraken", "kraken.jsonl.zst", "0"))});
  ASSERT_TRUE(ingest.ok()) << ingest.status();
  auto want = e2e::TradesInRecording(e2e::Fixture("kraken.jsonl.zst"), "kraken");
  ASSERT_TRUE(want.ok()) << want.status();
  size_t want_n = 0;
  for (const auto& [k, n] : *want) want_n += static_cast<size_t>(n);
  // MD first: the oracle of what the warehouse must hold.
  std::set<std::string> md_rows;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        md_rows.clear();
        for (const auto& m : e2e::ReadAll(*conn_, "MD", "md.trade.kraken.>")) {
          streamadmin::marketdata::v1::Trade t;
          if (!t.ParseFromString(m.data)) continue;
          EXPECT_TRUE(t.trade_id().empty());
          md_rows.insert(absl::StrCat(t.origin().symbol(), "|", m.msg_id, "|", t.price().value(), "|", t.size().value()));
        }
        return md_rows.size() >= want_n;
      },
      absl::Seconds(60)));
  ASSERT_EQ(md_rows.size(), want_n);
  Sink sink = StartSink();
  auto rows = [&]() -> std::set<std::string> {
    auto r = pg_->Query("SELECT symbol || '|' || trade_id || '|' || price || '|' || size FROM md.trades "
                        "WHERE venue = 'kraken'",
                        "warehouse");
    if (!r.ok() || r->empty()) return {};
    std::vector<std::string> lines = absl::StrSplit(*r, '\n');
    return {lines.begin(), lines.end()};
  };
  EXPECT_TRUE(testing::WaitFor([&] { return rows().size() >= md_rows.size(); }, absl::Seconds(60)))
      << rows().size() << " of " << md_rows.size() << "\n" << sink.process->Output().substr(0, 4000);
  EXPECT_TRUE(rows() == md_rows);
  EXPECT_EQ(*pg_->Query("SELECT count(*) FROM md.trades WHERE venue = 'kraken'", "warehouse"),
            std::to_string(want_n));
  EXPECT_TRUE(Read("dlq.warehouse").empty()) << "no Kraken trade dead-lettered";
}

TEST_F(CdcBridgeE2E, InitialOnlySnapshotsThenStopsAndDropsTheSlot) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE big (id int PRIMARY KEY, v int, note text);"
                        "INSERT INTO big SELECT g, g % 97, 'row ' || g FROM generate_series(1, 30000) g")
                  .ok());
  Bridge bridge = StartBridge("  snapshot_mode: initial_only\n  snapshot_chunk_size: 500\n", /*wait_streaming=*/false);
  Sink sink = StartSink();
  const std::string want = TableDigest(*pg_, "big", "postgres");
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.big", "warehouse") == want; },
                               absl::Seconds(120)))
      << bridge.process->Output();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return Sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'e2e_slot'") == "0"; },
      absl::Seconds(30)))
      << "initial_only drops its slot so no WAL is held\n" << bridge.process->Output();
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(bridge.target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  cdcpb::ListConnectorsResponse conns;
  ASSERT_TRUE(stub->ListConnectors(&ctx, {}, &conns).ok());
  ASSERT_EQ(conns.connectors_size(), 1);
  EXPECT_FALSE(conns.connectors(0).streaming());
  EXPECT_NE(conns.connectors(0).last_error().find("snapshot complete"), std::string::npos);
}

TEST_F(CdcBridgeE2E, InterruptedSnapshotResumesAfterTheLastStoredChunk) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE big (id int PRIMARY KEY, v int, note text);"
                        "INSERT INTO big SELECT g, g % 97, 'row ' || g FROM generate_series(1, 60000) g")
                  .ok());
  const std::string config = "  snapshot_mode: initial\n  snapshot_chunk_size: 200\n";
  Bridge bridge = StartBridge(config);
  Sink sink = StartSink();
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(bridge.target, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto s = Snapshots(*stub);
        return s.size() == 1 && s[0].rows() >= 2000;
      },
      absl::Seconds(60)));
  auto before = Snapshots(*stub);
  ASSERT_EQ(before.size(), 1u);
  ASSERT_NE(before[0].state(), "done") << "the snapshot finished before the kill; make the table bigger";
  ASSERT_TRUE(bridge.process->Kill().ok());
  bridge = StartBridge(config);
  EXPECT_NE(bridge.process->Output().find("resuming after the last stored chunk"), std::string::npos)
      << bridge.process->Output();
  stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(bridge.target, grpc::InsecureChannelCredentials()));
  EXPECT_TRUE(OneSnapshotDone(*stub));
  const std::string want = TableDigest(*pg_, "big", "postgres");
  EXPECT_TRUE(testing::WaitFor([&] { return TableDigest(*pg_, "cdc_pg_public.big", "warehouse") == want; },
                               absl::Seconds(60)))
      << TableDigest(*pg_, "cdc_pg_public.big", "warehouse") << " != " << want;
}

}  // namespace
}  // namespace sa
