#include "dsl/checker.h"

#include <gtest/gtest.h>

#include "dsl/error.h"

namespace sa::dsl {
namespace {

constexpr int64_t kNow = 1714564800000000000;  // 2024-05-01T12:00:00Z

absl::StatusOr<Plan> CheckIt(const std::string& text, unsigned uses = kAnyUse) {
  CheckOptions o;
  o.now_ns = kNow;
  o.allowed_uses = uses;
  return Check(text, ExampleCatalog(), o);
}

std::vector<std::string> Names(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& c : p.columns) out.push_back(c.name);
  return out;
}

TEST(Checker, TheSourceDecidesTheUse) {
  EXPECT_EQ(CheckIt("md.trade | where price > 1")->use, Use::kFilter);
  EXPECT_EQ(CheckIt("md.trade | window tumbling 1m grace 1s | summarize n = count()")->use, Use::kWindowedAggregate);
  EXPECT_EQ(CheckIt("md.trades | where price > 1")->use, Use::kWarehouseQuery);
  EXPECT_EQ(CheckIt("cdc.pg.public.orders | where status = \"paid\"")->use, Use::kFilter);
  EXPECT_EQ(CheckIt("cdc_pg_public.orders | top 3 by amount")->use, Use::kWarehouseQuery);
}

TEST(Checker, RefusesAUseTheCallerDoesNotAccept) {
  auto p = CheckIt("md.trade | where price > 1", static_cast<unsigned>(Use::kWarehouseQuery));
  ASSERT_FALSE(p.ok());
  auto d = GetErrorDetail(p.status());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->message, "'md.trade' makes this a live filter, but only warehouse query statements are accepted here");
  EXPECT_EQ(d->hint, "a warehouse query reads a table: md.trades");
}

TEST(Checker, OutputsEveryFieldWithoutProjection) {
  auto p = CheckIt("cdc.pg.public.orders");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->all_fields);
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"id", "status", "amount", "customer", "created_at", "note",
                                                 "event.op", "event.commit_time", "event.lsn", "event.snapshot"}));
}

TEST(Checker, NamesColumnsAndRefusesDuplicates) {
  auto p = CheckIt("md.trades | summarize count(), sum(size), total = sum(price * size) by venue, bin(ts, 1h)");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"venue", "bin_ts", "count", "sum_size", "total"}));
  auto dup = CheckIt("md.trades | project venue, venue");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(GetErrorDetail(dup.status())->message, "duplicate output name 'venue'");
}

TEST(Checker, SubstitutesNamesSoBackEndsSeeOnlyFieldsKeysAndAggregates) {
  auto p = CheckIt(
      "md.trades | project venue, notional = price * size | where notional > 100"
      " | summarize total = sum(notional), n = count() by venue | where n > 2 | project venue, avg = total / n");
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->filters.size(), 1u);
  EXPECT_EQ(p->filters[0]->args[0]->kind, TExprKind::kBinary);  // price * size, not a name
  ASSERT_EQ(p->having.size(), 1u);
  EXPECT_EQ(p->having[0]->args[0]->kind, TExprKind::kAggRef);
  ASSERT_EQ(p->columns.size(), 2u);
  EXPECT_EQ(p->columns[0].expr->kind, TExprKind::kKeyRef);
  EXPECT_EQ(p->columns[1].type.kind, TypeKind::kDecimal);
}

TEST(Checker, FoldsConstantsIncludingNowInWarehouseQueries) {
  auto p = CheckIt("md.trades | where ts > now() - 1h");
  ASSERT_TRUE(p.ok()) << p.status();
  const TExprPtr& rhs = p->filters[0]->args[1];
  ASSERT_EQ(rhs->kind, TExprKind::kConst);
  EXPECT_EQ(rhs->constant.i, kNow - 3600000000000);
  // A live filter reads the clock per message instead.
  auto live = CheckIt("md.trade | where ts > now() - 1h");
  ASSERT_TRUE(live.ok());
  EXPECT_NE(live->filters[0]->args[1]->kind, TExprKind::kConst);
}

TEST(Checker, TypesArithmeticExactly) {
  auto p = CheckIt("md.trades | project a = price * size, b = size / 3, c = trade_count_is_not_here");
  ASSERT_FALSE(p.ok());
  p = CheckIt("md.candles | project a = trade_count / 2, b = trade_count % 3, c = close_time - open_time, d = open_time + 1m");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->columns[0].type.kind, TypeKind::kDecimal);  // int / int is an exact division
  EXPECT_EQ(p->columns[1].type.kind, TypeKind::kInt);
  EXPECT_EQ(p->columns[2].type.kind, TypeKind::kDuration);
  EXPECT_EQ(p->columns[3].type.kind, TypeKind::kTimestamp);
  EXPECT_FALSE(CheckIt("md.trades | project x = venue + symbol").ok());
  EXPECT_FALSE(CheckIt("md.trades | where ts > 5").ok());
}

TEST(Checker, ChecksEnumValuesInComparisonsAndLists) {
  EXPECT_TRUE(CheckIt("md.trade | where side in (\"buy\", \"sell\")").ok());
  EXPECT_TRUE(CheckIt("cdc.pg.public.orders | where event.op = \"delete\"").ok());
  auto p = CheckIt("md.status | where kind = \"gapp\"");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(GetErrorDetail(p.status())->hint, "did you mean \"gap\"?");
}

TEST(Checker, CompilesRegularExpressionsOnceAndRefusesBadOnes) {
  EXPECT_TRUE(CheckIt("md.trade | where matches(symbol, \"^(BTC|ETH)-USD$\")").ok());
  auto bad = CheckIt("md.trade | where matches(symbol, \"(unclosed\")");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(GetErrorDetail(bad.status())->message, "invalid regular expression: missing ): (unclosed");
  // \b is a word boundary in RE2 but a backspace in PostgreSQL.
  auto sql = CheckIt("md.trades | where matches(symbol, \"\\\\bBTC\")");
  ASSERT_FALSE(sql.ok());
  EXPECT_EQ(GetErrorDetail(sql.status())->message,
            "this regular expression is not portable to PostgreSQL: '\\b' means different things in RE2 and PostgreSQL");
}

// Found by the fuzzer (UBSan: a field read from no message): a field used
// outside the aggregates of a summarize item, which has no row to read it from.
TEST(Checker, RefusesFieldsOutsideAggregatesInSummarize) {
  for (const char* text : {"md.trade | window tumbling 1m grace 1s | summarize x = price - stddev(size) by symbol",
                           "md.trades | summarize x = sum(size) + venue by venue"}) {
    auto p = CheckIt(text);
    ASSERT_FALSE(p.ok()) << text;
    auto d = GetErrorDetail(p.status());
    ASSERT_TRUE(d.has_value());
    EXPECT_NE(d->message.find("outside an aggregate"), std::string::npos) << d->message;
  }
  EXPECT_TRUE(CheckIt("md.trades | summarize x = sum(size) * 2, y = max(price) - min(price) by venue").ok());
}

TEST(Checker, WindowsAreCheckedAndExposeTheirBounds) {
  auto p = CheckIt("md.trade | window hopping 5m every 1m grace 10s | summarize n = count() by symbol");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"window_start", "window_end", "symbol", "n"}));
  EXPECT_EQ(p->window->every_ns, 60000000000);
  EXPECT_FALSE(CheckIt("md.trade | window hopping 5m every 2m grace 1s | summarize n = count()").ok());
  EXPECT_FALSE(CheckIt("md.trade | window tumbling 1m grace 1s").ok());
  EXPECT_FALSE(CheckIt("md.trade | summarize n = count()").ok());
}

TEST(Checker, FiltersTheCatalogByPermission) {
  const StaticCatalog md_only = ExampleCatalog().Filtered([](const SourceDef& s) { return s.permission == "md:read"; });
  CheckOptions o;
  auto p = Check("cdc_pg_public.orders | limit 1", md_only, o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(GetErrorDetail(p.status())->message, "unknown source 'cdc_pg_public.orders'");
  for (const auto* s : md_only.Sources()) EXPECT_EQ(s->permission, "md:read") << s->name;
  const SourceDef* orders = ExampleCatalog().Find("cdc.pg.public.orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->permission, "cdc:read");
  EXPECT_EQ(orders->resource, "pg.public.orders");
}

TEST(Checker, MapsPostgresTypes) {
  EXPECT_EQ(TypeForPgType("numeric(12,2)").kind, TypeKind::kDecimal);
  EXPECT_EQ(TypeForPgType("timestamp with time zone").kind, TypeKind::kTimestamp);
  EXPECT_EQ(TypeForPgType("character varying(20)").kind, TypeKind::kString);
  EXPECT_EQ(TypeForPgType("int4").kind, TypeKind::kInt);
  EXPECT_EQ(TypeForPgType("jsonb").kind, TypeKind::kOpaque);
  EXPECT_EQ(TypeForPgType("_int4").kind, TypeKind::kOpaque);
}

TEST(NearestName, SuggestsLikelyMisspellingsOnly) {
  const std::vector<std::string> names = {"price", "size", "symbol", "venue"};
  EXPECT_EQ(NearestName("prise", names), "price");
  EXPECT_EQ(NearestName("SYMBOL", names), "symbol");
  EXPECT_EQ(NearestName("vneue", names), "venue");
  EXPECT_EQ(NearestName("quantity", names), "");
}

}  // namespace
}  // namespace sa::dsl
