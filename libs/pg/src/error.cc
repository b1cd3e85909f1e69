#include "pg/error.h"


#include "absl/strings/cord.h"

namespace sa::pg {
namespace {

// Type URL of the payload (absl::Status payloads are keyed by one).
constexpr char kSqlStatePayload[] = "type.streamadmin/sa.pg.SqlState";

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool OneOf(std::string_view state, std::initializer_list<std::string_view> states) {
  for (std::string_view s : states)
    if (state == s) return true;
  return false;
}

absl::Status WithState(absl::Status st, std::string_view state) {
  if (!state.empty()) st.SetPayload(kSqlStatePayload, absl::Cord(Absl(state)));
  return st;
}

}  // namespace

absl::StatusCode CodeForSqlState(std::string_view state) {
  using absl::StatusCode;
  if (OneOf(state, {sqlstate::kUniqueViolation, sqlstate::kDuplicateObject, "42P04", sqlstate::kDuplicateSchema,
                    sqlstate::kDuplicateTable, "42701", "42712", "42723", "42P03", "42P05"}))
    return StatusCode::kAlreadyExists;
  if (OneOf(state, {sqlstate::kUndefinedTable, sqlstate::kUndefinedObject, sqlstate::kInvalidSchemaName}))
    return StatusCode::kNotFound;
  if (state == sqlstate::kInsufficientPrivilege) return StatusCode::kFailedPrecondition;
  if (state == sqlstate::kQueryCanceled) return StatusCode::kDeadlineExceeded;
  if (OneOf(state, {sqlstate::kSerializationFailure, sqlstate::kDeadlockDetected})) return StatusCode::kUnavailable;
  const std::string_view cls = state.substr(0, 2);
  if (state.size() == 5) {
    if (OneOf(cls, {"08", "53", "57"})) return StatusCode::kUnavailable;
    if (cls == "55") return StatusCode::kFailedPrecondition;
    if (OneOf(cls, {"22", "23", "42"})) return StatusCode::kInvalidArgument;
  }
  return StatusCode::kInternal;
}

absl::Status SqlError(std::string_view state, std::string_view message) {
  return WithState(absl::Status(CodeForSqlState(state), Absl(message)), state);
}

absl::Status ConnectionError(std::string_view state, std::string_view message) {
  return WithState(absl::UnavailableError(Absl(message)), state);
}

std::string SqlStateOf(const absl::Status& status) {
  auto p = status.GetPayload(kSqlStatePayload);
  return p ? std::string(*p) : std::string();
}

}  // namespace sa::pg
