// The type checker: resolves a parsed statement against a Catalog into a
// typed, back-end-neutral Plan, and decides (or verifies) its use.
//
// The Plan is what every back end consumes: the filter compiler
// (dsl/filter.h) for live streams, the windowed aggregation of the views
// service ([9], with dsl/aggregate.h), and the SQL compiler (dsl/sql.h) for
// warehouse tables. Names are substituted away: every expression refers
// only to source fields, group keys (kKeyRef), aggregate calls (kAggRef) and
// the window bounds, so a back end never resolves a name.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dsl/ast.h"
#include "dsl/catalog.h"
#include "dsl/parser.h"
#include "dsl/types.h"

namespace re2 {
class RE2;
}

namespace sa::dsl {

// What a statement is for. Decided by its source and stages:
//   stream, no summarize  -> kFilter            (filter and/or projection, per message)
//   stream, window + summarize -> kWindowedAggregate (views, [9])
//   table                 -> kWarehouseQuery    (SQL)
enum class Use : uint8_t {
  kFilter = 1,
  kWindowedAggregate = 2,
  kWarehouseQuery = 4,
};
constexpr unsigned kAnyUse = 7;
const char* UseName(Use use);

enum class Func : uint8_t {
  kNow, kBin, kAbs, kRound, kContains, kStartsWith, kEndsWith, kMatches, kLen, kCoalesce,
};
enum class AggFunc : uint8_t {
  kCount, kSum, kMin, kMax, kAvg, kVwap, kFirst, kLast, kStddev, kPercentile,
};
const char* AggName(AggFunc f);

enum class TExprKind : uint8_t {
  kConst,        // constant (literals and folded expressions): `constant`
  kField,        // `field` of the source
  kKeyRef,       // group key `index` (after summarize)
  kAggRef,       // aggregate `index` (after summarize)
  kWindowStart,  // the window's bounds (windowed aggregates)
  kWindowEnd,
  kCall,         // scalar function `func`
  kUnary,        // `op`: kNeg, kNot
  kBinary,       // `op`
  kIn,           // args[0] [not] in args[1..]
  kIsNull,       // args[0] is [not] null
};

struct TExpr;
using TExprPtr = std::shared_ptr<const TExpr>;

struct TExpr {
  TExprKind kind = TExprKind::kConst;
  Type type;
  Span span;
  Value constant;                  // kConst (strings point into `storage`)
  std::shared_ptr<const std::string> storage;
  const FieldDef* field = nullptr;  // kField
  int index = -1;                  // kKeyRef, kAggRef
  Func func = Func::kNow;          // kCall
  Op op = Op::kAdd;                // kUnary, kBinary
  bool negated = false;            // kIn, kIsNull
  std::vector<TExprPtr> args;
  std::shared_ptr<const re2::RE2> regex;  // matches(): compiled once
};

struct AggregateCall {
  AggFunc func = AggFunc::kCount;
  std::vector<TExprPtr> args;  // over source fields; empty for count()
  Type type;                   // result type
  double fraction = 0;         // percentile
  Span span;
};

struct OutputColumn {
  std::string name;
  Type type;
  TExprPtr expr;
};

struct WindowSpec {
  WindowKind kind = WindowKind::kTumbling;
  int64_t size_ns = 0;
  int64_t every_ns = 0;  // hop; == size_ns for tumbling
  int64_t grace_ns = 0;
};

struct PlanOrder {
  TExprPtr expr;
  bool desc = false;
};

struct Plan {
  Use use = Use::kFilter;
  const SourceDef* source = nullptr;  // owned by the catalog: keep it alive
  std::vector<TExprPtr> filters;      // before aggregation; a row passes when every one is TRUE
  bool aggregated = false;
  std::optional<WindowSpec> window;
  std::vector<OutputColumn> keys;        // group keys (over fields)
  std::vector<AggregateCall> aggregates;
  std::vector<TExprPtr> having;          // after aggregation
  std::vector<OutputColumn> columns;     // the output, in order
  bool all_fields = false;               // no project/summarize: columns are the source's fields
  std::vector<PlanOrder> order;
  std::optional<int64_t> limit;
  bool uses_now = false;
  std::string text;  // the statement, for back ends' errors (positions are spans into it)
};

struct CheckOptions {
  unsigned allowed_uses = kAnyUse;  // a bitwise or of Use values
  // now() of warehouse queries (and of constant folding): ns since the epoch;
  // 0: the wall clock when Check runs.
  int64_t now_ns = 0;
  Limits limits;
};

// Parses and checks `text`. Errors (syntax, names, types, uses, limits) are
// InvalidArgument with an ErrorDetail. `catalog` must outlive the Plan.
absl::StatusOr<Plan> Check(std::string_view text, const Catalog& catalog, const CheckOptions& options = {});

// Checks an already parsed statement (`text` is its source, for messages).
absl::StatusOr<Plan> CheckStatement(const Statement& statement, std::string_view text, const Catalog& catalog,
                                    const CheckOptions& options = {});

// The closest of `candidates` to `name` by edit distance (case-insensitive),
// or "" when none is close enough to be a likely misspelling.
std::string NearestName(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace sa::dsl
