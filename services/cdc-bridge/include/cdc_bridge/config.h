// cdc-bridge's configuration: defaults, validation (each error names the
// key), and the Kafka sink's options derived from it.
#pragma once

#include "absl/status/status.h"
#include "cdc/kafka_change_sink.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::cdc_bridge {

streamadmin::config::v1::CdcBridgeConfig DefaultConfig();
absl::Status ValidateConfig(const streamadmin::config::v1::CdcBridgeConfig& config);
cdc::KafkaChangeSinkOptions KafkaSinkOptions(const streamadmin::config::v1::KafkaOutputConfig& kafka);

}  // namespace sa::cdc_bridge
