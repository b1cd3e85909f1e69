#include "dsl/types.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace sa::dsl {

std::string TypeName(const Type& t) {
  switch (t.kind) {
    case TypeKind::kNull: return "null";
    case TypeKind::kBool: return "bool";
    case TypeKind::kInt: return "int";
    case TypeKind::kDecimal: return "decimal";
    case TypeKind::kFloat: return "float";
    case TypeKind::kString: return "string";
    case TypeKind::kTimestamp: return "timestamp";
    case TypeKind::kDuration: return "duration";
    case TypeKind::kEnum: return t.enum_def != nullptr ? t.enum_def->name : "enum";
    case TypeKind::kOpaque: return "opaque";
  }
  return "?";
}

std::string FormatTimestamp(int64_t ns) {
  const absl::Time t = absl::FromUnixNanos(ns);
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string ValueToString(const Value& v) {
  switch (v.kind) {
    case TypeKind::kNull: return "null";
    case TypeKind::kBool: return v.b ? "true" : "false";
    case TypeKind::kInt: return absl::StrCat(v.i);
    case TypeKind::kDecimal: return v.d.ToString();
    case TypeKind::kFloat: return absl::StrCat(v.f);
    case TypeKind::kString:
    case TypeKind::kEnum: return std::string(v.s);
    case TypeKind::kTimestamp: return FormatTimestamp(v.i);
    case TypeKind::kDuration: return absl::StrCat(v.i, "ns");
    case TypeKind::kOpaque: return "?";
  }
  return "?";
}

}  // namespace sa::dsl
