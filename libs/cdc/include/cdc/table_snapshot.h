// TableSnapshotReader: one table of the source, read in primary-key order,
// chunk by chunk, as OP_READ change events — the initial snapshot and the
// on-demand one, both taken while the replication stream keeps flowing.
//
// Consistency with the stream (no stale read overwrites a newer change):
// each chunk is read in its own transaction with SELECT ... FOR SHARE, then
// pg_current_wal_insert_lsn() is read in the same transaction. A transaction that
// changed one of the chunk's rows committed before the lock was granted
// (so before that LSN: the chunk shows its effect); one that changes them
// later waits for the lock (so it commits after that LSN). The chunk's
// events carry commit LSN = that LSN - 1, so the sink, which applies in
// (commit LSN, index) order, puts the chunk exactly between the two. Rows
// inserted meanwhile are not in the chunk; their insert events do the job.
// The caller must not let the chunk count as applied-up-to before the
// replication stream has passed that LSN (see gate_lsn).
//
// Session: pg::Connection's settings, the same as the replication
// connection's, so a value maps identically in a chunk and in the stream.
//
// Threading: one thread at a time.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::cdc {

class TableSnapshotReader {
 public:
  struct Chunk {
    std::vector<streamadmin::cdc::v1::ChangeEvent> events;
    uint64_t commit_lsn = 0;  // of every event: gate_lsn - 1
    uint64_t gate_lsn = 0;    // pg_current_wal_insert_lsn() in the chunk's transaction, after its row locks
    bool last = false;        // the table is done
  };

  // `resume_after`: the encoded key of the last row already snapshotted ("" = from the start).
  static absl::StatusOr<std::unique_ptr<TableSnapshotReader>> Open(const std::string& dsn, std::string server,
                                                                   std::string schema, std::string table,
                                                                   int chunk_size, const std::string& resume_after);
  absl::StatusOr<Chunk> Next();
  // The last row's key, encoded for storage (resume_after of a later Open).
  std::string EncodedLastKey() const;
  const std::string& schema() const { return schema_; }
  const std::string& table() const { return table_; }

 private:
  struct Column {
    std::string name, type_name;
    uint32_t oid = 0;
    bool primary_key = false;
  };
  TableSnapshotReader() = default;

  std::unique_ptr<pg::Connection> conn_;
  std::string server_, database_, schema_, table_, quoted_;
  int chunk_size_ = 0;
  std::vector<Column> columns_;
  std::vector<std::string> primary_key_;              // in key order
  std::vector<std::optional<std::string>> last_key_;  // empty: from the start
  bool done_ = false;
};

}  // namespace sa::cdc
