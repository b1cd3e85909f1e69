// pgoutput protocol version 1: the logical replication messages PostgreSQL's
// built-in output plugin sends inside XLogData, parsed into plain structs.
// Pure functions, no I/O, no state (the relation cache lives in
// PgOutputDecoder). Errors name the message type and the byte offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sa::cdc {

// One column of a TupleData: 'n' null, 'u' unchanged TOAST (the WAL did not
// carry the value), 't' text in the type's output format.
struct TupleColumn {
  enum class Kind : char { kNull = 'n', kUnchangedToast = 'u', kText = 't' };
  Kind kind = Kind::kNull;
  std::string text;  // only for kText
};
using TupleData = std::vector<TupleColumn>;

struct BeginMessage {
  uint64_t final_lsn = 0;         // LSN of the commit record
  int64_t commit_time_pg_us = 0;  // µs since 2000-01-01 UTC
  uint32_t xid = 0;
};

struct CommitMessage {
  uint8_t flags = 0;
  uint64_t commit_lsn = 0;  // LSN of the commit record
  uint64_t end_lsn = 0;     // end of the commit record: what a consumer confirms
  int64_t commit_time_pg_us = 0;
};

struct OriginMessage {
  uint64_t commit_lsn = 0;
  std::string name;
};

struct RelationColumn {
  bool key = false;  // flag 1: part of the replica identity
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
};

struct RelationMessage {
  uint32_t relation_id = 0;
  std::string schema;  // empty for pg_catalog (as sent)
  std::string table;
  char replica_identity = 'd';  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;
};

struct TypeMessage {
  uint32_t type_oid = 0;
  std::string schema;
  std::string name;
};

struct InsertMessage {
  uint32_t relation_id = 0;
  TupleData new_tuple;
};

struct UpdateMessage {
  uint32_t relation_id = 0;
  // 'K': old key columns (replica identity index), 'O': whole old row
  // (REPLICA IDENTITY FULL), 0: no old tuple (key unchanged, DEFAULT).
  char old_kind = 0;
  TupleData old_tuple;
  TupleData new_tuple;
};

struct DeleteMessage {
  uint32_t relation_id = 0;
  char old_kind = 'K';  // 'K' or 'O'
  TupleData old_tuple;
};

struct TruncateMessage {
  bool cascade = false;
  bool restart_identity = false;
  std::vector<uint32_t> relation_ids;
};

// 'M' (pg_logical_emit_message): parsed only far enough to be skipped.
struct LogicalMessage {
  bool transactional = false;
  uint64_t lsn = 0;
  std::string prefix;
};

using PgOutputMessage =
    std::variant<BeginMessage, CommitMessage, OriginMessage, RelationMessage, TypeMessage,
                 InsertMessage, UpdateMessage, DeleteMessage, TruncateMessage, LogicalMessage>;

// Parses one complete pgoutput message (the XLogData payload). Trailing bytes
// are an error. Errors: InvalidArgument "pgoutput <Type> message: ... at byte N".
absl::StatusOr<PgOutputMessage> ParsePgOutputMessage(absl::string_view payload);

// "16/B374D848" <-> 0x16B374D848.
std::string FormatLsn(uint64_t lsn);
absl::StatusOr<uint64_t> ParseLsn(absl::string_view text);

// PostgreSQL timestamps count from 2000-01-01; ours from 1970-01-01.
inline constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000LL;

}  // namespace sa::cdc
