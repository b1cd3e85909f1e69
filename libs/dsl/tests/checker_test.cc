#include <gtest/gtest.h>

#include "dsl/checker.h"
#include "dsl/error.h"
#include "dsl/sql.h"

namespace sa::dsl {
namespace {

TEST(Scratch, Print) {
  const char* stmts[] = {
      "md.trade | where venue in (\"coinbase\", \"kraken\") and symbol = \"BTC-USD\" and price > 60000",
      "md.trades | where symbol = \"ETH-USD\" and ts > now() - 1h\n  | summarize vwap = sum(price * size) / sum(size), n = count() by venue, bin(ts, 1m)",
      "cdc_pg_public.orders | where status = \"paid\" | top 10 by amount desc",
      "md.trade | where prise > 60000",
      "md.trade | where symbol = 60000",
      "md.trade | where side = \"bye\"",
      "md.trades | summarize count() venue",
      "md.trade | where symbol = \"BTC",
      "md.trades | summarize n = cnt() by venue",
      "md.trade | window tumbling 1m | summarize n = count()",
      "md.trade | top 5 by price",
      "md.trades | window tumbling 1m grace 1s | summarize n = count()",
  };
  for (const char* s : stmts) {
    CheckOptions o;
    o.now_ns = 1714564800000000000;
    auto p = Check(s, ExampleCatalog(), o);
    if (!p.ok()) {
      printf("----\n%s\n", std::string(p.status().message()).c_str());
      continue;
    }
    printf("---- use %s, %zu columns\n", UseName(p->use), p->columns.size());
    if (p->use == Use::kWarehouseQuery) {
      auto q = CompileSql(*p);
      if (!q.ok()) { printf("SQL ERROR %s\n", std::string(q.status().message()).c_str()); continue; }
      printf("%s\n", q->sql.c_str());
      for (auto& x : q->params) printf("  param %s\n", x ? x->c_str() : "NULL");
    }
  }
}

}  // namespace
}  // namespace sa::dsl
