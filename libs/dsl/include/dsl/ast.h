// The syntax tree the parser produces, before any name is resolved.
//
// Positions are byte offsets into the statement text; errors convert them to
// line and column. Nodes are immutable once parsed and shared (the checker
// substitutes names by the expressions they stand for without copying).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sa::dsl {

struct Span {
  uint32_t begin = 0;  // byte offset of the first character
  uint32_t end = 0;    // one past the last
};

enum class ExprKind : uint8_t {
  kLiteralNull,
  kLiteralBool,
  kLiteralInt,
  kLiteralDecimal,
  kLiteralString,
  kLiteralDuration,
  kName,      // a field or an output name: `price`, `before.status`, `event.op`
  kCall,      // f(args)
  kUnary,     // -x, not x
  kBinary,    // x op y
  kIn,        // x [not] in (a, b, ...)
  kIsNull,    // x is [not] null
};

enum class Op : uint8_t {
  kAdd, kSub, kMul, kDiv, kMod,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kAnd, kOr,
  kNeg, kNot,
};

const char* OpText(Op op);
// The comparison with its operands swapped (< becomes >); other ops unchanged.
Op FlipComparison(Op op);

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  ExprKind kind;
  Span span;
  Op op = Op::kAdd;          // kUnary, kBinary
  bool negated = false;      // kIn (not in), kIsNull (is not null)
  bool bool_value = false;   // kLiteralBool
  int64_t int_value = 0;     // kLiteralInt, kLiteralDuration (ns)
  std::string text;          // kLiteralDecimal (as written), kLiteralString (unescaped), kCall (function name)
  std::vector<std::string> path;  // kName: one or two parts
  std::vector<ExprPtr> args;      // kCall args, kUnary/kBinary operands, kIn: [x, items...], kIsNull: [x]
  Span name_span;                 // kCall: the function name
  uint16_t height = 1;            // 1 + the largest height of args (bounded by Limits::max_depth)
};

// `name = expr` or a bare `expr` (the name is then derived: a field's name,
// or the function name for a call, e.g. `count`).
struct NamedExpr {
  std::string name;    // empty when not written
  Span name_span;
  ExprPtr expr;
};

struct OrderItem {
  ExprPtr expr;
  bool desc = false;
};

enum class StageKind : uint8_t { kWhere, kProject, kSummarize, kWindow, kSort, kTop, kLimit };
const char* StageName(StageKind k);

enum class WindowKind : uint8_t { kTumbling, kHopping };

struct Stage {
  StageKind kind;
  Span span;                       // the stage keyword
  ExprPtr predicate;               // where
  std::vector<NamedExpr> items;    // project; summarize aggregates
  std::vector<NamedExpr> by;       // summarize ... by
  Span by_span;
  std::vector<OrderItem> order;    // sort, top
  int64_t count = 0;               // top N, limit N
  Span count_span;
  WindowKind window = WindowKind::kTumbling;
  int64_t size_ns = 0, every_ns = 0, grace_ns = 0;  // window
  Span size_span, every_span, grace_span;
};

struct Statement {
  std::string source;   // dotted, as written (quoted parts unquoted)
  Span source_span;
  std::vector<Stage> stages;
};

}  // namespace sa::dsl
