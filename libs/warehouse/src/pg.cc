#include "warehouse/pg.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sa::warehouse {

absl::Status PgError(PGconn* conn, const PGresult* res, const std::string& what) {
  std::string m = res ? PQresultErrorMessage(res) : "";
  if (m.empty() && conn) m = PQerrorMessage(conn);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  const char* f = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = f ? f : "";
  std::string msg = absl::StrCat("PostgreSQL: ", what, ": ", m, state.empty() ? "" : absl::StrCat(" (SQLSTATE ", state, ")"));
  if (!conn || PQstatus(conn) != CONNECTION_OK || absl::StartsWith(state, "08") || state == "57P01")
    return absl::UnavailableError(msg);
  if (absl::StartsWith(state, "22") || absl::StartsWith(state, "23") || absl::StartsWith(state, "42"))
    return absl::InvalidArgumentError(msg);
  if (state == "40001" || state == "40P01") return absl::AbortedError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(const std::string& conninfo) {
  std::string ci = conninfo;
  if (!absl::StrContains(ci, "connect_timeout")) ci = absl::StrCat(ci, " connect_timeout=10");
  PGconn* c = PQconnectdb(ci.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string m = PQerrorMessage(c);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    PQfinish(c);
    return absl::UnavailableError(absl::StrCat("PostgreSQL connect: ", m));
  }
  return std::unique_ptr<PgConnection>(new PgConnection(c));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

bool PgConnection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

absl::StatusOr<PgResult> PgConnection::Exec(const std::string& sql,
                                            const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> p;
  std::vector<int> lengths;
  p.reserve(params.size());
  for (const auto& v : params) {
    p.push_back(v ? v->c_str() : nullptr);
    lengths.push_back(v ? static_cast<int>(v->size()) : 0);
  }
  PgResult res(PQexecParams(conn_, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(), lengths.data(),
                            nullptr, 0));
  const ExecStatusType st = PQresultStatus(res.get());
  if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) return res;
  return PgError(conn_, res.get(), sql.substr(0, 160));
}

std::string PgConnection::QuoteIdent(const std::string& name) const {
  char* q = PQescapeIdentifier(conn_, name.c_str(), name.size());
  std::string out = q ? q : "\"\"";
  PQfreemem(q);
  return out;
}

}  // namespace sa::warehouse
