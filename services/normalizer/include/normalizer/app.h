// The normalizer service: the application object main.cc runs in the common
// runtime. It wires the units: config.h (defaults, validation), pipeline.h
// (decoding state, batch → outputs), frame_outputs.h (a frame's messages and
// ids), batch_settler.h (what follows the ack window's verdict),
// book_checkpoints.h / checkpoint_store.h (book checkpoints in KV) and
// grpc_service.h (normalizer.v1.Normalizer).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "normalizer/config.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::normalizer {

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const streamadmin::config::v1::NormalizerConfig& config);

}  // namespace sa::normalizer
