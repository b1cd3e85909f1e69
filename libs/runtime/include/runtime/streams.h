// Stream definitions shared by the services' default configs, and their validation.
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::runtime {

// The streams of TARGET.md, with the defaults the services ship.
streamadmin::config::v1::StreamConfig MdRawStream();   // MD_RAW   md.raw.>       24 h
streamadmin::config::v1::StreamConfig MdStream();      // MD       md.{trade,ticker,book,candle,status}.>  24 h
streamadmin::config::v1::StreamConfig CdcStream();     // CDC      cdc.>          7 d, 1 h dedup window
streamadmin::config::v1::StreamConfig AnomalyStream(); // ANOMALY  anomaly.>      7 d
streamadmin::config::v1::StreamConfig DlqStream();     // DLQ      dlq.>          7 d

// Checks names, subjects and storage; errors name the key ("streams[1].storage").
absl::Status ValidateStreams(
    const google::protobuf::RepeatedPtrField<streamadmin::config::v1::StreamConfig>& streams);

// Errors name the key below `key` ("consumer.durable", "cdc.consumer.stream").
absl::Status ValidateConsumer(const streamadmin::config::v1::ConsumerConfig& consumer,
                              const std::string& key = "consumer");

}  // namespace sa::runtime
