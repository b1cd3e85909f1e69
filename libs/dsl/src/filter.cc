#include "dsl/filter.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "internal/eval.h"
#include "wire/subjects.h"

namespace sa::dsl {

// One node of the compiled predicate. Children precede their parent in the
// array, so the root is the last node.
struct Filter::Node {
  enum class Kind : uint8_t {
    kAnd, kOr, kNot,
    kCmpString,   // field <op> string constant
    kCmpDecimal,  // field <op> decimal constant
    kCmpInt,      // field <op> int/timestamp/duration constant
    kInStrings,   // field [not] in (string constants)
    kGeneric,     // anything else: the checker's tree, evaluated by internal::Eval
  };
  Kind kind = Kind::kGeneric;
  Op op = Op::kEq;
  bool negated = false;
  FieldDef::TextGetter text = nullptr;  // the field's, cached here (hot path)
  std::vector<int> children;
  const FieldDef* field = nullptr;
  std::string_view str;
  Decimal dec;
  int64_t i = 0;
  std::vector<std::string_view> strs;
  TExprPtr expr;  // kGeneric; also keeps the constants the views point into alive
};

namespace {

constexpr int8_t kF = 0, kT = 1, kN = 2;


inline int8_t Cmp(Op op, int c) {
  switch (op) {
    case Op::kEq: return c == 0;
    case Op::kNe: return c != 0;
    case Op::kLt: return c < 0;
    case Op::kLe: return c <= 0;
    case Op::kGt: return c > 0;
    default: return c >= 0;
  }
}

// Equality of short strings without a call to memcmp: two overlapping loads
// cover 4..16 bytes, never reading outside either string.
inline bool FastEqual(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n >= 8 && n <= 16) {
    uint64_t a0, b0, a1, b1;
    std::memcpy(&a0, x, 8);
    std::memcpy(&b0, y, 8);
    std::memcpy(&a1, x + n - 8, 8);
    std::memcpy(&b1, y + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  if (n >= 4 && n < 8) {
    uint32_t a0, b0, a1, b1;
    std::memcpy(&a0, x, 4);
    std::memcpy(&b0, y, 4);
    std::memcpy(&a1, x + n - 4, 4);
    std::memcpy(&b1, y + n - 4, 4);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  if (n < 4) {
    for (size_t i = 0; i < n; ++i)
      if (x[i] != y[i]) return false;
    return true;
  }
  return std::memcmp(x, y, n) == 0;
}

inline Value Load(const FieldDef& f, const void* m) { return f.get != nullptr ? f.get(m) : internal::LoadField(f, m); }

class Compiler {
 public:
  explicit Compiler(std::vector<Filter::Node>* out) : out_(out) {}

  int Add(Filter::Node n) {
    if (n.field != nullptr) n.text = n.field->text;
    out_->push_back(std::move(n));
    return static_cast<int>(out_->size()) - 1;
  }

  void Flatten(const TExprPtr& e, Op op, std::vector<TExprPtr>* parts) {
    if (e->kind == TExprKind::kBinary && e->op == op) {
      Flatten(e->args[0], op, parts);
      Flatten(e->args[1], op, parts);
    } else {
      parts->push_back(e);
    }
  }

  int Compile(const TExprPtr& e) {
    using K = Filter::Node::Kind;
    Filter::Node n;
    n.expr = e;
    if (e->kind == TExprKind::kBinary && (e->op == Op::kAnd || e->op == Op::kOr)) {
      std::vector<TExprPtr> parts;
      Flatten(e, e->op, &parts);
      n.kind = e->op == Op::kAnd ? K::kAnd : K::kOr;
      for (const auto& p : parts) n.children.push_back(Compile(p));
      return Add(std::move(n));
    }
    if (e->kind == TExprKind::kUnary && e->op == Op::kNot) {
      n.kind = K::kNot;
      n.children.push_back(Compile(e->args[0]));
      return Add(std::move(n));
    }
    if (e->kind == TExprKind::kBinary && e->args[0]->type.kind != TypeKind::kBool) {
      const Op op = e->op;
      if (op == Op::kEq || op == Op::kNe || op == Op::kLt || op == Op::kLe || op == Op::kGt || op == Op::kGe) {
        const TExprPtr *field = nullptr, *constant = nullptr;
        Op fop = op;
        if (e->args[0]->kind == TExprKind::kField && e->args[1]->kind == TExprKind::kConst) {
          field = &e->args[0];
          constant = &e->args[1];
        } else if (e->args[1]->kind == TExprKind::kField && e->args[0]->kind == TExprKind::kConst) {
          field = &e->args[1];
          constant = &e->args[0];
          fop = FlipComparison(op);
        }
        if (field != nullptr && !(*constant)->constant.is_null()) {
          const Type& ft = (*field)->type;
          const Value& c = (*constant)->constant;
          n.field = (*field)->field;
          n.op = fop;
          if (ft.stringy() && (c.kind == TypeKind::kString || c.kind == TypeKind::kEnum)) {
            n.kind = K::kCmpString;
            n.str = c.s;
            return Add(std::move(n));
          }
          if (ft.kind == TypeKind::kDecimal && (c.kind == TypeKind::kDecimal || c.kind == TypeKind::kInt)) {
            n.kind = K::kCmpDecimal;
            n.dec = c.kind == TypeKind::kDecimal ? c.d : Decimal::FromInt(c.i);
            return Add(std::move(n));
          }
          if ((ft.kind == TypeKind::kInt && c.kind == TypeKind::kInt) ||
              (ft.kind == TypeKind::kTimestamp && c.kind == TypeKind::kTimestamp) ||
              (ft.kind == TypeKind::kDuration && c.kind == TypeKind::kDuration)) {
            n.kind = K::kCmpInt;
            n.i = c.i;
            return Add(std::move(n));
          }
        }
      }
    }
    if (e->kind == TExprKind::kIn && e->args[0]->kind == TExprKind::kField && e->args[0]->type.stringy()) {
      bool all = true;
      for (size_t i = 1; i < e->args.size(); ++i)
        all = all && e->args[i]->kind == TExprKind::kConst && !e->args[i]->constant.is_null();
      if (all) {
        n.kind = K::kInStrings;
        n.field = e->args[0]->field;
        n.negated = e->negated;
        for (size_t i = 1; i < e->args.size(); ++i) n.strs.push_back(e->args[i]->constant.s);
        return Add(std::move(n));
      }
    }
    n.kind = K::kGeneric;
    return Add(std::move(n));
  }

 private:
  std::vector<Filter::Node>* out_;
};

int8_t EvalNode(const std::vector<Filter::Node>& nodes, int idx, const void* m, const internal::EvalContext& ctx);

// Leaves are evaluated inline in their parent's loop (no recursion, no
// Value built when the field has a text getter).
__attribute__((always_inline)) inline int8_t EvalLeaf(const std::vector<Filter::Node>& nodes, const Filter::Node& n,
                                                     const void* m, const internal::EvalContext& ctx) {
  using K = Filter::Node::Kind;
  switch (n.kind) {
    case K::kCmpString: {
      std::string_view v;
      if (n.text != nullptr) {
        v = *n.text(m);
      } else {
        const Value x = Load(*n.field, m);
        if (x.is_null()) return kN;
        v = x.s;
      }
      if (n.op == Op::kEq) return FastEqual(v, n.str);
      if (n.op == Op::kNe) return !FastEqual(v, n.str);
      return Cmp(n.op, v.compare(n.str));
    }
    case K::kCmpDecimal: {
      if (n.text != nullptr) {
        const auto d = Decimal::Parse(*n.text(m));
        if (!d.has_value()) return kN;
        return Cmp(n.op, Decimal::Compare(*d, n.dec));
      }
      const Value v = Load(*n.field, m);
      if (v.is_null()) return kN;
      return Cmp(n.op, Decimal::Compare(v.d, n.dec));
    }
    case K::kCmpInt: {
      const Value v = Load(*n.field, m);
      if (v.is_null()) return kN;
      return Cmp(n.op, v.i < n.i ? -1 : v.i > n.i ? 1 : 0);
    }
    case K::kInStrings: {
      std::string_view text;
      if (n.text != nullptr) {
        text = *n.text(m);
      } else {
        const Value v = Load(*n.field, m);
        if (v.is_null()) return kN;
        text = v.s;
      }
      for (const auto& s : n.strs)
        if (FastEqual(text, s)) return n.negated ? kF : kT;
      return n.negated ? kT : kF;
    }
    case K::kGeneric: {
      const Value v = internal::Eval(*n.expr, ctx);
      return v.is_null() ? kN : v.b ? kT : kF;
    }
    default: return EvalNode(nodes, static_cast<int>(&n - nodes.data()), m, ctx);
  }
}

int8_t EvalNode(const std::vector<Filter::Node>& nodes, int idx, const void* m, const internal::EvalContext& ctx) {
  using K = Filter::Node::Kind;
  const Filter::Node& n = nodes[idx];
  switch (n.kind) {
    case K::kAnd: {
      int8_t r = kT;
      for (int c : n.children) {
        const int8_t v = EvalLeaf(nodes, nodes[c], m, ctx);
        if (v == kF) return kF;
        if (v == kN) r = kN;
      }
      return r;
    }
    case K::kOr: {
      int8_t r = kF;
      for (int c : n.children) {
        const int8_t v = EvalLeaf(nodes, nodes[c], m, ctx);
        if (v == kT) return kT;
        if (v == kN) r = kN;
      }
      return r;
    }
    case K::kNot: {
      const int8_t v = EvalLeaf(nodes, nodes[n.children[0]], m, ctx);
      return v == kN ? kN : v == kT ? kF : kT;
    }
    default: return EvalLeaf(nodes, n, m, ctx);
  }
}

// The constant strings a top-level conjunct pins `field` to (`field = "x"` or
// `field in ("x", "y")`), or nullopt.
std::optional<std::vector<std::string>> PinnedValues(const TExprPtr& e, const std::string& field) {
  auto is_field = [&](const TExprPtr& x) {
    return x->kind == TExprKind::kField && x->field->name == field && x->field->get != nullptr;
  };
  auto is_const = [](const TExprPtr& x) {
    return x->kind == TExprKind::kConst && !x->constant.is_null() && x->type.stringy();
  };
  if (e->kind == TExprKind::kBinary && e->op == Op::kEq) {
    if (is_field(e->args[0]) && is_const(e->args[1])) return std::vector<std::string>{std::string(e->args[1]->constant.s)};
    if (is_field(e->args[1]) && is_const(e->args[0])) return std::vector<std::string>{std::string(e->args[0]->constant.s)};
  }
  if (e->kind == TExprKind::kIn && !e->negated && is_field(e->args[0])) {
    std::vector<std::string> out;
    for (size_t i = 1; i < e->args.size(); ++i) {
      if (!is_const(e->args[i])) return std::nullopt;
      out.emplace_back(e->args[i]->constant.s);
    }
    return out;
  }
  return std::nullopt;
}

// A value usable as one subject token: no '.', wildcards or blanks.
bool SubjectToken(const std::string& v) {
  if (v.empty()) return false;
  for (char c : v)
    if (c == '.' || c == '*' || c == '>' || static_cast<unsigned char>(c) <= ' ') return false;
  return true;
}

std::vector<std::string> NarrowSubjects(const Plan& plan) {
  const std::string& wide = plan.source->subject;
  // Token layout after the prefix, per stream.
  std::vector<std::string> layout;
  std::string prefix;  // the subject prefix without its trailing '.'
  switch (plan.source->message) {
    case MessageKind::kTrade: prefix = wire::kTradePrefix; layout = {"venue", "symbol"}; break;
    case MessageKind::kTicker: prefix = wire::kTickerPrefix; layout = {"venue", "symbol"}; break;
    case MessageKind::kBook: prefix = wire::kBookPrefix; layout = {"venue", "symbol"}; break;
    case MessageKind::kCandle: prefix = wire::kCandlePrefix; layout = {"interval", "venue", "symbol"}; break;
    case MessageKind::kStatus: prefix = wire::kStatusPrefix; layout = {"venue"}; break;
    case MessageKind::kAnomaly: prefix = wire::kAnomalyPrefix; layout = {"venue", "symbol"}; break;
    default: return {wide};
  }
  prefix.pop_back();
  std::vector<std::vector<std::string>> tokens;
  for (const auto& name : layout) {
    std::optional<std::vector<std::string>> pinned;
    for (const auto& f : plan.filters) {
      std::vector<TExprPtr> parts{f};
      // Conjuncts of a top-level and.
      for (size_t i = 0; i < parts.size(); ++i) {
        const TExprPtr p = parts[i];
        if (p->kind == TExprKind::kBinary && p->op == Op::kAnd) {
          parts.push_back(p->args[0]);
          parts.push_back(p->args[1]);
          continue;
        }
        if (pinned.has_value()) continue;
        pinned = PinnedValues(p, name);
      }
    }
    if (pinned.has_value() && !std::all_of(pinned->begin(), pinned->end(), SubjectToken)) pinned.reset();
    tokens.push_back(pinned.value_or(std::vector<std::string>{"*"}));
  }
  // Trailing wildcards become '>' (md.trade.kraken.>), all wildcards the wide subject.
  while (!tokens.empty() && tokens.back() == std::vector<std::string>{"*"}) tokens.pop_back();
  if (tokens.empty()) return {wide};
  std::vector<std::string> out{prefix};
  for (const auto& options : tokens) {
    std::vector<std::string> next;
    for (const auto& base : out)
      for (const auto& v : options) next.push_back(absl::StrCat(base, ".", v));
    if (next.size() > 64) return {wide};
    out = std::move(next);
  }
  if (tokens.size() < layout.size())
    for (auto& s : out) s += ".>";
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

absl::StatusOr<Filter> Filter::Compile(const Plan& plan, FilterOptions options) {
  if (plan.use != Use::kFilter || plan.source == nullptr || plan.source->kind != SourceKind::kStream)
    return absl::InvalidArgumentError(
        absl::StrCat("a live filter needs a filter plan over a stream, not a ", UseName(plan.use)));
  Filter f;
  f.message_ = plan.source->message;
  f.subject_ = plan.source->subject;
  f.subjects_ = NarrowSubjects(plan);
  f.columns_ = plan.columns;
  f.whole_message_ = plan.all_fields;
  f.now_ns_ = options.now_ns;
  auto nodes = std::make_shared<std::vector<Node>>();
  if (!plan.filters.empty()) {
    Compiler c(nodes.get());
    if (plan.filters.size() == 1) {
      c.Compile(plan.filters[0]);
    } else {
      Node all;
      all.kind = Node::Kind::kAnd;
      for (const auto& p : plan.filters) all.children.push_back(c.Compile(p));
      c.Add(std::move(all));
    }
  }
  f.nodes_ = std::move(nodes);
  return f;
}

bool Filter::MatchesAs(MessageKind kind, const void* message) const {
  if (kind != message_) std::abort();  // a filter applied to the wrong message type is a programming error
  if (nodes_->empty()) return true;
  internal::EvalContext ctx;
  ctx.message = message;
  ctx.now_ns = now_ns_;
  return EvalNode(*nodes_, static_cast<int>(nodes_->size()) - 1, message, ctx) == kT;
}

void Filter::Project(const void* message, Value* row) const {
  internal::EvalContext ctx;
  ctx.message = message;
  ctx.now_ns = now_ns_;
  for (size_t i = 0; i < columns_.size(); ++i) row[i] = internal::Eval(*columns_[i].expr, ctx);
}

}  // namespace sa::dsl
