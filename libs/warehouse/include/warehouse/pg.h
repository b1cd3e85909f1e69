// A libpq connection with parameterised statements and a RAII result. Every
// query the warehouse code sends goes through Exec with parameters; values
// are never spliced into SQL text (identifiers are quoted with QuoteIdent).
//
// Threading: one thread at a time per PgConnection.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sa::warehouse {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

class PgConnection {
 public:
  // `conninfo` gets connect_timeout=10 unless it sets one.
  static absl::StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // A NULL parameter is std::nullopt. Errors: Unavailable when the connection
  // is gone, InvalidArgument for data errors (SQLSTATE class 22/23),
  // Internal otherwise; the message holds the statement's start and the
  // server's message.
  absl::StatusOr<PgResult> Exec(const std::string& sql,
                                const std::vector<std::optional<std::string>>& params = {});
  std::string QuoteIdent(const std::string& name) const;
  bool ok() const;
  PGconn* raw() { return conn_; }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// The error of a failed libpq call on `conn`, mapped like Exec's.
absl::Status PgError(PGconn* conn, const PGresult* res, const std::string& what);

}  // namespace sa::warehouse
