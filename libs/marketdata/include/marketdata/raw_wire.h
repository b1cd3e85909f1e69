// The md.raw.<venue> wire contract between ingest (publisher) and the
// normalizer (consumer), under the names marketdata has always used. The
// definitions live in libs/wire (subjects.h, headers.h, msg_ids.h); this
// header only gives them their md:: names. Payload: the frame text exactly as
// received (raw_codec.h for Sa-Encoding).
#pragma once

#include <string>

#include "wire/headers.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::md {

inline constexpr const auto& kRawSubjectPrefix = wire::kRawPrefix;       // + venue
inline constexpr const auto& kHeaderConn = wire::header::kConn;          // ingest connection id
inline constexpr const auto& kHeaderFrameSeq = wire::header::kFrameSeq;  // decimal, per conn from 1
inline constexpr const auto& kHeaderRecvNs = wire::header::kRecvNs;      // decimal ns since the epoch
inline constexpr const auto& kHeaderKind = wire::header::kKind;          // "ws" | "http"
inline constexpr const auto& kHeaderUrl = wire::header::kUrl;            // http: the request URL

// Dead-letter headers (dlq.<stage>): why and from where (bus/dead_letters.h).
inline constexpr const auto& kHeaderDlqReason = wire::header::kDlqReason;
inline constexpr const auto& kHeaderDlqError = wire::header::kDlqError;
inline constexpr const auto& kHeaderDlqSubject = wire::header::kDlqSubject;

inline std::string RawSubject(const std::string& venue) { return wire::RawSubject(venue); }

// Nats-Msg-Id of a raw frame: the source's own position, so a retried publish
// is stored once.
inline std::string RawMsgId(const std::string& venue, const std::string& conn, unsigned long long frame_seq) {
  return wire::RawMsgId(venue, conn, frame_seq);
}

}  // namespace sa::md
