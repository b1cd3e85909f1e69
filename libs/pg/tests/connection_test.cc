// pg::Connection against a real PostgreSQL: the session settings are in
// effect, errors come back with the table's codes and their SQLSTATE, COPY
// works, a lost connection is Unavailable.
#include "pg/connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pg/error.h"
#include "pg/rows.h"
#include "testing/suite_servers.h"

namespace sa::pg {
namespace {

using ::testing::HasSubstr;

class PgConnection : public sa::testing::PostgresSuite<PgConnection> {
 protected:
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
};

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

TEST_F(PgConnection, RowsReadByIndexAndNameWithParamsOfEveryKind) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Exec("CREATE TABLE kinds (id bigint PRIMARY KEY, name text, on_ boolean, n integer)").ok());
  auto ins = c->Exec("INSERT INTO kinds VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)",
                     Params(int64_t{-9007199254740993}, "a\tb", true, 7, uint64_t{18446744073709551615u} >> 1,
                            std::nullopt, false, -1));
  ASSERT_TRUE(ins.ok()) << ins.status();
  EXPECT_EQ(Rows(*ins).affected(), 2);
  auto r = c->Exec("SELECT id, name, on_, n FROM kinds ORDER BY id");
  ASSERT_TRUE(r.ok()) << r.status();
  Rows rows(*r);
  ASSERT_EQ(rows.size(), 2);
  EXPECT_EQ(rows[0]["id"].as_int64(), -9007199254740993);
  EXPECT_EQ(rows[0]["name"].str(), "a\tb");
  EXPECT_TRUE(rows[0]["on_"].as_bool());
  EXPECT_EQ(rows[0][3].as<int>(), 7);
  EXPECT_EQ(rows[1][0].as<uint64_t>(), 9223372036854775807u);
  EXPECT_TRUE(rows[1]["name"].is_null());
  EXPECT_EQ(rows[1]["name"].str(), "");
  EXPECT_FALSE(rows[1]["on_"].as_bool());
  EXPECT_EQ(rows[1]["n"].as<int>(), -1);
  EXPECT_TRUE(rows[1]["no_such_column"].is_null());
  EXPECT_TRUE(rows[1][9].is_null());
  std::vector<int64_t> ids;
  for (Row row : rows) ids.push_back(row[0].as_int64());
  EXPECT_EQ(ids, (std::vector<int64_t>{-9007199254740993, 9223372036854775807}));
  auto none = c->Exec("DELETE FROM kinds WHERE id = $1", Params(0));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(Rows(*none).affected(), 0);
  EXPECT_TRUE(Rows(*none).empty());
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
