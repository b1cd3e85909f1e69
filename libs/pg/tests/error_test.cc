#include "pg/error.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "pg/connection.h"

namespace sa::pg {
namespace {

using absl::StatusCode;
using Map = std::map<std::string, std::string>;

TEST(SqlStateTable, DuplicatesAreAlreadyExists) {
  for (const char* s : {"23505", "42710", "42P04", "42P06", "42P07", "42701", "42712", "42723", "42P03", "42P05"})
    EXPECT_EQ(CodeForSqlState(s), StatusCode::kAlreadyExists) << s;
}

TEST(SqlStateTable, AMissingRelationIsNotFound) {
  for (const char* s : {"42P01", "42704", "3F000"}) EXPECT_EQ(CodeForSqlState(s), StatusCode::kNotFound) << s;
}

TEST(SqlStateTable, ConnectionSerializationAndResourceFailuresAreUnavailable) {
  for (const char* s : {"08000", "08006", "08P01", "40001", "40P01", "53300", "53100", "57P01", "57P03"})
    EXPECT_EQ(CodeForSqlState(s), StatusCode::kUnavailable) << s;
}

TEST(SqlStateTable, AStatementTimeoutIsDeadlineExceeded) {
  EXPECT_EQ(CodeForSqlState("57014"), StatusCode::kDeadlineExceeded);
}

TEST(SqlStateTable, AMissingGrantOrABusyObjectIsFailedPrecondition) {
  EXPECT_EQ(CodeForSqlState("42501"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForSqlState("55006"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(CodeForSqlState("55000"), StatusCode::kFailedPrecondition);
}

TEST(SqlStateTable, BadDataAndBadStatementsAreInvalidArgument) {
  for (const char* s : {"22012", "22P02", "23502", "23503", "23514", "42601", "42703", "42883", "42P17"})
    EXPECT_EQ(CodeForSqlState(s), StatusCode::kInvalidArgument) << s;
}

TEST(SqlStateTable, EverythingElseIsInternal) {
  for (const char* s : {"", "XX000", "58030", "0A000", "P0001", "2", "220"})
    EXPECT_EQ(CodeForSqlState(s), StatusCode::kInternal) << s;
}

TEST(SqlError, CarriesItsSqlStateForCallersToBranchOn) {
  absl::Status st = SqlError("23505", "duplicate key");
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(st.message(), "duplicate key");
  EXPECT_EQ(SqlStateOf(st), "23505");
  EXPECT_EQ(SqlStateOf(absl::AlreadyExistsError("from elsewhere")), "");
  EXPECT_EQ(SqlStateOf(SqlError("", "no state")), "");
  absl::Status lost = ConnectionError("57P01", "terminating connection");
  EXPECT_EQ(lost.code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqlStateOf(lost), "57P01");
}

TEST(ConnectParams, AddsTheSessionSettingsToTheConninfosOwnOptions) {
  auto p = ConnectParams("host=db port=5433 options='-c search_path=x'", {.application_name = "sa-test"});
  ASSERT_TRUE(p.ok()) << p.status();
  Map want = {
      {"host", "db"},
      {"port", "5433"},
      {"options", std::string("-c search_path=x ") + kSessionSettings},
      {"connect_timeout", "10"},
      {"fallback_application_name", "sa-test"}};
  EXPECT_EQ(Map(p->begin(), p->end()), want);
}

TEST(ConnectParams, KeepsTheConninfosTimeoutTakesUrisAndAddsReplicationAndStatementTimeout) {
  auto p = ConnectParams("postgresql://u@h:1/d?connect_timeout=3&replication=true",
                         {.replication = true, .statement_timeout_ms = 1500});
  ASSERT_TRUE(p.ok()) << p.status();
  Map want = {
      {"host", "h"},
      {"port", "1"},
      {"user", "u"},
      {"dbname", "d"},
      {"connect_timeout", "3"},
      {"options", std::string(kSessionSettings) + " -c statement_timeout=1500"},
      {"fallback_application_name", "stream-admin"},
      {"replication", "database"}};
  EXPECT_EQ(Map(p->begin(), p->end()), want);
  EXPECT_EQ(ConnectParams("host='unterminated", {}).status().code(), StatusCode::kInvalidArgument);
  auto bare = ConnectParams("warehouse", {});
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(Map(bare->begin(), bare->end()).at("dbname"), "warehouse");
}

}  // namespace
}  // namespace sa::pg
