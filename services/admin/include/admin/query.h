// The query.v1 service: DSL warehouse queries (libs/dsl) run on the warehouse
// under a read-only role, with the caller's permissions per source.
//
// QueryEngine is the domain core (no gRPC types but the caller): the catalog
// (built-in md tables plus the CDC tables discovered in the warehouse's cdc_*
// schemas), permission checks, compilation, and running a compiled query on a
// pooled libpq connection with cancellation. QueryService is the thin gRPC
// layer over it; it audits every Run and Explain (who, text, rows, duration)
// and every denial through AdminCore::Audit.
//
// Permissions (docs/DSL.md, docs/SECURITY.md): md.* sources need md:read; a
// CDC table <server>.<schema>.<table> needs cdc:read, or one of
// cdc.<server>:read, cdc.<server>.<schema>:read, cdc.<server>.<schema>.<table>:read
// (hierarchical grants; permission names are lower case, so a table with
// other characters in its name is covered by the wider grants only).
//
// Threading: every method is thread-safe; Run blocks its gRPC thread for the
// query's duration (at most the statement timeout) and holds one pooled
// connection meanwhile (callers beyond the pool wait for one).
#pragma once

#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/enforcer.h"
#include "dsl/catalog.h"
#include "dsl/checker.h"
#include "dsl/sql.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::admin {

struct QueryOptions {
  std::string warehouse_dsn;  // empty: the service is off (UNAVAILABLE)
  std::string role = "sa_query";
  std::string setup_dsn;
  std::string role_password;
  int pool_size = 4;
  int64_t statement_timeout_ms = 30000;
  int64_t max_rows = 10000;
  absl::Duration catalog_refresh = absl::Seconds(30);
};

// From the admin config's `query` section; errors name the key.
absl::StatusOr<QueryOptions> QueryOptionsFromConfig(const streamadmin::config::v1::QueryConfig& config);

// True when `caller` may read `source` (always when auth is off).
bool MayRead(const auth::Caller& caller, const dsl::SourceDef& source);
// "permission 'cdc:read' (or 'cdc.pg.public.orders:read') needed to read cdc_pg_public.orders".
std::string DenialMessage(const dsl::SourceDef& source);

// A query checked and compiled for one caller. Keeps its catalog alive (the
// plan points into it).
struct CompiledQuery {
  std::shared_ptr<const dsl::StaticCatalog> catalog;
  dsl::Plan plan;
  dsl::SqlQuery sql;
};

struct RunStats {
  uint64_t rows = 0;
  bool truncated = false;
};

class QueryEngine {
 public:
  explicit QueryEngine(QueryOptions options);
  ~QueryEngine();

  bool enabled() const { return !options_.warehouse_dsn.empty(); }
  const QueryOptions& options() const { return options_; }

  // With setup_dsn: creates the role when absent and grants it read access
  // (idempotent; run at start and retried by Catalog until it succeeds).
  absl::Status SetupRole();

  // The whole catalog (every source, no permission applied), rediscovered
  // when older than catalog_refresh or when `refresh` (at most once a second).
  absl::StatusOr<std::shared_ptr<const dsl::StaticCatalog>> FullCatalog(bool refresh = false);
  // The warehouse tables `caller` may query.
  absl::StatusOr<std::shared_ptr<const dsl::StaticCatalog>> CatalogFor(const auth::Caller& caller);

  // Checks `text` for `caller`. Errors: INVALID_ARGUMENT with an ErrorDetail
  // (dsl/error.h); PERMISSION_DENIED naming the permission when the source
  // exists but the caller may not read it (*denied_source: its name), also
  // for any cdc_/md. name when the caller has no grant of that kind at all (so
  // that a refusal does not tell whether a table exists).
  absl::StatusOr<CompiledQuery> Compile(const auth::Caller& caller, const std::string& text, uint64_t max_rows,
                                        std::string* denied_source);

  // Runs `q`: the prelude, the SQL in single-row mode, COMMIT. `on_columns`
  // first, then `on_row` per row (values as text; is_null per value).
  // `cancelled` is polled while PostgreSQL works (every 20 ms): when it turns
  // true the backend query is cancelled (PQcancel) and the result is
  // CANCELLED. The statement timeout is DEADLINE_EXCEEDED. Returning false
  // from on_row stops the query (CANCELLED).
  using RowFn = std::function<bool(const std::vector<const char*>& values, const std::vector<bool>& nulls)>;
  absl::StatusOr<RunStats> Run(const CompiledQuery& q, const std::function<bool()>& cancelled, const RowFn& on_row);

  // PostgreSQL's plan of `q` (EXPLAIN, in the same read-only transaction).
  absl::StatusOr<std::string> Explain(const CompiledQuery& q);

 private:
  struct Conn;
  absl::StatusOr<std::unique_ptr<Conn>> Acquire();
  void Release(std::unique_ptr<Conn> conn);
  absl::StatusOr<std::unique_ptr<Conn>> Open();
  absl::StatusOr<std::shared_ptr<const dsl::StaticCatalog>> Discover();
  absl::StatusOr<RunStats> RunOnce(const CompiledQuery& q, const std::function<bool()>& cancelled, const RowFn& on_row);
  absl::StatusOr<std::string> ExplainOnce(const CompiledQuery& q);
  bool RetryAfterGrants(const absl::Status& st);
  // Runs body(connection, q's parameters) on a pooled connection inside q's
  // read-only transaction (Prelude()), then COMMIT; on any error ROLLBACK.
  // The connection goes back to the pool either way (dropped when broken).
  using TransactionBody = std::function<absl::Status(PGconn*, const std::vector<const char*>&)>;
  absl::Status InTransaction(const CompiledQuery& q, const TransactionBody& body);

  QueryOptions options_;
  std::mutex mu_;
  std::condition_variable free_;
  std::vector<std::unique_ptr<Conn>> idle_;  // guarded by mu_
  int borrowed_ = 0;                         // guarded by mu_

  std::mutex catalog_mu_;                              // one discovery at a time
  std::shared_ptr<const dsl::StaticCatalog> catalog_;  // guarded by catalog_mu_
  absl::Time catalog_time_ = absl::InfinitePast();     // guarded by catalog_mu_
};

class AdminCore;
struct AskOptions;
// The query.v1 gRPC service over `engine`, auditing through `core`. Both
// must outlive it. `ask` configures Ask's model (admin/ask.h); without an
// endpoint Ask answers FAILED_PRECONDITION.
std::unique_ptr<grpc::Service> MakeQueryService(AdminCore* core, QueryEngine* engine, const AskOptions& ask);

// A status as gRPC returns it; a DSL error (INVALID_ARGUMENT with a position)
// also carries its QueryError (line, column, caret) as status details.
grpc::Status DslReply(const absl::Status& st);

}  // namespace sa::admin
