// Filter::Matches and Filter::Project allocate nothing per message: this
// binary replaces the global operator new and counts calls while compiled
// filters run over messages (after one warm-up evaluation, which lets RE2
// build its lazy DFA states).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "dsl/filter.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace sa::dsl {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
namespace cdcpb = streamadmin::cdc::v1;

Filter Compile(const std::string& text) {
  auto plan = Check(text, ExampleCatalog(), CheckOptions{});
  EXPECT_TRUE(plan.ok()) << plan.status();
  auto f = Filter::Compile(*plan);
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

TEST(FilterAllocations, NonePerTradeMatchedOrProjected) {
  const char* const filters[] = {
      "md.trade | where venue in (\"coinbase\", \"kraken\") and symbol = \"BTC-USD\" and price > 60000",
      "md.trade | where price * size > 1000.5 or (side = \"sell\" and not (size < 0.001))",
      "md.trade | where matches(symbol, \"^(BTC|ETH)-USD$\") and ts > now() - 1h and contains(trade_id, \"7\")",
      "md.trade | where coalesce(exchange_time, received) is not null and abs(price - 60000) / price < 0.01",
      "md.trade | where venue = \"kraken\" | project venue, symbol, notional = price * size, ts, side",
  };
  mdpb::Trade t;
  t.mutable_origin()->set_venue("kraken");
  t.mutable_origin()->set_symbol("BTC-USD");
  t.mutable_origin()->set_exchange_time_ns(4102444800000000000);
  t.set_trade_id("1234567");
  t.mutable_price()->set_value("60321.45000");
  t.mutable_size()->set_value("0.01500000");
  t.set_side(mdpb::SIDE_SELL);
  for (const char* text : filters) {
    const Filter f = Compile(text);
    std::vector<Value> row(f.columns().size());
    (void)f.Matches(t);  // warm-up
    f.Project(&t, row.data());
    const long before = g_allocations.load();
    int matched = 0;
    for (int i = 0; i < 1000; ++i) {
      matched += f.Matches(t) ? 1 : 0;
      f.Project(&t, row.data());
    }
    EXPECT_EQ(g_allocations.load() - before, 0) << text;
    EXPECT_GT(matched, 0) << "the sample trade should pass, so every node is evaluated: " << text;
  }
}

TEST(FilterAllocations, NonePerChangeEvent) {
  cdcpb::ChangeEvent e;
  e.set_op(cdcpb::OP_UPDATE);
  for (const auto& [name, text] : {std::pair{"status", "paid"}, std::pair{"customer", "acme"}}) {
    auto* c = e.add_after();
    c->set_name(name);
    c->mutable_value()->set_text_value(text);
  }
  auto* amount = e.add_after();
  amount->set_name("amount");
  amount->mutable_value()->set_numeric_value("123.45");
  auto* before = e.add_before();
  before->set_name("status");
  before->mutable_value()->set_text_value("new");
  const Filter f = Compile(
      "cdc.pg.public.orders | where event.op = \"update\" and status = \"paid\" and before.status != status"
      " and amount > 100 | project customer, amount");
  std::vector<Value> row(f.columns().size());
  ASSERT_TRUE(f.Matches(e));
  const long before_count = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(f.Matches(e));
    f.Project(&e, row.data());
  }
  EXPECT_EQ(g_allocations.load() - before_count, 0);
}

}  // namespace
}  // namespace sa::dsl
