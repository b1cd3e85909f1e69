// Reading exchange recordings (/work/shared/fixtures/exchanges/*.jsonl.zst):
// zstd-compressed JSON lines with t = header | http | connect | send | recv.
// Test support only (target sa::sources_testing).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sa::sources::testing {

struct RecordingRecord {
  std::string t;     // "header", "http", "connect", "send", "recv"
  std::string conn;  // e.g. "KRAKEN.ws.50"
  double ts = 0;     // seconds since the epoch
  std::string url;   // http records
  std::string addr;  // connect records (and some send records)
  std::string data;  // frame text / response body
};

// Decompresses (libzstd) and parses every line. NotFound if the file is
// missing, DataLoss naming the line for a malformed record.
absl::StatusOr<std::vector<RecordingRecord>> LoadRecording(const std::string& path);

// `data` of the records of type `t` on `conn` (all conns if empty), in order.
std::vector<std::string> RecordedData(const std::vector<RecordingRecord>& records,
                                      const std::string& t, const std::string& conn = "");

// Directory of the shared recordings: $SA_FIXTURES_DIR if set, else the
// build-time default (SA_EXCHANGE_FIXTURES_DIR).
std::string ExchangeFixturesDir();

}  // namespace sa::sources::testing
