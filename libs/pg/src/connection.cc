#include "pg/connection.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "pg/error.h"

namespace sa::pg {
namespace {

std::string Trimmed(const char* text) {
  std::string m = text ? text : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

using Params = std::vector<std::pair<std::string, std::string>>;

// The conninfo's own keywords (those it sets). Like libpq's expand_dbname, a
// string with no '=' and no URI prefix is a database name.
absl::StatusOr<Params> Parse(const std::string& conninfo) {
  if (!conninfo.empty() && conninfo.find('=') == std::string::npos && conninfo.rfind("postgresql://", 0) != 0 &&
      conninfo.rfind("postgres://", 0) != 0)
    return Params{{"dbname", conninfo}};
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string m = err ? Trimmed(err) : "out of memory";
    PQfreemem(err);
    return absl::InvalidArgumentError(absl::StrCat("PostgreSQL conninfo does not parse: ", m));
  }
  Params out;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o)
    if (o->val != nullptr) out.emplace_back(o->keyword, o->val);
  PQconninfoFree(parsed);
  return out;
}

bool Has(const Params& p, const char* key) {
  for (const auto& [k, v] : p)
    if (k == key) return true;
  return false;
}

// Keyword and value arrays for PQconnectdbParams / PQpingParams; the pointers
// stay valid while `p` lives.
std::pair<std::vector<const char*>, std::vector<const char*>> Arrays(const Params& p) {
  std::vector<const char*> k, v;
  for (const auto& kv : p) {
    k.push_back(kv.first.c_str());
    v.push_back(kv.second.c_str());
  }
  k.push_back(nullptr);
  v.push_back(nullptr);
  return {std::move(k), std::move(v)};
}

}  // namespace

absl::StatusOr<Params> ConnectParams(const std::string& conninfo, const SessionOptions& options) {
  auto parsed = Parse(conninfo);
  if (!parsed.ok()) return parsed.status();
  std::string session = kSessionSettings;
  if (options.statement_timeout_ms > 0)
    absl::StrAppend(&session, " -c statement_timeout=", options.statement_timeout_ms);
  Params out;
  std::string own_options;
  for (auto& [k, v] : *parsed) {
    if (k == "replication") continue;  // decided by SessionOptions only
    if (k == "options") {
      own_options = v;
      continue;
    }
    out.emplace_back(k, v);
  }
  // The conninfo's own options first: ours come later and win where both set one.
  out.emplace_back("options", own_options.empty() ? session : absl::StrCat(own_options, " ", session));
  if (!Has(out, "connect_timeout")) out.emplace_back("connect_timeout", std::to_string(kDefaultConnectTimeoutSeconds));
  if (!Has(out, "fallback_application_name") && !options.application_name.empty())
    out.emplace_back("fallback_application_name", options.application_name);
  if (options.replication) out.emplace_back("replication", "database");
  return out;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Connect(const std::string& conninfo,
                                                                const SessionOptions& options) {
  auto params = ConnectParams(conninfo, options);
  if (!params.ok()) return params.status();
  auto [keys, values] = Arrays(*params);
  PGconn* c = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/0);
  if (c == nullptr) return absl::ResourceExhaustedError("PostgreSQL connect: libpq out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string m = Trimmed(PQerrorMessage(c));
    PQfinish(c);
    return absl::UnavailableError(
        absl::StrCat("PostgreSQL connect", options.replication ? " (replication)" : "", ": ", m));
  }
  return std::unique_ptr<Connection>(new Connection(c));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

std::string Connection::database() const {
  const char* db = PQdb(conn_);
  return db ? db : "";
}

absl::StatusOr<Result> Connection::Exec(const std::string& sql,
                                        const std::vector<std::optional<std::string>>& params) {
  std::vector<const char*> p;
  std::vector<int> lengths;
  p.reserve(params.size());
  lengths.reserve(params.size());
  for (const auto& v : params) {
    p.push_back(v ? v->c_str() : nullptr);
    lengths.push_back(v ? static_cast<int>(v->size()) : 0);
  }
  Result res(PQexecParams(conn_, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(), lengths.data(), nullptr,
                          0));
  const ExecStatusType st = PQresultStatus(res.get());
  if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)) return res;
  return ResultError(conn_, res.get(), sql.substr(0, 160));
}

absl::Status Connection::CopyIn(const std::string& copy_sql, std::string_view data) {
  bool sent = false;
  return CopyIn(copy_sql, [&](std::string& piece) {
    if (!sent) piece.assign(data.data(), data.size());
    sent = true;
    return false;
  });
}

absl::Status Connection::CopyIn(const std::string& copy_sql, const std::function<bool(std::string&)>& next) {
  Result start(PQexec(conn_, copy_sql.c_str()));
  if (PQresultStatus(start.get()) != PGRES_COPY_IN) return ResultError(conn_, start.get(), copy_sql.substr(0, 160));
  std::string piece;
  for (bool more = true; more;) {
    piece.clear();
    more = next(piece);
    if (!piece.empty() && PQputCopyData(conn_, piece.data(), static_cast<int>(piece.size())) != 1) {
      // The connection is gone (PQputCopyData fails only then): nothing to end.
      return ResultError(conn_, nullptr, absl::StrCat(copy_sql.substr(0, 160), " (data)"));
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1)
    return ResultError(conn_, nullptr, absl::StrCat(copy_sql.substr(0, 160), " (data)"));
  Result end(PQgetResult(conn_));
  absl::Status st = PQresultStatus(end.get()) == PGRES_COMMAND_OK
                        ? absl::OkStatus()
                        : ResultError(conn_, end.get(), copy_sql.substr(0, 160));
  while (PGresult* more = PQgetResult(conn_)) PQclear(more);
  return st;
}

std::string Connection::QuoteIdent(const std::string& name) const {
  char* q = PQescapeIdentifier(conn_, name.c_str(), name.size());
  std::string out = q ? q : "\"\"";
  PQfreemem(q);
  return out;
}

absl::StatusOr<std::string> Connection::QuoteLiteral(const std::string& value) const {
  char* q = PQescapeLiteral(conn_, value.c_str(), value.size());
  if (q == nullptr) return absl::InvalidArgumentError(absl::StrCat("PostgreSQL: ", Trimmed(PQerrorMessage(conn_))));
  std::string out = q;
  PQfreemem(q);
  return out;
}

absl::Status ResultError(PGconn* conn, const PGresult* res, std::string_view what) {
  std::string m = res ? Trimmed(PQresultErrorMessage(res)) : "";
  if (m.empty() && conn) m = Trimmed(PQerrorMessage(conn));
  const char* f = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = f ? f : "";
  const std::string msg = absl::StrCat("PostgreSQL: ", absl::string_view(what.data(), what.size()), ": ", m,
                                       state.empty() ? "" : absl::StrCat(" (SQLSTATE ", state, ")"));
  if (!conn || PQstatus(conn) != CONNECTION_OK) return ConnectionError(state, msg);
  return SqlError(state, msg);
}

PingResult Ping(const std::string& conninfo, int connect_timeout_s) {
  auto params = Parse(conninfo);
  if (!params.ok()) return PingResult::kBadConninfo;
  if (!Has(*params, "connect_timeout")) params->emplace_back("connect_timeout", std::to_string(connect_timeout_s));
  auto [keys, values] = Arrays(*params);
  switch (PQpingParams(keys.data(), values.data(), /*expand_dbname=*/0)) {
    case PQPING_OK:
      return PingResult::kOk;
    case PQPING_REJECT:
      return PingResult::kRejected;
    case PQPING_NO_RESPONSE:
      return PingResult::kNoResponse;
    case PQPING_NO_ATTEMPT:
      break;
  }
  return PingResult::kBadConninfo;
}

}  // namespace sa::pg
