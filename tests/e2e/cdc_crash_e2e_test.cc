// The crash test of issue [3]: under a sustained write load (inserts,
// updates, deletes, multi-row transactions) cdc-bridge is SIGKILLed at random
// moments at least 10 times, nats-server and PostgreSQL are each restarted
// once while it runs, and at the end every warehouse table equals its source
// table (row count and a hash of every row's text): no row lost or doubled.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cdc_e2e_fixture.h"

namespace sa {
namespace {

using e2e::CdcBridgeE2E;

constexpr const char* kTables[] = {"accounts", "ledger", "pairs"};

std::string Digest(testing::PostgresServer& pg, const std::string& table, const std::string& db) {
  auto r = pg.Query(absl::StrCat("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                                 " FROM ", table, " t"),
                    db);
  return r.ok() ? *r : absl::StrCat("error: ", r.status().message());
}

// Writes random transactions until stopped; survives server restarts by
// reconnecting. Counts committed transactions.
class Load {
 public:
  explicit Load(std::string dsn) : dsn_(std::move(dsn)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t committed() const { return committed_.load(); }

 private:
  void Run() {
    std::mt19937 rng(20261121);
    PGconn* conn = nullptr;
    while (!stop_) {
      if (!conn || PQstatus(conn) != CONNECTION_OK) {
        if (conn) PQfinish(conn);
        conn = PQconnectdb(dsn_.c_str());
        if (PQstatus(conn) != CONNECTION_OK) {
          absl::SleepFor(absl::Milliseconds(50));  // NOLINT: reconnect pacing while PostgreSQL restarts
          continue;
        }
      }
      const int id = static_cast<int>(rng() % 2000);
      std::string sql;
      switch (rng() % 6) {
        case 0:  // multi-row insert transaction
          sql = absl::StrCat("BEGIN; INSERT INTO accounts SELECT g, (random() * 1000)::numeric(12,2), 'acct ' || g, now()"
                             " FROM generate_series(", id, ", ", id + static_cast<int>(rng() % 20),
                             ") g ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1;"
                             " INSERT INTO ledger (account, amount, tags) VALUES (", id, ", ", rng() % 500,
                             ".25, ARRAY['t", rng() % 5, "', NULL]); COMMIT;");
          break;
        case 1:
          sql = absl::StrCat("UPDATE accounts SET balance = balance - 3.5, note = note || '.' WHERE id BETWEEN ", id,
                             " AND ", id + 50);
          break;
        case 2:
          sql = absl::StrCat("DELETE FROM accounts WHERE id BETWEEN ", id, " AND ", id + static_cast<int>(rng() % 10));
          break;
        case 3:
          sql = absl::StrCat("BEGIN; DELETE FROM ledger WHERE id IN (SELECT id FROM ledger ORDER BY random() LIMIT 3);"
                             " UPDATE ledger SET amount = amount * 2 WHERE account = ", id, "; COMMIT;");
          break;
        case 4:
          sql = absl::StrCat("INSERT INTO pairs VALUES (", id % 50, ", 'k", id, "', ", rng() % 100,
                             ") ON CONFLICT (a, b) DO UPDATE SET v = pairs.v + 1");
          break;
        default:
          sql = absl::StrCat("BEGIN; UPDATE pairs SET b = b || 'x' WHERE a = ", id % 50,
                             " AND length(b) < 12; DELETE FROM pairs WHERE v > 95; COMMIT;");
      }
      PGresult* r = PQexec(conn, sql.c_str());
      if (PQresultStatus(r) == PGRES_COMMAND_OK) ++committed_;
      PQclear(r);
      if (PQtransactionStatus(conn) == PQTRANS_INERROR) PQclear(PQexec(conn, "ROLLBACK"));
    }
    if (conn) PQfinish(conn);
  }

  std::string dsn_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::thread thread_;
};

int64_t Detail(cli::ControlClient& c, const std::string& key) {
  auto st = c.GetStatus();
  int64_t v = -1;
  if (st.ok() && st->details().count(key)) (void)absl::SimpleAtoi(st->details().at(key), &v);
  return v;
}

TEST_F(CdcBridgeE2E, TwelveSigkillsAndServerRestartsUnderLoadLoseAndDoubleNothing) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(12,2), note text,"
                        " updated timestamptz);"
                        "CREATE TABLE ledger (id bigserial PRIMARY KEY, account int, amount numeric, tags text[]);"
                        "CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b));")
                  .ok());
  Bridge bridge = StartBridge();
  Load load(pg_->dsn());
  std::mt19937 rng(7);
  constexpr int kKills = 12;
  for (int k = 0; k < kKills; ++k) {
    // A random moment: after the bridge got a random number of further
    // events acknowledged in this life.
    cli::ControlClient client(bridge.target, absl::Seconds(2));
    const int64_t target = 20 + static_cast<int64_t>(rng() % 400);
    EXPECT_TRUE(testing::WaitFor([&] { return Detail(client, "events_acked") >= target; }, absl::Seconds(60)))
        << "kill " << k << ": bridge made no progress\n" << bridge.process->Output();
    if (k == 4) {
      ASSERT_TRUE(nats_->Restart().ok());
      std::printf("nats-server restarted under load\n");
      EXPECT_TRUE(testing::WaitFor([&] { return Detail(client, "events_acked") >= target + 50; }, absl::Seconds(60)))
          << "no progress after the NATS restart\n" << bridge.process->Output();
    }
    if (k == 8) {
      ASSERT_TRUE(pg_->Restart().ok());
      std::printf("PostgreSQL restarted under load\n");
      EXPECT_TRUE(testing::WaitFor([&] { return Detail(client, "events_acked") >= target + 50; }, absl::Seconds(60)))
          << "no progress after the PostgreSQL restart\n" << bridge.process->Output();
    }
    ASSERT_TRUE(bridge.process->Kill().ok());
    std::printf("kill %d after %lld acked; %lld source transactions so far\n", k + 1,
                static_cast<long long>(target), static_cast<long long>(load.committed()));
    bridge = StartBridge();
  }
  load.Stop();
  ASSERT_GT(load.committed(), 500) << "the load did not run";
  for (const char* t : kTables) {
    const std::string want = Digest(*pg_, t, "postgres");
    EXPECT_TRUE(testing::WaitFor([&] { return Digest(*pg_, absl::StrCat("cdc_pg_public.", t), "warehouse") == want; },
                                 absl::Seconds(180)))
        << t << ": warehouse " << Digest(*pg_, absl::StrCat("cdc_pg_public.", t), "warehouse") << " != source "
        << want;
    std::printf("%s: %s\n", t, want.c_str());
  }
  cli::ControlClient client(bridge.target, absl::Seconds(2));
  EXPECT_EQ(Detail(client, "sink_dead_letters"), 0);
  EXPECT_EQ(Detail(client, "dead_letters"), 0);
}

}  // namespace
}  // namespace sa
