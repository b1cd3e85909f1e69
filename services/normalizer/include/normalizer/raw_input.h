// RawInput: one raw frame as fetched from MD_RAW, seen through the fields the
// normalizer reads — a view of a bus::ReceivedMessage in the service, of plain
// values in a test. The strings it points at must outlive it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "bus/jetstream.h"
#include "bus/message.h"
#include "marketdata/raw_frame.h"

namespace sa::normalizer {

struct RawInput {
  const std::string* subject = nullptr;  // md.raw.<venue>
  const std::string* data = nullptr;     // as stored (maybe zstd)
  const bus::Headers* headers = nullptr;
  uint64_t stream_sequence = 0;  // MD_RAW sequence
  uint64_t delivery_count = 1;   // 1 on first delivery

  // First value of `key`, as bus::ReceivedMessage::header.
  std::optional<std::string> header(const std::string& key) const;
  // The frame's Nats-Msg-Id, else md.raw.<venue>:<MD_RAW sequence>: what its
  // outputs' ids and its dead letter's id are built from.
  std::string FrameId() const;
};

RawInput RawInputOf(const bus::ReceivedMessage& m);

// The md::RawFrame the input carries: the venue from the subject, ingest's
// Sa-* headers, the payload decompressed (at most max_frame_bytes). An error's
// message says what is wrong and DeadLetterReasonOf(error) why.
absl::StatusOr<md::RawFrame> ParseRawFrame(const RawInput& input, size_t max_frame_bytes);
// The DLQ reason ParseRawFrame attached: "oversized", "bad_encoding", "bad_header".
std::string DeadLetterReasonOf(const absl::Status& parse_error);

}  // namespace sa::normalizer
