#include "warehouse_sink/probe.h"

#include <utility>

namespace sa::warehouse_sink {

DeadLetterCounters::DeadLetterCounters(obs::MetricsRegistry& registry, std::string name, std::string help,
                                       std::initializer_list<const char*> reasons)
    : registry_(registry), name_(std::move(name)), help_(std::move(help)) {
  for (const char* reason : reasons) by_reason_[reason] = &registry_.GetCounter(name_, help_, {{"reason", reason}});
}

obs::Counter& DeadLetterCounters::For(const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = by_reason_.find(reason);
  if (it == by_reason_.end())
    it = by_reason_.emplace(reason, &registry_.GetCounter(name_, help_, {{"reason", reason}})).first;
  return *it->second;
}

uint64_t DeadLetterCounters::total() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [reason, counter] : by_reason_) n += Count(*counter);
  return n;
}

CdcSinkProbe::CdcSinkProbe(obs::MetricsRegistry& r)
    : applied(r.GetCounter("streamadmin_cdc_sink_events_applied_total", "Change events applied to the warehouse")),
      skipped(r.GetCounter("streamadmin_cdc_sink_events_skipped_total",
                           "Replayed change events skipped (already applied)")),
      transactions(
          r.GetCounter("streamadmin_cdc_sink_transactions_total", "Warehouse transactions committed by the sink")),
      errors(r.GetCounter("streamadmin_cdc_sink_errors_total", "Warehouse errors (connect, apply); each is retried")),
      rewinds(r.GetCounter("streamadmin_cdc_sink_rewinds_total",
                           "Times the CDC consumer was recreated at its ack floor (deliveries outstanding or a gap)")),
      buffered(r.GetGauge("streamadmin_cdc_sink_buffered_events", "Events received, waiting for their watermark")),
      lag_ms(
          r.GetGauge("streamadmin_cdc_sink_lag_ms", "Now minus when cdc-bridge published the last applied watermark")),
      dead_letters(r, "streamadmin_cdc_sink_dead_letters_total",
                   "Change events the warehouse could not take, by reason",
                   {"undecodable", "bad_value", "no_primary_key", "unknown_type", "apply_failed"}) {}

MarketDataSinkProbe::MarketDataSinkProbe(obs::MetricsRegistry& r)
    : trades(r.GetCounter("streamadmin_warehouse_md_rows_total", "Market data rows stored in the warehouse",
                          {{"table", "trades"}})),
      candles(r.GetCounter("streamadmin_warehouse_md_rows_total", "Market data rows stored in the warehouse",
                           {{"table", "candles"}})),
      errors(
          r.GetCounter("streamadmin_warehouse_md_errors_total", "Market data batches the warehouse refused; retried")),
      dead_letters(r, "streamadmin_warehouse_md_dead_letters_total", "Market data messages the warehouse cannot store",
                   {"undecodable", "invalid"}) {}

}  // namespace sa::warehouse_sink
