#include "marketdata/decode_error.h"

#include "absl/strings/cord.h"

namespace sa::md {
namespace {

constexpr absl::string_view kPayloadUrl = "type.streamadmin.dev/sa.md.DecodeError";

constexpr DecodeError kAll[] = {
    DecodeError::kMalformedJson,  DecodeError::kTruncated,      DecodeError::kOversized,
    DecodeError::kUnknownMessage, DecodeError::kMissingField,   DecodeError::kBadValue,
    DecodeError::kUnknownChannel, DecodeError::kOutOfOrder,     DecodeError::kVenueError,
    DecodeError::kUnsupportedFrame};

}  // namespace

absl::string_view DecodeErrorName(DecodeError error) {
  switch (error) {
    case DecodeError::kNone: return "none";
    case DecodeError::kMalformedJson: return "malformed_json";
    case DecodeError::kTruncated: return "truncated";
    case DecodeError::kOversized: return "oversized";
    case DecodeError::kUnknownMessage: return "unknown_message";
    case DecodeError::kMissingField: return "missing_field";
    case DecodeError::kBadValue: return "bad_value";
    case DecodeError::kUnknownChannel: return "unknown_channel";
    case DecodeError::kOutOfOrder: return "out_of_order";
    case DecodeError::kVenueError: return "venue_error";
    case DecodeError::kUnsupportedFrame: return "unsupported_frame";
  }
  return "none";
}

absl::Status MakeDecodeError(DecodeError error, absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kPayloadUrl, absl::Cord(DecodeErrorName(error)));
  return status;
}

DecodeError GetDecodeError(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return DecodeError::kNone;
  for (DecodeError error : kAll) {
    if (*payload == DecodeErrorName(error)) return error;
  }
  return DecodeError::kNone;
}

}  // namespace sa::md
