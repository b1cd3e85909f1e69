// The binary encoding of aggregation checkpoints (dsl/aggregate.h): fixed-width
// little-endian integers, length-prefixed strings, whole Values. Read by the
// same build that wrote it or a later one; a reader refuses what it cannot
// parse (false), never reads past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "dsl/types.h"

namespace sa::dsl::internal {

class StateWriter {
 public:
  explicit StateWriter(std::string* out) : out_(out) {}
  template <typename T>
  void Fixed(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, arm64)
    out_->append(buf, sizeof(T));
  }
  void Bytes(std::string_view s) {
    Fixed<uint32_t>(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  void Dec(const Decimal& d) {
    Fixed<Int128>(d.mantissa());
    Fixed<int32_t>(d.scale());
  }
  // Every field of the value (strings copied): small values, one format.
  void Val(const Value& v) {
    Fixed<uint8_t>(static_cast<uint8_t>(v.kind));
    Fixed<uint8_t>(v.b ? 1 : 0);
    Fixed<int64_t>(v.i);
    Fixed<double>(v.f);
    Dec(v.d);
    Bytes(v.s);
  }

 private:
  std::string* out_;
};

class StateReader {
 public:
  explicit StateReader(std::string_view in) : in_(in) {}
  bool done() const { return in_.empty(); }
  template <typename T>
  bool Fixed(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool Bytes(std::string_view* s) {
    uint32_t n = 0;
    if (!Fixed(&n) || in_.size() < n) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool Dec(Decimal* d) {
    Int128 m = 0;
    int32_t scale = 0;
    if (!Fixed(&m) || !Fixed(&scale)) return false;
    auto v = Decimal::FromParts(m, scale);
    if (!v) return false;
    *d = *v;
    return true;
  }
  // `s` of the value points into the input: callers copy it (OwnedValue).
  bool Val(Value* v) {
    uint8_t kind = 0, b = 0;
    if (!Fixed(&kind) || kind > static_cast<uint8_t>(TypeKind::kOpaque) || !Fixed(&b) || b > 1 || !Fixed(&v->i) ||
        !Fixed(&v->f) || !Dec(&v->d) || !Bytes(&v->s))
      return false;
    v->kind = static_cast<TypeKind>(kind);
    v->b = b == 1;
    return true;
  }

 private:
  std::string_view in_;
};

}  // namespace sa::dsl::internal
