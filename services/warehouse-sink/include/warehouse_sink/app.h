// The warehouse-sink service: configuration defaults, validation and the
// application object that main.cc runs in the common runtime.
//
// Two independent parts write the warehouse: the CDC part (CdcSink, the CDC
// stream into cdc_<server>_<schema> tables) and the market-data part
// (MarketDataSink, MD trades and candles into md.trades / md.candles), each
// with its own switch (cdc.disabled, market_data.disabled). Ready when NATS
// and the warehouse are.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::warehouse_sink {

inline constexpr char kServiceName[] = "warehouse-sink";

streamadmin::config::v1::WarehouseSinkConfig DefaultConfig();
absl::Status ValidateConfig(const streamadmin::config::v1::WarehouseSinkConfig& config);
absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(
    const streamadmin::config::v1::WarehouseSinkConfig& config);

}  // namespace sa::warehouse_sink
