// Reading a pg::Result by row and column (index or name), and making
// statement parameters from values, for code that reads whole rows (admin's
// store) rather than one value at a time. Values are libpq's text format:
// booleans "t"/"f", integers in decimal; parameters are sent the same way
// (booleans "true"/"false").
//
//   auto r = conn.Exec("SELECT id, disabled FROM users WHERE name = $1", pg::Params(name));
//   for (pg::Row row : pg::Rows(*r)) Use(row["id"].str(), row["disabled"].as_bool());
//
// Threading: views of a result; valid while the result lives.
#pragma once

#include <libpq-fe.h>

#include <charconv>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg/connection.h"

namespace sa::pg {

// One value of a row. A column the result does not have reads as NULL.
class Field {
 public:
  Field(const PGresult* r, int row, int col) : r_(r), row_(row), col_(col) {}
  bool is_null() const { return col_ < 0 || PQgetisnull(r_, row_, col_) != 0; }
  // "" for NULL.
  const char* c_str() const { return col_ < 0 ? "" : PQgetvalue(r_, row_, col_); }
  std::string str() const { return c_str(); }
  // The integer the value spells; 0 for NULL or a value that is not one
  // (callers read their own schema's integer columns).
  template <std::integral T = int64_t>
  T as() const {
    std::string_view v = c_str();
    T out = 0;
    std::from_chars(v.data(), v.data() + v.size(), out);
    return out;
  }
  int64_t as_int64() const { return as<int64_t>(); }
  bool as_bool() const { return c_str()[0] == 't'; }

 private:
  const PGresult* r_;
  int row_;
  int col_;
};

class Row {
 public:
  Row(const PGresult* r, int row) : r_(r), row_(row) {}
  Field operator[](int col) const { return Field(r_, row_, col < PQnfields(r_) ? col : -1); }
  Field operator[](const char* name) const { return Field(r_, row_, PQfnumber(r_, name)); }

 private:
  const PGresult* r_;
  int row_;
};

// The rows of a result, for range-for and indexing.
class Rows {
 public:
  explicit Rows(const Result& r) : r_(r.get()) {}
  int size() const { return r_ ? PQntuples(r_) : 0; }
  bool empty() const { return size() == 0; }
  Row operator[](int i) const { return Row(r_, i); }
  // Rows a command touched (UPDATE, DELETE, INSERT).
  int64_t affected() const {
    std::string_view v = r_ ? PQcmdTuples(const_cast<PGresult*>(r_)) : "";
    int64_t n = 0;
    std::from_chars(v.data(), v.data() + v.size(), n);
    return n;
  }

  class iterator {
   public:
    iterator(const PGresult* r, int i) : r_(r), i_(i) {}
    Row operator*() const { return Row(r_, i_); }
    iterator& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }

   private:
    const PGresult* r_;
    int i_;
  };
  iterator begin() const { return iterator(r_, 0); }
  iterator end() const { return iterator(r_, size()); }

 private:
  const PGresult* r_;
};

// A statement parameter from a value.
inline std::optional<std::string> Param(const std::string& v) { return v; }
inline std::optional<std::string> Param(std::string_view v) { return std::string(v); }
inline std::optional<std::string> Param(const char* v) { return std::string(v); }
inline std::optional<std::string> Param(bool v) { return v ? "true" : "false"; }
inline std::optional<std::string> Param(std::nullopt_t) { return std::nullopt; }
template <std::integral T>
requires(!std::same_as<T, bool>) std::optional<std::string> Param(T v) { return std::to_string(v); }

template <typename... A>
std::vector<std::optional<std::string>> Params(const A&... values) {
  return {Param(values)...};
}

}  // namespace sa::pg
