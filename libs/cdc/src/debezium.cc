#include "cdc/debezium.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::ChangeEvent;
using streamadmin::cdc::v1::Column;
using streamadmin::cdc::v1::Op;
using streamadmin::cdc::v1::Value;
using RowImage = google::protobuf::RepeatedPtrField<Column>;

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], 0 if invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// Java's Double.toString / Float.toString shape as Jackson writes it for
// finite values: shortest round-trip digits, ".0" on integral values.
// Non-finite values are quoted strings (Jackson's QUOTE_NON_NUMERIC_NUMBERS).
void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) std::abort();  // 64 bytes always hold a shortest double
  std::string_view text(buf, static_cast<size_t>(end - buf));
  out->append(text.data(), text.size());
  if (text.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

std::string UuidText(const std::string& bytes) {
  if (bytes.size() != 16) return absl::BytesToHexString(bytes);  // not from value_mapping
  const std::string hex = absl::BytesToHexString(bytes);
  return absl::StrCat(hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

void AppendValue(const Value& v, const DebeziumOptions& options, std::string* out) {
  switch (v.kind_case()) {
    case Value::kNull:
    case Value::KIND_NOT_SET:
      out->append("null");
      return;
    case Value::kUnchangedToast:
      AppendJsonString(options.unavailable_value_placeholder, out);
      return;
    case Value::kIntValue:
      absl::StrAppend(out, v.int_value());
      return;
    case Value::kNumericValue:
      AppendJsonString(v.numeric_value(), out);
      return;
    case Value::kTextValue:
      AppendJsonString(v.text_value(), out);
      return;
    case Value::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case Value::kTimestampUs:
      absl::StrAppend(out, v.timestamp_us());
      return;
    case Value::kTimestamptzUs:
      AppendJsonString(FormatZonedTimestamp(v.timestamptz_us()), out);
      return;
    case Value::kDateDays:
      absl::StrAppend(out, v.date_days());
      return;
    case Value::kUuidValue:
      AppendJsonString(UuidText(v.uuid_value()), out);
      return;
    case Value::kJsonValue:
      AppendJsonString(v.json_value(), out);
      return;
    case Value::kBytesValue:
      AppendJsonString(absl::Base64Escape(v.bytes_value()), out);
      return;
    case Value::kArrayValue: {
      out->push_back('[');
      bool first = true;
      for (const Value& e : v.array_value().elements()) {
        if (!first) out->push_back(',');
        first = false;
        AppendValue(e, options, out);
      }
      out->push_back(']');
      return;
    }
    case Value::kFloatValue:
      AppendDouble(v.float_value(), out);
      return;
  }
  std::abort();  // a Value kind this switch does not know: update it with cdc.proto
}

// {"col":value,...}; `keys_only` keeps the key columns.
void AppendRow(const RowImage& row, bool keys_only, const DebeziumOptions& options,
               std::string* out) {
  out->push_back('{');
  bool first = true;
  for (const Column& c : row) {
    if (keys_only && !c.key()) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(c.name(), out);
    out->push_back(':');
    AppendValue(c.value(), options, out);
  }
  out->push_back('}');
}

bool HasKeyColumn(const RowImage& row) {
  for (const Column& c : row) {
    if (c.key()) return true;
  }
  return false;
}

// The row image naming the row: the new row unless it is gone.
const RowImage& KeyImage(const ChangeEvent& e) {
  return e.op() == streamadmin::cdc::v1::OP_DELETE ? e.before() : e.after();
}

const char* SnapshotField(const ChangeEvent& e) {
  if (!e.source().snapshot()) return "false";
  if (e.transaction_total() != 0 && e.transaction_order() == e.transaction_total()) return "last";
  return "true";
}

bool TopicChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void AppendTopicPart(const std::string& part, std::string* out) {
  for (char c : part) out->push_back(TopicChar(c) ? c : '_');
}

}  // namespace

void AppendJsonString(absl::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out->append(kReplacement.data(), kReplacement.size());
        ++i;
      } else {
        out->append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out->push_back('"');
}

std::string FormatZonedTimestamp(int64_t unix_micros) {
  const absl::Time t = absl::FromUnixMicros(unix_micros);
  const absl::CivilSecond cs = absl::ToCivilSecond(t, absl::UTCTimeZone());
  int64_t frac = unix_micros % 1000000;
  if (frac < 0) frac += 1000000;
  char buf[64];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d",
                        static_cast<long long>(cs.year()), cs.month(), cs.day(), cs.hour(),
                        cs.minute(), cs.second());
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    n = std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(frac));
    std::string f(buf, static_cast<size_t>(n));
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out.push_back('Z');
  return out;
}

absl::string_view DebeziumOp(Op op) {
  switch (op) {
    case streamadmin::cdc::v1::OP_CREATE: return "c";
    case streamadmin::cdc::v1::OP_UPDATE: return "u";
    case streamadmin::cdc::v1::OP_DELETE: return "d";
    case streamadmin::cdc::v1::OP_READ: return "r";
    case streamadmin::cdc::v1::OP_TRUNCATE: return "t";
    default: return "";
  }
}

bool HasDebeziumKey(const ChangeEvent& event) {
  if (event.op() == streamadmin::cdc::v1::OP_TRUNCATE) return false;
  return HasKeyColumn(KeyImage(event));
}

std::string DebeziumKeyJson(const ChangeEvent& event, const DebeziumOptions& options) {
  if (!HasDebeziumKey(event)) return "null";
  std::string out;
  AppendRow(KeyImage(event), /*keys_only=*/true, options, &out);
  return out;
}

std::string DebeziumValueJson(const ChangeEvent& event, const DebeziumOptions& options) {
  const absl::string_view op = DebeziumOp(event.op());
  if (op.empty()) std::abort();  // precondition: callers reject OP_UNSPECIFIED
  const bool truncate = event.op() == streamadmin::cdc::v1::OP_TRUNCATE;
  const auto& src = event.source();
  const auto& table = event.table();

  std::string out;
  out.reserve(256 + 32 * static_cast<size_t>(event.before_size() + event.after_size()));
  out.append("{\"before\":");
  if (!truncate && event.before_size() > 0) {
    AppendRow(event.before(), /*keys_only=*/false, options, &out);
  } else {
    out.append("null");
  }
  out.append(",\"after\":");
  if (!truncate && event.after_size() > 0) {
    AppendRow(event.after(), /*keys_only=*/false, options, &out);
  } else {
    out.append("null");
  }
  out.append(",\"source\":{\"version\":");
  AppendJsonString(options.version, &out);
  out.append(",\"connector\":\"postgresql\",\"name\":");
  AppendJsonString(table.server(), &out);
  // Floor division: commit times before 1970 round towards -inf like Java's.
  int64_t commit_ms = src.commit_time_us() / 1000;
  if (src.commit_time_us() % 1000 < 0) --commit_ms;
  absl::StrAppend(&out, ",\"ts_ms\":", commit_ms, ",\"snapshot\":\"", SnapshotField(event),
                  "\",\"db\":");
  AppendJsonString(table.database(), &out);
  // sequence: [commit LSN of this transaction, LSN of this change] as decimal
  // strings. Debezium puts the previous transaction's commit LSN first; ours
  // orders the stream the same way and does not need state across events.
  absl::StrAppend(&out, ",\"sequence\":\"[\\\"", src.lsn(), "\\\",\\\"", src.event_lsn(),
                  "\\\"]\",\"schema\":");
  AppendJsonString(table.schema(), &out);
  out.append(",\"table\":");
  AppendJsonString(table.table(), &out);
  absl::StrAppend(&out, ",\"txId\":", src.txid(), ",\"lsn\":", src.event_lsn(),
                  ",\"xmin\":null},\"op\":\"", op, "\",\"ts_ms\":", event.ts_ms(),
                  ",\"transaction\":null}");
  return out;
}

std::string DebeziumTopic(const streamadmin::cdc::v1::TableId& table,
                          const std::string& topic_prefix) {
  std::string out;
  AppendTopicPart(topic_prefix.empty() ? table.server() : topic_prefix, &out);
  out.push_back('.');
  AppendTopicPart(table.schema(), &out);
  out.push_back('.');
  AppendTopicPart(table.table(), &out);
  return out;
}

}  // namespace sa::cdc
