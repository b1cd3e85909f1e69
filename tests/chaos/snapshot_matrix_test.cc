// The snapshot matrix: every snapshot mode (initial, when_needed,
// initial_only, and never + an on-demand SnapshotTable over gRPC) x a quiet
// and a busy source x a kill before the snapshot starts, during it (after
// its second chunk) and after it finished. Each run snapshots three tables
// at once: an empty one, a small one (one chunk) and a multi-chunk one (12
// chunks), and then compares every warehouse table with its source, row for
// row. With initial_only the connector stops capturing once the snapshot is
// done (by design), so on a busy source only the rows the load never touches
// are compared.
//
// All runs share one nats-server and two PostgreSQL clusters (source and
// warehouse); each has its own databases, slot, logical server name and sink
// durable. warehouse-sink writes the warehouse; it is killed with cdc-bridge's
// first life and started again with its second (the sink ran inside
// cdc-bridge when this matrix was written).
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>

#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bus/jetstream.h"
#include "e2e_util.h"
#include "pg_workload.h"
#include "service_runner.h"
#include "streamadmin/cdc/v1/cdc.grpc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace cdcpb = streamadmin::cdc::v1;

enum class Kill { kBefore, kDuring, kAfter };
struct Case {
  const char* mode;  // snapshot_mode; "never" = on demand through gRPC
  bool busy;
  Kill kill;
};

std::string Name(const ::testing::TestParamInfo<Case>& p) {
  const char* k = p.param.kill == Kill::kBefore ? "KillBefore" : p.param.kill == Kill::kDuring ? "KillDuring" : "KillAfter";
  return absl::StrCat(p.param.mode, p.param.busy ? "_Busy_" : "_Quiet_", k);
}

constexpr int kChunk = 400;
constexpr int kMultiRows = 12 * kChunk - 7;  // 12 chunks, the last one short
constexpr int kHot = 300;                    // the busy load touches ids 1..kHot and inserts ids > 100000

// Busy: updates, deletes and inserts on the small and multi-chunk tables,
// in their hot range, until stopped.
class HotLoad {
 public:
  explicit HotLoad(std::string dsn) : dsn_(std::move(dsn)) { thread_ = std::thread([this] { Run(); }); }
  ~HotLoad() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t committed() const { return committed_; }

 private:
  void Run() {
    std::mt19937 rng(11);
    PGconn* c = PQconnectdb(dsn_.c_str());
    int next_new = 100001;
    while (!stop_ && PQstatus(c) == CONNECTION_OK) {
      const int id = 1 + static_cast<int>(rng() % kHot);
      const char* t = rng() % 3 == 0 ? "t_small" : "t_multi";
      std::string sql;
      switch (rng() % 3) {
        case 0: sql = absl::StrCat("UPDATE ", t, " SET v = v + 1, note = note || '*' WHERE id = ", id); break;
        case 1: sql = absl::StrCat("DELETE FROM ", t, " WHERE id = ", id); break;
        default:
          sql = absl::StrCat("BEGIN; INSERT INTO ", t, " VALUES (", next_new++, ", 1, 'new'), (", id,
                             ", 2, 'back') ON CONFLICT (id) DO UPDATE SET v = -1; COMMIT;");
      }
      PGresult* r = PQexec(c, sql.c_str());
      if (PQresultStatus(r) == PGRES_COMMAND_OK) ++committed_;
      PQclear(r);
      if (PQtransactionStatus(c) == PQTRANS_INERROR) PQclear(PQexec(c, "ROLLBACK"));
    }
    PQfinish(c);
  }
  std::string dsn_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::thread thread_;
};

class SnapshotMatrix : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    auto nats = testing::NatsServer::Start();
    ASSERT_TRUE(nats.ok()) << nats.status();
    nats_ = std::move(*nats).release();
    auto pg = testing::PostgresServer::Start({.extra_conf = {"max_replication_slots = 40", "max_wal_senders = 40"}});
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg).release();
    // The warehouse in a cluster of its own, as in production: its writes
    // would otherwise move the source's WAL and hide ordering bugs.
    auto wh = testing::PostgresServer::Start();
    ASSERT_TRUE(wh.ok()) << wh.status();
    wh_ = std::move(*wh).release();
    auto dir = testing::TempDir::Create("snapshot-matrix");
    ASSERT_TRUE(dir.ok());
    dir_ = new testing::TempDir(std::move(*dir));
  }
  static void TearDownTestSuite() {
    delete pg_;
    delete wh_;
    delete nats_;
    delete dir_;
  }

  static testing::NatsServer* nats_;
  static testing::PostgresServer* pg_;
  static testing::PostgresServer* wh_;
  static testing::TempDir* dir_;
  static int run_;
};
testing::NatsServer* SnapshotMatrix::nats_ = nullptr;
testing::PostgresServer* SnapshotMatrix::pg_ = nullptr;
testing::PostgresServer* SnapshotMatrix::wh_ = nullptr;
testing::TempDir* SnapshotMatrix::dir_ = nullptr;
int SnapshotMatrix::run_ = 0;

std::vector<cdcpb::SnapshotState> Snapshots(const std::string& target) {
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  cdcpb::ListSnapshotsResponse r;
  if (!stub->ListSnapshots(&ctx, {}, &r).ok()) return {};
  return {r.snapshots().begin(), r.snapshots().end()};
}

// The first life: every table's snapshot listed and done.
bool AllDone(const std::string& target) {
  auto s = Snapshots(target);
  int done = 0;
  for (const auto& j : s) done += j.state() == "done";
  return done == 3;
}

// A later life lists only what it did itself: nothing queued or running.
bool Settled(const std::string& target) {
  grpc::ClientContext ctx;
  auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  cdcpb::ListSnapshotsResponse r;
  if (!stub->ListSnapshots(&ctx, {}, &r).ok()) return false;
  for (const auto& j : r.snapshots()) {
    EXPECT_NE(j.state(), "failed") << j.ShortDebugString();
    if (j.state() == "queued" || j.state() == "running") return false;
  }
  return true;
}

TEST_P(SnapshotMatrix, EveryTableEqualsItsSource) {
  const Case c = GetParam();
  const int run = ++run_;
  const std::string src = absl::StrCat("src", run), wh = absl::StrCat("wh", run), server = absl::StrCat("m", run);
  ASSERT_TRUE(pg_->Exec(absl::StrCat("CREATE DATABASE ", src)).ok());
  ASSERT_TRUE(wh_->Exec(absl::StrCat("CREATE DATABASE ", wh)).ok());
  ASSERT_TRUE(pg_->Exec(absl::StrCat("CREATE TABLE t_empty (id int PRIMARY KEY, v int, note text);"
                                     "CREATE TABLE t_small (id int PRIMARY KEY, v int, note text);"
                                     "CREATE TABLE t_multi (id int PRIMARY KEY, v int, note text);"
                                     "INSERT INTO t_small SELECT g, g, 'small ' || g FROM generate_series(1, 350) g;"
                                     "INSERT INTO t_multi SELECT g, g % 13, 'multi ' || g FROM generate_series(1, ",
                                     kMultiRows, ") g;"),
                        src)
                  .ok());
  const std::string src_dsn = absl::StrCat(pg_->dsn(), " dbname=", src);
  const std::string yaml = absl::StrCat(
      "source:\n  dsn: \"", src_dsn, "\"\nconnector:\n", "  server_name: ", server, "\n  slot_name: slot_", run,
      "\n  publication_name: pub_", run, "\n  status_interval_ms: 200\n  snapshot_chunk_size: ", kChunk,
      "\n  snapshot_mode: ", c.mode, "\n");
  const std::string sink_yaml =
      absl::StrCat("warehouse:\n  dsn: \"", wh_->dsn(), " dbname=", wh, "\"\ncdc:\n  consumer: {durable: wh", run,
                   ", filter_subject: \"cdc.", server, ".>\"}\nmarket_data:\n  disabled: true\n");
  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  std::unique_ptr<HotLoad> load;
  if (c.busy) load = std::make_unique<HotLoad>(src_dsn);
  const bool on_demand = std::string(c.mode) == "never";
  auto request_snapshots = [&](const std::string& target) {
    auto stub = cdcpb::Cdc::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    for (const char* t : {"t_empty", "t_small", "t_multi"}) {
      grpc::ClientContext ctx;
      cdcpb::SnapshotTableRequest req;
      req.set_table(t);
      cdcpb::SnapshotTableResponse resp;
      grpc::Status st = stub->SnapshotTable(&ctx, req, &resp);
      ASSERT_TRUE(st.ok() || st.error_code() == grpc::StatusCode::ALREADY_EXISTS) << st.error_message();
    }
  };

  // The first life, ended by the kill this case is about.
  auto first_sink = runner.Start({.binary = "warehouse-sink", .yaml = sink_yaml});
  ASSERT_TRUE(first_sink.ok()) << first_sink.status();
  e2e::ServiceSpec first{.binary = "cdc-bridge", .yaml = yaml};
  if (c.kill == Kill::kBefore && !on_demand) first.env.push_back(e2e::CrashAt("cdc.snapshot_state_saved", 1));
  if (c.kill == Kill::kDuring) first.env.push_back(e2e::CrashAt("cdc.chunk_published", 2));
  auto bridge = runner.Start(first);
  ASSERT_TRUE(bridge.ok()) << bridge.status();
  if (on_demand && !bridge->process->Exited()) {
    ASSERT_TRUE(testing::WaitFor([&] { return bridge->process->Exited() || !Snapshots(bridge->target).empty() ||
                                              absl::StrContains(bridge->process->Output(), "streaming slot"); },
                                 absl::Seconds(30)));
    request_snapshots(bridge->target);
    if (c.kill == Kill::kBefore) ASSERT_TRUE(bridge->process->Kill().ok());  // accepted, not begun
  }
  if (c.kill == Kill::kAfter) {
    ASSERT_TRUE(testing::WaitFor([&] { return AllDone(bridge->target); }, absl::Seconds(120)))
        << bridge->process->Output().substr(0, 6000);
    ASSERT_TRUE(bridge->process->Kill().ok());
  } else {
    auto code = bridge->process->Wait(absl::Seconds(60));
    ASSERT_TRUE(code.ok()) << "the kill did not happen\n" << bridge->process->Output().substr(0, 6000);
  }
  ASSERT_TRUE(first_sink->process->Kill().ok());

  // The second life finishes the job.
  auto second_sink = runner.Start({.binary = "warehouse-sink", .yaml = sink_yaml});
  ASSERT_TRUE(second_sink.ok()) << second_sink.status();
  auto second = runner.Start({.binary = "cdc-bridge", .yaml = yaml});
  ASSERT_TRUE(second.ok()) << second.status();
  const bool initial_only = std::string(c.mode) == "initial_only";
  ASSERT_TRUE(testing::WaitFor([&] { return Settled(second->target); }, absl::Seconds(120)))
      << second->process->Output().substr(0, 6000);
  if (load) load->Stop();

  for (const char* t : {"t_empty", "t_small", "t_multi"}) {
    std::string want_sql = absl::StrCat("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') "
                                        "FROM ", t, " t");
    std::string got_sql = absl::StrCat("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') "
                                       "FROM cdc_", server, "_public.", t, " t");
    if (initial_only && c.busy) {  // compare the rows the load never touched
      want_sql += absl::StrCat(" WHERE id > ", kHot, " AND id < 100000");
      got_sql += absl::StrCat(" WHERE id > ", kHot, " AND id < 100000");
    }
    auto want = pg_->Query(want_sql, src);
    ASSERT_TRUE(want.ok()) << want.status();
    std::string got;
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          auto g = wh_->Query(got_sql, wh);
          // The sink creates a warehouse table from its first event: an empty
          // source table has none.
          got = g.ok() ? *g : absl::StrContains(g.status().message(), "does not exist") ? "0:" : std::string(g.status().message());
          return got == *want;
        },
        absl::Seconds(60)))
        << t << ": warehouse " << got << " != source " << *want << "\n"
        << second->process->Output().substr(0, 6000) << second_sink->process->Output().substr(0, 6000);
  }
  std::printf("snapshot matrix %s: %s rows in the multi-chunk table, %lld source transactions during\n",
              Name({c, 0}).c_str(), pg_->Query("SELECT count(*) FROM t_multi", src).value_or("?").c_str(),
              static_cast<long long>(load ? load->committed() : 0));
  (void)second->process->Terminate(absl::Seconds(10));
  (void)second_sink->process->Terminate(absl::Seconds(10));
  (void)pg_->Exec(absl::StrCat("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = "
                               "'slot_", run, "'"));
}

std::vector<Case> AllCases() {
  std::vector<Case> out;
  for (const char* mode : {"initial", "when_needed", "initial_only", "never"})
    for (bool busy : {false, true})
      for (Kill k : {Kill::kBefore, Kill::kDuring, Kill::kAfter}) out.push_back({mode, busy, k});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Modes, SnapshotMatrix, ::testing::ValuesIn(AllCases()), Name);

}  // namespace
}  // namespace sa
