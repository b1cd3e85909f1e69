// pg::Connection: the one way this project talks to PostgreSQL over libpq
// (the CDC source, the table snapshot reader, the warehouse writers, the
// query service). Parameterised statements only: values are never spliced into
// SQL text (identifiers go through QuoteIdent, the rare literal through
// QuoteLiteral). Errors follow pg/error.h and carry the SQLSTATE.
//
// Session settings, the same for every connection (so a value reads the same
// everywhere: the replication stream, a snapshot chunk, the warehouse, a query):
//   DateStyle=ISO, TimeZone=UTC, bytea_output=hex, extra_float_digits=3,
//   IntervalStyle=postgres (added to the conninfo's own `options`),
//   connect_timeout=10 unless the conninfo sets one,
//   fallback_application_name=<SessionOptions::application_name> (a conninfo's
//   application_name wins), and statement_timeout when one is given.
// The conninfo may be key=value, a postgresql:// URI, or a bare database name.
//
// Threading: one thread at a time per Connection.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sa::pg {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
// An owned libpq result (PQntuples(r.get()), PQgetvalue(r.get(), row, col)).
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// The settings every session gets, as `options` text (-c name=value ...).
inline constexpr char kSessionSettings[] =
    "-c DateStyle=ISO -c TimeZone=UTC -c bytea_output=hex -c extra_float_digits=3 -c IntervalStyle=postgres";
inline constexpr int kDefaultConnectTimeoutSeconds = 10;

struct SessionOptions {
  // Shown in pg_stat_activity unless the conninfo names one.
  std::string application_name = "stream-admin";
  // A walsender connection (replication=database) for the logical
  // replication protocol (libs/cdc); Exec's extended protocol is not
  // available on it, use raw() and ResultError.
  bool replication = false;
  int64_t statement_timeout_ms = 0;  // 0: the server's default
};

// The libpq keywords and values Connect passes to PQconnectdbParams for
// `conninfo` (exposed for tests). InvalidArgument when conninfo does not parse.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ConnectParams(const std::string& conninfo,
                                                                                 const SessionOptions& options);

class Connection {
 public:
  // Unavailable when the server cannot be reached or refuses the login.
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(const std::string& conninfo,
                                                             const SessionOptions& options = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One statement with parameters (extended protocol; a NULL parameter is
  // std::nullopt). OK for a command or rows; otherwise the error of
  // ResultError, its message holding the statement's start and the server's
  // message.
  absl::StatusOr<Result> Exec(const std::string& sql, const std::vector<std::optional<std::string>>& params = {});

  // COPY ... FROM STDIN of `data` (already in the COPY format the statement
  // names), then the command's result.
  absl::Status CopyIn(const std::string& copy_sql, std::string_view data);
  // The same, with the data produced in pieces: `next` appends the next piece
  // to its (emptied) argument and returns false after the last one. Each
  // piece is sent as it is made, so the server parses while the client builds.
  absl::Status CopyIn(const std::string& copy_sql, const std::function<bool(std::string&)>& next);

  std::string QuoteIdent(const std::string& name) const;
  absl::StatusOr<std::string> QuoteLiteral(const std::string& value) const;
  bool ok() const;
  std::string database() const;
  // For what the wrapper does not cover (the replication protocol, single-row
  // mode, cancellation). Stays owned by this Connection.
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// The status of a failed libpq call on `conn`: Unavailable when the connection
// is gone, else by the result's SQLSTATE (pg/error.h). `res` may be null (the
// connection's last error is used). `what` names the operation or statement.
absl::Status ResultError(PGconn* conn, const PGresult* res, std::string_view what);

enum class PingResult { kOk, kRejected, kNoResponse, kBadConninfo };
// PQping (no login, no query) with connect_timeout=`connect_timeout_s` unless
// the conninfo sets one.
PingResult Ping(const std::string& conninfo, int connect_timeout_s);

}  // namespace sa::pg
