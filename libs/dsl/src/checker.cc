#include "dsl/checker.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "internal/eval.h"
#include "internal/lexer.h"
#include "re2/re2.h"

namespace sa::dsl {

const char* UseName(Use use) {
  switch (use) {
    case Use::kFilter: return "live filter";
    case Use::kWindowedAggregate: return "windowed aggregate";
    case Use::kWarehouseQuery: return "warehouse query";
  }
  return "?";
}

const char* AggName(AggFunc f) {
  switch (f) {
    case AggFunc::kCount: return "count";
    case AggFunc::kSum: return "sum";
    case AggFunc::kMin: return "min";
    case AggFunc::kMax: return "max";
    case AggFunc::kAvg: return "avg";
    case AggFunc::kVwap: return "vwap";
    case AggFunc::kFirst: return "first";
    case AggFunc::kLast: return "last";
    case AggFunc::kStddev: return "stddev";
    case AggFunc::kPercentile: return "percentile";
  }
  return "?";
}

namespace {

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const bool same = absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
      // Transposition (Damerau): "prcie" is one edit from "price".
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const std::map<std::string, Func, std::less<>>& ScalarFunctions() {
  static const auto* m = new std::map<std::string, Func, std::less<>>{
      {"now", Func::kNow},           {"bin", Func::kBin},           {"abs", Func::kAbs},
      {"round", Func::kRound},       {"contains", Func::kContains}, {"startswith", Func::kStartsWith},
      {"endswith", Func::kEndsWith}, {"matches", Func::kMatches},   {"len", Func::kLen},
      {"coalesce", Func::kCoalesce},
  };
  return *m;
}
const std::map<std::string, AggFunc, std::less<>>& AggregateFunctions() {
  static const auto* m = new std::map<std::string, AggFunc, std::less<>>{
      {"count", AggFunc::kCount}, {"sum", AggFunc::kSum},       {"min", AggFunc::kMin},
      {"max", AggFunc::kMax},     {"avg", AggFunc::kAvg},       {"vwap", AggFunc::kVwap},
      {"first", AggFunc::kFirst}, {"last", AggFunc::kLast},     {"stddev", AggFunc::kStddev},
      {"percentile", AggFunc::kPercentile},
  };
  return *m;
}

std::vector<std::string> AllFunctionNames() {
  std::vector<std::string> v;
  for (const auto& [n, f] : ScalarFunctions()) v.push_back(n);
  for (const auto& [n, f] : AggregateFunctions()) v.push_back(n);
  v.push_back("timestamp");
  return v;
}

bool IsNumeric(const Type& t) { return t.numeric(); }

std::string JoinValues(const EnumDef& e) { return absl::StrJoin(e.values, ", "); }

// Where an expression is being resolved.
enum class Ctx { kRow, kAggregateItem, kInsideAggregate };

struct Scope {
  std::vector<std::pair<std::string, TExprPtr>> names;
  std::string what;  // "md.trade", "the output of summarize", ...
  const TExprPtr* Find(const std::string& n) const {
    for (const auto& [k, v] : names)
      if (k == n) return &v;
    return nullptr;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : names) out.push_back(k);
    return out;
  }
};

class Checker {
 public:
  Checker(std::string_view text, const Catalog& catalog, const CheckOptions& options)
      : text_(text), catalog_(catalog), options_(options) {
    now_ns_ = options.now_ns != 0 ? options.now_ns : internal::WallClockNs();
  }

  absl::StatusOr<Plan> Run(const Statement& st) {
    plan_.text = std::string(text_);
    if (!ResolveSource(st)) return error_;
    if (!DecideUse(st)) return error_;
    Scope scope;
    scope.what = plan_.source->name;
    for (const auto& f : plan_.source->fields) {
      auto e = std::make_shared<TExpr>();
      e->kind = TExprKind::kField;
      e->type = f.type;
      e->field = &f;
      scope.names.emplace_back(f.name, e);
    }
    bool projected = false, summarized = false, ordered = false, limited = false;
    const Stage* window_stage = nullptr;
    for (size_t i = 0; i < st.stages.size(); ++i) {
      const Stage& s = st.stages[i];
      // After sort/top/limit only a projection (which keeps the rows) or a limit.
      if ((ordered || limited) && s.kind != StageKind::kLimit && s.kind != StageKind::kProject)
        return Fail(s.span, absl::StrCat("'", StageName(s.kind), "' after '", ordered ? "sort/top" : "limit",
                                         "': only project and limit may follow them"),
                    "move the stage before the sort");
      if (window_stage != nullptr && s.kind != StageKind::kSummarize)
        return Fail(s.span, absl::StrCat("expected 'summarize' after 'window', found '", StageName(s.kind), "'"),
                    "window tumbling 1m grace 10s | summarize n = count() by symbol");
      switch (s.kind) {
        case StageKind::kWhere: {
          TExprPtr p = Resolve(*s.predicate, scope, Ctx::kRow);
          if (!p) return error_;
          if (p->type.kind != TypeKind::kBool && p->type.kind != TypeKind::kNull)
            return Fail(s.predicate->span,
                        absl::StrCat("'where' needs a bool condition, found ", TypeName(p->type)),
                        p->type.kind == TypeKind::kString ? "compare it: symbol = \"BTC-USD\"" : "");
          if (summarized)
            plan_.having.push_back(p);
          else
            plan_.filters.push_back(p);
          break;
        }
        case StageKind::kProject: {
          Scope next;
          next.what = "the output of project";
          std::vector<OutputColumn> cols;
          for (const auto& item : s.items) {
            TExprPtr e = Resolve(*item.expr, scope, Ctx::kRow);
            if (!e) return error_;
            if (!AddColumn(item, e, &next, &cols)) return error_;
          }
          scope = std::move(next);
          plan_.columns = std::move(cols);
          projected = true;
          break;
        }
        case StageKind::kWindow: {
          if (plan_.use != Use::kWindowedAggregate)
            return Fail(s.span, "'window' is for live streams: a warehouse table is grouped by time with bin()",
                        "summarize n = count() by bin(ts, 1m)");
          if (plan_.window.has_value()) return Fail(s.span, "a statement has at most one window");
          if (!CheckWindow(s)) return error_;
          window_stage = &s;
          break;
        }
        case StageKind::kSummarize: {
          if (summarized) return Fail(s.span, "a statement has at most one 'summarize'");
          if (plan_.source->kind == SourceKind::kStream && window_stage == nullptr)
            return Fail(s.span, "'summarize' over a live stream needs a window before it: a stream never ends",
                        "| window tumbling 1m grace 10s | summarize ...");
          if (!Summarize(s, &scope)) return error_;
          window_stage = nullptr;
          summarized = true;
          projected = true;
          break;
        }
        case StageKind::kSort:
        case StageKind::kTop: {
          if (plan_.source->kind == SourceKind::kStream)
            return Fail(s.span,
                        absl::StrCat("'", StageName(s.kind),
                                     "' cannot run on a live stream: it needs the whole input, and a stream never ends"),
                        absl::StrCat("query the warehouse instead", StreamToTableHint()));
          for (const auto& o : s.order) {
            TExprPtr e = Resolve(*o.expr, scope, Ctx::kRow);
            if (!e) return error_;
            if (!Orderable(e->type))
              return Fail(o.expr->span, absl::StrCat("cannot sort by a value of type ", TypeName(e->type)));
            plan_.order.push_back(PlanOrder{e, o.desc});
          }
          if (s.kind == StageKind::kTop) plan_.limit = s.count;
          ordered = true;
          break;
        }
        case StageKind::kLimit: {
          if (plan_.source->kind == SourceKind::kStream)
            return Fail(s.span, "'limit' cannot run on a live stream: a live filter passes every matching message",
                        absl::StrCat("query the warehouse instead", StreamToTableHint()));
          if (limited) return Fail(s.span, "a statement has at most one 'limit'");
          plan_.limit = plan_.limit.has_value() ? std::min(*plan_.limit, s.count) : s.count;
          limited = true;
          break;
        }
      }
    }
    if (window_stage != nullptr)
      return Fail(window_stage->span, "a window must be followed by '| summarize ...'",
                  "window tumbling 1m grace 10s | summarize n = count() by symbol");
    if (!projected) {
      plan_.all_fields = true;
      for (const auto& [name, e] : scope.names)
        if (e->field == nullptr || e->field->image != CdcImage::kBefore) plan_.columns.push_back({name, e->type, e});
    }
    for (const auto& c : plan_.columns)
      if (plan_.use != Use::kWarehouseQuery && c.type.kind == TypeKind::kOpaque && !plan_.all_fields)
        return Fail(st.source_span,
                    absl::StrCat("column '", c.name, "' has a type the live back end cannot output (",
                                 c.expr->field ? c.expr->field->doc : "opaque", ")"));
    return std::move(plan_);
  }

 private:
  absl::Status Fail(Span span, std::string message, std::string hint = "") {
    if (error_.ok()) error_ = internal::ErrorAt(text_, span, std::move(message), std::move(hint));
    return error_;
  }
  TExprPtr FailE(Span span, std::string message, std::string hint = "") {
    (void)Fail(span, std::move(message), std::move(hint));
    return nullptr;
  }
  bool FailB(Span span, std::string message, std::string hint = "") {
    (void)Fail(span, std::move(message), std::move(hint));
    return false;
  }

  std::string StreamToTableHint() const {
    if (plan_.source->name == "md.trade") return ": md.trades";
    if (plan_.source->name == "md.candle") return ": md.candles";
    if (plan_.source->message == MessageKind::kChangeEvent && !plan_.source->resource.empty()) {
      const std::string& r = plan_.source->resource;
      const auto p1 = r.find('.'), p2 = r.rfind('.');
      return absl::StrCat(": cdc_", r.substr(0, p1), "_", r.substr(p1 + 1, p2 - p1 - 1), ".", r.substr(p2 + 1));
    }
    return "";
  }

  bool ResolveSource(const Statement& st) {
    plan_.source = catalog_.Find(st.source);
    if (plan_.source != nullptr) return true;
    std::vector<std::string> names;
    for (const auto* s : catalog_.Sources()) names.push_back(s->name);
    std::string near = NearestName(st.source, names);
    std::string hint = near.empty() ? absl::StrCat("known sources: ", Abbrev(names)) : absl::StrCat("did you mean '", near, "'?");
    return FailB(st.source_span, absl::StrCat("unknown source '", st.source, "'"), hint);
  }

  static std::string Abbrev(const std::vector<std::string>& names) {
    std::vector<std::string> v(names.begin(), names.begin() + std::min<size_t>(names.size(), 12));
    std::string s = absl::StrJoin(v, ", ");
    if (names.size() > v.size()) absl::StrAppend(&s, ", ...");
    return s;
  }

  bool DecideUse(const Statement& st) {
    const SourceDef& src = *plan_.source;
    if (src.kind == SourceKind::kTable) {
      plan_.use = Use::kWarehouseQuery;
    } else {
      plan_.use = Use::kFilter;
      for (const auto& s : st.stages)
        if (s.kind == StageKind::kWindow || s.kind == StageKind::kSummarize) plan_.use = Use::kWindowedAggregate;
    }
    if ((options_.allowed_uses & static_cast<unsigned>(plan_.use)) != 0) return true;
    std::vector<std::string> allowed;
    for (Use u : {Use::kFilter, Use::kWindowedAggregate, Use::kWarehouseQuery})
      if (options_.allowed_uses & static_cast<unsigned>(u)) allowed.push_back(UseName(u));
    std::string hint;
    if (src.kind == SourceKind::kStream && (options_.allowed_uses & static_cast<unsigned>(Use::kWarehouseQuery))) {
      hint = absl::StrCat("a warehouse query reads a table", StreamToTableHint());
    } else if (src.kind == SourceKind::kTable) {
      hint = "a live filter or view reads a stream: md.trade, md.ticker, md.book, md.candle, md.status, anomaly, "
             "cdc.<server>.<schema>.<table>";  // wire-lint: ok (DSL source names in a message)
    }
    return FailB(st.source_span,
                 absl::StrCat("'", src.name, "' makes this a ", UseName(plan_.use), ", but only ",
                              absl::StrJoin(allowed, " or "), " statements are accepted here"),
                 hint);
  }

  bool CheckWindow(const Stage& s) {
    WindowSpec w;
    w.kind = s.window;
    w.size_ns = s.size_ns;
    w.every_ns = s.window == WindowKind::kHopping ? s.every_ns : s.size_ns;
    w.grace_ns = s.grace_ns;
    if (w.size_ns <= 0) return FailB(s.size_span, "the window size must be above 0");
    if (w.every_ns <= 0) return FailB(s.every_span, "the hop must be above 0");
    if (w.every_ns > w.size_ns)
      return FailB(s.every_span, "the hop is longer than the window: events between windows would be lost");
    if (w.size_ns % w.every_ns != 0)
      return FailB(s.every_span, "the window size must be a whole multiple of the hop",
                   "window hopping 5m every 1m grace 10s");
    if (w.size_ns / w.every_ns > 1000)
      return FailB(s.every_span, "more than 1000 hops per window (limit: each event joins at most 1000 windows)");
    if (w.grace_ns < 0) return FailB(s.grace_span, "the grace period cannot be negative");
    plan_.window = w;
    return true;
  }

  static bool Orderable(const Type& t) {
    return t.kind != TypeKind::kOpaque && t.kind != TypeKind::kNull;
  }

  std::string DeriveName(const Expr& e, size_t position) {
    if (e.kind == ExprKind::kName) return absl::StrJoin(e.path, "_");
    if (e.kind == ExprKind::kCall) {
      if (!e.args.empty() && e.args[0]->kind == ExprKind::kName)
        return absl::StrCat(e.text, "_", absl::StrJoin(e.args[0]->path, "_"));
      return e.text;
    }
    return absl::StrCat("column", position + 1);
  }

  bool AddColumn(const NamedExpr& item, const TExprPtr& e, Scope* next, std::vector<OutputColumn>* cols) {
    const std::string name = item.name.empty() ? DeriveName(*item.expr, cols->size()) : item.name;
    if (next->Find(name) != nullptr || name == "window_start" || name == "window_end")
      return FailB(item.name.empty() ? item.expr->span : item.name_span,
                   absl::StrCat("duplicate output name '", name, "'"), "name the column: other_name = ...");
    if (e->type.kind == TypeKind::kNull)
      return FailB(item.expr->span, "a column cannot be only null");
    next->names.emplace_back(name, e);
    cols->push_back(OutputColumn{name, e->type, e});
    return true;
  }

  bool Summarize(const Stage& s, Scope* scope) {
    plan_.aggregated = true;
    Scope next;
    next.what = "the output of summarize";
    std::vector<OutputColumn> cols;
    auto bound = [&](TExprKind k, const char* name) {
      auto e = std::make_shared<TExpr>();
      e->kind = k;
      e->type = Type::Of(TypeKind::kTimestamp);
      next.names.emplace_back(name, e);
      cols.push_back(OutputColumn{name, e->type, e});
    };
    if (plan_.window.has_value()) {
      bound(TExprKind::kWindowStart, "window_start");
      bound(TExprKind::kWindowEnd, "window_end");
    }
    for (const auto& item : s.by) {
      TExprPtr e = Resolve(*item.expr, *scope, Ctx::kRow);
      if (!e) return false;
      if (!Orderable(e->type) || e->type.kind == TypeKind::kFloat)
        return FailB(item.expr->span, absl::StrCat("cannot group by a value of type ", TypeName(e->type)));
      if (e->kind == TExprKind::kConst)
        return FailB(item.expr->span, "grouping by a constant: name a field or an expression of fields");
      auto ref = std::make_shared<TExpr>();
      ref->kind = TExprKind::kKeyRef;
      ref->type = e->type;
      ref->index = static_cast<int>(plan_.keys.size());
      ref->span = item.expr->span;
      const std::string name = item.name.empty() ? DeriveName(*item.expr, cols.size()) : item.name;
      if (!AddColumn(NamedExpr{name, item.name_span, item.expr}, ref, &next, &cols)) return false;
      plan_.keys.push_back(OutputColumn{name, e->type, e});
    }
    for (const auto& item : s.items) {
      TExprPtr e = Resolve(*item.expr, *scope, Ctx::kAggregateItem);
      if (!e) return false;
      if (!ContainsAggregate(*e) && e->kind != TExprKind::kConst)
        return FailB(item.expr->span, "each summarize item needs an aggregate (count, sum, avg, ...)",
                     "group by it instead: summarize n = count() by <expression>");
      if (!AddColumn(item, e, &next, &cols)) return false;
    }
    *scope = std::move(next);
    plan_.columns = std::move(cols);
    return true;
  }

  static bool ContainsAggregate(const TExpr& e) {
    if (e.kind == TExprKind::kAggRef) return true;
    for (const auto& a : e.args)
      if (ContainsAggregate(*a)) return true;
    return false;
  }

  // ---- expressions ----

  TExprPtr Const(Value v, Type t, Span span, std::shared_ptr<const std::string> storage = nullptr) {
    auto e = std::make_shared<TExpr>();
    e->kind = TExprKind::kConst;
    e->type = t;
    e->span = span;
    e->constant = v;
    e->storage = std::move(storage);
    return e;
  }

  TExprPtr StringConst(const std::string& s, Type t, Span span) {
    auto storage = std::make_shared<const std::string>(s);
    return Const(Value::Str(*storage, t.kind), t, span, storage);
  }

  // Evaluates a node whose arguments are all constant.
  TExprPtr Fold(std::shared_ptr<TExpr> e) {
    for (const auto& a : e->args)
      if (a->kind != TExprKind::kConst) return e;
    if (e->kind == TExprKind::kCall && e->func == Func::kNow && plan_.use != Use::kWarehouseQuery) return e;
    internal::EvalContext ctx;
    ctx.now_ns = now_ns_;
    Value v = internal::Eval(*e, ctx);
    if (v.kind == TypeKind::kString || v.kind == TypeKind::kEnum) return StringConst(std::string(v.s), e->type, e->span);
    if (!v.is_null()) v.kind = e->type.kind == TypeKind::kEnum ? TypeKind::kEnum : v.kind;
    return Const(v, e->type, e->span);
  }

  TExprPtr Resolve(const Expr& x, const Scope& scope, Ctx ctx) {
    switch (x.kind) {
      case ExprKind::kLiteralNull: return Const(Value::Null(), Type::Of(TypeKind::kNull), x.span);
      case ExprKind::kLiteralBool: return Const(Value::Bool(x.bool_value), Type::Of(TypeKind::kBool), x.span);
      case ExprKind::kLiteralInt: return Const(Value::Int(x.int_value), Type::Of(TypeKind::kInt), x.span);
      case ExprKind::kLiteralDuration:
        return Const(Value::Int(x.int_value, TypeKind::kDuration), Type::Of(TypeKind::kDuration), x.span);
      case ExprKind::kLiteralDecimal: {
        auto d = Decimal::Parse(x.text);
        if (!d.has_value()) return FailE(x.span, "number out of range (at most 38 digits and 38 decimals)");
        return Const(Value::Dec(*d), Type::Of(TypeKind::kDecimal), x.span);
      }
      case ExprKind::kLiteralString: return StringConst(x.text, Type::Of(TypeKind::kString), x.span);
      case ExprKind::kName: {
        TExprPtr e = ResolveName(x, scope);
        if (e && ctx == Ctx::kAggregateItem && e->kind != TExprKind::kConst)
          return FailE(x.span,
                       absl::StrCat("'", absl::StrJoin(x.path, "."),
                                    "' outside an aggregate: a summarize item is computed from aggregates only"),
                       absl::StrCat("aggregate it (first(", absl::StrJoin(x.path, "."), "), max(...)), or group by it and "
                                    "use it after summarize: | project ..."));
        return e;
      }
      case ExprKind::kCall: return ResolveCall(x, scope, ctx);
      case ExprKind::kUnary: return ResolveUnary(x, scope, ctx);
      case ExprKind::kBinary: return ResolveBinary(x, scope, ctx);
      case ExprKind::kIn: return ResolveIn(x, scope, ctx);
      case ExprKind::kIsNull: {
        TExprPtr a = Resolve(*x.args[0], scope, ctx);
        if (!a) return nullptr;
        auto e = std::make_shared<TExpr>();
        e->kind = TExprKind::kIsNull;
        e->type = Type::Of(TypeKind::kBool);
        e->span = x.span;
        e->negated = x.negated;
        e->args = {a};
        return Fold(e);
      }
    }
    return FailE(x.span, "unsupported expression");
  }

  TExprPtr ResolveName(const Expr& x, const Scope& scope) {
    const std::string name = absl::StrJoin(x.path, ".");
    if (const TExprPtr* e = scope.Find(name)) {
      if ((*e)->kind == TExprKind::kConst) return *e;
      auto copy = std::make_shared<TExpr>(**e);
      copy->span = x.span;
      return copy;
    }
    std::vector<std::string> names = scope.Names();
    std::string near = NearestName(name, names);
    std::string hint;
    if (!near.empty()) {
      hint = absl::StrCat("did you mean '", near, "'?");
    } else if (x.path.size() == 1 && plan_.source->FindField(name) != nullptr) {
      hint = absl::StrCat("'", name, "' is not kept by the stage before: add it to project or to summarize ... by");
    } else {
      hint = absl::StrCat("known names: ", Abbrev(names));
    }
    const bool is_source_scope = scope.what == plan_.source->name;
    return FailE(x.span,
                 is_source_scope ? absl::StrCat("unknown field '", name, "' of ", scope.what)
                                 : absl::StrCat("unknown name '", name, "' in ", scope.what),
                 hint);
  }

  TExprPtr ResolveUnary(const Expr& x, const Scope& scope, Ctx ctx) {
    TExprPtr a = Resolve(*x.args[0], scope, ctx);
    if (!a) return nullptr;
    auto e = std::make_shared<TExpr>();
    e->kind = TExprKind::kUnary;
    e->op = x.op;
    e->span = x.span;
    e->args = {a};
    if (x.op == Op::kNot) {
      if (a->type.kind != TypeKind::kBool && a->type.kind != TypeKind::kNull)
        return FailE(x.args[0]->span, absl::StrCat("'not' needs a bool, found ", TypeName(a->type)));
      e->type = Type::Of(TypeKind::kBool);
    } else {
      if (!IsNumeric(a->type) && a->type.kind != TypeKind::kDuration)
        return FailE(x.args[0]->span, absl::StrCat("'-' needs a number or a duration, found ", TypeName(a->type)));
      e->type = a->type;
    }
    return Fold(e);
  }

  // Checks that a string constant compared with an enum is one of its values.
  bool CheckEnumOperand(const TExprPtr& enum_side, const TExprPtr& other, Span other_span) {
    if (enum_side->type.kind != TypeKind::kEnum || other->kind != TExprKind::kConst ||
        other->type.kind != TypeKind::kString)
      return true;
    const EnumDef& def = *enum_side->type.enum_def;
    const std::string v(other->constant.s);
    for (const auto& n : def.values)
      if (n == v) return true;
    std::string near = NearestName(v, def.values);
    return FailB(other_span, absl::StrCat("\"", v, "\" is not a value of ", def.name, ": expected one of ", JoinValues(def)),
                 near.empty() ? "" : absl::StrCat("did you mean \"", near, "\"?"));
  }

  // Whether values of types a and b can be compared; error otherwise.
  bool Comparable(const TExprPtr& a, const TExprPtr& b, Op op, Span where, Span a_span, Span b_span) {
    const Type& ta = a->type;
    const Type& tb = b->type;
    if (ta.kind == TypeKind::kNull || tb.kind == TypeKind::kNull)
      return FailB(where, "a comparison with null is never true (it is null)", "test with 'is null' or 'is not null'");
    if (ta.kind == TypeKind::kOpaque || tb.kind == TypeKind::kOpaque) {
      const TExprPtr& o = ta.kind == TypeKind::kOpaque ? a : b;
      return FailB(ta.kind == TypeKind::kOpaque ? a_span : b_span,
                   absl::StrCat("'", o->field ? o->field->name : "value", "' has type ",
                                o->field ? o->field->doc : "opaque",
                                ", which the DSL can only show or test with 'is null'"));
    }
    bool ok = (IsNumeric(ta) && IsNumeric(tb)) || (ta.stringy() && tb.stringy()) || ta.kind == tb.kind;
    if (ta.kind == TypeKind::kEnum && tb.kind == TypeKind::kEnum && ta.enum_def != tb.enum_def) ok = false;
    if (ok && ta.kind == TypeKind::kBool && op != Op::kEq && op != Op::kNe) ok = false;
    if (!ok) {
      std::string hint;
      if (ta.stringy() && IsNumeric(tb)) hint = "write the number as a string: \"60000\", or compare a numeric field";
      if (IsNumeric(ta) && tb.stringy()) hint = "numbers are written without quotes: price > 60000";
      if (ta.kind == TypeKind::kTimestamp && tb.stringy())
        hint = "write a time as timestamp(\"2024-05-01T00:00:00Z\"), or relative: now() - 1h";
      if (ta.kind == TypeKind::kTimestamp && IsNumeric(tb)) hint = "compare with a time: now() - 1h";
      return FailB(where,
                   absl::StrCat("cannot compare ", TypeName(ta), " with ", TypeName(tb), " using '", OpText(op), "'"),
                   hint);
    }
    return CheckEnumOperand(a, b, b_span) && CheckEnumOperand(b, a, a_span);
  }

  TExprPtr ResolveBinary(const Expr& x, const Scope& scope, Ctx ctx) {
    TExprPtr a = Resolve(*x.args[0], scope, ctx);
    if (!a) return nullptr;
    TExprPtr b = Resolve(*x.args[1], scope, ctx);
    if (!b) return nullptr;
    auto e = std::make_shared<TExpr>();
    e->kind = TExprKind::kBinary;
    e->op = x.op;
    e->span = x.span;
    e->args = {a, b};
    const Type ta = a->type, tb = b->type;
    const Span sa = x.args[0]->span, sb = x.args[1]->span;
    switch (x.op) {
      case Op::kAnd:
      case Op::kOr:
        for (const auto& [t, s] : {std::pair{ta, sa}, std::pair{tb, sb}})
          if (t.kind != TypeKind::kBool && t.kind != TypeKind::kNull)
            return FailE(s, absl::StrCat("'", OpText(x.op), "' needs bool operands, found ", TypeName(t)),
                         t.kind == TypeKind::kString ? "compare it: venue = \"kraken\"" : "");
        e->type = Type::Of(TypeKind::kBool);
        return Fold(e);
      case Op::kEq: case Op::kNe: case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe:
        if (!Comparable(a, b, x.op, x.span, sa, sb)) return nullptr;
        e->type = Type::Of(TypeKind::kBool);
        // An enum compared with a string constant: the constant is of the enum type.
        for (int i = 0; i < 2; ++i) {
          const TExprPtr& en = e->args[i];
          const TExprPtr& other = e->args[1 - i];
          if (en->type.kind == TypeKind::kEnum && other->kind == TExprKind::kConst &&
              other->type.kind == TypeKind::kString) {
            auto c = std::make_shared<TExpr>(*other);
            c->type = en->type;
            c->constant.kind = TypeKind::kEnum;
            e->args[1 - i] = c;
          }
        }
        return Fold(e);
      default: break;
    }
    // Arithmetic.
    if (ta.kind == TypeKind::kNull || tb.kind == TypeKind::kNull)
      return FailE(x.span, absl::StrCat("arithmetic with null is always null"));
    const char* op = OpText(x.op);
    auto bad = [&]() {
      std::string hint;
      if (ta.stringy() || tb.stringy()) hint = "strings cannot be computed with; numbers are written without quotes";
      return FailE(x.span, absl::StrCat("cannot compute ", TypeName(ta), " ", op, " ", TypeName(tb)), hint);
    };
    if (IsNumeric(ta) && IsNumeric(tb)) {
      if (x.op == Op::kMod) {
        if (ta.kind != TypeKind::kInt || tb.kind != TypeKind::kInt) return bad();
        e->type = Type::Of(TypeKind::kInt);
      } else if (ta.kind == TypeKind::kFloat || tb.kind == TypeKind::kFloat) {
        e->type = Type::Of(TypeKind::kFloat);
      } else if (ta.kind == TypeKind::kInt && tb.kind == TypeKind::kInt && x.op != Op::kDiv) {
        e->type = Type::Of(TypeKind::kInt);
      } else {
        e->type = Type::Of(TypeKind::kDecimal);  // int / int is an exact decimal division
      }
      return Fold(e);
    }
    const TypeKind ka = ta.kind, kb = tb.kind;
    using K = TypeKind;
    if (x.op == Op::kSub && ka == K::kTimestamp && kb == K::kTimestamp) {
      e->type = Type::Of(K::kDuration);
    } else if ((x.op == Op::kAdd || x.op == Op::kSub) && ka == K::kTimestamp && kb == K::kDuration) {
      e->type = Type::Of(K::kTimestamp);
    } else if (x.op == Op::kAdd && ka == K::kDuration && kb == K::kTimestamp) {
      e->args = {b, a};
      e->type = Type::Of(K::kTimestamp);
    } else if ((x.op == Op::kAdd || x.op == Op::kSub) && ka == K::kDuration && kb == K::kDuration) {
      e->type = Type::Of(K::kDuration);
    } else if (x.op == Op::kMul && ((ka == K::kDuration && kb == K::kInt) || (ka == K::kInt && kb == K::kDuration))) {
      e->type = Type::Of(K::kDuration);
    } else {
      return bad();
    }
    return Fold(e);
  }

  TExprPtr ResolveIn(const Expr& x, const Scope& scope, Ctx ctx) {
    TExprPtr a = Resolve(*x.args[0], scope, ctx);
    if (!a) return nullptr;
    auto e = std::make_shared<TExpr>();
    e->kind = TExprKind::kIn;
    e->type = Type::Of(TypeKind::kBool);
    e->span = x.span;
    e->negated = x.negated;
    e->args.push_back(a);
    for (size_t i = 1; i < x.args.size(); ++i) {
      TExprPtr v = Resolve(*x.args[i], scope, ctx);
      if (!v) return nullptr;
      if (!Comparable(a, v, Op::kEq, x.args[i]->span, x.args[0]->span, x.args[i]->span)) return nullptr;
      if (a->type.kind == TypeKind::kEnum && v->kind == TExprKind::kConst && v->type.kind == TypeKind::kString) {
        auto c = std::make_shared<TExpr>(*v);
        c->type = a->type;
        c->constant.kind = TypeKind::kEnum;
        v = c;
      }
      e->args.push_back(v);
    }
    return Fold(e);
  }

  TExprPtr ResolveCall(const Expr& x, const Scope& scope, Ctx ctx) {
    const std::string& name = x.text;
    auto agg = AggregateFunctions().find(name);
    if (agg != AggregateFunctions().end()) return ResolveAggregate(x, agg->second, scope, ctx);
    if (name == "timestamp") return ResolveTimestamp(x);
    auto fn = ScalarFunctions().find(name);
    if (fn == ScalarFunctions().end()) {
      std::string near = NearestName(name, AllFunctionNames());
      return FailE(x.name_span, absl::StrCat("unknown function '", name, "'"),
                   near.empty() ? absl::StrCat("functions: ", absl::StrJoin(AllFunctionNames(), ", "))
                                : absl::StrCat("did you mean '", near, "'?"));
    }
    std::vector<TExprPtr> args;
    for (const auto& a : x.args) {
      TExprPtr r = Resolve(*a, scope, ctx);
      if (!r) return nullptr;
      args.push_back(r);
    }
    auto e = std::make_shared<TExpr>();
    e->kind = TExprKind::kCall;
    e->func = fn->second;
    e->span = x.span;
    e->args = args;
    auto arity = [&](size_t n, const char* signature) -> bool {
      if (args.size() == n) return true;
      return FailB(x.span, absl::StrCat(name, "() takes ", n, " argument", n == 1 ? "" : "s", ", found ", args.size()),
                   absl::StrCat("usage: ", signature));
    };
    auto want = [&](size_t i, bool ok, const char* what) -> bool {
      if (ok) return true;
      return FailB(x.args[i]->span, absl::StrCat("argument ", i + 1, " of ", name, "() must be ", what, ", found ",
                                                 TypeName(args[i]->type)));
    };
    auto is = [&](size_t i, TypeKind k) { return args[i]->type.kind == k; };
    auto is_str = [&](size_t i) { return args[i]->type.stringy(); };
    switch (e->func) {
      case Func::kNow:
        if (!arity(0, "now()")) return nullptr;
        if (plan_.use == Use::kWindowedAggregate)
          return FailE(x.span,
                       "now() in a windowed aggregate: windows run on event time, so their results must not depend on "
                       "when they are computed",
                       "filter on event time, e.g. ts >= window_start");
        plan_.uses_now = true;
        e->type = Type::Of(TypeKind::kTimestamp);
        break;
      case Func::kBin:
        if (!arity(2, "bin(ts, 1m)") || !want(0, is(0, TypeKind::kTimestamp), "a timestamp") ||
            !want(1, is(1, TypeKind::kDuration), "a duration"))
          return nullptr;
        if (args[1]->kind != TExprKind::kConst || args[1]->constant.is_null() || args[1]->constant.i <= 0)
          return FailE(x.args[1]->span, "the width of bin() must be a constant duration above 0", "bin(ts, 1m)");
        if (plan_.use == Use::kWarehouseQuery && args[1]->constant.i % 1000 != 0)
          return FailE(x.args[1]->span, "the warehouse stores microseconds: bin() widths must be whole microseconds");
        e->type = Type::Of(TypeKind::kTimestamp);
        break;
      case Func::kAbs:
        if (!arity(1, "abs(x)") ||
            !want(0, IsNumeric(args[0]->type) || is(0, TypeKind::kDuration), "a number or a duration"))
          return nullptr;
        e->type = args[0]->type;
        break;
      case Func::kRound:
        if (!arity(2, "round(price, 2)") ||
            !want(0, is(0, TypeKind::kDecimal) || is(0, TypeKind::kInt), "a decimal") ||
            !want(1, is(1, TypeKind::kInt), "an int"))
          return nullptr;
        if (args[1]->kind != TExprKind::kConst || args[1]->constant.is_null() || args[1]->constant.i < 0 ||
            args[1]->constant.i > Decimal::kMaxScale)
          return FailE(x.args[1]->span, "the digits of round() must be a constant from 0 to 38");
        e->type = Type::Of(TypeKind::kDecimal);
        break;
      case Func::kContains:
      case Func::kStartsWith:
      case Func::kEndsWith:
        if (!arity(2, absl::StrCat(name, "(symbol, \"BTC\")").c_str()) || !want(0, is_str(0), "a string") ||
            !want(1, is_str(1), "a string"))
          return nullptr;
        e->type = Type::Of(TypeKind::kBool);
        break;
      case Func::kMatches: {
        if (!arity(2, "matches(symbol, \"^BTC-\")") || !want(0, is_str(0), "a string") ||
            !want(1, is(1, TypeKind::kString), "a string"))
          return nullptr;
        if (args[1]->kind != TExprKind::kConst || args[1]->constant.is_null())
          return FailE(x.args[1]->span, "the pattern of matches() must be a constant string");
        RE2::Options o;
        o.set_dot_nl(true);  // as PostgreSQL's '~'
        o.set_log_errors(false);
        o.set_max_mem(1 << 20);
        auto re = std::make_shared<RE2>(re2::StringPiece(args[1]->constant.s.data(), args[1]->constant.s.size()), o);
        if (!re->ok())
          return FailE(x.args[1]->span, absl::StrCat("invalid regular expression: ", re->error()));
        if (plan_.use == Use::kWarehouseQuery) {
          std::string why;
          if (!PortableRegex(args[1]->constant.s, &why))
            return FailE(x.args[1]->span, absl::StrCat("this regular expression is not portable to PostgreSQL: ", why),
                         "use literals, classes [..], \\d \\s \\w, anchors ^ $, groups, | and quantifiers");
        }
        e->regex = re;
        e->type = Type::Of(TypeKind::kBool);
        break;
      }
      case Func::kLen:
        if (!arity(1, "len(symbol)") || !want(0, is_str(0), "a string")) return nullptr;
        e->type = Type::Of(TypeKind::kInt);
        break;
      case Func::kCoalesce: {
        if (args.empty()) return FailE(x.span, "coalesce() needs at least one argument");
        Type t = Type::Of(TypeKind::kNull);
        for (size_t i = 0; i < args.size(); ++i) {
          const Type& ti = args[i]->type;
          if (ti.kind == TypeKind::kNull) continue;
          if (t.kind == TypeKind::kNull) {
            t = ti;
          } else if (IsNumeric(t) && IsNumeric(ti)) {
            if (t.kind == TypeKind::kFloat || ti.kind == TypeKind::kFloat)
              t = Type::Of(TypeKind::kFloat);
            else if (t.kind != ti.kind)
              t = Type::Of(TypeKind::kDecimal);
          } else if (t.stringy() && ti.stringy()) {
            if (!(t == ti)) t = Type::Of(TypeKind::kString);
          } else if (!(t == ti) || t.kind == TypeKind::kOpaque) {
            return FailE(x.args[i]->span, absl::StrCat("coalesce() arguments must have one type: ", TypeName(t),
                                                       " and ", TypeName(ti)));
          }
        }
        e->type = t;
        break;
      }
    }
    return Fold(e);
  }

  // Escapes and constructs both RE2 and PostgreSQL's ARE read the same way.
  static bool PortableRegex(std::string_view re, std::string* why) {
    for (size_t i = 0; i < re.size(); ++i) {
      if (re[i] == '\\' && i + 1 < re.size()) {
        const char c = re[i + 1];
        if (std::string_view("dDsSwWnt").find(c) != std::string_view::npos || std::ispunct(static_cast<unsigned char>(c))) {
          ++i;
          continue;
        }
        *why = absl::StrCat("'\\", std::string(1, c), "' means different things in RE2 and PostgreSQL");
        return false;
      }
      if (re[i] == '(' && i + 1 < re.size() && re[i + 1] == '?') {
        if (!(i == 0 && re.substr(0, 4) == "(?i)") && re.substr(i, 3) != "(?:") {
          *why = "only (?:...) groups and a leading (?i) are portable";
          return false;
        }
      }
    }
    return true;
  }

  TExprPtr ResolveTimestamp(const Expr& x) {
    if (x.args.size() != 1 || x.args[0]->kind != ExprKind::kLiteralString)
      return FailE(x.span, "timestamp() takes one string literal", "timestamp(\"2024-05-01T12:00:00Z\")");
    const std::string& s = x.args[0]->text;
    absl::Time t;
    std::string err;
    if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", s, &t, &err) &&
        !absl::ParseTime("%Y-%m-%d%ET%H:%M%Ez", s, &t, &err) && !absl::ParseTime("%Y-%m-%d", s, absl::UTCTimeZone(), &t, &err))
      return FailE(x.args[0]->span, absl::StrCat("not a time: \"", s, "\""),
                   "RFC 3339 with a zone: \"2024-05-01T12:00:00Z\", \"2024-05-01T14:00:00.5+02:00\", or a date \"2024-05-01\"");
    if (t < absl::FromUnixNanos(INT64_MIN) || t > absl::FromUnixNanos(INT64_MAX))
      return FailE(x.args[0]->span,
                   "time out of range: timestamps run from 1677-09-21T00:12:43.145224192Z to "
                   "2262-04-11T23:47:16.854775807Z");
    const int64_t ns = absl::ToUnixNanos(t);
    return Const(Value::Int(ns, TypeKind::kTimestamp), Type::Of(TypeKind::kTimestamp), x.span);
  }

  TExprPtr ResolveAggregate(const Expr& x, AggFunc f, const Scope& scope, Ctx ctx) {
    if (ctx == Ctx::kRow)
      return FailE(x.name_span, absl::StrCat("aggregate ", x.text, "() outside summarize"),
                   absl::StrCat("| summarize ", x.text, "(...) by ..."));
    if (ctx == Ctx::kInsideAggregate)
      return FailE(x.name_span, absl::StrCat("aggregate ", x.text, "() inside another aggregate"));
    AggregateCall call;
    call.func = f;
    call.span = x.span;
    std::vector<TExprPtr> args;
    for (const auto& a : x.args) {
      TExprPtr r = Resolve(*a, scope, Ctx::kInsideAggregate);
      if (!r) return nullptr;
      args.push_back(r);
    }
    auto arity = [&](size_t n, const char* usage) -> bool {
      if (args.size() == n) return true;
      return FailB(x.span, absl::StrCat(x.text, "() takes ", n, " argument", n == 1 ? "" : "s", ", found ", args.size()),
                   absl::StrCat("usage: ", usage));
    };
    auto want = [&](size_t i, bool ok, const char* what) -> bool {
      if (ok) return true;
      return FailB(x.args[i]->span, absl::StrCat("argument ", i + 1, " of ", x.text, "() must be ", what, ", found ",
                                                 TypeName(args[i]->type)));
    };
    const auto k = [&](size_t i) { return args[i]->type.kind; };
    switch (f) {
      case AggFunc::kCount:
        if (args.size() > 1) return FailE(x.span, "count() takes no argument or one", "count() or count(price)");
        call.type = Type::Of(TypeKind::kInt);
        break;
      case AggFunc::kSum:
        if (!arity(1, "sum(size)") || !want(0, IsNumeric(args[0]->type), "a number")) return nullptr;
        call.type = Type::Of(k(0) == TypeKind::kFloat ? TypeKind::kFloat : TypeKind::kDecimal);
        break;
      case AggFunc::kAvg:
        if (!arity(1, "avg(price)") || !want(0, IsNumeric(args[0]->type), "a number")) return nullptr;
        call.type = Type::Of(k(0) == TypeKind::kFloat ? TypeKind::kFloat : TypeKind::kDecimal);
        break;
      case AggFunc::kMin:
      case AggFunc::kMax:
        if (!arity(1, "min(price)") ||
            !want(0, k(0) != TypeKind::kOpaque && k(0) != TypeKind::kNull && k(0) != TypeKind::kBool,
                  "a number, string, timestamp or duration"))
          return nullptr;
        call.type = args[0]->type;
        break;
      case AggFunc::kVwap:
        if (!arity(2, "vwap(price, size)") ||
            !want(0, k(0) == TypeKind::kDecimal || k(0) == TypeKind::kInt, "a decimal") ||
            !want(1, k(1) == TypeKind::kDecimal || k(1) == TypeKind::kInt, "a decimal"))
          return nullptr;
        call.type = Type::Of(TypeKind::kDecimal);
        break;
      case AggFunc::kFirst:
      case AggFunc::kLast:
        if (!arity(1, "first(price)") || !want(0, k(0) != TypeKind::kOpaque && k(0) != TypeKind::kNull, "a value"))
          return nullptr;
        if (plan_.source->time_field.empty())
          return FailE(x.name_span, absl::StrCat(x.text, "() needs an event time, and ", plan_.source->name,
                                                 " has none"));
        call.type = args[0]->type;
        break;
      case AggFunc::kStddev:
        if (!arity(1, "stddev(price)") || !want(0, IsNumeric(args[0]->type), "a number")) return nullptr;
        call.type = Type::Of(TypeKind::kFloat);
        break;
      case AggFunc::kPercentile: {
        if (!arity(2, "percentile(price, 0.95)") ||
            !want(0, IsNumeric(args[0]->type) || k(0) == TypeKind::kTimestamp || k(0) == TypeKind::kDuration,
                  "a number, timestamp or duration"))
          return nullptr;
        const TExprPtr& p = args[1];
        double frac = -1;
        if (p->kind == TExprKind::kConst && !p->constant.is_null()) {
          if (p->type.kind == TypeKind::kDecimal) frac = p->constant.d.ToDouble();
          if (p->type.kind == TypeKind::kInt) frac = static_cast<double>(p->constant.i);
          if (p->type.kind == TypeKind::kFloat) frac = p->constant.f;
        }
        if (!(frac >= 0 && frac <= 1))
          return FailE(x.args[1]->span, "the fraction of percentile() must be a constant from 0 to 1",
                       "percentile(price, 0.95)");
        call.fraction = frac;
        args.pop_back();
        call.type = args[0]->type;
        break;
      }
    }
    call.args = args;
    auto e = std::make_shared<TExpr>();
    e->kind = TExprKind::kAggRef;
    e->type = call.type;
    e->span = x.span;
    e->index = static_cast<int>(plan_.aggregates.size());
    plan_.aggregates.push_back(std::move(call));
    return e;
  }

  std::string_view text_;
  const Catalog& catalog_;
  const CheckOptions& options_;
  int64_t now_ns_;
  Plan plan_;
  absl::Status error_;
};

}  // namespace

std::string NearestName(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = EditDistance(name, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // Likely a misspelling: at most a third of the name wrong (at least 1, at most 3).
  const size_t allowed = name.size() < 3 ? 1 : std::clamp<size_t>(name.size() / 3, 2, 3);
  return best_d <= allowed ? best : "";
}

absl::StatusOr<Plan> CheckStatement(const Statement& statement, std::string_view text, const Catalog& catalog,
                                    const CheckOptions& options) {
  Checker c(text, catalog, options);
  return c.Run(statement);
}

absl::StatusOr<Plan> Check(std::string_view text, const Catalog& catalog, const CheckOptions& options) {
  auto st = Parse(text, options.limits);
  if (!st.ok()) return st.status();
  return CheckStatement(*st, text, catalog, options);
}

}  // namespace sa::dsl
