// The DSL's compiled live filter beside a hand-written C++ predicate for the
// same filter, over the same decoded trades, in the same run
// (docs/PERFORMANCE.md, "DSL"). Targets: >= 50 % of the hand-written speed,
// >= 5 M trades/s per core.
//
//   build/bench/dsl_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dsl/filter.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace {

namespace mdpb = streamadmin::marketdata::v1;
using sa::dsl::Decimal;

constexpr char kFilter[] =
    "md.trade | where venue in (\"coinbase\", \"kraken\") and symbol = \"BTC-USD\" and price > 60000";

// 4096 trades like the recordings: 4 venues, 4 symbols, prices with 2-8
// decimals around each symbol's level (about a quarter pass the filter).
const std::vector<mdpb::Trade>& Trades() {
  static const auto* trades = [] {
    auto* v = new std::vector<mdpb::Trade>;
    const char* venues[] = {"coinbase", "kraken", "binance", "bitstamp"};
    const char* symbols[] = {"BTC-USD", "ETH-USD", "BTC-EUR", "SOL-USD"};
    const int levels[] = {60000, 3000, 55000, 150};
    uint64_t x = 42;
    auto next = [&x] {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      return x >> 33;
    };
    for (int i = 0; i < 4096; ++i) {
      mdpb::Trade t;
      const int s = static_cast<int>(next() % 4);
      t.mutable_origin()->set_venue(venues[next() % 4]);
      t.mutable_origin()->set_symbol(symbols[s]);
      t.mutable_origin()->set_exchange_time_ns(1714564800000000000 + i * 1000000LL);
      t.set_trade_id(absl::StrCat(1000000 + i));
      const int64_t cents = levels[s] * 100LL + static_cast<int64_t>(next() % 200000) - 100000;
      t.mutable_price()->set_value(absl::StrCat(cents / 100, ".", cents % 100 < 10 ? "0" : "", cents % 100, "000"));
      t.mutable_size()->set_value(absl::StrCat("0.", 10000000 + next() % 89999999));
      t.set_side(next() % 2 ? mdpb::SIDE_BUY : mdpb::SIDE_SELL);
      v->push_back(std::move(t));
    }
    return v;
  }();
  return *trades;
}

// What an engineer would write by hand for kFilter, with the same exact
// decimal comparison (no binary float).
bool HandWritten(const mdpb::Trade& t) {
  static const Decimal kLimit = Decimal::FromInt(60000);
  const std::string& venue = t.origin().venue();
  if (venue != "coinbase" && venue != "kraken") return false;
  if (t.origin().symbol() != "BTC-USD") return false;
  const auto price = Decimal::Parse(t.price().value());
  return price.has_value() && Decimal::Compare(*price, kLimit) > 0;
}

const sa::dsl::Filter& Compiled() {
  static const auto* f = [] {
    auto plan = sa::dsl::Check(kFilter, sa::dsl::BuiltinCatalog());
    if (!plan.ok()) std::abort();
    auto filter = sa::dsl::Filter::Compile(*plan);
    if (!filter.ok()) std::abort();
    return new sa::dsl::Filter(*std::move(filter));
  }();
  return *f;
}

int64_t ExpectedMatches() {
  static const int64_t n = [] {
    int64_t m = 0, c = 0;
    for (const auto& t : Trades()) {
      m += HandWritten(t);
      c += Compiled().Matches(t);
    }
    if (m != c) {
      fprintf(stderr, "compiled filter and hand-written predicate disagree: %lld vs %lld\n",
              static_cast<long long>(c), static_cast<long long>(m));
      std::abort();
    }
    return m;
  }();
  return n;
}

void BM_HandWrittenPredicate(benchmark::State& state) {
  const auto& trades = Trades();
  int64_t matched = 0;
  for (auto _ : state) {
    for (const auto& t : trades) matched += HandWritten(t);
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(trades.size()));
  state.counters["match_share"] = static_cast<double>(ExpectedMatches()) / static_cast<double>(trades.size());
}
BENCHMARK(BM_HandWrittenPredicate);

void BM_CompiledDslFilter(benchmark::State& state) {
  const auto& trades = Trades();
  const sa::dsl::Filter& f = Compiled();
  int64_t matched = 0;
  for (auto _ : state) {
    for (const auto& t : trades) matched += f.Matches(t);
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(trades.size()));
  state.counters["match_share"] = static_cast<double>(ExpectedMatches()) / static_cast<double>(trades.size());
}
BENCHMARK(BM_CompiledDslFilter);

// Context: a heavier filter (regex, arithmetic, now()) and a projection.
void BM_CompiledDslFilterHeavy(benchmark::State& state) {
  auto plan = sa::dsl::Check(
      "md.trade | where matches(symbol, \"^(BTC|ETH)-US[DT]$\") and price * size > 100 and ts > now() - 3650d"
      " | project venue, symbol, notional = price * size",
      sa::dsl::BuiltinCatalog());
  auto f = sa::dsl::Filter::Compile(*plan);
  if (!f.ok()) std::abort();
  std::vector<sa::dsl::Value> row(f->columns().size());
  const auto& trades = Trades();
  int64_t matched = 0;
  for (auto _ : state) {
    for (const auto& t : trades) {
      if (f->Matches(t)) {
        f->Project(&t, row.data());
        ++matched;
      }
    }
    benchmark::DoNotOptimize(matched);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(trades.size()));
}
BENCHMARK(BM_CompiledDslFilterHeavy);

}  // namespace

BENCHMARK_MAIN();
