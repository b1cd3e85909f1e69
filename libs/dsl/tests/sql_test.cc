#include "dsl/sql.h"

#include <gtest/gtest.h>

#include "absl/strings/str_replace.h"
#include "dsl/error.h"

namespace sa::dsl {
namespace {

constexpr int64_t kNow = 1714564800123456789;  // 2024-05-01T12:00:00.123456789Z

absl::StatusOr<SqlQuery> Sql(const std::string& text, SqlOptions options = {}) {
  CheckOptions o;
  o.now_ns = kNow;
  auto plan = Check(text, ExampleCatalog(), o);
  if (!plan.ok()) return plan.status();
  return CompileSql(*plan, options);
}

std::vector<std::string> Params(const SqlQuery& q) {
  std::vector<std::string> out;
  for (const auto& p : q.params) out.push_back(p.value_or("NULL"));
  return out;
}

TEST(Sql, EmitsParameterisedSqlWithQuotedCatalogIdentifiers) {
  auto q = Sql(
      "md.trades | where symbol = \"ETH-USD\" and ts > now() - 1h"
      " | summarize vwap = sum(price * size) / sum(size), n = count() by venue, bin(ts, 1m)");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->sql,
            "SELECT \"venue\" AS c1, date_bin($1::interval, \"ts\", $2::timestamptz) AS c2, "
            "(sum((\"price\" * \"size\")) / NULLIF(sum(\"size\"), 0)) AS c3, count(*) AS c4 "
            "FROM \"md\".\"trades\" WHERE ((\"symbol\" = $3::text) AND (\"ts\" > $4::timestamptz)) "
            "GROUP BY \"venue\", date_bin($1::interval, \"ts\", $2::timestamptz) LIMIT $5::bigint");
  EXPECT_EQ(Params(*q), (std::vector<std::string>{"60000000 microseconds", "1970-01-01 00:00:00+00", "ETH-USD",
                                                  "2024-05-01 11:00:00.123456+00", "10001"}));
  ASSERT_EQ(q->columns.size(), 4u);
  EXPECT_EQ(q->columns[0].name, "venue");
  EXPECT_EQ(q->columns[1].name, "bin_ts");
  EXPECT_EQ(q->columns[2].type.kind, TypeKind::kDecimal);
  EXPECT_TRUE(q->truncatable);
  EXPECT_EQ(q->row_limit, 10000);
}

TEST(Sql, ComparesNanosecondTimesWithMicrosecondColumnsExactly) {
  // ts > 11:00:00.123456789 means ts >= ...457 µs, i.e. ts > ...456 µs.
  auto gt = Sql("md.trades | where ts > now() - 1h");
  auto ge = Sql("md.trades | where ts >= now() - 1h");
  auto eq = Sql("md.trades | where ts = now() - 1h");
  ASSERT_TRUE(gt.ok() && ge.ok() && eq.ok());
  EXPECT_EQ(gt->params[0], "2024-05-01 11:00:00.123456+00");
  EXPECT_EQ(ge->params[0], "2024-05-01 11:00:00.123457+00");
  EXPECT_NE(eq->sql.find("(\"ts\" >= $1::timestamptz AND \"ts\" <= $2::timestamptz)"), std::string::npos) << eq->sql;
  EXPECT_EQ(Params(*eq)[0], "2024-05-01 11:00:00.123457+00");  // an empty range: no µs equals it
  EXPECT_EQ(Params(*eq)[1], "2024-05-01 11:00:00.123456+00");
}

TEST(Sql, RefusesNanosecondConstantsItCannotCompareExactlyWithAPosition) {
  auto q = Sql("md.trades | project ts, later = ts + 1500ns");
  ASSERT_FALSE(q.ok());
  auto d = GetErrorDetail(q.status());
  ASSERT_TRUE(d.has_value()) << q.status();
  EXPECT_EQ(d->column, 38);  // the 1500ns
  EXPECT_TRUE(Sql("md.trades | project ts, later = ts + 1500us").ok());
}

// Found by the fuzzer: a year before 1677 saturated to INT64_MIN ns, and
// rounding it to microseconds overflowed (UBSan: negation of INT64_MIN).
TEST(Sql, RefusesTimesOutsideTheNanosecondRangeAndRoundsItsEdgesSafely) {
  auto old = Sql("md.trades | where ts >= timestamp(\"1012-05-01T00:00:00Z\")");
  ASSERT_FALSE(old.ok());
  auto d = GetErrorDetail(old.status());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message, "time out of range: timestamps run from 1677-09-21T00:12:43.145224192Z to 2262-04-11T23:47:16.854775807Z");
  auto first = Sql("md.trades | where ts >= timestamp(\"1677-09-21T00:12:43.145224192Z\") and ts <= timestamp(\"2262-04-11T23:47:16.854775807Z\")");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Params(*first)[0], "1677-09-21 00:12:43.145225+00");  // rounded up: >=
  EXPECT_EQ(Params(*first)[1], "2262-04-11 23:47:16.854775+00");  // rounded down: <=
}

TEST(Sql, OrdersWithCollateCAndNullsLastAndCapsRows) {
  auto q = Sql("cdc_pg_public.orders | where status = \"paid\" | top 10 by customer, amount desc", {.max_rows = 100});
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->sql,
            "SELECT \"id\" AS c1, \"status\" AS c2, \"amount\" AS c3, \"customer\" AS c4, \"created_at\" AS c5, "
            "\"note\" AS c6 FROM \"cdc_pg_public\".\"orders\" WHERE (\"status\" = $1::text) "
            "ORDER BY \"customer\" COLLATE \"C\" ASC NULLS LAST, \"amount\" DESC NULLS LAST LIMIT $2::bigint");
  EXPECT_FALSE(q->truncatable);
  EXPECT_EQ(q->fetch_limit, 10);
  auto capped = Sql("cdc_pg_public.orders | limit 500", {.max_rows = 100});
  ASSERT_TRUE(capped.ok());
  EXPECT_TRUE(capped->truncatable);
  EXPECT_EQ(capped->row_limit, 100);
  EXPECT_EQ(capped->params.back(), "101");
}

TEST(Sql, PreludeOpensAReadOnlyTransactionWithATimeout) {
  auto q = Sql("md.candles | limit 1", {.max_rows = 10, .statement_timeout_ms = 2500});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->Prelude(), (std::vector<std::string>{"BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                                                    "SET LOCAL statement_timeout = 2500", "SET LOCAL TimeZone = 'UTC'",
                                                    "SET LOCAL DateStyle = 'ISO, YMD'",
                                                    "SET LOCAL search_path = ''"}));
}

TEST(Sql, QuotesIdentifiersWithEmbeddedQuotes) {
  EXPECT_EQ(QuoteIdentifier("a\"b"), "\"a\"\"b\"");
  StaticCatalog c;
  c.AddCdcTable("pg", "public", "we\"ird", {{"co\"l", "text"}});
  auto plan = Check("cdc_pg_public.`we\"ird` | where `co\"l` = \"x\"", c, CheckOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto q = CompileSql(*plan);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->sql, "SELECT \"co\"\"l\" AS c1 FROM \"cdc_pg_public\".\"we\"\"ird\" WHERE (\"co\"\"l\" = $1::text) LIMIT $2::bigint");
}

TEST(Sql, ShowsOpaqueColumnsAsTextAndOnlyTestsThemForNull) {
  StaticCatalog c;
  c.AddCdcTable("pg", "public", "events", {{"id", "int8"}, {"payload", "jsonb"}});
  auto plan = Check("cdc_pg_public.events | where payload is not null", c, CheckOptions{});
  ASSERT_TRUE(plan.ok()) << plan.status();
  auto q = CompileSql(*plan);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->sql,
            "SELECT \"id\" AS c1, (\"payload\")::text AS c2 FROM \"cdc_pg_public\".\"events\" "
            "WHERE (\"payload\" IS NOT NULL) LIMIT $1::bigint");
  auto bad = Check("cdc_pg_public.events | where payload = \"{}\"", c, CheckOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(GetErrorDetail(bad.status())->message,
            "'payload' has type jsonb, which the DSL can only show or test with 'is null'");
}

// Values an attacker might type. Each goes into a DSL string literal
// (escaped for the DSL), so it must end up only in a parameter.
const char* const kEvil[] = {
    "'; DROP TABLE md.trades; --",
    "\" OR 1=1 --",
    "x' OR '1'='1",
    "$$; DELETE FROM md.trades; $$",
    "$1",
    "/* comment */ venue",
    "venue -- comment",
    "; SELECT pg_sleep(10);",
    "\\'; COPY md.trades TO PROGRAM 'sh'",
    "pg_catalog.pg_authid",
    "информация",  // Cyrillic
    "ｓｅｌｅｃｔ",  // full-width look-alikes
    "\u202Ereversed",
};

std::string DslString(const std::string& v) {
  return "\"" + absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"\"", "\\\""}}) + "\"";
}

TEST(SqlInjection, ValuesNeverChangeTheShapeOfTheSql) {
  const char* const templates[] = {
      "md.trades | where venue = %s",
      "md.trades | where venue in (\"kraken\", %s) | project venue, trade_id",
      "md.trades | where contains(trade_id, %s) or startswith(symbol, %s) or endswith(symbol, %s)",
      "cdc_pg_public.orders | where note = %s and status != %s | top 5 by amount desc",
      "md.trades | summarize n = count() by venue | where venue != %s",
      "md.candles | where coalesce(interval, %s) = %s",
  };
  for (const char* tmpl : templates) {
    auto build = [&](const std::string& value) {
      return absl::StrReplaceAll(tmpl, {{"%s", DslString(value)}});
    };
    auto base = Sql(build("kraken"));
    ASSERT_TRUE(base.ok()) << tmpl << ": " << base.status();
    for (const char* evil : kEvil) {
      auto q = Sql(build(evil));
      ASSERT_TRUE(q.ok()) << build(evil) << ": " << q.status();
      EXPECT_EQ(q->sql, base->sql) << evil;
      ASSERT_EQ(q->params.size(), base->params.size());
      bool carried = false;
      for (const auto& p : q->params) carried = carried || p == std::string(evil);
      EXPECT_TRUE(carried) << "the value travels as a parameter: " << evil;
      // ("$1" is also the text of the first placeholder: the shape check covers it.)
      if (std::string(evil) != "$1") {
        EXPECT_EQ(q->sql.find(evil), std::string::npos) << evil;
      }
    }
  }
}

TEST(SqlInjection, NamesOnlyComeFromTheCatalog) {
  const char* const refused[] = {
      "pg_catalog.pg_authid | limit 1",
      "`pg_catalog`.`pg_shadow` | limit 1",
      "information_schema.tables | limit 1",
      "md.`trades; DROP TABLE md.trades` | limit 1",
      "md.trades | project `venue\"; DROP TABLE md.trades; --`",
      "md.trades | where `venue` = \"a\" | project `pg_read_file('/etc/passwd')`",
      "md.tr\xd0\xb0" "des | limit 1",        // Cyrillic а: not even a name
      "md.`tr\xd0\xb0" "des` | limit 1",      // quoted: an unknown source
      "md.trades | where `v\xd0\xb5nue` = \"x\"",  // Cyrillic е in a field
      "md.trades | where venue = \"x\" | sort by pg_sleep(10)",
  };
  for (const char* text : refused) {
    auto q = Sql(text);
    ASSERT_FALSE(q.ok()) << text;
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(GetErrorDetail(q.status()).has_value()) << text;
  }
}

TEST(SqlInjection, OutputNamesStayOutOfTheSql) {
  auto q = Sql("md.trades | project `x\"; DROP TABLE md.trades; --` = venue");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->sql, "SELECT \"venue\" AS c1 FROM \"md\".\"trades\" LIMIT $1::bigint");
  EXPECT_EQ(q->columns[0].name, "x\"; DROP TABLE md.trades; --");
}

}  // namespace
}  // namespace sa::dsl
