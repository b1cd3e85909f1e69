#include "warehouse/sql_text.h"

#include <charconv>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace sa::warehouse {

namespace cdcpb = streamadmin::cdc::v1;

void AppendArrayText(std::string_view element, std::string* out) {
  out->push_back('"');
  for (char ch : element) {
    if (ch == '"' || ch == '\\') out->push_back('\\');
    out->push_back(ch);
  }
  out->push_back('"');
}

void AppendArrayElement(const std::optional<std::string>& element, std::string* out) {
  if (!element) {
    out->append("NULL");
    return;
  }
  AppendArrayText(std::string_view(*element), out);
}

void AppendCopyText(std::string_view value, std::string* out) {
  for (char ch : value) {
    switch (ch) {
      case '\\':
        out->append("\\\\");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        out->push_back(ch);
    }
  }
}

void AppendCopyField(const std::optional<std::string>& value, std::string* out) {
  if (!value) {
    out->append("\\N");
    return;
  }
  AppendCopyText(std::string_view(*value), out);
}

namespace {

constexpr int64_t kMicrosPerDay = 86'400'000'000;

void AppendDigits(int64_t v, int width, std::string* out) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out->append(buf, static_cast<size_t>(width));
}

// "YYYY-MM-DD HH:MM:SS.ffffff" in UTC. %Y would print year 1 as "1";
// PostgreSQL wants at least 4 digits.
void AppendTimestamp(int64_t us, std::string* out) {
  int64_t days = us / kMicrosPerDay;
  int64_t rest = us % kMicrosPerDay;
  if (rest < 0) {
    rest += kMicrosPerDay;
    --days;
  }
  const absl::CivilDay day = absl::CivilDay(1970, 1, 1) + days;
  if (day.year() < 1 || day.year() > 9999) {  // rare: the general formatter
    const absl::Time t = absl::FromUnixMicros(us);
    const absl::CivilSecond s = absl::ToCivilSecond(t, absl::UTCTimeZone());
    out->append(absl::StrFormat("%04d-%s", s.year(), absl::FormatTime("%m-%d %H:%M:%E6S", t, absl::UTCTimeZone())));
    return;
  }
  AppendDigits(day.year(), 4, out);
  out->push_back('-');
  AppendDigits(day.month(), 2, out);
  out->push_back('-');
  AppendDigits(day.day(), 2, out);
  out->push_back(' ');
  const int64_t secs = rest / 1'000'000;
  AppendDigits(secs / 3600, 2, out);
  out->push_back(':');
  AppendDigits(secs / 60 % 60, 2, out);
  out->push_back(':');
  AppendDigits(secs % 60, 2, out);
  out->push_back('.');
  AppendDigits(rest % 1'000'000, 6, out);
}

}  // namespace

absl::Status AppendSqlText(const cdcpb::Value& v, std::string* out, bool* null) {
  *null = false;
  switch (v.kind_case()) {
    case cdcpb::Value::kNull:
      *null = true;
      return absl::OkStatus();
    case cdcpb::Value::kUnchangedToast:
      return absl::InvalidArgumentError("an unchanged TOAST value has no text; leave the column out");
    case cdcpb::Value::kIntValue: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, v.int_value());
      out->append(buf, r.ptr);
      return absl::OkStatus();
    }
    case cdcpb::Value::kNumericValue:
      out->append(v.numeric_value());
      return absl::OkStatus();
    case cdcpb::Value::kTextValue:
      out->append(v.text_value());
      return absl::OkStatus();
    case cdcpb::Value::kBoolValue:
      out->push_back(v.bool_value() ? 't' : 'f');
      return absl::OkStatus();
    case cdcpb::Value::kTimestampUs:
      AppendTimestamp(v.timestamp_us(), out);
      return absl::OkStatus();
    case cdcpb::Value::kTimestamptzUs:
      AppendTimestamp(v.timestamptz_us(), out);
      out->append("+00");
      return absl::OkStatus();
    case cdcpb::Value::kDateDays: {
      const absl::CivilDay day = absl::CivilDay(1970, 1, 1) + v.date_days();
      out->append(absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day()));
      return absl::OkStatus();
    }
    case cdcpb::Value::kUuidValue: {
      if (v.uuid_value().size() != 16)
        return absl::InvalidArgumentError(absl::StrCat("uuid of ", v.uuid_value().size(), " bytes, want 16"));
      const std::string h = absl::BytesToHexString(v.uuid_value());
      absl::StrAppend(out, h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-", h.substr(16, 4), "-",
                      h.substr(20));
      return absl::OkStatus();
    }
    case cdcpb::Value::kJsonValue:
      out->append(v.json_value());
      return absl::OkStatus();
    case cdcpb::Value::kBytesValue:
      absl::StrAppend(out, "\\x", absl::BytesToHexString(v.bytes_value()));
      return absl::OkStatus();
    case cdcpb::Value::kArrayValue: {
      out->push_back('{');
      std::string element;
      for (int i = 0; i < v.array_value().elements_size(); ++i) {
        if (i > 0) out->push_back(',');
        element.clear();
        bool element_null = false;
        if (auto st = AppendSqlText(v.array_value().elements(i), &element, &element_null); !st.ok()) return st;
        if (element_null) {
          out->append("NULL");
        } else {
          AppendArrayText(std::string_view(element), out);
        }
      }
      out->push_back('}');
      return absl::OkStatus();
    }
    case cdcpb::Value::kFloatValue: {
      const double d = v.float_value();
      if (std::isnan(d)) {
        out->append("NaN");
      } else if (std::isinf(d)) {
        out->append(d > 0 ? "Infinity" : "-Infinity");
      } else {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, d);
        out->append(buf, r.ptr);
      }
      return absl::OkStatus();
    }
    case cdcpb::Value::KIND_NOT_SET: break;
  }
  return absl::InvalidArgumentError("value with no kind set");
}

absl::Status CheckSqlText(const cdcpb::Value& v) {
  switch (v.kind_case()) {
    case cdcpb::Value::kUnchangedToast:
    case cdcpb::Value::kUuidValue:
    case cdcpb::Value::kArrayValue:
    case cdcpb::Value::KIND_NOT_SET: {
      std::string scratch;
      bool null = false;
      return AppendSqlText(v, &scratch, &null);
    }
    default:
      return absl::OkStatus();
  }
}

absl::StatusOr<std::optional<std::string>> ValueToSqlText(const cdcpb::Value& v) {
  std::string out;
  bool null = false;
  if (auto st = AppendSqlText(v, &out, &null); !st.ok()) return st;
  if (null) return std::optional<std::string>();
  return std::optional<std::string>(std::move(out));
}

}  // namespace sa::warehouse
