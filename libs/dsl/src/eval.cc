#include "internal/eval.h"

#include <time.h>

#include <cmath>
#include <cstring>

#include "re2/re2.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::dsl::internal {
namespace {

namespace cdcpb = streamadmin::cdc::v1;

bool IsNumeric(TypeKind k) { return k == TypeKind::kInt || k == TypeKind::kDecimal || k == TypeKind::kFloat; }
bool IsStr(TypeKind k) { return k == TypeKind::kString || k == TypeKind::kEnum; }

Value CdcColumn(const cdcpb::Column& c, TypeKind want) {
  const cdcpb::Value& v = c.value();
  switch (v.kind_case()) {
    case cdcpb::Value::kIntValue:
      if (want == TypeKind::kInt) return Value::Int(v.int_value());
      if (want == TypeKind::kDecimal) return Value::Dec(Decimal::FromInt(v.int_value()));
      if (want == TypeKind::kFloat) return Value::Float(static_cast<double>(v.int_value()));
      return Value::Null();
    case cdcpb::Value::kNumericValue: {
      if (want != TypeKind::kDecimal) return Value::Null();
      auto d = Decimal::Parse(v.numeric_value());
      return d.has_value() ? Value::Dec(*d) : Value::Null();  // NaN, Infinity: NULL
    }
    case cdcpb::Value::kTextValue:
      return IsStr(want) ? Value::Str(v.text_value(), want) : Value::Null();
    case cdcpb::Value::kBoolValue: return want == TypeKind::kBool ? Value::Bool(v.bool_value()) : Value::Null();
    case cdcpb::Value::kTimestampUs:
      return want == TypeKind::kTimestamp ? Value::Int(v.timestamp_us() * 1000, TypeKind::kTimestamp) : Value::Null();
    case cdcpb::Value::kTimestamptzUs:
      return want == TypeKind::kTimestamp ? Value::Int(v.timestamptz_us() * 1000, TypeKind::kTimestamp)
                                          : Value::Null();
    case cdcpb::Value::kFloatValue: return want == TypeKind::kFloat ? Value::Float(v.float_value()) : Value::Null();
    default: return Value::Null();  // null, unchanged TOAST, opaque kinds
  }
}

Value Bool3(bool v) { return Value::Bool(v); }

Value Arith(Op op, TypeKind result, const Value& a, const Value& b) {
  switch (result) {
    case TypeKind::kInt: {
      int64_t r;
      bool over = false;
      switch (op) {
        case Op::kAdd: over = __builtin_add_overflow(a.i, b.i, &r); break;
        case Op::kSub: over = __builtin_sub_overflow(a.i, b.i, &r); break;
        case Op::kMul: over = __builtin_mul_overflow(a.i, b.i, &r); break;
        case Op::kMod:
          if (b.i == 0) return Value::Null();
          r = b.i == -1 ? 0 : a.i % b.i;
          break;
        default: return Value::Null();
      }
      return over ? Value::Null() : Value::Int(r);
    }
    case TypeKind::kDecimal: {
      Decimal r;
      const Decimal x = ToDecimal(a), y = ToDecimal(b);
      bool ok = false;
      switch (op) {
        case Op::kAdd: ok = Decimal::Add(x, y, &r); break;
        case Op::kSub: ok = Decimal::Sub(x, y, &r); break;
        case Op::kMul: ok = Decimal::Mul(x, y, &r); break;
        case Op::kDiv: ok = Decimal::Div(x, y, &r); break;  // by zero: NULL
        default: break;
      }
      return ok ? Value::Dec(r) : Value::Null();
    }
    case TypeKind::kFloat: {
      const double x = ToDouble(a), y = ToDouble(b);
      switch (op) {
        case Op::kAdd: return Value::Float(x + y);
        case Op::kSub: return Value::Float(x - y);
        case Op::kMul: return Value::Float(x * y);
        case Op::kDiv: return y == 0 ? Value::Null() : Value::Float(x / y);
        default: return Value::Null();
      }
    }
    case TypeKind::kTimestamp:
    case TypeKind::kDuration: {
      int64_t r;
      bool over = false;
      if (op == Op::kAdd) {
        over = __builtin_add_overflow(a.i, b.i, &r);
      } else if (op == Op::kSub) {
        over = __builtin_sub_overflow(a.i, b.i, &r);
      } else if (op == Op::kMul) {
        over = __builtin_mul_overflow(a.i, b.i, &r);
      } else {
        return Value::Null();
      }
      return over ? Value::Null() : Value::Int(r, result);
    }
    default: return Value::Null();
  }
}

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

int64_t WallClockNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int CompareValues(const Value& a, const Value& b) {
  if (IsNumeric(a.kind) && IsNumeric(b.kind)) {
    if (a.kind == TypeKind::kFloat || b.kind == TypeKind::kFloat) {
      const double x = ToDouble(a), y = ToDouble(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.kind == TypeKind::kInt && b.kind == TypeKind::kInt) return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    return Decimal::Compare(ToDecimal(a), ToDecimal(b));
  }
  if (IsStr(a.kind)) {
    const int c = a.s.compare(b.s);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == TypeKind::kBool) return static_cast<int>(a.b) - static_cast<int>(b.b);
  return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

bool EqualValues(const Value& a, const Value& b) { return CompareValues(a, b) == 0; }

Value LoadField(const FieldDef& f, const void* message) {
  if (f.get != nullptr) return f.get(message);
  const auto& e = *static_cast<const cdcpb::ChangeEvent*>(message);
  const auto& image = (f.image == CdcImage::kBefore || e.op() == cdcpb::OP_DELETE) ? e.before() : e.after();
  for (const auto& c : image)
    if (c.name() == f.column) return CdcColumn(c, f.type.kind);
  return Value::Null();
}

Value Eval(const TExpr& e, const EvalContext& ctx) {
  switch (e.kind) {
    case TExprKind::kConst: return e.constant;
    case TExprKind::kField: return LoadField(*e.field, ctx.message);
    case TExprKind::kKeyRef: return ctx.keys[e.index];
    case TExprKind::kAggRef: return ctx.aggregates[e.index];
    case TExprKind::kWindowStart: return Value::Int(ctx.window_start, TypeKind::kTimestamp);
    case TExprKind::kWindowEnd: return Value::Int(ctx.window_end, TypeKind::kTimestamp);
    case TExprKind::kUnary: {
      const Value x = Eval(*e.args[0], ctx);
      if (x.is_null()) return x;
      if (e.op == Op::kNot) return Bool3(!x.b);
      switch (x.kind) {
        case TypeKind::kInt:
        case TypeKind::kDuration:
          return x.i == INT64_MIN ? Value::Null() : Value::Int(-x.i, x.kind);
        case TypeKind::kDecimal: return Value::Dec(x.d.Negated());
        case TypeKind::kFloat: return Value::Float(-x.f);
        default: return Value::Null();
      }
    }
    case TExprKind::kBinary: {
      if (e.op == Op::kAnd || e.op == Op::kOr) {
        const bool stop = e.op == Op::kOr;  // or: TRUE decides; and: FALSE decides
        const Value a = Eval(*e.args[0], ctx);
        if (!a.is_null() && a.b == stop) return a;
        const Value b = Eval(*e.args[1], ctx);
        if (!b.is_null() && b.b == stop) return b;
        if (a.is_null() || b.is_null()) return Value::Null();
        return Bool3(!stop);
      }
      const Value a = Eval(*e.args[0], ctx);
      if (a.is_null()) return a;
      const Value b = Eval(*e.args[1], ctx);
      if (b.is_null()) return b;
      switch (e.op) {
        case Op::kEq: return Bool3(CompareValues(a, b) == 0);
        case Op::kNe: return Bool3(CompareValues(a, b) != 0);
        case Op::kLt: return Bool3(CompareValues(a, b) < 0);
        case Op::kLe: return Bool3(CompareValues(a, b) <= 0);
        case Op::kGt: return Bool3(CompareValues(a, b) > 0);
        case Op::kGe: return Bool3(CompareValues(a, b) >= 0);
        default: return Arith(e.op, e.type.kind, a, b);
      }
    }
    case TExprKind::kIn: {
      const Value x = Eval(*e.args[0], ctx);
      if (x.is_null()) return x;
      bool saw_null = false;
      for (size_t i = 1; i < e.args.size(); ++i) {
        const Value v = Eval(*e.args[i], ctx);
        if (v.is_null()) {
          saw_null = true;
        } else if (CompareValues(x, v) == 0) {
          return Bool3(!e.negated);
        }
      }
      return saw_null ? Value::Null() : Bool3(e.negated);
    }
    case TExprKind::kIsNull: {
      const bool null = Eval(*e.args[0], ctx).is_null();
      return Bool3(e.negated ? !null : null);
    }
    case TExprKind::kCall: break;
  }
  // Scalar functions.
  if (e.func == Func::kNow) return Value::Int(ctx.now_ns != 0 ? ctx.now_ns : WallClockNs(), TypeKind::kTimestamp);
  if (e.func == Func::kCoalesce) {
    for (const auto& a : e.args) {
      Value v = Eval(*a, ctx);
      if (!v.is_null()) {
        if (e.type.kind == TypeKind::kDecimal && v.kind == TypeKind::kInt) return Value::Dec(Decimal::FromInt(v.i));
        if (e.type.kind == TypeKind::kFloat && v.kind != TypeKind::kFloat) return Value::Float(ToDouble(v));
        return v;
      }
    }
    return Value::Null();
  }
  const Value x = Eval(*e.args[0], ctx);
  if (x.is_null()) return x;
  switch (e.func) {
    case Func::kAbs:
      switch (x.kind) {
        case TypeKind::kInt:
        case TypeKind::kDuration:
          return x.i == INT64_MIN ? Value::Null() : Value::Int(x.i < 0 ? -x.i : x.i, x.kind);
        case TypeKind::kDecimal: return Value::Dec(x.d.Abs());
        case TypeKind::kFloat: return Value::Float(std::fabs(x.f));
        default: return Value::Null();
      }
    case Func::kLen: return Value::Int(static_cast<int64_t>(Utf8Length(x.s)));
    case Func::kMatches: return Bool3(RE2::PartialMatch(re2::StringPiece(x.s.data(), x.s.size()), *e.regex));
    default: break;
  }
  const Value y = Eval(*e.args[1], ctx);
  if (y.is_null()) return y;
  switch (e.func) {
    case Func::kBin: {
      if (y.i <= 0) return Value::Null();
      int64_t r = x.i % y.i;
      if (r < 0) r += y.i;
      return Value::Int(x.i - r, TypeKind::kTimestamp);
    }
    case Func::kRound: {
      Decimal out;
      return Decimal::Round(ToDecimal(x), static_cast<int>(y.i), &out) ? Value::Dec(out) : Value::Null();
    }
    case Func::kContains: return Bool3(x.s.find(y.s) != std::string_view::npos);
    case Func::kStartsWith: return Bool3(x.s.substr(0, y.s.size()) == y.s);
    case Func::kEndsWith:
      return Bool3(x.s.size() >= y.s.size() && x.s.substr(x.s.size() - y.s.size()) == y.s);
    default: return Value::Null();
  }
}

}  // namespace sa::dsl::internal
