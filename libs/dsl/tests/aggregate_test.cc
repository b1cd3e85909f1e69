#include "dsl/aggregate.h"

#include <gtest/gtest.h>

#include <limits>

#include "absl/strings/str_cat.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::dsl {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

constexpr int64_t kMin = 60000000000;
constexpr int64_t kT0 = 1714564800000000000;  // 2024-05-01T12:00:00Z, a whole minute

std::unique_ptr<Aggregation> Make(const std::string& text) {
  CheckOptions o;
  auto plan = Check(text, ExampleCatalog(), o);
  EXPECT_TRUE(plan.ok()) << plan.status();
  auto a = Aggregation::Create(*plan);
  EXPECT_TRUE(a.ok()) << a.status();
  return *std::move(a);
}

mdpb::Trade T(const std::string& venue, const std::string& price, const std::string& size, int64_t ts) {
  mdpb::Trade t;
  t.mutable_origin()->set_venue(venue);
  t.mutable_origin()->set_symbol("BTC-USD");
  t.mutable_origin()->set_exchange_time_ns(ts);
  t.mutable_price()->set_value(price);
  t.mutable_size()->set_value(size);
  return t;
}

bool Feed(Aggregation& a, const mdpb::Trade& t) { return a.Add(&t); }

std::vector<std::vector<std::string>> Text(const Aggregation& a) {
  std::vector<std::vector<std::string>> out;
  for (const auto& row : a.Rows()) {
    std::vector<std::string> r;
    for (const auto& v : row) r.push_back(ValueToString(v.get()));
    out.push_back(r);
  }
  return out;
}

TEST(Aggregation, AssignsEventsToTumblingAndHoppingWindows) {
  auto tumbling = Make("md.trade | window tumbling 1m grace 0s | summarize n = count()");
  EXPECT_EQ(tumbling->WindowsOf(kT0 + 59999999999), std::vector<int64_t>{kT0});
  EXPECT_EQ(tumbling->WindowsOf(kT0 + kMin), std::vector<int64_t>{kT0 + kMin});
  EXPECT_EQ(tumbling->WindowsOf(-1), std::vector<int64_t>{-kMin});
  auto hopping = Make("md.trade | window hopping 3m every 1m grace 0s | summarize n = count()");
  EXPECT_EQ(hopping->WindowsOf(kT0 + 30), (std::vector<int64_t>{kT0 - 2 * kMin, kT0 - kMin, kT0}));
}

TEST(Aggregation, ComputesOhlcvAndVwapPerWindowAndKey) {
  auto a = Make(
      "md.trade | where size > 0 | window tumbling 1m grace 5s"
      " | summarize open = first(price), high = max(price), low = min(price), close = last(price),"
      " volume = sum(size), vwap = vwap(price, size), n = count() by venue");
  Feed(*a, T("kraken", "100.0", "1", kT0 + 3));
  Feed(*a, T("kraken", "103.5", "2", kT0 + 1));  // earlier event time: becomes the open
  Feed(*a, T("kraken", "99", "0.5", kT0 + 7));
  Feed(*a, T("coinbase", "101", "3", kT0 + 2));
  Feed(*a, T("kraken", "98", "1", kT0 + kMin));  // next window
  EXPECT_FALSE(Feed(*a, T("kraken", "1", "0", kT0)));  // filtered out
  const std::vector<std::vector<std::string>> want = {
      {"2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z", "coinbase", "101", "101", "101", "101", "3", "101.0000000000000000", "1"},
      // vwap = (103.5*2 + 100.0*1 + 99*0.5) / 3.5 = 356.5 / 3.5
      {"2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z", "kraken", "103.5", "103.5", "99", "99", "3.5",
       "101.8571428571428571", "3"},
      {"2024-05-01T12:01:00Z", "2024-05-01T12:02:00Z", "kraken", "98", "98", "98", "98", "1", "98.0000000000000000", "1"},
  };
  EXPECT_EQ(Text(*a), want);
}

TEST(Aggregation, CountsAnEventInEveryHoppingWindowThatHoldsIt) {
  auto a = Make("md.trade | window hopping 2m every 1m grace 0s | summarize n = count(), total = sum(size)");
  Feed(*a, T("kraken", "1", "1", kT0 + 30 * 1000000000LL));
  Feed(*a, T("kraken", "1", "2", kT0 + 90 * 1000000000LL));
  EXPECT_EQ(Text(*a), (std::vector<std::vector<std::string>>{
                          {"2024-05-01T11:59:00Z", "2024-05-01T12:01:00Z", "1", "1"},
                          {"2024-05-01T12:00:00Z", "2024-05-01T12:02:00Z", "2", "3"},
                          {"2024-05-01T12:01:00Z", "2024-05-01T12:03:00Z", "1", "2"},
                      }));
}

TEST(Aggregation, FiltersGroupsAfterSummarizeAndComputesOutputExpressions) {
  auto a = Make(
      "md.trade | window tumbling 1m grace 0s | summarize n = count(), total = sum(size) by venue"
      " | where n >= 2 | project venue, avg_size = total / n");
  Feed(*a, T("kraken", "1", "1", kT0));
  Feed(*a, T("kraken", "1", "2", kT0));
  Feed(*a, T("coinbase", "1", "5", kT0));
  EXPECT_EQ(Text(*a), (std::vector<std::vector<std::string>>{{"kraken", "1.5000000000000000"}}));
}

TEST(Accumulators, FollowPostgresSemanticsForNullsAndEmptyGroups) {
  CheckOptions o;
  auto plan = Check(
      "md.trade | window tumbling 1m grace 0s | summarize c = count(), cp = count(price), s = sum(price), a = avg(price),"
      " mn = min(price), sd = stddev(price), p50 = percentile(price, 0.5), p0 = percentile(price, 0)",
      ExampleCatalog(), o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<std::unique_ptr<Accumulator>> acc;
  for (const auto& call : plan->aggregates) acc.push_back(MakeAccumulator(call));
  for (const auto& x : acc) EXPECT_TRUE(x->Result().is_null() || x->Result().kind == TypeKind::kInt);
  EXPECT_EQ(acc[0]->Result().i, 0);
  auto add = [&](const Value& v) {
    for (auto& x : acc) x->Add(&v, 0);
  };
  add(Value::Null());
  add(Value::Dec(*Decimal::Parse("1")));
  add(Value::Dec(*Decimal::Parse("2")));
  add(Value::Dec(*Decimal::Parse("4")));
  add(Value::Dec(*Decimal::Parse("3")));
  EXPECT_EQ(ValueToString(acc[0]->Result()), "5");
  EXPECT_EQ(ValueToString(acc[1]->Result()), "4");
  EXPECT_EQ(ValueToString(acc[2]->Result()), "10");
  EXPECT_EQ(ValueToString(acc[3]->Result()), "2.5000000000000000");
  EXPECT_EQ(ValueToString(acc[4]->Result()), "1");
  EXPECT_NEAR(acc[5]->Result().f, 1.2909944487358056, 1e-15);  // sample stddev of 1, 2, 3, 4
  EXPECT_EQ(ValueToString(acc[6]->Result()), "2");              // rank ceil(0.5 * 4) = 2
  EXPECT_EQ(ValueToString(acc[7]->Result()), "1");              // rank at least 1
}

TEST(Accumulators, SayWhenAnExactSumOverflows) {
  AggregateCall call;
  call.func = AggFunc::kSum;
  auto sum = MakeAccumulator(call);
  const Value big = Value::Dec(*Decimal::Parse("90000000000000000000000000000000000000"));
  sum->Add(&big, 0);
  EXPECT_FALSE(sum->overflowed());
  sum->Add(&big, 0);
  EXPECT_TRUE(sum->overflowed());
  EXPECT_TRUE(sum->Result().is_null());
}

// Every aggregate, with keys, over hopping windows: the state saved half way
// and loaded into a new Aggregation gives, after the rest of the input, the
// same rows as one Aggregation that saw everything.
constexpr char kEveryAggregate[] =
    "md.trade | window hopping 2m every 1m grace 5s"
    " | summarize n = count(), total = sum(size), mean = avg(price), lo = min(price), hi = max(price),"
    " v = vwap(price, size), o = first(price), c = last(price), sd = stddev(price), p90 = percentile(price, 0.9)"
    " by venue, side";

std::vector<mdpb::Trade> Trades(int n) {
  std::vector<mdpb::Trade> out;
  for (int i = 0; i < n; ++i) {
    mdpb::Trade t = T(i % 3 == 0 ? "kraken" : "coinbase", absl::StrCat(100 + i % 7, ".", i % 10),
                      absl::StrCat("0.", i % 9 + 1), kT0 + i * 7'000'000'000LL);
    t.set_side(i % 2 ? mdpb::SIDE_BUY : mdpb::SIDE_SELL);
    out.push_back(t);
  }
  return out;
}

TEST(Aggregation, ResumesFromASavedStateAsIfNeverStopped) {
  const auto trades = Trades(60);
  auto whole = Make(kEveryAggregate);
  for (const auto& t : trades) Feed(*whole, t);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{17}, size_t{59}, size_t{60}}) {
    auto first = Make(kEveryAggregate);
    for (size_t i = 0; i < cut; ++i) Feed(*first, trades[i]);
    std::string state;
    first->Save(&state);
    auto second = Make(kEveryAggregate);
    ASSERT_TRUE(second->Load(state).ok()) << "cut " << cut;
    for (size_t i = cut; i < trades.size(); ++i) Feed(*second, trades[i]);
    EXPECT_EQ(Text(*second), Text(*whole)) << "cut " << cut;
  }
}

TEST(Aggregation, RefusesEveryTruncatedOrCorruptedState) {
  auto a = Make(kEveryAggregate);
  for (const auto& t : Trades(10)) Feed(*a, t);
  std::string state;
  a->Save(&state);
  for (size_t n = 0; n < state.size(); ++n) {
    auto b = Make(kEveryAggregate);
    EXPECT_EQ(b->Load(std::string_view(state).substr(0, n)).code(), absl::StatusCode::kDataLoss) << n << " bytes";
  }
  auto other = Make("md.trade | window tumbling 1m grace 0s | summarize n = count() by venue");
  EXPECT_EQ(other->Load(state).code(), absl::StatusCode::kDataLoss);  // another plan's state
  auto c = Make(kEveryAggregate);
  EXPECT_EQ(c->Load(state + "x").code(), absl::StatusCode::kDataLoss);
}

Aggregation::AddResult AddTo(Aggregation& a, const mdpb::Trade& t,
                             int64_t closed_through = std::numeric_limits<int64_t>::min()) {
  return a.Add(&t, closed_through);
}

TEST(Aggregation, ClosesWindowsInOrderAndCallsEventsForClosedWindowsLate) {
  auto a = Make(
      "md.trade | window tumbling 1m grace 0s | summarize n = count(), total = sum(size) by venue"
      " | where n > 1");
  auto r = AddTo(*a, T("kraken", "1", "1", kT0 + 1));
  EXPECT_EQ(r.outcome, Aggregation::Outcome::kAdded);
  ASSERT_EQ(r.groups.size(), 1u);
  auto again = AddTo(*a, T("kraken", "1", "2", kT0 + 2));
  EXPECT_EQ(again.groups, r.groups);                                 // the same window and keys: the same group
  EXPECT_EQ(ValueToString((*a->RowOf(r.groups[0]))[3].get()), "2");  // n
  EXPECT_EQ(ValueToString((*a->RowOf(r.groups[0]))[4].get()), "3");  // total
  AddTo(*a, T("coinbase", "1", "5", kT0 + 3));                       // one trade: `where n > 1` drops it
  AddTo(*a, T("kraken", "1", "1", kT0 + kMin));
  EXPECT_FALSE(a->RowOf("no such group").has_value());

  auto closed = a->Close(kT0);  // the window starting at kT0
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0].window_start, kT0);
  EXPECT_FALSE(closed[0].row.has_value());  // coinbase: dropped by `where n > 1`
  ASSERT_TRUE(closed[1].row.has_value());
  EXPECT_EQ(ValueToString((*closed[1].row)[2].get()), "kraken");
  EXPECT_EQ(a->group_count(), 1u);
  EXPECT_TRUE(a->Close(kT0).empty());

  auto late = AddTo(*a, T("kraken", "1", "1", kT0 + 5), kT0);
  EXPECT_EQ(late.outcome, Aggregation::Outcome::kLate);
  EXPECT_EQ(late.event_ns, kT0 + 5);
  EXPECT_EQ(AddTo(*a, T("kraken", "1", "0", kT0 + 5), kT0).outcome, Aggregation::Outcome::kLate);
  EXPECT_EQ(a->Close(std::numeric_limits<int64_t>::max()).size(), 1u);
  EXPECT_EQ(a->group_count(), 0u);
}

TEST(Aggregation, AddsAHoppingEventOnlyToItsWindowsThatAreStillOpen) {
  auto a = Make("md.trade | window hopping 3m every 1m grace 0s | summarize n = count()");
  auto r = AddTo(*a, T("kraken", "1", "1", kT0 + 30), kT0 - kMin);  // windows kT0-2m, kT0-1m closed; kT0 open
  EXPECT_EQ(r.outcome, Aggregation::Outcome::kAdded);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(a->Rows().size(), 1u);
}

}  // namespace
}  // namespace sa::dsl
