// PgOutputDecoder: pgoutput messages -> ChangeEvents, one committed
// transaction at a time.
//
// Contract:
// - Feed every XLogData payload in arrival order with its wal_start (the LSN
//   of the change record). Decode() returns a Transaction when it sees the
//   Commit, nothing otherwise. Events are buffered until the Commit (so a
//   transaction's events are all known, transaction_total is set, and a
//   consumer never sees an uncommitted change); memory grows with the
//   largest transaction. PostgreSQL (protocol 1) sends a transaction only
//   after it committed, so nothing is ever rolled back here.
// - The relation cache (relation id -> schema, table, columns) is kept across
//   transactions; PostgreSQL re-sends 'R' on a new connection and after DDL.
// - Not thread-safe; one decoder per replication stream.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cdc/pgoutput.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::cdc {

struct Transaction {
  uint32_t xid = 0;
  uint64_t commit_lsn = 0;  // SourcePosition.lsn of every event
  uint64_t end_lsn = 0;     // pass to ReplicationClient::Confirm once delivered
  int64_t commit_time_us = 0;  // µs since 1970-01-01 UTC
  std::vector<streamadmin::cdc::v1::ChangeEvent> events;
};

class PgOutputDecoder {
 public:
  struct Options {
    std::string server;    // TableId.server
    std::string database;  // TableId.database
    // Tables ("schema.table") whose events are dropped (the transaction is
    // still returned so its end_lsn can be confirmed).
    std::vector<std::string> exclude_tables;
    // Name of a type OID that is neither built into the mapping table nor
    // announced by a Type message (pgoutput sends 'Y' only for user types,
    // so e.g. point or inet arrive as bare OIDs). Called once per OID from
    // Decode(); empty result or no resolver: "oid:<n>".
    std::function<std::string(uint32_t)> resolve_type_name;
    // Primary key column names of a relation whose replica identity is not
    // DEFAULT (under DEFAULT the identity is the primary key). Called once per
    // Relation message; empty or no resolver: no primary key.
    std::function<std::vector<std::string>(uint32_t relation_id)> resolve_primary_key;
  };

  explicit PgOutputDecoder(Options options);

  // Parses one pgoutput message and applies it. Returns the transaction at
  // its Commit, std::nullopt otherwise. On error the current transaction is
  // discarded (the caller should reconnect; the slot redelivers it).
  absl::StatusOr<std::optional<Transaction>> Decode(absl::string_view payload,
                                                    uint64_t wal_start);

  // Applies an already parsed message (for tests and tools).
  absl::StatusOr<std::optional<Transaction>> Apply(const PgOutputMessage& message,
                                                   uint64_t wal_start);

  const RelationMessage* FindRelation(uint32_t relation_id) const;
  bool in_transaction() const { return in_transaction_; }

 private:
  struct Relation {
    RelationMessage message;
    std::vector<std::string> type_names;  // parallel to message.columns
    std::vector<bool> primary_key;        // parallel to message.columns
    bool excluded = false;
  };

  absl::Status AddChange(streamadmin::cdc::v1::Op op, uint32_t relation_id,
                         const TupleData* before, char before_kind, const TupleData* after,
                         uint64_t wal_start, const char* what);
  absl::Status FillColumns(const Relation& relation, const TupleData& tuple, bool keys_only,
                           google::protobuf::RepeatedPtrField<streamadmin::cdc::v1::Column>* out,
                           const char* what) const;
  std::string TypeName(uint32_t oid);

  Options options_;
  std::unordered_map<uint32_t, Relation> relations_;
  std::unordered_map<uint32_t, TypeMessage> types_;
  bool in_transaction_ = false;
  Transaction current_;
};

}  // namespace sa::cdc
