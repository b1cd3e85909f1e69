#include "db.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "pg/error.h"

namespace sa::admin {

absl::StatusOr<pg::Result> Tx::ExecParams(const std::string& sql,
                                          const std::vector<std::optional<std::string>>& params) {
  for (const auto& p : params)
    if (p && p->find('\0') != std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat(what_, ": a text value holds a NUL byte"));
  auto r = conn_.Exec(sql, params);
  if (!r.ok()) return Failed(r.status());
  return r;
}

absl::Status Tx::ExecScript(const char* sql) {
  pg::Result r(PQexec(conn_.raw(), sql));
  const ExecStatusType st = PQresultStatus(r.get());
  if (r && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) return absl::OkStatus();
  return Failed(pg::ResultError(conn_.raw(), r.get(), std::string_view(sql).substr(0, 160)));
}

absl::Status Tx::Begin() { return ExecParams("BEGIN", {}).status(); }
absl::Status Tx::Commit() { return ExecParams("COMMIT", {}).status(); }
void Tx::Rollback() { (void)conn_.Exec("ROLLBACK"); }

absl::Status Tx::Failed(const absl::Status& status) const {
  const std::string state = pg::SqlStateOf(status);
  const std::string m(status.message());
  if (status.code() == absl::StatusCode::kUnavailable && !conn_.ok())
    return pg::ConnectionError(state, absl::StrCat(what_, ": database unavailable: ", m));
  if (state.empty()) return absl::Status(status.code(), absl::StrCat(what_, ": ", m));
  // The code by the one SQLSTATE table (pg/error.h), shared with libs/.
  if (pg::CodeForSqlState(state) == absl::StatusCode::kAlreadyExists)
    return pg::SqlError(state, absl::StrCat(what_, ": already exists"));
  if (state == pg::sqlstate::kForeignKeyViolation)
    return pg::SqlError(state, absl::StrCat(what_, ": names a role or user that does not exist"));
  if (absl::StartsWith(state, "22"))
    return pg::SqlError(state, absl::StrCat(what_, ": value refused by the database: ", m));
  return pg::SqlError(state, absl::StrCat(what_, ": ", m));
}

}  // namespace sa::admin
