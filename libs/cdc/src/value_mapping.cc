#include "cdc/value_mapping.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/civil_days.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::Value;

enum : uint32_t {
  kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21, kInt4 = 23,
  kText = 25, kOid = 26, kJson = 114, kXml = 142, kFloat4 = 700, kFloat8 = 701,
  kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTime = 1083, kTimestamp = 1114,
  kTimestamptz = 1184, kInterval = 1186, kNumeric = 1700, kUuid = 2950, kJsonb = 3802,
};

struct ArrayType {
  uint32_t array_oid;
  uint32_t element_oid;
  const char* name;
};
constexpr ArrayType kArrays[] = {
    {1000, kBool, "_bool"},        {1001, kBytea, "_bytea"},     {1003, kName, "_name"},
    {1005, kInt2, "_int2"},        {1007, kInt4, "_int4"},       {1009, kText, "_text"},
    {1014, kBpchar, "_bpchar"},    {1015, kVarchar, "_varchar"}, {1016, kInt8, "_int8"},
    {1021, kFloat4, "_float4"},    {1022, kFloat8, "_float8"},   {1115, kTimestamp, "_timestamp"},
    {1182, kDate, "_date"},        {1185, kTimestamptz, "_timestamptz"},
    {1231, kNumeric, "_numeric"},  {2951, kUuid, "_uuid"},       {199, kJson, "_json"},
    {3807, kJsonb, "_jsonb"},
};

absl::Status Bad(uint32_t oid, absl::string_view text, absl::string_view why) {
  std::string shown(text.substr(0, 64));
  return absl::InvalidArgumentError(absl::StrCat("cannot map ", BuiltinTypeName(oid), " (oid ",
                                                 oid, ") value '", shown, "': ", why));
}

bool Digits(absl::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// "YYYY-MM-DD" (ISO DateStyle; years may have more than 4 digits). Sets *pos
// past it.
bool ParseDate(absl::string_view s, size_t* pos, int64_t* days) {
  size_t i = 0;
  int64_t year = 0;
  while (i < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
    year = year * 10 + (s[i] - '0');
    if (++i > 7) return false;
  }
  if (i < 4 || i >= s.size() || s[i] != '-') return false;
  int month, day;
  if (!Digits(s, i + 1, 2, &month) || i + 3 >= s.size() || s[i + 3] != '-' ||
      !Digits(s, i + 4, 2, &day))
    return false;
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  *days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  *pos = i + 6;
  return true;
}

// "HH:MM:SS[.ffffff]" -> µs of the day.
bool ParseTime(absl::string_view s, size_t* pos, int64_t* us) {
  int h, m, sec;
  size_t p = *pos;
  if (!Digits(s, p, 2, &h) || p + 2 >= s.size() || s[p + 2] != ':' || !Digits(s, p + 3, 2, &m) ||
      p + 5 >= s.size() || s[p + 5] != ':' || !Digits(s, p + 6, 2, &sec))
    return false;
  p += 8;
  int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int n = 0;
    while (p < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[p]))) {
      if (n < 6) frac = frac * 10 + (s[p] - '0');
      ++n;
      ++p;
    }
    if (n == 0) return false;
    for (; n < 6; ++n) frac *= 10;
  }
  if (h > 24 || m > 59 || sec > 60) return false;
  *us = ((static_cast<int64_t>(h) * 60 + m) * 60 + sec) * 1000000 + frac;
  *pos = p;
  return true;
}

// "+HH[:MM[:SS]]" / "-HH..." -> seconds east of UTC.
bool ParseOffset(absl::string_view s, size_t* pos, int64_t* seconds) {
  size_t p = *pos;
  if (p >= s.size() || (s[p] != '+' && s[p] != '-')) return false;
  const int sign = s[p] == '-' ? -1 : 1;
  int h, m = 0, sec = 0;
  if (!Digits(s, p + 1, 2, &h)) return false;
  p += 3;
  if (p < s.size() && s[p] == ':') {
    if (!Digits(s, p + 1, 2, &m)) return false;
    p += 3;
    if (p < s.size() && s[p] == ':') {
      if (!Digits(s, p + 1, 2, &sec)) return false;
      p += 3;
    }
  }
  *seconds = sign * (h * 3600 + m * 60 + sec);
  *pos = p;
  return true;
}

bool ParseTimestamp(absl::string_view s, bool with_zone, int64_t* us) {
  size_t pos = 0;
  int64_t days, tod;
  if (!ParseDate(s, &pos, &days)) return false;
  if (pos >= s.size() || (s[pos] != ' ' && s[pos] != 'T')) return false;
  ++pos;
  if (!ParseTime(s, &pos, &tod)) return false;
  int64_t offset = 0;
  if (with_zone) {
    if (!ParseOffset(s, &pos, &offset)) return false;
  }
  if (pos != s.size()) return false;  // " BC" and anything else: not mapped
  *us = days * 86400LL * 1000000LL + tod - offset * 1000000LL;
  return true;
}

int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseUuid(absl::string_view s, std::string* out) {
  out->clear();
  int hi = -1;
  for (char c : s) {
    if (c == '-') continue;
    int v = HexNibble(c);
    if (v < 0) return false;
    if (hi < 0) {
      hi = v;
    } else {
      out->push_back(static_cast<char>(hi << 4 | v));
      hi = -1;
    }
  }
  return hi < 0 && out->size() == 16;
}

bool ParseByteaHex(absl::string_view s, std::string* out) {
  if (s.size() < 2 || s[0] != '\\' || s[1] != 'x' || s.size() % 2 != 0) return false;
  out->clear();
  out->reserve((s.size() - 2) / 2);
  for (size_t i = 2; i < s.size(); i += 2) {
    int a = HexNibble(s[i]), b = HexNibble(s[i + 1]);
    if (a < 0 || b < 0) return false;
    out->push_back(static_cast<char>(a << 4 | b));
  }
  return true;
}

absl::Status ConvertScalar(uint32_t oid, absl::string_view text, Value* out) {
  switch (oid) {
    case kInt2:
    case kInt4:
    case kInt8: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return Bad(oid, text, "not an integer");
      out->set_int_value(v);
      return absl::OkStatus();
    }
    case kNumeric:
      out->set_numeric_value(std::string(text));
      return absl::OkStatus();
    case kText:
    case kVarchar:
    case kBpchar:
    case kName:
    case kChar:
      out->set_text_value(std::string(text));
      return absl::OkStatus();
    case kBool:
      if (text == "t") {
        out->set_bool_value(true);
      } else if (text == "f") {
        out->set_bool_value(false);
      } else {
        return Bad(oid, text, "expected 't' or 'f'");
      }
      return absl::OkStatus();
    case kTimestamp:
    case kTimestamptz: {
      int64_t us;
      if (!ParseTimestamp(text, oid == kTimestamptz, &us))
        return Bad(oid, text, "not an ISO timestamp (infinity and BC are not mapped)");
      if (oid == kTimestamp) {
        out->set_timestamp_us(us);
      } else {
        out->set_timestamptz_us(us);
      }
      return absl::OkStatus();
    }
    case kDate: {
      size_t pos = 0;
      int64_t days;
      if (!ParseDate(text, &pos, &days) || pos != text.size())
        return Bad(oid, text, "not an ISO date (infinity and BC are not mapped)");
      out->set_date_days(static_cast<int32_t>(days));
      return absl::OkStatus();
    }
    case kUuid: {
      std::string bytes;
      if (!ParseUuid(text, &bytes)) return Bad(oid, text, "not a uuid");
      out->set_uuid_value(std::move(bytes));
      return absl::OkStatus();
    }
    case kJson:
    case kJsonb:
      out->set_json_value(std::string(text));
      return absl::OkStatus();
    case kBytea: {
      std::string bytes;
      if (!ParseByteaHex(text, &bytes)) return Bad(oid, text, "not hex bytea output ('\\x...')");
      out->set_bytes_value(std::move(bytes));
      return absl::OkStatus();
    }
    case kFloat4:
    case kFloat8: {
      std::string s(text);
      char* end = nullptr;
      errno = 0;
      double v = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size())
        return Bad(oid, text, "not a floating point number");
      out->set_float_value(v);
      return absl::OkStatus();
    }
    default:
      return Bad(oid, text, "no typed mapping");
  }
}

}  // namespace

std::string BuiltinTypeName(uint32_t oid) {
  switch (oid) {
    case kBool: return "bool";
    case kBytea: return "bytea";
    case kChar: return "char";
    case kName: return "name";
    case kInt8: return "int8";
    case kInt2: return "int2";
    case kInt4: return "int4";
    case kText: return "text";
    case kOid: return "oid";
    case kJson: return "json";
    case kXml: return "xml";
    case kFloat4: return "float4";
    case kFloat8: return "float8";
    case kBpchar: return "bpchar";
    case kVarchar: return "varchar";
    case kDate: return "date";
    case kTime: return "time";
    case kTimestamp: return "timestamp";
    case kTimestamptz: return "timestamptz";
    case kInterval: return "interval";
    case kNumeric: return "numeric";
    case kUuid: return "uuid";
    case kJsonb: return "jsonb";
    default:
      for (const ArrayType& a : kArrays)
        if (a.array_oid == oid) return a.name;
      return "";
  }
}

uint32_t ArrayElementType(uint32_t array_oid) {
  for (const ArrayType& a : kArrays)
    if (a.array_oid == array_oid) return a.element_oid;
  return 0;
}

absl::Status ParseArrayLiteral(absl::string_view text,
                               std::vector<std::optional<std::string>>* elements) {
  elements->clear();
  size_t p = 0;
  if (!text.empty() && text[0] == '[') {  // "[lo:hi]=" dimension decoration
    size_t eq = text.find('=');
    if (eq == absl::string_view::npos || text.substr(0, eq).find("][") != absl::string_view::npos)
      return absl::InvalidArgumentError("array literal: bad or multi-dimensional bounds");
    p = eq + 1;
  }
  if (p >= text.size() || text[p] != '{' || text.back() != '}')
    return absl::InvalidArgumentError("array literal: expected '{...}'");
  ++p;
  const size_t end = text.size() - 1;
  if (p == end) return absl::OkStatus();  // {}
  while (true) {
    if (p >= end) return absl::InvalidArgumentError("array literal: missing element");
    std::string element;
    bool quoted = false;
    if (text[p] == '{') return absl::InvalidArgumentError("array literal: multi-dimensional");
    if (text[p] == '"') {
      quoted = true;
      ++p;
      while (true) {
        if (p >= end) return absl::InvalidArgumentError("array literal: unterminated quote");
        char c = text[p++];
        if (c == '"') break;
        if (c == '\\') {
          if (p >= end) return absl::InvalidArgumentError("array literal: dangling backslash");
          c = text[p++];
        }
        element.push_back(c);
      }
    } else {
      while (p < end && text[p] != ',') {
        char c = text[p++];
        if (c == '\\') {
          if (p >= end) return absl::InvalidArgumentError("array literal: dangling backslash");
          c = text[p++];
        } else if (c == '"' || c == '{' || c == '}') {
          return absl::InvalidArgumentError("array literal: unexpected character");
        }
        element.push_back(c);
      }
    }
    if (!quoted && absl::EqualsIgnoreCase(element, "NULL")) {
      elements->push_back(std::nullopt);
    } else {
      elements->push_back(std::move(element));
    }
    if (p == end) return absl::OkStatus();
    if (text[p] != ',') return absl::InvalidArgumentError("array literal: expected ','");
    ++p;
  }
}

absl::Status ConvertTextValue(uint32_t oid, absl::string_view text, Value* out) {
  if (uint32_t element = ArrayElementType(oid); element != 0) {
    std::vector<std::optional<std::string>> items;
    if (absl::Status st = ParseArrayLiteral(text, &items); !st.ok())
      return Bad(oid, text, st.message());
    auto* array = out->mutable_array_value();
    array->clear_elements();
    for (const auto& item : items) {
      Value* v = array->add_elements();
      if (!item) {
        v->set_null(true);
      } else if (absl::Status st = ConvertScalar(element, *item, v); !st.ok()) {
        out->Clear();
        return st;
      }
    }
    return absl::OkStatus();
  }
  return ConvertScalar(oid, text, out);
}

void MapTextValue(uint32_t oid, absl::string_view text, Value* out) {
  if (!ConvertTextValue(oid, text, out).ok()) out->set_text_value(std::string(text));
}

}  // namespace sa::cdc
