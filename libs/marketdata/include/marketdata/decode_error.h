// Why a frame could not be decoded, as a bounded set of reason codes.
//
// Every error a Decoder returns is absl::InvalidArgumentError whose message
// names venue, conn, frame seq and what was wrong, e.g.
//   kraken frame 123 on KRAKEN.ws.1: book update for unknown channel id 42
// and which carries one DecodeError as a payload. The normalizer sends such
// frames to the DLQ and counts them with reason=DecodeErrorName(...), a label
// from this closed set.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sa::md {

enum class DecodeError {
  kNone = 0,           // not a decode error (OK, or a status from elsewhere)
  kMalformedJson,      // not JSON
  kTruncated,          // JSON cut short (unclosed string / array / object)
  kOversized,          // larger than DecoderOptions::max_frame_bytes
  kUnknownMessage,     // valid JSON the venue decoder does not know
  kMissingField,       // a required field is absent
  kBadValue,           // a field has the wrong type, or unparseable decimal/time
  kUnknownChannel,     // data for a channel / subscription id we cannot place
  kOutOfOrder,         // a sequence went backwards (duplicate or reordered frame)
  kVenueError,         // the venue sent an error message
  kUnsupportedFrame,   // a frame kind / URL this decoder does not take
};

// Stable snake_case label: "malformed_json", "truncated", ... ("none" for kNone).
absl::string_view DecodeErrorName(DecodeError error);

// InvalidArgumentError(message) carrying `error` as payload.
absl::Status MakeDecodeError(DecodeError error, absl::string_view message);

// The reason carried by a status from MakeDecodeError; kNone for anything else.
DecodeError GetDecodeError(const absl::Status& status);

}  // namespace sa::md
