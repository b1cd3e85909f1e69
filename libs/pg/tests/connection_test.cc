// pg::Connection against a real PostgreSQL: the session settings are in
// effect, errors come back with the table's codes and their SQLSTATE, COPY
// works, a lost connection is Unavailable.
#include "pg/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pg/error.h"
#include "testing/postgres_server.h"

namespace sa::pg {
namespace {

using ::testing::HasSubstr;

class PgConnection : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = sa::testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  std::unique_ptr<Connection> Connect(SessionOptions options = {}) {
    auto c = Connection::Connect(pg_->dsn(), options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  static std::string One(Connection& c, const std::string& sql) {
    auto r = c.Exec(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() && PQntuples(r->get()) > 0 ? PQgetvalue(r->get(), 0, 0) : "";
  }
  static sa::testing::PostgresServer* pg_;
};
sa::testing::PostgresServer* PgConnection::pg_ = nullptr;

TEST_F(PgConnection, EverySessionHasTheHouseSettings) {
  auto c = Connect({.application_name = "sa-pg-test", .statement_timeout_ms = 2500});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(One(*c, "SHOW TimeZone"), "UTC");
  EXPECT_EQ(One(*c, "SHOW DateStyle"), "ISO, MDY");
  EXPECT_EQ(One(*c, "SHOW bytea_output"), "hex");
  EXPECT_EQ(One(*c, "SHOW extra_float_digits"), "3");
  EXPECT_EQ(One(*c, "SHOW IntervalStyle"), "postgres");
  EXPECT_EQ(One(*c, "SHOW statement_timeout"), "2500ms");
  EXPECT_EQ(One(*c, "SHOW application_name"), "sa-pg-test");
  EXPECT_EQ(c->database(), "postgres");
}

TEST_F(PgConnection, ErrorsCarryTheTablesCodeAndTheSqlState) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Exec("CREATE TABLE dup (id int PRIMARY KEY)").ok());
  absl::Status table = c->Exec("CREATE TABLE dup (id int)").status();
  EXPECT_EQ(table.code(), absl::StatusCode::kAlreadyExists) << table;
  EXPECT_EQ(SqlStateOf(table), "42P07");
  ASSERT_TRUE(c->Exec("INSERT INTO dup VALUES ($1)", {"1"}).ok());
  absl::Status row = c->Exec("INSERT INTO dup VALUES ($1)", {"1"}).status();
  EXPECT_EQ(row.code(), absl::StatusCode::kAlreadyExists) << row;
  EXPECT_EQ(SqlStateOf(row), "23505");
  absl::Status missing = c->Exec("SELECT * FROM no_such_table").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  EXPECT_THAT(std::string(missing.message()), HasSubstr("no_such_table"));
  absl::Status bad = c->Exec("SELECT 1 / $1::int", {"0"}).status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_EQ(SqlStateOf(bad), "22012");
  absl::Status slow = Connect({.statement_timeout_ms = 50})->Exec("SELECT pg_sleep(5)").status();
  EXPECT_EQ(slow.code(), absl::StatusCode::kDeadlineExceeded) << slow;
}

TEST_F(PgConnection, CopiesRowsInAndReportsABadRow) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Exec("CREATE TABLE copied (id int, name text)").ok());
  ASSERT_TRUE(c->CopyIn("COPY copied FROM STDIN", "1\tone\n2\t\\N\n").ok());
  EXPECT_EQ(One(*c, "SELECT count(*) || '/' || count(name) FROM copied"), "2/1");
  absl::Status bad = c->CopyIn("COPY copied FROM STDIN", "x\ty\n");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument) << bad;
  EXPECT_TRUE(c->ok());
  EXPECT_EQ(One(*c, "SELECT count(*) FROM copied"), "2");
}

TEST_F(PgConnection, ALostConnectionIsUnavailable) {
  auto victim = Connect({.application_name = "sa-pg-victim"});
  auto killer = Connect();
  ASSERT_NE(victim, nullptr);
  ASSERT_NE(killer, nullptr);
  ASSERT_EQ(One(*killer,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'sa-pg-victim'"),
            "1");
  absl::Status st = victim->Exec("SELECT 1").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_FALSE(victim->ok());
  auto refused = Connection::Connect("host=127.0.0.1 port=1 user=postgres connect_timeout=5");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Connection::Connect("host='x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ping(pg_->dsn(), 2), PingResult::kOk);
  EXPECT_EQ(Ping("host=127.0.0.1 port=1", 2), PingResult::kNoResponse);
}

}  // namespace
}  // namespace sa::pg
