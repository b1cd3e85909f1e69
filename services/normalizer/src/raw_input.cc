#include "normalizer/raw_input.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "marketdata/raw_codec.h"
#include "marketdata/raw_wire.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::normalizer {
namespace {
constexpr char kReasonPayload[] = "dlq";
}

std::optional<std::string> RawInput::header(const std::string& key) const {
  if (headers == nullptr) return std::nullopt;
  for (const auto& [k, v] : *headers)
    if (k == key) return v;
  return std::nullopt;
}

std::string RawInput::FrameId() const {
  std::string id = header(bus::kMsgIdHeader).value_or("");
  return id.empty() ? wire::StreamPositionId(*subject, stream_sequence) : id;
}

RawInput RawInputOf(const bus::ReceivedMessage& m) {
  return {.subject = &m.subject(),
          .data = &m.data(),
          .headers = &m.headers(),
          .stream_sequence = m.stream_sequence(),
          .delivery_count = m.delivery_count()};
}

absl::StatusOr<md::RawFrame> ParseRawFrame(const RawInput& in, size_t max_frame_bytes) {
  md::RawFrame frame;
  frame.venue = wire::RawVenueOf(*in.subject);
  frame.conn = in.header(md::kHeaderConn).value_or("");
  (void)absl::SimpleAtoi(in.header(md::kHeaderFrameSeq).value_or("0"), &frame.frame_seq);
  (void)absl::SimpleAtoi(in.header(md::kHeaderRecvNs).value_or("0"), &frame.recv_time_ns);
  std::string kind = in.header(md::kHeaderKind).value_or(wire::frame_kind::kWs);
  frame.url = in.header(md::kHeaderUrl).value_or("");
  auto payload = md::DecodeRawPayload(*in.data, in.header(md::kHeaderEncoding).value_or(""), max_frame_bytes);
  if (!payload.ok()) {
    absl::Status st(payload.status().code(), payload.status().message());
    st.SetPayload(
        kReasonPayload,
        absl::Cord(payload.status().code() == absl::StatusCode::kResourceExhausted ? "oversized" : "bad_encoding"));
    return st;
  }
  frame.data = std::move(*payload);
  md::ReserveJsonPadding(frame.data);
  if (!md::ParseFrameKind(kind, &frame.kind)) {
    absl::Status st = absl::InvalidArgumentError(absl::StrCat("unknown ", md::kHeaderKind, " '", kind, "'"));
    st.SetPayload(kReasonPayload, absl::Cord("bad_header"));
    return st;
  }
  return frame;
}

std::string DeadLetterReasonOf(const absl::Status& parse_error) {
  auto reason = parse_error.GetPayload(kReasonPayload);
  return reason ? std::string(*reason) : "bad_header";
}

}  // namespace sa::normalizer
