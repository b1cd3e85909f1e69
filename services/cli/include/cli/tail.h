// Decoding canonical messages for humans: `stream-admin tail SUBJECT` and the
// local stack's live view. The message type follows from the subject
// (md.trade.* -> Trade, md.book.* -> BookUpdate, ...; TARGET.md's table).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "wire/subjects.h"

namespace sa::cli {

// One line of JSON for a message on `subject`; raw text for md.raw.* and
// dlq.*; InvalidArgument when the payload does not parse as the subject's type.
absl::StatusOr<std::string> DescribeMessage(const std::string& subject, const std::string& data);

// Compact one-line summary: "kraken BTC-USD trade 60321.4 x 0.25 buy".
std::string SummarizeMessage(const std::string& subject, const std::string& data);

struct TailOptions {
  std::string server = "nats://127.0.0.1:4222";
  std::string subject = wire::kMdAll;
  int limit = 0;  // stop after this many messages (0: until Ctrl-C)
  bool summary = false;
};
int RunTail(const TailOptions& options);

}  // namespace sa::cli
