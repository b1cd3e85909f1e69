// The md.raw.<venue> wire contract between ingest (publisher) and the
// normalizer (consumer). Payload: the frame text exactly as received.
// Headers carry the frame's identity and context. Header-only on purpose:
// both sides include this one definition.
#pragma once

#include <string>

namespace sa::md {

inline constexpr char kRawSubjectPrefix[] = "md.raw.";    // + venue
inline constexpr char kHeaderConn[] = "Sa-Conn";          // ingest connection id
inline constexpr char kHeaderFrameSeq[] = "Sa-Frame-Seq"; // decimal, per conn from 1
inline constexpr char kHeaderRecvNs[] = "Sa-Recv-Ns";     // decimal ns since the epoch
inline constexpr char kHeaderKind[] = "Sa-Kind";          // "ws" | "http"
inline constexpr char kHeaderUrl[] = "Sa-Url";            // http: the request URL

// Dead-letter headers (dlq.<service>): why and from where.
inline constexpr char kHeaderDlqReason[] = "Sa-Dlq-Reason";   // bounded reason code
inline constexpr char kHeaderDlqError[] = "Sa-Dlq-Error";     // human-readable error
inline constexpr char kHeaderDlqSubject[] = "Sa-Dlq-Subject"; // the input's subject

inline std::string RawSubject(const std::string& venue) { return kRawSubjectPrefix + venue; }

// Nats-Msg-Id of a raw frame: the source's own position, so a retried publish
// is stored once.
inline std::string RawMsgId(const std::string& venue, const std::string& conn, unsigned long long frame_seq) {
  return venue + ":" + conn + ":" + std::to_string(frame_seq);
}

}  // namespace sa::md
