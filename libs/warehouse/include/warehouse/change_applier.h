// ChangeApplier: applies cdc.v1.ChangeEvents to a warehouse PostgreSQL.
//
// - Target table: schema from `schema_template` ("cdc_{server}_{schema}" by
//   default: pg_public.orders), same table name; created from the events'
//   column metadata (same types; a type the warehouse does not know is
//   stored as text) with the source's primary key; a column the table lacks
//   is added (ALTER TABLE ADD COLUMN) when an event carries it.
// - Insert/read/update -> upsert by primary key (unchanged TOAST columns are
//   left as they are); a key change deletes the old key; delete -> delete by
//   key; truncate -> TRUNCATE.
// - Apply() takes one server's events in commit order up to a watermark and
//   applies them in ONE warehouse transaction together with the server's
//   position, so a replay of anything at or below the position is skipped:
//   applying is idempotent across crashes.
// - Fast path: per table, the net effect of the batch per key, as one DELETE
//   and one INSERT ... ON CONFLICT over unnest()ed arrays. If that fails, the
//   batch is re-applied event by event, each in a savepoint, so the events
//   that fail are returned as rejected (for the dead-letter subject) and the
//   rest are applied. A failure to create or alter a target table (a name
//   PostgreSQL reserves, missing privileges, an existing table without a
//   primary key) is not the event's fault: Apply fails as a whole
//   (FailedPrecondition) and nothing is rejected, so nothing is parked for
//   what an operator must fix.
//
// Threading: one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::warehouse {

struct ApplierOptions {
  std::string conninfo;
  // "{server}", "{schema}" are replaced; the result is the target schema.
  std::string schema_template = "cdc_{server}_{schema}";
  // Where the applied positions live (table cdc_positions).
  std::string state_schema = "streamadmin";
  // Citus only (ignored without the extension): distribute each table the
  // applier creates by the first column of its primary key, in this many
  // shards, and make cdc_positions a reference table, so that one
  // transaction writes both. 0: tables stay local on the coordinator.
  // (Updates never change a primary-key column in place: a key change is a
  // delete and an insert, which Citus allows on the distribution column.)
  int citus_distribute_shards = 0;
};

struct RejectedEvent {
  size_t index = 0;    // into the events passed to Apply
  std::string reason;  // bounded set: no_primary_key, unknown_type, bad_value, apply_failed
  std::string error;   // names the table, column and what was wrong
};

struct ApplyResult {
  size_t applied = 0;
  size_t skipped = 0;  // at or below the stored position (a replay)
  std::vector<RejectedEvent> rejected;
  bool slow_path = false;  // the batch was applied event by event
};

class ChangeApplier {
 public:
  static absl::StatusOr<std::unique_ptr<ChangeApplier>> Connect(ApplierOptions options);

  // The commit LSN `server` is applied up to (0: nothing yet).
  absl::StatusOr<uint64_t> AppliedLsn(const std::string& server);

  // `events`: one server's, in (commit LSN, index) order, none above
  // `up_to`. Applies them and sets the server's position to `up_to`, all in
  // one transaction. A returned error means nothing was applied (retry with
  // a new applier when Unavailable).
  absl::StatusOr<ApplyResult> Apply(const std::string& server,
                                    const std::vector<const streamadmin::cdc::v1::ChangeEvent*>& events,
                                    uint64_t up_to);

  // Target "schema"."table" (quoted) of an event's table.
  std::string TargetName(const streamadmin::cdc::v1::TableId& table) const;

 private:
  struct Table {
    std::string schema, name, quoted;
    std::vector<std::string> columns;              // in table order
    std::map<std::string, std::string> types;      // column -> SQL type
    std::vector<std::string> primary_key;
  };

  ChangeApplier(ApplierOptions options, std::unique_ptr<pg::Connection> conn)
      : options_(std::move(options)), conn_(std::move(conn)) {}

  absl::Status EnsureStateTable();
  // Checks what can be checked without SQL; reason + error, or OK.
  static bool Validate(const streamadmin::cdc::v1::ChangeEvent& e, std::string* reason, std::string* error);
  absl::StatusOr<Table*> EnsureTable(const streamadmin::cdc::v1::ChangeEvent& e);
  absl::Status ApplyBatch(const std::vector<const streamadmin::cdc::v1::ChangeEvent*>& events);
  absl::Status FlushTable(Table& t, struct NetChanges& net);
  absl::Status SetPosition(const std::string& server, uint64_t lsn);
  absl::StatusOr<uint64_t> ReadPosition(const std::string& server, bool for_update);
  std::string SqlType(const std::string& pg_type_name);

  ApplierOptions options_;
  std::unique_ptr<pg::Connection> conn_;
  bool citus_ = false;  // the citus extension is installed and tables are distributed
  std::map<std::string, Table> tables_;        // by target name; cleared after a failed transaction
  std::map<std::string, std::string> type_map_;  // source type name -> warehouse SQL type
};

}  // namespace sa::warehouse
