// Reader for exchange recordings: JSON Lines, optionally zstd-compressed
// (detected by the zstd magic number, so the file name does not matter), one
// record per line (format 2, see shared/fixtures/README.md):
//   {"t":"header","format":2,"exchange":"KRAKEN",...}
//   {"t":"http","conn":"...","ts":1618678132.35,"url":"https://...","data":"<body>"}
//   {"t":"connect","conn":"...","ts":...,"addr":"wss://..."}
//   {"t":"send"|"recv","conn":"...","ts":...,"data":"<frame text>"}
// Decompression streams (bounded memory whatever the file size).
//
// Errors (NotFound, InvalidArgument, DataLoss) name the file and, for content,
// the line number: "kraken.jsonl.zst:17: ...". A malformed line never crashes.
// Not thread-safe; one reader per file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "marketdata/raw_frame.h"

namespace sa::md {

struct RecordingRecord {
  enum class Type { kHeader, kHttp, kConnect, kSend, kRecv };
  Type type = Type::kHeader;
  std::string conn;
  double ts = 0;        // seconds since the epoch, as written
  int64_t ts_ns = 0;    // the same, exact to the digits written
  std::string url;      // http
  std::string addr;     // connect (and send, where recorded)
  std::string data;     // http body, send/recv frame text (unescaped)
  std::string exchange; // header
  int format = 0;       // header
  int64_t line = 0;     // 1-based line number in the file
};

class RecordingReader {
 public:
  static absl::StatusOr<std::unique_ptr<RecordingReader>> Open(const std::string& path);
  ~RecordingReader();
  RecordingReader(const RecordingReader&) = delete;
  RecordingReader& operator=(const RecordingReader&) = delete;

  // Reads the next record. Returns false at the end of the file; an error for
  // an unreadable file, a corrupt or truncated zstd stream, or a malformed
  // line (blank lines are skipped).
  absl::StatusOr<bool> Next(RecordingRecord* record);

  const std::string& path() const { return path_; }

 private:
  class Impl;
  explicit RecordingReader(std::string path);
  std::string path_;
  std::unique_ptr<Impl> impl_;
};

// Every http and recv record of a recording as RawFrames for `venue`, in file
// order: frame_seq counts 1, 2, ... per conn, recv_time_ns is ts, data keeps
// simdjson padding (ReserveJsonPadding). What ingest's replay publishes.
absl::StatusOr<std::vector<RawFrame>> ReadRawFrames(const std::string& path,
                                                    absl::string_view venue);

}  // namespace sa::md
