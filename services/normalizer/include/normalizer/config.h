// NormalizerConfig: the defaults, the start-up validation and the values the
// code reads with their fallbacks (a 0 or empty key means the default), so
// every unit reads a key the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "marketdata/candle_builder.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::normalizer {

inline constexpr char kServiceName[] = "normalizer";

streamadmin::config::v1::NormalizerConfig DefaultConfig();
// InvalidArgument naming the key, e.g. "key 'candle_intervals[0]': '5m' is not 1s or 1m".
absl::Status ValidateConfig(const streamadmin::config::v1::NormalizerConfig& config);

// A raw frame larger once decompressed is dead-lettered (oversized).
size_t MaxFrameBytes(const streamadmin::config::v1::NormalizerConfig& config);
// A larger book snapshot is published in parts.
size_t MaxMessageBytes(const streamadmin::config::v1::NormalizerConfig& config);
std::vector<md::CandleBuilder::Interval> CandleIntervals(const streamadmin::config::v1::NormalizerConfig& config);
absl::Duration CheckpointInterval(const streamadmin::config::v1::NormalizerConfig& config);
std::string CheckpointBucket(const streamadmin::config::v1::NormalizerConfig& config);
uint64_t CheckpointMaxReplay(const streamadmin::config::v1::NormalizerConfig& config);
// The KV key of a venue's books: "<durable>.<venue>".
std::string CheckpointKey(const streamadmin::config::v1::NormalizerConfig& config, const std::string& venue);

}  // namespace sa::normalizer
