#include "pg_workload.h"

#include <libpq-fe.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace sa::e2e {

std::string WorkloadSchemaSql() {
  return "CREATE TABLE accounts (id int PRIMARY KEY, balance numeric(12,2), note text, updated timestamptz);"
         "CREATE TABLE ledger (id bigserial PRIMARY KEY, account int, amount numeric, tags text[]);"
         "CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b));";
}

std::string SnapshotTableSql(int rows) {
  return absl::StrCat("CREATE TABLE big (id int PRIMARY KEY, v int, note text);",
                      "INSERT INTO big SELECT g, g % 97, 'row ' || g FROM generate_series(1, ", rows, ") g;");
}

PgWorkload::PgWorkload(std::string dsn, Options options) : dsn_(std::move(dsn)), options_(options) {
  thread_ = std::thread([this] { Run(); });
}

PgWorkload::~PgWorkload() { Stop(); }

void PgWorkload::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgWorkload::Run() {
  std::mt19937 rng(static_cast<uint32_t>(options_.seed));
  PGconn* conn = nullptr;
  const absl::Time start = absl::Now();
  int64_t sent = 0;
  while (!stop_) {
    if (options_.tx_per_second > 0) {
      const absl::Time due = start + absl::Seconds(1) * (static_cast<double>(sent) / options_.tx_per_second);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());  // NOLINT: pacing a load generator
      ++sent;
    }
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
    switch (rng() % (options_.snapshot_table ? 8 : 6)) {
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
      case 5:
        sql = absl::StrCat("BEGIN; UPDATE pairs SET b = b || 'x' WHERE a = ", id % 50,
                           " AND length(b) < 12; DELETE FROM pairs WHERE v > 95; COMMIT;");
        break;
      case 6: {  // the snapshotted table, all over its key range
        const int k = static_cast<int>(rng() % 30000) + 1;
        sql = absl::StrCat("BEGIN; UPDATE big SET v = v + 1, note = note || '+' WHERE id BETWEEN ", k, " AND ", k + 5,
                           "; DELETE FROM big WHERE id = ", k + 7, "; COMMIT;");
        break;
      }
      default: {
        const int k = static_cast<int>(rng() % 30000) + 1;
        sql = absl::StrCat("INSERT INTO big VALUES (", k, ", -1, 'new') ON CONFLICT (id) DO UPDATE SET v = -big.v");
      }
    }
    PGresult* r = PQexec(conn, sql.c_str());
    if (PQresultStatus(r) == PGRES_COMMAND_OK) ++committed_;
    PQclear(r);
    if (PQtransactionStatus(conn) == PQTRANS_INERROR) PQclear(PQexec(conn, "ROLLBACK"));
  }
  if (conn) PQfinish(conn);
}

std::string TableDigest(testing::PostgresServer& pg, const std::string& table, const std::string& db) {
  auto r = pg.Query(absl::StrCat("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')"
                                 " FROM ", table, " t"),
                    db);
  return r.ok() ? *r : absl::StrCat("error: ", r.status().message());
}

}  // namespace sa::e2e
