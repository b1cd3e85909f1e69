// Scalar evaluation shared by constant folding (checker) and the filter back
// end. Never allocates: strings are views into the message, the plan's
// constants, or the caller's storage.
#pragma once

#include <cstdint>

#include "dsl/checker.h"
#include "dsl/types.h"

namespace sa::dsl::internal {

struct EvalContext {
  const void* message = nullptr;  // the decoded protobuf of the plan's source
  int64_t now_ns = 0;             // 0: read the wall clock when now() is evaluated
  const Value* keys = nullptr;    // after aggregation
  const Value* aggregates = nullptr;
  int64_t window_start = 0, window_end = 0;
};

// A number as a decimal (ints promoted exactly) or a double.
inline Decimal ToDecimal(const Value& v) { return v.kind == TypeKind::kDecimal ? v.d : Decimal::FromInt(v.i); }
inline double ToDouble(const Value& v) {
  return v.kind == TypeKind::kFloat ? v.f : v.kind == TypeKind::kDecimal ? v.d.ToDouble() : static_cast<double>(v.i);
}

// Three-way comparison of two non-null values of comparable types.
int CompareValues(const Value& a, const Value& b);
// Equality with the same typing rules (1.50 = 1.5, 1 = 1.0).
bool EqualValues(const Value& a, const Value& b);

Value Eval(const TExpr& e, const EvalContext& ctx);

// The value of field `f` (a built-in getter, or a CDC column of a ChangeEvent).
Value LoadField(const FieldDef& f, const void* message);

int64_t WallClockNs();

}  // namespace sa::dsl::internal
