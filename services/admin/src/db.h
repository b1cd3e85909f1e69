// One transaction of admin's store on a pooled pg::Connection. Every failure
// comes back as a status already worded for the caller: "<what>: ..." with the
// code of pg/error.h's table (and its SQLSTATE), a lost connection as
// Unavailable, a text parameter holding a NUL byte as InvalidArgument before it
// reaches libpq (which takes C strings and would cut the value at the NUL and
// match another row).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pg/connection.h"
#include "pg/rows.h"

namespace sa::admin {

class Tx {
 public:
  // `what` names the operation in error messages ("create user").
  Tx(pg::Connection& conn, const char* what) : conn_(conn), what_(what) {}

  template <typename... A>
  absl::StatusOr<pg::Result> Exec(const std::string& sql, const A&... args) {
    return ExecParams(sql, pg::Params(args...));
  }
  absl::StatusOr<pg::Result> ExecParams(const std::string& sql, const std::vector<std::optional<std::string>>& params);
  // Runs statements without parameters (several, ';'-separated: migrations).
  absl::Status ExecScript(const char* sql);

  absl::Status Begin();
  absl::Status Commit();
  void Rollback();  // best effort: a lost connection is found by the pool

  // The status for a failure of this transaction's statements (or of
  // connecting, for the pool).
  absl::Status Failed(const absl::Status& status) const;

 private:
  pg::Connection& conn_;
  const char* what_;
};

}  // namespace sa::admin
