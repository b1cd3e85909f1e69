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

void AppendArrayElement(const std::optional<std::string>& element, std::string* out) {
  if (!element) {
    out->append("NULL");
    return;
  }
  out->push_back('"');
  for (char ch : *element) {
    if (ch == '"' || ch == '\\') out->push_back('\\');
    out->push_back(ch);
  }
  out->push_back('"');
}

void AppendCopyField(const std::optional<std::string>& value, std::string* out) {
  if (!value) {
    out->append("\\N");
    return;
  }
  for (char ch : *value) {
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

namespace {

// %Y would print year 1 as "1"; PostgreSQL wants at least 4 digits.
std::string Timestamp(int64_t us) {
  const absl::Time t = absl::FromUnixMicros(us);
  const absl::CivilSecond s = absl::ToCivilSecond(t, absl::UTCTimeZone());
  return absl::StrFormat("%04d-%s", s.year(), absl::FormatTime("%m-%d %H:%M:%E6S", t, absl::UTCTimeZone()));
}

}  // namespace

absl::StatusOr<std::optional<std::string>> ValueToSqlText(const cdcpb::Value& v) {
  switch (v.kind_case()) {
    case cdcpb::Value::kNull: return std::optional<std::string>();
    case cdcpb::Value::kUnchangedToast:
      return absl::InvalidArgumentError("an unchanged TOAST value has no text; leave the column out");
    case cdcpb::Value::kIntValue: return std::optional<std::string>(absl::StrCat(v.int_value()));
    case cdcpb::Value::kNumericValue: return std::optional<std::string>(v.numeric_value());
    case cdcpb::Value::kTextValue: return std::optional<std::string>(v.text_value());
    case cdcpb::Value::kBoolValue: return std::optional<std::string>(v.bool_value() ? "t" : "f");
    case cdcpb::Value::kTimestampUs: return std::optional<std::string>(Timestamp(v.timestamp_us()));
    case cdcpb::Value::kTimestamptzUs:
      return std::optional<std::string>(absl::StrCat(Timestamp(v.timestamptz_us()), "+00"));
    case cdcpb::Value::kDateDays: {
      const absl::CivilDay day = absl::CivilDay(1970, 1, 1) + v.date_days();
      return std::optional<std::string>(absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day()));
    }
    case cdcpb::Value::kUuidValue: {
      if (v.uuid_value().size() != 16)
        return absl::InvalidArgumentError(absl::StrCat("uuid of ", v.uuid_value().size(), " bytes, want 16"));
      const std::string h = absl::BytesToHexString(v.uuid_value());
      return std::optional<std::string>(absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-",
                                                     h.substr(16, 4), "-", h.substr(20)));
    }
    case cdcpb::Value::kJsonValue: return std::optional<std::string>(v.json_value());
    case cdcpb::Value::kBytesValue:
      return std::optional<std::string>(absl::StrCat("\\x", absl::BytesToHexString(v.bytes_value())));
    case cdcpb::Value::kArrayValue: {
      std::string out = "{";
      for (int i = 0; i < v.array_value().elements_size(); ++i) {
        if (i > 0) out.push_back(',');
        auto e = ValueToSqlText(v.array_value().elements(i));
        if (!e.ok()) return e.status();
        AppendArrayElement(*e, &out);
      }
      out.push_back('}');
      return std::optional<std::string>(std::move(out));
    }
    case cdcpb::Value::kFloatValue: {
      const double d = v.float_value();
      if (std::isnan(d)) return std::optional<std::string>("NaN");
      if (std::isinf(d)) return std::optional<std::string>(d > 0 ? "Infinity" : "-Infinity");
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      return std::optional<std::string>(std::string(buf, r.ptr));
    }
    case cdcpb::Value::KIND_NOT_SET: break;
  }
  return absl::InvalidArgumentError("value with no kind set");
}

}  // namespace sa::warehouse
