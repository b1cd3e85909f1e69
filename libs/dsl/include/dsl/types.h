// The DSL's types and the runtime value every back end of the library uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/decimal.h"

namespace sa::dsl {

enum class TypeKind : uint8_t {
  kNull,       // the type of the literal `null` only
  kBool,
  kInt,        // 64-bit signed
  kDecimal,    // exact (dsl/decimal.h)
  kFloat,      // IEEE double: anomaly scores, float columns
  kString,     // UTF-8
  kTimestamp,  // ns since the Unix epoch, UTC
  kDuration,   // ns
  kEnum,       // a string from a closed set (EnumDef), e.g. side
  kOpaque,     // a column the DSL can show and test for null only (json, bytea, uuid, arrays, date, ...)
};

// A closed set of names, e.g. side: buy, sell, unknown.
struct EnumDef {
  std::string name;                 // "side"
  std::vector<std::string> values;  // lower case, as written in the DSL and stored in the warehouse
};

struct Type {
  TypeKind kind = TypeKind::kNull;
  const EnumDef* enum_def = nullptr;  // kEnum only; owned by the catalog (static lifetime)

  static Type Of(TypeKind k) { return Type{k, nullptr}; }
  static Type Enum(const EnumDef* e) { return Type{TypeKind::kEnum, e}; }
  bool operator==(const Type& o) const { return kind == o.kind && enum_def == o.enum_def; }
  bool numeric() const { return kind == TypeKind::kInt || kind == TypeKind::kDecimal || kind == TypeKind::kFloat; }
  bool stringy() const { return kind == TypeKind::kString || kind == TypeKind::kEnum; }
};

// "decimal", "timestamp", "side" (the enum's name), ...
std::string TypeName(const Type& t);

// A value at run time. Strings are views: into the message being evaluated
// (valid while it lives), into the compiled program, or into storage the
// producer documents. Enums are strings (their lower-case name).
struct Value {
  TypeKind kind = TypeKind::kNull;
  bool b = false;
  int64_t i = 0;  // kInt, kTimestamp, kDuration
  double f = 0;
  Decimal d;
  std::string_view s;  // kString, kEnum

  static Value Null() { return Value{}; }
  static Value Bool(bool v) {
    Value x;
    x.kind = TypeKind::kBool;
    x.b = v;
    return x;
  }
  static Value Int(int64_t v, TypeKind k = TypeKind::kInt) {
    Value x;
    x.kind = k;
    x.i = v;
    return x;
  }
  static Value Float(double v) {
    Value x;
    x.kind = TypeKind::kFloat;
    x.f = v;
    return x;
  }
  static Value Dec(const Decimal& v) {
    Value x;
    x.kind = TypeKind::kDecimal;
    x.d = v;
    return x;
  }
  static Value Str(std::string_view v, TypeKind k = TypeKind::kString) {
    Value x;
    x.kind = k;
    x.s = v;
    return x;
  }
  bool is_null() const { return kind == TypeKind::kNull; }
};

// Text of a value as the SQL back end's PostgreSQL would print it (numeric
// with its scale, timestamps as RFC 3339 UTC with up to 9 decimals,
// durations in ns as "<n>ns"); "null" for NULL.
std::string ValueToString(const Value& v);

// RFC 3339 / ISO 8601 UTC text of a timestamp in ns ("2024-05-01T12:00:00.5Z").
std::string FormatTimestamp(int64_t ns);

}  // namespace sa::dsl
