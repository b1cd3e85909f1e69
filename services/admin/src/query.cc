#include "admin/query.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "auth/permissions.h"
#include "dsl/parser.h"
#include "pg/connection.h"
#include "pg/error.h"
#include "wire/subjects.h"

namespace sa::admin {

namespace cfg = streamadmin::config::v1;

namespace {

constexpr char kApplicationName[] = "sa-query";

// [a-z_][a-z0-9_]{0,62}: a role name that needs no quoting anywhere.
bool ValidRoleName(const std::string& r) {
  if (r.empty() || r.size() > 63) return false;
  for (size_t i = 0; i < r.size(); ++i) {
    const char c = r[i];
    const bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

using Result = pg::Result;

std::string FirstLine(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The status of a failed statement: its code by the one SQLSTATE table
// (pg/error.h), the SQLSTATE as payload, a message for the caller; never the
// SQL text.
absl::Status StatusOfResult(PGconn* conn, const PGresult* r) {
  const char* field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = field ? field : "";
  std::string msg = FirstLine(r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK)
    return pg::ConnectionError(state, absl::StrCat("warehouse connection lost: ", msg));
  if (state == pg::sqlstate::kInsufficientPrivilege)
    return pg::SqlError(state,
                        absl::StrCat("the warehouse refused the read-only role (query.role; see docs/DSL.md): ", msg));
  switch (pg::CodeForSqlState(state)) {
    case absl::StatusCode::kDeadlineExceeded:
      return pg::SqlError(state, absl::StrCat("the warehouse cancelled the query: ", msg));
    case absl::StatusCode::kNotFound:
      return pg::SqlError(state, absl::StrCat("the warehouse has no such table yet: ", msg));
    case absl::StatusCode::kInvalidArgument:
      return pg::SqlError(state, absl::StrCat("the query failed in the warehouse: ", msg));
    case absl::StatusCode::kUnavailable:
      return pg::SqlError(state, absl::StrCat("warehouse: ", msg));
    default:
      return pg::SqlError(state, absl::StrCat("warehouse (SQLSTATE ", state, "): ", msg));
  }
}

absl::Status Exec(PGconn* c, const std::string& sql) {
  Result r(PQexec(c, sql.c_str()));
  const auto st = PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return absl::OkStatus();
  return StatusOfResult(c, r.get());
}

std::vector<const char*> ParamPointers(const dsl::SqlQuery& q) {
  std::vector<const char*> v;
  v.reserve(q.params.size());
  for (const auto& p : q.params) v.push_back(p ? p->c_str() : nullptr);
  return v;
}

// Any grant that could cover some CDC table.
bool HasAnyCdcGrant(const auth::Caller& c) {
  if (!c.authenticated || auth::Allows(c.perms, "cdc:read")) return true;
  for (const auto& p : c.perms) {
    if (absl::StartsWith(p, wire::kCdcPrefix) && (absl::EndsWith(p, ":read") || absl::EndsWith(p, ":*"))) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<QueryOptions> QueryOptionsFromConfig(const cfg::QueryConfig& c) {
  QueryOptions o;
  o.warehouse_dsn = c.warehouse().dsn();
  if (!c.role().empty()) o.role = c.role();
  if (!ValidRoleName(o.role))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'query.role': '", o.role.substr(0, 64), "' is not [a-z_][a-z0-9_]{0,62}"));
  o.setup_dsn = c.setup_dsn();
  o.role_password = c.role_password();
  if (c.pool_size()) o.pool_size = static_cast<int>(std::min<uint32_t>(c.pool_size(), 64));
  if (c.statement_timeout_ms()) o.statement_timeout_ms = c.statement_timeout_ms();
  if (c.max_rows()) o.max_rows = static_cast<int64_t>(std::min<uint64_t>(c.max_rows(), 10000000));
  if (c.catalog_refresh_s()) o.catalog_refresh = absl::Seconds(c.catalog_refresh_s());
  return o;
}

bool MayRead(const auth::Caller& caller, const dsl::SourceDef& s) {
  if (!caller.authenticated) return true;  // auth off
  return auth::AllowsRead(caller.perms, s.permission, s.resource);
}

std::string DenialMessage(const dsl::SourceDef& s) {
  if (s.permission == "cdc:read" && !s.resource.empty())
    return absl::StrCat("permission 'cdc:read' (or 'cdc.", s.resource, ":read') needed to read ", s.name);
  return absl::StrCat("permission '", s.permission, "' needed to read ", s.name);
}

struct QueryEngine::Conn {
  explicit Conn(std::unique_ptr<pg::Connection> c) : pg(std::move(c)), conn(pg->raw()) {}
  std::unique_ptr<pg::Connection> pg;
  PGconn* conn;  // pg->raw(): single-row mode and cancellation are libpq's own
};

QueryEngine::QueryEngine(QueryOptions options) : options_(std::move(options)) {}
QueryEngine::~QueryEngine() = default;

absl::StatusOr<std::unique_ptr<QueryEngine::Conn>> QueryEngine::Open() {
  auto connected = pg::Connection::Connect(options_.warehouse_dsn, {.application_name = kApplicationName});
  if (!connected.ok())
    return absl::Status(connected.status().code(), absl::StrCat("warehouse: ", connected.status().message()));
  auto c = std::make_unique<Conn>(std::move(*connected));
  // Every query of this connection runs with the read-only role's rights,
  // whoever the DSN logs in as; and no transaction may write.
  if (auto st = Exec(c->conn, absl::StrCat("SET ROLE ", options_.role)); !st.ok()) return st;
  if (auto st = Exec(c->conn, "SET default_transaction_read_only = on"); !st.ok()) return st;
  return c;
}

absl::StatusOr<std::unique_ptr<QueryEngine::Conn>> QueryEngine::Acquire() {
  if (!enabled()) return absl::UnavailableError("the query service is off (admin config: query.warehouse.dsn)");
  std::unique_ptr<Conn> conn;
  {
    std::unique_lock lock(mu_);
    free_.wait(lock, [&] { return !idle_.empty() || borrowed_ + static_cast<int>(idle_.size()) < options_.pool_size; });
    ++borrowed_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (conn && PQstatus(conn->conn) == CONNECTION_OK) return conn;
  auto opened = Open();
  if (!opened.ok()) Release(nullptr);
  return opened;
}

void QueryEngine::Release(std::unique_ptr<Conn> conn) {
  {
    std::lock_guard lock(mu_);
    --borrowed_;
    // A connection is reused only outside any transaction.
    if (conn && PQstatus(conn->conn) == CONNECTION_OK && PQtransactionStatus(conn->conn) == PQTRANS_IDLE)
      idle_.push_back(std::move(conn));
  }
  free_.notify_one();
}

absl::Status QueryEngine::SetupRole() {
  if (options_.setup_dsn.empty()) return absl::OkStatus();
  auto connected = pg::Connection::Connect(options_.setup_dsn, {.application_name = "sa-query-setup"});
  if (!connected.ok())
    return absl::Status(connected.status().code(),
                        absl::StrCat("query.setup_dsn: cannot connect: ", connected.status().message()));
  auto c = std::make_unique<Conn>(std::move(*connected));
  const std::string& role = options_.role;  // validated: needs no quoting
  std::vector<std::string> sql = {
      absl::StrCat("DO $sa$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '", role,
                   "') THEN CREATE ROLE ", role, " NOLOGIN; END IF; END $sa$"),
      absl::StrCat("ALTER ROLE ", role, " SET default_transaction_read_only = on"),
      // So that a warehouse DSN logging in as this user may SET ROLE to it.
      absl::StrCat("DO $sa$ BEGIN IF current_user <> '", role, "' AND NOT pg_catalog.pg_has_role(current_user, '", role,
                   "', 'MEMBER') THEN GRANT ", role, " TO CURRENT_USER; END IF; END $sa$"),
      // What exists now in md and the cdc_* schemas (new tables: the next refresh).
      absl::StrCat("DO $sa$ DECLARE s text; t record; BEGIN "
                   "FOR s IN SELECT nspname FROM pg_catalog.pg_namespace WHERE (nspname = 'md' OR nspname LIKE "
                   "'cdc\\_%') AND NOT pg_catalog.has_schema_privilege('",
                   role, "', oid, 'USAGE') LOOP EXECUTE format('GRANT USAGE ON SCHEMA %I TO ", role,
                   "', s); END LOOP; "
                   "FOR t IN SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE (n.nspname = 'md' OR n.nspname LIKE 'cdc\\_%') AND c.relkind IN "
                   "('r', 'p', 'v', 'm') AND NOT c.relispartition AND NOT pg_catalog.has_table_privilege('",
                   role, "', c.oid, 'SELECT') LOOP EXECUTE format('GRANT SELECT ON %I.%I TO ", role,
                   "', t.nspname, t.relname); END LOOP; END $sa$"),
  };
  if (!options_.role_password.empty()) {
    auto lit = c->pg->QuoteLiteral(options_.role_password);
    if (!lit.ok()) return absl::InternalError("query.role_password: cannot be quoted");
    sql.push_back(absl::StrCat("ALTER ROLE ", role, " LOGIN PASSWORD ", *lit));
  }
  for (const auto& s : sql) {
    if (auto st = Exec(c->conn, s); !st.ok())
      return absl::Status(st.code(), absl::StrCat("setting up the read-only role '", role, "': ", st.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const dsl::StaticCatalog>> QueryEngine::Discover() {
  if (!options_.setup_dsn.empty()) {
    absl::Status st = SetupRole();
    if (!st.ok()) spdlog::warn("query: {}", std::string(st.message()));
  }
  auto conn = Acquire();
  if (!conn.ok()) return conn.status();
  // pg_catalog is readable by every role; has_table_privilege leaves out what
  // the read-only role could not query anyway.
  Result r(PQexec((*conn)->conn,
                  "SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, NULL) "
                  "FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
                  "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
                  "WHERE n.nspname LIKE 'cdc\\_%' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition "
                  "AND a.attnum > 0 AND NOT a.attisdropped "
                  "AND pg_catalog.has_schema_privilege(n.oid, 'USAGE') "
                  "AND pg_catalog.has_table_privilege(c.oid, 'SELECT') "
                  "ORDER BY n.nspname, c.relname, a.attnum"));
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    absl::Status st = StatusOfResult((*conn)->conn, r.get());
    Release(std::move(*conn));
    return st;
  }
  auto cat = std::make_shared<dsl::StaticCatalog>(dsl::BuiltinCatalog());
  std::string schema, table;
  std::vector<dsl::StaticCatalog::Column> cols;
  auto flush = [&] {
    if (table.empty()) return;
    // cdc_<server>_<schema>: the server ends at the first '_' (docs/DSL.md).
    std::string rest = schema.substr(4);
    size_t us = rest.find('_');
    if (us == std::string::npos || us == 0 || us + 1 >= rest.size()) {
      spdlog::warn("query: warehouse schema '{}' is not cdc_<server>_<schema>; left out of the catalog", schema);
    } else {
      cat->AddCdcTable(rest.substr(0, us), rest.substr(us + 1), table, cols);
    }
    cols.clear();
  };
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::string s = PQgetvalue(r.get(), i, 0), t = PQgetvalue(r.get(), i, 1);
    if (s != schema || t != table) {
      flush();
      schema = s;
      table = t;
    }
    cols.push_back({PQgetvalue(r.get(), i, 2), PQgetvalue(r.get(), i, 3)});
  }
  flush();
  Release(std::move(*conn));
  return std::shared_ptr<const dsl::StaticCatalog>(std::move(cat));
}

absl::StatusOr<std::shared_ptr<const dsl::StaticCatalog>> QueryEngine::FullCatalog(bool refresh) {
  std::lock_guard lock(catalog_mu_);
  const absl::Time now = absl::Now();
  const bool stale = now - catalog_time_ >= options_.catalog_refresh;
  const bool forced = refresh && now - catalog_time_ >= absl::Seconds(1);
  if (catalog_ && !stale && !forced) return catalog_;
  auto fresh = Discover();
  if (!fresh.ok()) {
    if (catalog_) {  // keep answering with what was known
      spdlog::warn("query: catalog not refreshed: {}", std::string(fresh.status().message()));
      return catalog_;
    }
    return fresh.status();
  }
  catalog_ = std::move(*fresh);
  catalog_time_ = now;
  return catalog_;
}

absl::StatusOr<std::shared_ptr<const dsl::StaticCatalog>> QueryEngine::CatalogFor(const auth::Caller& caller) {
  auto full = FullCatalog();
  if (!full.ok()) return full.status();
  return std::shared_ptr<const dsl::StaticCatalog>(std::make_shared<dsl::StaticCatalog>(
      (*full)->Filtered([&](const dsl::SourceDef& s) { return MayRead(caller, s); })));
}

absl::StatusOr<CompiledQuery> QueryEngine::Compile(const auth::Caller& caller, const std::string& text,
                                                   uint64_t max_rows, std::string* denied_source) {
  if (!enabled()) return absl::UnavailableError("the query service is off (admin config: query.warehouse.dsn)");
  dsl::CheckOptions check;
  check.allowed_uses = static_cast<unsigned>(dsl::Use::kWarehouseQuery);
  for (int attempt = 0;; ++attempt) {
    auto full = FullCatalog(/*refresh=*/attempt > 0);
    if (!full.ok()) return full.status();
    auto mine = std::make_shared<dsl::StaticCatalog>(
        (*full)->Filtered([&](const dsl::SourceDef& s) { return MayRead(caller, s); }));
    auto plan = dsl::Check(text, *mine, check);
    if (plan.ok()) {
      CompiledQuery q;
      q.catalog = mine;
      q.plan = std::move(*plan);
      const int64_t rows =
          max_rows == 0 ? options_.max_rows : std::min<int64_t>(options_.max_rows, static_cast<int64_t>(max_rows));
      auto sql = dsl::CompileSql(q.plan, {.max_rows = rows, .statement_timeout_ms = options_.statement_timeout_ms});
      if (!sql.ok()) return sql.status();
      q.sql = std::move(*sql);
      return q;
    }
    if (!absl::IsInvalidArgument(plan.status())) return plan.status();
    // Is the source one the caller may not read? (Only then is it anything
    // but the error the checker gave.)
    auto statement = dsl::Parse(text, check.limits);
    if (!statement.ok()) return plan.status();
    const std::string& name = statement->source;
    if (const dsl::SourceDef* s = (*full)->Find(name)) {
      if (MayRead(caller, *s)) return plan.status();
      *denied_source = s->name;
      return absl::PermissionDeniedError(DenialMessage(*s));
    }
    const bool cdc_name = absl::StartsWith(name, "cdc_") || absl::StartsWith(name, wire::kCdcPrefix);
    if (cdc_name && !HasAnyCdcGrant(caller)) {
      // Whether it exists or not: the answer must not tell.
      *denied_source = name.substr(0, 256);
      return absl::PermissionDeniedError(absl::StrCat("permission 'cdc:read' needed to read ", name.substr(0, 256)));
    }
    // A CDC table created since the last discovery: look once more.
    if (!cdc_name || attempt > 0) return plan.status();
  }
}

absl::StatusOr<RunStats> QueryEngine::Run(const CompiledQuery& q, const std::function<bool()>& cancelled,
                                          const RowFn& on_row) {
  bool any_row = false;
  auto first = RunOnce(q, cancelled, [&](const std::vector<const char*>& v, const std::vector<bool>& n) {
    any_row = true;
    return on_row(v, n);
  });
  if (!RetryAfterGrants(first.status()) || any_row) return first;
  return RunOnce(q, cancelled, on_row);
}

absl::StatusOr<std::string> QueryEngine::Explain(const CompiledQuery& q) {
  auto first = ExplainOnce(q);
  if (!RetryAfterGrants(first.status())) return first;
  return ExplainOnce(q);
}

// A table the sink created since the last grants (md.trades on a fresh
// warehouse, a new CDC table): with setup_dsn, grant and try once more.
bool QueryEngine::RetryAfterGrants(const absl::Status& st) {
  if (pg::SqlStateOf(st) != pg::sqlstate::kInsufficientPrivilege || options_.setup_dsn.empty()) return false;
  return FullCatalog(/*refresh=*/true).ok();
}

absl::Status QueryEngine::InTransaction(const CompiledQuery& q, const TransactionBody& body) {
  auto leased = Acquire();
  if (!leased.ok()) return leased.status();
  std::unique_ptr<Conn> conn = std::move(*leased);
  PGconn* c = conn->conn;
  // The prelude in one round trip (simple protocol: one string, several statements).
  absl::Status st = Exec(c, absl::StrJoin(q.sql.Prelude(), "; "));
  if (st.ok()) st = body(c, ParamPointers(q.sql));
  if (st.ok()) st = Exec(c, "COMMIT");
  if (!st.ok() && PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE) (void)Exec(c, "ROLLBACK");
  Release(std::move(conn));
  return st;
}

absl::StatusOr<RunStats> QueryEngine::RunOnce(const CompiledQuery& q, const std::function<bool()>& cancelled,
                                              const RowFn& on_row) {
  RunStats stats;
  absl::Status st = InTransaction(q, [&](PGconn* c, const std::vector<const char*>& params) -> absl::Status {
    if (!PQsendQueryParams(c, q.sql.sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(), nullptr,
                           nullptr, 0))
      return absl::UnavailableError(absl::StrCat("warehouse: ", FirstLine(PQerrorMessage(c))));
    PQsetSingleRowMode(c);
    bool we_cancelled = false;
    absl::Status error;
    std::vector<const char*> values;
    std::vector<bool> nulls;
    auto cancel = [&] {
      if (we_cancelled) return;
      we_cancelled = true;
      if (PGcancel* pc = PQgetCancel(c)) {
        char err[256];
        if (!PQcancel(pc, err, sizeof err)) spdlog::warn("query: cancel request failed: {}", err);
        PQfreeCancel(pc);
      }
    };
    while (true) {
      while (PQisBusy(c)) {
        pollfd p{PQsocket(c), POLLIN, 0};
        (void)poll(&p, 1, 20);
        if (!we_cancelled && cancelled()) cancel();
        if (!PQconsumeInput(c))
          return absl::UnavailableError(absl::StrCat("warehouse: ", FirstLine(PQerrorMessage(c))));
      }
      Result r(PQgetResult(c));
      if (!r) break;
      switch (PQresultStatus(r.get())) {
        case PGRES_SINGLE_TUPLE: {
          if (we_cancelled) break;  // draining
          if (q.sql.truncatable && static_cast<int64_t>(stats.rows) >= q.sql.row_limit) {
            stats.truncated = true;  // the row_limit+1-th row: not sent
            break;
          }
          const int n = PQnfields(r.get());
          values.resize(n);
          nulls.resize(n);
          for (int j = 0; j < n; ++j) {
            nulls[j] = PQgetisnull(r.get(), 0, j);
            values[j] = PQgetvalue(r.get(), 0, j);
          }
          ++stats.rows;
          if (!on_row(values, nulls)) cancel();
          break;
        }
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
          break;
        default:
          if (error.ok()) error = StatusOfResult(c, r.get());
          break;
      }
    }
    if (we_cancelled) return absl::CancelledError("the query was cancelled (the client went away)");
    return error;
  });
  if (!st.ok()) return st;
  return stats;
}

absl::StatusOr<std::string> QueryEngine::ExplainOnce(const CompiledQuery& q) {
  std::vector<std::string> lines;
  absl::Status st = InTransaction(q, [&](PGconn* c, const std::vector<const char*>& params) -> absl::Status {
    Result r(PQexecParams(c, absl::StrCat("EXPLAIN ", q.sql.sql).c_str(), static_cast<int>(params.size()), nullptr,
                          params.data(), nullptr, nullptr, 0));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return StatusOfResult(c, r.get());
    for (int i = 0; i < PQntuples(r.get()); ++i) lines.emplace_back(PQgetvalue(r.get(), i, 0));
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return absl::StrJoin(lines, "\n");
}

}  // namespace sa::admin
