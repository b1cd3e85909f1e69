#include "dsl/sql.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "internal/lexer.h"

namespace sa::dsl {
namespace {

// Rounding divisions for b > 0, defined for every a (no negation of INT64_MIN).
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }
int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b > 0 ? 1 : 0); }

std::string TimestampText(int64_t us) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixMicros(us), absl::UTCTimeZone());
}

bool IsCompare(Op op) {
  return op == Op::kEq || op == Op::kNe || op == Op::kLt || op == Op::kLe || op == Op::kGt || op == Op::kGe;
}

class Generator {
 public:
  Generator(const Plan& plan, SqlQuery* out) : plan_(plan), out_(out) {}

  absl::Status Run(const SqlOptions& options) {
    for (size_t i = 0; i < plan_.keys.size(); ++i) {
      auto s = Expr(*plan_.keys[i].expr);
      if (!s.ok()) return s.status();
      keys_.push_back(*s);
    }
    for (const auto& a : plan_.aggregates) {
      auto s = Aggregate(a);
      if (!s.ok()) return s.status();
      aggs_.push_back(*s);
    }
    std::vector<std::string> select;
    for (const auto& c : plan_.columns) {
      auto s = Expr(*c.expr);
      if (!s.ok()) return s.status();
      if (c.type.kind == TypeKind::kOpaque) *s = absl::StrCat("(", *s, ")::text");
      // Output names are the user's: they stay out of the SQL (columns[i].name).
      select.push_back(absl::StrCat(*s, " AS c", select.size() + 1));
      out_->columns.push_back(SqlColumn{c.name, c.type});
    }
    std::string sql = absl::StrCat("SELECT ", absl::StrJoin(select, ", "), " FROM ",
                                   QuoteIdentifier(plan_.source->sql_schema), ".",
                                   QuoteIdentifier(plan_.source->sql_table));
    if (!plan_.filters.empty()) {
      auto w = Conjunction(plan_.filters);
      if (!w.ok()) return w.status();
      absl::StrAppend(&sql, " WHERE ", *w);
    }
    if (plan_.aggregated && !keys_.empty()) absl::StrAppend(&sql, " GROUP BY ", absl::StrJoin(keys_, ", "));
    if (!plan_.having.empty()) {
      auto h = Conjunction(plan_.having);
      if (!h.ok()) return h.status();
      absl::StrAppend(&sql, " HAVING ", *h);
    }
    if (!plan_.order.empty()) {
      std::vector<std::string> o;
      for (const auto& item : plan_.order) {
        auto s = Expr(*item.expr);
        if (!s.ok()) return s.status();
        std::string t = *s;
        if (item.expr->type.stringy()) t = absl::StrCat(t, " COLLATE \"C\"");
        o.push_back(absl::StrCat(t, item.desc ? " DESC NULLS LAST" : " ASC NULLS LAST"));
      }
      absl::StrAppend(&sql, " ORDER BY ", absl::StrJoin(o, ", "));
    }
    if (plan_.limit.has_value() && *plan_.limit <= options.max_rows) {
      out_->row_limit = *plan_.limit;
      out_->fetch_limit = *plan_.limit;
      out_->truncatable = false;
    } else {
      out_->row_limit = options.max_rows;
      out_->fetch_limit = options.max_rows + 1;
      out_->truncatable = true;
    }
    absl::StrAppend(&sql, " LIMIT ", Param(absl::StrCat(out_->fetch_limit), "bigint"));
    out_->sql = std::move(sql);
    return absl::OkStatus();
  }

 private:
  // c1 AND c2 AND ...
  absl::StatusOr<std::string> Conjunction(const std::vector<TExprPtr>& conditions) {
    std::vector<std::string> parts;
    for (const auto& c : conditions) {
      auto s = Expr(*c);
      if (!s.ok()) return s.status();
      parts.push_back(*s);
    }
    return absl::StrJoin(parts, " AND ");
  }

  std::string Param(std::string text, const char* type) {
    out_->params.emplace_back(std::move(text));
    return absl::StrCat("$", out_->params.size(), "::", type);
  }

  // A constant as a parameter; timestamps and durations must be whole
  // microseconds here (comparisons round exactly before they get here).
  absl::StatusOr<std::string> ConstParam(const TExpr& e, TypeKind as) {
    const Value& v = e.constant;
    if (v.is_null()) return std::string("NULL");
    switch (as) {
      case TypeKind::kBool: return Param(v.b ? "true" : "false", "boolean");
      case TypeKind::kInt: return Param(absl::StrCat(v.i), "bigint");
      case TypeKind::kDecimal:
        return Param(v.kind == TypeKind::kInt ? absl::StrCat(v.i) : v.d.ToString(), "numeric");
      case TypeKind::kFloat: {
        const double d = v.kind == TypeKind::kFloat ? v.f : v.kind == TypeKind::kDecimal ? v.d.ToDouble()
                                                                                          : static_cast<double>(v.i);
        char buf[40];
        snprintf(buf, sizeof(buf), "%.17g", d);
        return Param(buf, "float8");
      }
      case TypeKind::kString:
      case TypeKind::kEnum: return Param(std::string(v.s), "text");
      case TypeKind::kTimestamp:
        if (v.i % 1000 != 0) return Unaligned(e, "time");
        return Param(TimestampText(v.i / 1000), "timestamptz");
      case TypeKind::kDuration:
        if (v.i % 1000 != 0) return Unaligned(e, "duration");
        return Param(absl::StrCat(v.i / 1000, " microseconds"), "interval");
      default: return absl::InvalidArgumentError("a constant of an unsupported type");
    }
  }

  absl::Status Unaligned(const TExpr& e, const char* what) {
    return internal::ErrorAt(plan_.text, e.span,
                             absl::StrCat("the warehouse stores microseconds: a ", what,
                                          " with nanoseconds can only be compared (<, <=, >, >=, =, !=) with a column"),
                             "round it to whole microseconds");
  }

  // The type a constant should be sent as next to `other`.
  static TypeKind ParamKind(const TExpr& c, const TExpr& other) {
    if (c.type.numeric() && other.type.kind == TypeKind::kFloat) return TypeKind::kFloat;
    if (c.type.numeric() && other.type.kind == TypeKind::kDecimal) return TypeKind::kDecimal;
    return c.type.kind;
  }

  absl::StatusOr<std::string> Operand(const TExpr& e, const TExpr& other) {
    if (e.kind == TExprKind::kConst) return ConstParam(e, ParamKind(e, other));
    return Expr(e);
  }

  // x <op> c where x is a µs-valued expression and c a ns constant: exact.
  absl::StatusOr<std::string> TimeCompare(const TExpr& x, Op op, const TExpr& c) {
    auto xs = Expr(x);
    if (!xs.ok()) return xs;
    const int64_t ns = c.constant.i;
    const bool ts = c.type.kind == TypeKind::kTimestamp;
    auto p = [&](int64_t us) {
      return ts ? Param(TimestampText(us), "timestamptz") : Param(absl::StrCat(us, " microseconds"), "interval");
    };
    const int64_t lo = CeilDiv(ns, 1000), hi = FloorDiv(ns, 1000);
    switch (op) {
      case Op::kGt: return absl::StrCat("(", *xs, " > ", p(hi), ")");
      case Op::kLe: return absl::StrCat("(", *xs, " <= ", p(hi), ")");
      case Op::kGe: return absl::StrCat("(", *xs, " >= ", p(lo), ")");
      case Op::kLt: return absl::StrCat("(", *xs, " < ", p(lo), ")");
      case Op::kEq: {
        // Equal to a time between two microseconds: the range is empty.
        const std::string a = p(lo);
        return absl::StrCat("(", *xs, " >= ", a, " AND ", *xs, " <= ", p(hi), ")");
      }
      default: {
        const std::string a = p(lo);
        return absl::StrCat("(NOT (", *xs, " >= ", a, " AND ", *xs, " <= ", p(hi), "))");
      }
    }
  }


  absl::StatusOr<std::string> Expr(const TExpr& e) {
    switch (e.kind) {
      case TExprKind::kConst: return ConstParam(e, e.type.kind);
      case TExprKind::kField: return QuoteIdentifier(e.field->column);
      case TExprKind::kKeyRef: return keys_[e.index];
      case TExprKind::kAggRef: return aggs_[e.index];
      case TExprKind::kWindowStart:
      case TExprKind::kWindowEnd: return absl::InvalidArgumentError("window bounds in a warehouse query");
      case TExprKind::kUnary: {
        auto a = Expr(*e.args[0]);
        if (!a.ok()) return a;
        return absl::StrCat(e.op == Op::kNot ? "(NOT " : "(- ", *a, ")");
      }
      case TExprKind::kIsNull: {
        auto a = Expr(*e.args[0]);
        if (!a.ok()) return a;
        return absl::StrCat("(", *a, e.negated ? " IS NOT NULL)" : " IS NULL)");
      }
      case TExprKind::kIn: {
        auto a = Expr(*e.args[0]);
        if (!a.ok()) return a;
        std::vector<std::string> items;
        for (size_t i = 1; i < e.args.size(); ++i) {
          auto s = Operand(*e.args[i], *e.args[0]);
          if (!s.ok()) return s;
          items.push_back(*s);
        }
        return absl::StrCat("(", *a, e.negated ? " NOT IN (" : " IN (", absl::StrJoin(items, ", "), "))");
      }
      case TExprKind::kBinary: return Binary(e);
      case TExprKind::kCall: return Call(e);
    }
    return absl::InvalidArgumentError("unsupported expression");
  }

  absl::StatusOr<std::string> Binary(const TExpr& e) {
    const TExpr& a = *e.args[0];
    const TExpr& b = *e.args[1];
    if (IsCompare(e.op)) {
      const bool time_a = a.type.kind == TypeKind::kTimestamp || a.type.kind == TypeKind::kDuration;
      if (time_a && b.kind == TExprKind::kConst && a.kind != TExprKind::kConst && !b.constant.is_null())
        return TimeCompare(a, e.op, b);
      if (time_a && a.kind == TExprKind::kConst && b.kind != TExprKind::kConst && !a.constant.is_null())
        return TimeCompare(b, FlipComparison(e.op), a);
    }
    auto x = Operand(a, b);
    if (!x.ok()) return x;
    auto y = Operand(b, a);
    if (!y.ok()) return y;
    switch (e.op) {
      case Op::kAnd: return absl::StrCat("(", *x, " AND ", *y, ")");
      case Op::kOr: return absl::StrCat("(", *x, " OR ", *y, ")");
      case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe: {
        const char* collate = (a.type.stringy() && e.op != Op::kEq && e.op != Op::kNe) ? " COLLATE \"C\"" : "";
        return absl::StrCat("(", *x, collate, " ", OpText(e.op), " ", *y, ")");
      }
      case Op::kDiv:
        if (a.type.kind == TypeKind::kInt && b.type.kind == TypeKind::kInt)
          return absl::StrCat("((", *x, ")::numeric / NULLIF(", *y, ", 0))");
        return absl::StrCat("(", *x, " / NULLIF(", *y, ", 0))");
      case Op::kMod: return absl::StrCat("(", *x, " % NULLIF(", *y, ", 0))");
      default: return absl::StrCat("(", *x, " ", OpText(e.op), " ", *y, ")");
    }
  }

  // The SQL of each of `args`, in order.
  absl::StatusOr<std::vector<std::string>> Exprs(const std::vector<TExprPtr>& args) {
    std::vector<std::string> out;
    for (const auto& arg : args) {
      auto s = Expr(*arg);
      if (!s.ok()) return s.status();
      out.push_back(*std::move(s));
    }
    return out;
  }

  absl::StatusOr<std::string> Call(const TExpr& e) {
    auto args = Exprs(e.args);
    if (!args.ok()) return args.status();
    const std::vector<std::string>& a = *args;
    switch (e.func) {
      case Func::kNow: return absl::InvalidArgumentError("now() was not folded");
      case Func::kBin:
        return absl::StrCat("date_bin(", a[1], ", ", a[0], ", ", Param("1970-01-01 00:00:00+00", "timestamptz"), ")");
      case Func::kAbs: return absl::StrCat("abs(", a[0], ")");
      case Func::kRound: return absl::StrCat("round((", a[0], ")::numeric, (", a[1], ")::int)");
      case Func::kContains: return absl::StrCat("(strpos(", a[0], ", ", a[1], ") > 0)");
      case Func::kStartsWith: return absl::StrCat("starts_with(", a[0], ", ", a[1], ")");
      case Func::kEndsWith: return absl::StrCat("(right(", a[0], ", length(", a[1], ")) = ", a[1], ")");
      case Func::kMatches: return absl::StrCat("(", a[0], " ~ ", a[1], ")");
      case Func::kLen: return absl::StrCat("length(", a[0], ")");
      case Func::kCoalesce: return absl::StrCat("coalesce(", absl::StrJoin(a, ", "), ")");
    }
    return absl::InvalidArgumentError("unsupported function");
  }

  absl::StatusOr<std::string> Aggregate(const AggregateCall& c) {
    auto args = Exprs(c.args);
    if (!args.ok()) return args.status();
    const std::vector<std::string>& a = *args;
    const bool str = !c.args.empty() && c.args[0]->type.stringy();
    const std::string time = QuoteIdentifier(plan_.source->time_field);
    switch (c.func) {
      case AggFunc::kCount: return a.empty() ? std::string("count(*)") : absl::StrCat("count(", a[0], ")");
      case AggFunc::kSum:
        return c.args[0]->type.kind == TypeKind::kInt ? absl::StrCat("sum((", a[0], ")::numeric)")
                                                      : absl::StrCat("sum(", a[0], ")");
      case AggFunc::kAvg:
        return c.args[0]->type.kind == TypeKind::kInt ? absl::StrCat("avg((", a[0], ")::numeric)")
                                                      : absl::StrCat("avg(", a[0], ")");
      case AggFunc::kMin: return absl::StrCat("min(", a[0], str ? " COLLATE \"C\")" : ")");
      case AggFunc::kMax: return absl::StrCat("max(", a[0], str ? " COLLATE \"C\")" : ")");
      case AggFunc::kVwap:
        return absl::StrCat("(sum((", a[0], ")::numeric * ", a[1], ") / NULLIF(sum(CASE WHEN ", a[0],
                            " IS NULL THEN NULL ELSE (", a[1], ")::numeric END), 0))");
      case AggFunc::kFirst: return absl::StrCat("(array_agg(", a[0], " ORDER BY ", time, " ASC))[1]");
      case AggFunc::kLast: return absl::StrCat("(array_agg(", a[0], " ORDER BY ", time, " DESC))[1]");
      case AggFunc::kStddev:
        // stddev_samp(float8) is one of the aggregates Citus splits across shards.
        return absl::StrCat("stddev_samp((", a[0], ")::float8)");
      case AggFunc::kPercentile: {
        char buf[40];
        snprintf(buf, sizeof(buf), "%.17g", c.fraction);
        return absl::StrCat("percentile_disc(", Param(buf, "float8"), ") WITHIN GROUP (ORDER BY ", a[0], ")");
      }
    }
    return absl::InvalidArgumentError("unsupported aggregate");
  }

  const Plan& plan_;
  SqlQuery* out_;
  std::vector<std::string> keys_, aggs_;
};

}  // namespace

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::vector<std::string> SqlQuery::Prelude() const {
  return {"BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
          absl::StrCat("SET LOCAL statement_timeout = ", statement_timeout_ms),
          "SET LOCAL TimeZone = 'UTC'",
          "SET LOCAL DateStyle = 'ISO, YMD'",
          "SET LOCAL search_path = ''"};
}

absl::StatusOr<SqlQuery> CompileSql(const Plan& plan, const SqlOptions& options) {
  if (plan.use != Use::kWarehouseQuery || plan.source == nullptr || plan.source->kind != SourceKind::kTable)
    return absl::InvalidArgumentError(
        absl::StrCat("SQL is compiled from warehouse queries over tables, not from a ", UseName(plan.use)));
  if (options.max_rows <= 0) return absl::InvalidArgumentError("max_rows must be above 0");
  SqlQuery q;
  q.statement_timeout_ms = options.statement_timeout_ms;
  Generator g(plan, &q);
  if (auto st = g.Run(options); !st.ok()) return st;
  return q;
}

}  // namespace sa::dsl
