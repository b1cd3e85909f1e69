// Every Sa-* NATS header, where it travels and the values it may take (the
// model is Envoy's source/common/http/headers.h). Producers and consumers
// name a header only through these constants.
//
// Nats-Msg-Id (JetStream's dedup header) is bus::kMsgIdHeader; the ids it
// carries are built in msg_ids.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sa::wire {

// Same shape as bus::Headers: in order, a key may repeat.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

namespace header {

// ---- md.raw.<venue> (ingest -> normalizer) ----
inline constexpr char kConn[] = "Sa-Conn";           // ingest connection id
inline constexpr char kFrameSeq[] = "Sa-Frame-Seq";  // decimal, per connection from 1
inline constexpr char kRecvNs[] = "Sa-Recv-Ns";      // decimal ns since the epoch
inline constexpr char kKind[] = "Sa-Kind";           // FrameKind: "ws" | "http"
inline constexpr char kUrl[] = "Sa-Url";             // http frames and snapshot requests: the request URL (REST snapshots)
inline constexpr char kEncoding[] = "Sa-Encoding";   // absent: identity; "zstd"

// ---- md.ctl.snapshot.<venue> (normalizer -> ingest) ----
inline constexpr char kAction[] = "Sa-Action";  // SnapshotAction; absent: "fetch"
inline constexpr char kReason[] = "Sa-Reason";  // why the book is resynced (free text, bounded set)

// ---- dlq.<stage>: the dead-letter header set (bus/dead_letters.h) ----
inline constexpr char kDlqReason[] = "Sa-Dlq-Reason";    // bounded snake_case reason code
inline constexpr char kDlqError[] = "Sa-Dlq-Error";      // human-readable error, <= 1024 bytes
inline constexpr char kDlqSubject[] = "Sa-Dlq-Subject";  // the input's subject (empty: unknown)
inline constexpr char kDlqStage[] = "Sa-Dlq-Stage";  // who parked it: ingest, normalizer, cdc-bridge, warehouse, view.<name>
inline constexpr char kDlqMsgId[] = "Sa-Msg-Id";     // the input's Nats-Msg-Id (or its position)
inline constexpr char kDlqTruncated[] = "Sa-Dlq-Truncated";  // DlqTruncation; absent: the payload is whole

}  // namespace header

// Values of Sa-Kind.
namespace frame_kind {
inline constexpr char kWs[] = "ws";
inline constexpr char kHttp[] = "http";
}  // namespace frame_kind

// Values of Sa-Encoding.
namespace encoding {
inline constexpr char kZstd[] = "zstd";
}  // namespace encoding

// Values of Sa-Action.
enum class SnapshotAction {
  kFetch,        // "fetch": a REST snapshot of the symbol (Binance)
  kResubscribe,  // "resubscribe": a new session brings new snapshots (Kraken, Coinbase)
};
const char* SnapshotActionName(SnapshotAction a);
// Absent or anything but "resubscribe" is a fetch (the oldest request form).
SnapshotAction ParseSnapshotAction(const std::optional<std::string>& value);

// Values of Sa-Dlq-Truncated.
namespace dlq_truncation {
inline constexpr char kKeyColumnsOnly[] = "key-columns-only";  // a change event cut to its key columns
inline constexpr char kPayloadDropped[] = "payload-dropped";   // over the cap and nothing smaller: headers only
}  // namespace dlq_truncation

// One row of the table below.
struct HeaderSpec {
  const char* name;
  const char* where;   // the subjects it travels on
  const char* values;  // what it may hold
};
// Every Sa-* header (for docs, tests and tools).
const std::vector<HeaderSpec>& AllHeaders();

// The value of the first header `name` in `headers`.
std::optional<std::string> FindHeader(const HeaderList& headers, std::string_view name);

// ---- md.ctl.snapshot.<venue>: the typed request ----
struct SnapshotRequest {
  std::string venue;
  std::string symbol;
  SnapshotAction action = SnapshotAction::kFetch;
  std::string url;
  std::string reason;
};
// Subject, payload (the symbol) and headers (Sa-Action, Sa-Url, Sa-Reason in
// that order) of a request.
struct CoreMessage {
  std::string subject;
  std::string data;
  HeaderList headers;
};
CoreMessage EncodeSnapshotRequest(const SnapshotRequest& r);
// nullopt when `subject` is not md.ctl.snapshot.<venue>.
std::optional<SnapshotRequest> DecodeSnapshotRequest(std::string_view subject, const std::string& data,
                                                     const HeaderList& headers);

}  // namespace sa::wire
