#include "warehouse_sink/probe.h"

namespace sa::warehouse_sink {

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
                   "Change events the warehouse could not take, by reason", "reason",
                   {"undecodable", "bad_value", "no_primary_key", "unknown_type", "apply_failed"}) {}

MarketDataSinkProbe::MarketDataSinkProbe(obs::MetricsRegistry& r)
    : trades(r.GetCounter("streamadmin_warehouse_md_rows_total", "Market data rows stored in the warehouse",
                          {{"table", "trades"}})),
      candles(r.GetCounter("streamadmin_warehouse_md_rows_total", "Market data rows stored in the warehouse",
                           {{"table", "candles"}})),
      errors(
          r.GetCounter("streamadmin_warehouse_md_errors_total", "Market data batches the warehouse refused; retried")),
      dead_letters(r, "streamadmin_warehouse_md_dead_letters_total", "Market data messages the warehouse cannot store",
                   "reason", {"undecodable", "invalid"}) {}

}  // namespace sa::warehouse_sink
