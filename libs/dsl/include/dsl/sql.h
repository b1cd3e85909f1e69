// Back end 2: a warehouse query compiled to parameterised PostgreSQL.
//
// Contract (what phase 2's query service runs, and what its tests check):
// - Identifiers come only from the catalog and are always double-quoted
//   (output columns are aliased c1, c2, ...: their names are in `columns`)
//   (embedded quotes doubled); every value a statement carries (literals,
//   now(), the row limit, bin widths) is a parameter $n with an explicit
//   cast, so nothing typed by a user is ever part of the SQL text. The text
//   depends only on the statement's shape: changing a literal changes only
//   `params`.
// - One table, no joins, subqueries, CTEs, window functions, grouping sets,
//   DISTINCT ON, FOR UPDATE or TABLESAMPLE: the SQL runs unchanged on plain
//   PostgreSQL and on Citus-distributed tables (docs/DSL.md lists why).
// - The query fetches at most `fetch_limit` rows; when `truncatable` and that
//   many arrive, the result was cut at `row_limit` rows: return row_limit
//   rows and say it was truncated.
// - Run it as: Prelude() statements, then `sql` with `params` (text format),
//   then "COMMIT". The prelude opens a READ ONLY transaction, sets the
//   statement timeout (the server cancels the query past it: SQLSTATE 57014
//   -> DEADLINE_EXCEEDED), TimeZone UTC (timestamps print as +00), and an
//   empty search_path (functions resolve in pg_catalog only).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dsl/checker.h"

namespace sa::dsl {

struct SqlOptions {
  int64_t max_rows = 10000;          // rows a query may return before it is truncated
  int64_t statement_timeout_ms = 30000;
};

struct SqlColumn {
  std::string name;
  Type type;
};

struct SqlQuery {
  std::string sql;
  std::vector<std::optional<std::string>> params;  // $1.. in text format (types: the casts in `sql`)
  std::vector<SqlColumn> columns;  // output names and types, in SELECT order (c1, c2, ...)
  int64_t row_limit = 0;    // rows to return at most
  int64_t fetch_limit = 0;  // the LIMIT in `sql`: row_limit + 1 when truncatable
  bool truncatable = false;
  int64_t statement_timeout_ms = 0;

  std::vector<std::string> Prelude() const;
};

// `plan` must be a kWarehouseQuery plan.
absl::StatusOr<SqlQuery> CompileSql(const Plan& plan, const SqlOptions& options = {});

// "name" with embedded double quotes doubled.
std::string QuoteIdentifier(const std::string& name);

}  // namespace sa::dsl
