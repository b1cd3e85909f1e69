#include "wire/headers.h"

#include "wire/subjects.h"

namespace sa::wire {

const char* SnapshotActionName(SnapshotAction a) { return a == SnapshotAction::kResubscribe ? "resubscribe" : "fetch"; }

SnapshotAction ParseSnapshotAction(const std::optional<std::string>& value) {
  return value && *value == SnapshotActionName(SnapshotAction::kResubscribe) ? SnapshotAction::kResubscribe
                                                                             : SnapshotAction::kFetch;
}

const std::vector<HeaderSpec>& AllHeaders() {
  static const std::vector<HeaderSpec> kAll = {
      {header::kConn, "md.raw.<venue>", "ingest connection id"},
      {header::kFrameSeq, "md.raw.<venue>", "decimal, per connection from 1"},
      {header::kRecvNs, "md.raw.<venue>", "decimal nanoseconds since the epoch"},
      {header::kKind, "md.raw.<venue>", "ws | http"},
      {header::kUrl, "md.raw.<venue>, md.ctl.snapshot.<venue>", "the request URL (http frames, REST snapshots)"},
      {header::kEncoding, "md.raw.<venue>", "absent (identity) | zstd"},
      {header::kAction, "md.ctl.snapshot.<venue>", "fetch | resubscribe (absent: fetch)"},
      {header::kReason, "md.ctl.snapshot.<venue>", "why the book is resynced"},
      {header::kDlqReason, "dlq.<stage>", "bounded snake_case reason code"},
      {header::kDlqError, "dlq.<stage>", "human-readable error, at most 1024 bytes"},
      {header::kDlqSubject, "dlq.<stage>", "the input's subject"},
      {header::kDlqStage, "dlq.<stage>", "ingest | normalizer | cdc-bridge | warehouse | view.<name>"},
      {header::kDlqMsgId, "dlq.<stage>", "the input's Nats-Msg-Id, or <subject>:<stream sequence>"},
      {header::kDlqTruncated, "dlq.<stage>", "absent (whole payload) | key-columns-only | payload-dropped"},
  };
  return kAll;
}

std::optional<std::string> FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

CoreMessage EncodeSnapshotRequest(const SnapshotRequest& r) {
  return CoreMessage{
      SnapshotRequestSubject(r.venue),
      r.symbol,
      {{header::kAction, SnapshotActionName(r.action)}, {header::kUrl, r.url}, {header::kReason, r.reason}}};
}

std::optional<SnapshotRequest> DecodeSnapshotRequest(std::string_view subject, const std::string& data,
                                                     const HeaderList& headers) {
  auto venue = SnapshotRequestVenueOf(subject);
  if (!venue) return std::nullopt;
  SnapshotRequest r;
  r.venue = std::move(*venue);
  r.symbol = data;
  // The last Sa-Action wins, as ingest has always read it.
  std::optional<std::string> action;
  for (const auto& [k, v] : headers)
    if (k == header::kAction) action = v;
  r.action = ParseSnapshotAction(action);
  r.url = FindHeader(headers, header::kUrl).value_or("");
  r.reason = FindHeader(headers, header::kReason).value_or("");
  return r;
}

}  // namespace sa::wire
