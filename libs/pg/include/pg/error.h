// The one SQLSTATE -> absl::StatusCode table of the project. Every status that
// comes from PostgreSQL (libpq through pg::Connection) gets
// its code here, and carries the server's SQLSTATE as a payload, so a caller
// that must tell two errors apart reads SqlStateOf(status), never the message.
//
// The table (first match wins; "connection lost" is decided before it, by the
// connection's state: Unavailable whatever the SQLSTATE):
//   23505 unique_violation, 42710 duplicate_object, 42P04/42P06/42P07
//     duplicate database/schema/table, 42701/42712/42723/42P03/42P05
//                                               -> AlreadyExists
//   42P01 undefined_table, 42704 undefined_object, 3F000 invalid_schema_name
//                                               -> NotFound
//     (42P01 is NotFound everywhere: "the relation does not exist (yet)" is a
//     fact about the database, not about the request; the same statement may
//     succeed once the table is created. It used to be InvalidArgument in the
//     warehouse and NotFound in the query service.)
//   42501 insufficient_privilege                -> FailedPrecondition
//     (the connection's role lacks a grant: fix the deployment or grant, then
//     retry; PermissionDenied is kept for the caller's own rights)
//   57014 query_canceled (statement_timeout)    -> DeadlineExceeded
//   40001 serialization_failure, 40P01 deadlock_detected
//                                               -> Unavailable (retry the transaction)
//   class 08 connection exception, 53 insufficient resources,
//     57 operator intervention (admin shutdown, crash shutdown, ...)
//                                               -> Unavailable
//   class 55 object not in prerequisite state (55006 object_in_use: a
//     replication slot another client holds)    -> FailedPrecondition
//   class 22 data exception, 23 integrity constraint (but 23505), 42 syntax
//     error or access rule (but the above)      -> InvalidArgument
//   anything else (and no SQLSTATE at all)      -> Internal
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sa::pg {

// SQLSTATEs some caller branches on (PostgreSQL, Appendix A).
namespace sqlstate {
inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kForeignKeyViolation = "23503";
inline constexpr std::string_view kDuplicateObject = "42710";
inline constexpr std::string_view kDuplicateSchema = "42P06";
inline constexpr std::string_view kDuplicateTable = "42P07";
inline constexpr std::string_view kUndefinedTable = "42P01";
inline constexpr std::string_view kUndefinedObject = "42704";
inline constexpr std::string_view kInvalidSchemaName = "3F000";
inline constexpr std::string_view kInvalidObjectDefinition = "42P17";  // e.g. a partition that would overlap
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kDeadlockDetected = "40P01";
inline constexpr std::string_view kObjectInUse = "55006";
}  // namespace sqlstate

// The code for a SQLSTATE (five characters; "" when the server sent none).
absl::StatusCode CodeForSqlState(std::string_view state);

// absl::Status(CodeForSqlState(state), message) carrying `state` as payload
// (none when `state` is empty). `message` must not be empty.
absl::Status SqlError(std::string_view state, std::string_view message);

// Unavailable (the connection is gone), still carrying `state` when known.
absl::Status ConnectionError(std::string_view state, std::string_view message);

// The SQLSTATE a status from this library carries; "" for any other status.
std::string SqlStateOf(const absl::Status& status);

}  // namespace sa::pg
