#include "dsl/filter.h"

#include <gtest/gtest.h>

#include "streamadmin/anomaly/v1/anomaly.pb.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::dsl {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
namespace cdcpb = streamadmin::cdc::v1;

constexpr int64_t kNow = 1714564800000000000;  // 2024-05-01T12:00:00Z

Filter Compile(const std::string& text) {
  CheckOptions o;
  o.now_ns = kNow;
  auto plan = Check(text, ExampleCatalog(), o);
  EXPECT_TRUE(plan.ok()) << plan.status();
  auto f = Filter::Compile(*plan, FilterOptions{kNow});
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

mdpb::Trade MakeTrade(const std::string& venue, const std::string& symbol, const std::string& price,
                      const std::string& size, int64_t ts, mdpb::Side side = mdpb::SIDE_BUY) {
  mdpb::Trade t;
  t.mutable_origin()->set_venue(venue);
  t.mutable_origin()->set_symbol(symbol);
  t.mutable_origin()->set_exchange_time_ns(ts);
  t.set_trade_id("1");
  t.mutable_price()->set_value(price);
  t.mutable_size()->set_value(size);
  t.set_side(side);
  return t;
}

TEST(Filter, SelectsTradesLikeTheHandWrittenPredicate) {
  const Filter f = Compile(
      "md.trade | where venue in (\"coinbase\", \"kraken\") and symbol = \"BTC-USD\" and price > 60000");
  EXPECT_EQ(f.message(), MessageKind::kTrade);
  EXPECT_EQ(f.subject(), "md.trade.>");
  EXPECT_TRUE(f.Matches(MakeTrade("kraken", "BTC-USD", "60000.00000001", "1", kNow)));
  EXPECT_FALSE(f.Matches(MakeTrade("kraken", "BTC-USD", "60000.00000000", "1", kNow)));
  EXPECT_FALSE(f.Matches(MakeTrade("binance", "BTC-USD", "70000", "1", kNow)));
  EXPECT_FALSE(f.Matches(MakeTrade("coinbase", "ETH-USD", "70000", "1", kNow)));
  EXPECT_TRUE(f.Matches(MakeTrade("coinbase", "BTC-USD", "6.5e4", "1", kNow)));
}

TEST(Filter, ComparesDecimalsExactlyNotThroughFloats) {
  // 0.1 + 0.2 > 0.3 in binary floating point; not in exact decimals.
  const Filter f = Compile("md.trade | where price + size > 0.3");
  EXPECT_FALSE(f.Matches(MakeTrade("kraken", "BTC-USD", "0.1", "0.2", kNow)));
  EXPECT_TRUE(f.Matches(MakeTrade("kraken", "BTC-USD", "0.1", "0.20000000000000000001", kNow)));
}

TEST(Filter, UsesThreeValuedLogicForNulls) {
  mdpb::Trade no_time = MakeTrade("kraken", "BTC-USD", "1", "1", 0);  // no exchange or receive time: ts is null
  mdpb::Trade bad_price = MakeTrade("kraken", "BTC-USD", "not-a-number", "1", kNow);
  EXPECT_FALSE(Compile("md.trade | where ts > now() - 1h").Matches(no_time));
  EXPECT_FALSE(Compile("md.trade | where not (ts > now() - 1h)").Matches(no_time));
  EXPECT_TRUE(Compile("md.trade | where ts > now() - 1h or venue = \"kraken\"").Matches(no_time));
  EXPECT_FALSE(Compile("md.trade | where ts > now() - 1h and venue = \"kraken\"").Matches(no_time));
  EXPECT_TRUE(Compile("md.trade | where ts is null").Matches(no_time));
  EXPECT_FALSE(Compile("md.trade | where price != 1").Matches(bad_price));
  EXPECT_TRUE(Compile("md.trade | where price is null").Matches(bad_price));
  EXPECT_FALSE(Compile("md.trade | where price not in (1, 2)").Matches(bad_price));
  EXPECT_TRUE(Compile("md.trade | where venue not in (\"x\", coalesce(null, trade_id))")
                  .Matches(MakeTrade("kraken", "BTC-USD", "1", "1", kNow)));
}

TEST(Filter, ComparesStringsOfEveryLengthExactly) {
  for (size_t len = 0; len <= 24; ++len) {
    const std::string want(len, 'a');
    const Filter eq = Compile("md.trade | where venue = \"" + want + "\"");
    const Filter in = Compile("md.trade | where venue in (\"x\", \"" + want + "\")");
    EXPECT_TRUE(eq.Matches(MakeTrade(want, "BTC-USD", "1", "1", kNow))) << len;
    EXPECT_TRUE(in.Matches(MakeTrade(want, "BTC-USD", "1", "1", kNow))) << len;
    for (size_t pos = 0; pos < len; ++pos) {
      std::string other = want;
      other[pos] = 'b';
      EXPECT_FALSE(eq.Matches(MakeTrade(other, "BTC-USD", "1", "1", kNow))) << len << " " << pos;
      EXPECT_FALSE(in.Matches(MakeTrade(other, "BTC-USD", "1", "1", kNow))) << len << " " << pos;
    }
    EXPECT_FALSE(eq.Matches(MakeTrade(want + "a", "BTC-USD", "1", "1", kNow))) << len;
  }
}

TEST(Filter, EvaluatesNowAgainstTheClock) {
  const Filter f = Compile("md.trade | where ts > now() - 1m");
  EXPECT_TRUE(f.Matches(MakeTrade("kraken", "BTC-USD", "1", "1", kNow - 30000000000)));
  EXPECT_FALSE(f.Matches(MakeTrade("kraken", "BTC-USD", "1", "1", kNow - 61000000000)));
}

TEST(Filter, MatchesRegularExpressionsAndStringFunctions) {
  const Filter f = Compile(
      "md.trade | where matches(symbol, \"^(BTC|ETH)-US[DT]$\") and startswith(venue, \"kr\") and len(trade_id) = 1");
  EXPECT_TRUE(f.Matches(MakeTrade("kraken", "ETH-USD", "1", "1", kNow)));
  EXPECT_FALSE(f.Matches(MakeTrade("kraken", "SOL-USD", "1", "1", kNow)));
  EXPECT_FALSE(f.Matches(MakeTrade("binance", "BTC-USDT", "1", "1", kNow)));
}

TEST(Filter, ChecksEnumsByName) {
  const Filter f = Compile("md.trade | where side = \"sell\"");
  EXPECT_TRUE(f.Matches(MakeTrade("kraken", "BTC-USD", "1", "1", kNow, mdpb::SIDE_SELL)));
  EXPECT_FALSE(f.Matches(MakeTrade("kraken", "BTC-USD", "1", "1", kNow, mdpb::SIDE_BUY)));
  EXPECT_FALSE(f.Matches(MakeTrade("kraken", "BTC-USD", "1", "1", kNow, mdpb::SIDE_UNSPECIFIED)));
}

TEST(Filter, ProjectsColumnsAsViewsIntoTheMessage) {
  const Filter f = Compile("md.trade | where size > 0 | project venue, notional = price * size, side, ts");
  const mdpb::Trade t = MakeTrade("kraken", "BTC-USD", "60321.45", "0.015", kNow + 5, mdpb::SIDE_SELL);
  ASSERT_TRUE(f.Matches(t));
  std::vector<Value> row(f.columns().size());
  f.Project(&t, row.data());
  EXPECT_EQ(row[0].s, "kraken");
  EXPECT_EQ(row[0].s.data(), t.origin().venue().data());
  EXPECT_EQ(ValueToString(row[1]), "904.82175");
  EXPECT_EQ(ValueToString(row[2]), "sell");
  EXPECT_EQ(ValueToString(row[3]), "2024-05-01T12:00:00.000000005Z");
}

TEST(Filter, ReadsAnomalyScoresAsFloats) {
  const Filter f = Compile("anomaly | where score >= 0.7 and event_kind = \"trade\"");
  streamadmin::anomaly::v1::Anomaly a;
  a.set_score(0.7);
  a.set_event_kind("trade");
  EXPECT_TRUE(f.Matches(a));
  a.set_score(0.69);
  EXPECT_FALSE(f.Matches(a));
}

cdcpb::ChangeEvent Event(cdcpb::Op op, const std::string& status, const std::string& amount,
                         const std::string& before_status = "") {
  cdcpb::ChangeEvent e;
  e.set_op(op);
  e.mutable_table()->set_server("pg");
  e.mutable_source()->set_commit_time_us(kNow / 1000);
  auto* image = op == cdcpb::OP_DELETE ? e.mutable_before() : e.mutable_after();
  auto add = [](auto* cols, const std::string& name, auto set) {
    auto* c = cols->Add();
    c->set_name(name);
    set(c->mutable_value());
  };
  add(image, "id", [](cdcpb::Value* v) { v->set_int_value(7); });
  add(image, "status", [&](cdcpb::Value* v) { v->set_text_value(status); });
  add(image, "amount", [&](cdcpb::Value* v) {
    if (amount.empty())
      v->set_null(true);
    else
      v->set_numeric_value(amount);
  });
  if (!before_status.empty())
    add(e.mutable_before(), "status", [&](cdcpb::Value* v) { v->set_text_value(before_status); });
  return e;
}

TEST(Filter, ReadsChangeEventColumnsBeforeImagesAndMetadata) {
  const Filter paid = Compile("cdc.pg.public.orders | where status = \"paid\" and amount >= 100.50");
  EXPECT_TRUE(paid.Matches(Event(cdcpb::OP_UPDATE, "paid", "100.5")));
  EXPECT_FALSE(paid.Matches(Event(cdcpb::OP_UPDATE, "paid", "100.49")));
  EXPECT_FALSE(paid.Matches(Event(cdcpb::OP_UPDATE, "paid", "")));  // NULL amount
  // A delete carries the row in `before`.
  EXPECT_TRUE(paid.Matches(Event(cdcpb::OP_DELETE, "paid", "200")));
  const Filter changed = Compile(
      "cdc.pg.public.orders | where event.op = \"update\" and before.status != status and id = 7 "
      "and event.commit_time = timestamp(\"2024-05-01T12:00:00Z\")");
  EXPECT_TRUE(changed.Matches(Event(cdcpb::OP_UPDATE, "paid", "1", "new")));
  EXPECT_FALSE(changed.Matches(Event(cdcpb::OP_UPDATE, "paid", "1", "paid")));
  EXPECT_FALSE(changed.Matches(Event(cdcpb::OP_UPDATE, "paid", "1")));  // no before image: NULL
  EXPECT_FALSE(changed.Matches(Event(cdcpb::OP_CREATE, "paid", "1", "new")));
}

TEST(Filter, NarrowsTheSubjectByEqualityOnVenueSymbolAndInterval) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Compile("md.trade | where price > 1").subjects(), V{"md.trade.>"});
  EXPECT_EQ(Compile("md.trade | where venue in (\"kraken\", \"coinbase\") and symbol = \"BTC-USD\" and price > 1")
                .subjects(),
            (V{"md.trade.coinbase.BTC-USD", "md.trade.kraken.BTC-USD"}));
  EXPECT_EQ(Compile("md.trade | where venue = \"kraken\"").subjects(), V{"md.trade.kraken.>"});
  EXPECT_EQ(Compile("md.trade | where symbol = \"ETH-USD\"").subjects(), V{"md.trade.*.ETH-USD"});
  EXPECT_EQ(Compile("md.candle | where interval = \"1m\" and venue = \"kraken\"").subjects(),
            V{"md.candle.1m.kraken.>"});
  EXPECT_EQ(Compile("md.status | where venue = \"kraken\"").subjects(), V{"md.status.kraken"});
  // Not narrowed: an 'or', a negation, or a value that cannot be a subject token.
  EXPECT_EQ(Compile("md.trade | where venue = \"kraken\" or price > 1").subjects(), V{"md.trade.>"});
  EXPECT_EQ(Compile("md.trade | where not (venue = \"kraken\")").subjects(), V{"md.trade.>"});
  EXPECT_EQ(Compile("md.trade | where venue = \"a.b\"").subjects(), V{"md.trade.>"});
  EXPECT_EQ(Compile("md.trade | where venue = \"*\"").subjects(), V{"md.trade.>"});
  // Found by the fuzzer (ASan heap-use-after-free): an unusable value before
  // others in an 'in' list freed the list while it was being checked.
  EXPECT_EQ(Compile("md.trade | where venue in (\"a b\", \"kraken\", \"coinbase\") and symbol = \"B*C-USD\"")
                .subjects(),
            V{"md.trade.>"});
  EXPECT_EQ(Compile("cdc.pg.public.orders | where status = \"paid\"").subjects(), V{"cdc.pg.public.orders"});
}

TEST(Filter, RefusesPlansForOtherUses) {
  CheckOptions o;
  auto plan = Check("md.trades | limit 1", ExampleCatalog(), o);
  ASSERT_TRUE(plan.ok());
  auto f = Filter::Compile(*plan);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sa::dsl
