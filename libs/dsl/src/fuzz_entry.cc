#include "dsl/fuzz_entry.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "dsl/aggregate.h"
#include "dsl/checker.h"
#include "dsl/error.h"
#include "dsl/filter.h"
#include "dsl/sql.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::dsl {
namespace {

[[noreturn]] void Broken(const char* what, std::string_view input, const std::string& detail) {
  fprintf(stderr, "dsl fuzz invariant broken: %s\ninput: %.*s\n%s\n", what, static_cast<int>(input.size()),
          input.data(), detail.c_str());
  std::abort();
}

const streamadmin::marketdata::v1::Trade& SampleTrade() {
  static const auto* t = [] {
    auto* t = new streamadmin::marketdata::v1::Trade;
    t->mutable_origin()->set_venue("kraken");
    t->mutable_origin()->set_symbol("BTC-USD");
    t->mutable_origin()->set_exchange_time_ns(1714564800123456789);
    t->set_trade_id("42");
    t->mutable_price()->set_value("60321.45");
    t->mutable_size()->set_value("0.015");
    t->set_side(streamadmin::marketdata::v1::SIDE_BUY);
    return t;
  }();
  return *t;
}

}  // namespace

void FuzzOne(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckOptions options;
  options.now_ns = 1714564800000000000;
  auto plan = Check(text, ExampleCatalog(), options);
  if (!plan.ok()) {
    if (plan.status().code() != absl::StatusCode::kInvalidArgument)
      Broken("error is not INVALID_ARGUMENT", text, std::string(plan.status().message()));
    auto d = GetErrorDetail(plan.status());
    if (!d.has_value()) Broken("error without a position", text, std::string(plan.status().message()));
    if (d->line < 1 || d->column < 1 || d->length < 1) Broken("bad position", text, std::string(plan.status().message()));
    return;
  }
  switch (plan->use) {
    case Use::kFilter: {
      auto f = Filter::Compile(*plan, FilterOptions{options.now_ns});
      if (!f.ok()) Broken("filter back end refused a checked plan", text, std::string(f.status().message()));
      if (f->message() == MessageKind::kTrade) {
        (void)f->Matches(SampleTrade());
        std::vector<Value> row(f->columns().size());
        f->Project(&SampleTrade(), row.data());
      } else if (f->message() == MessageKind::kChangeEvent) {
        streamadmin::cdc::v1::ChangeEvent e;
        e.set_op(streamadmin::cdc::v1::OP_UPDATE);
        auto* c = e.add_after();
        c->set_name("status");
        c->mutable_value()->set_text_value("paid");
        (void)f->MatchesAs(MessageKind::kChangeEvent, &e);
      }
      break;
    }
    case Use::kWindowedAggregate: {
      auto a = Aggregation::Create(*plan);
      if (!a.ok()) Broken("aggregation refused a checked plan", text, std::string(a.status().message()));
      if (plan->source->message == MessageKind::kTrade) {
        (*a)->Add(&SampleTrade());
        (void)(*a)->Rows();
      }
      break;
    }
    case Use::kWarehouseQuery: {
      auto q = CompileSql(*plan);
      // Nanosecond constants outside comparisons are refused by the SQL back
      // end, with a position like any other error; anything else is a bug.
      if (!q.ok() && (q.status().code() != absl::StatusCode::kInvalidArgument || !GetErrorDetail(q.status()).has_value()))
        Broken("SQL back end failed", text, std::string(q.status().message()));
      break;
    }
  }
}

}  // namespace sa::dsl
