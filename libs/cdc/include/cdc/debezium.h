// ChangeEvent -> Debezium PostgreSQL connector records (JSON converter,
// schemas.enable=false), so existing Debezium consumers read the Kafka output
// unchanged. Pure functions, no I/O; the type table is in libs/cdc/README.md.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::cdc {

struct DebeziumOptions {
  // source.version. Consumers do not interpret it; the envelope is the 2.5
  // layout (no ts_us/ts_ns, which 2.6 added).
  std::string version = "2.5.4.Final";
  // What an unchanged TOASTed column becomes (Debezium's
  // unavailable.value.placeholder), always as a JSON string.
  std::string unavailable_value_placeholder = "__debezium_unavailable_value";
};

// "c", "u", "d", "r", "t"; empty for OP_UNSPECIFIED.
absl::string_view DebeziumOp(streamadmin::cdc::v1::Op op);

// True when the event has a Kafka key: not a truncate, and the row image
// that names the row (after for c/r/u, before for d) has key columns.
bool HasDebeziumKey(const streamadmin::cdc::v1::ChangeEvent& event);

// The record key: a JSON object of the key columns in column order, e.g.
// {"id":1}; "null" when !HasDebeziumKey (the Kafka record then has no key).
std::string DebeziumKeyJson(const streamadmin::cdc::v1::ChangeEvent& event,
                            const DebeziumOptions& options = {});

// The record value: {"before","after","source","op","ts_ms","transaction"}.
// Precondition: event.op() != OP_UNSPECIFIED (aborts otherwise; the Kafka
// sink rejects such events before calling this).
std::string DebeziumValueJson(const streamadmin::cdc::v1::ChangeEvent& event,
                              const DebeziumOptions& options = {});

// Topic <prefix>.<schema>.<table>; prefix = topic_prefix or, when empty,
// event.table().server(). Characters Kafka does not allow in topic names
// (outside [A-Za-z0-9._-]) become '_', as Debezium's topic naming does.
std::string DebeziumTopic(const streamadmin::cdc::v1::TableId& table,
                          const std::string& topic_prefix);

// JSON string literal (with quotes) of `s`: ", \ and control characters
// escaped (\n \t \r \b \f, else \u00XX), valid UTF-8 passed through, each
// byte of an invalid UTF-8 sequence replaced by U+FFFD.
void AppendJsonString(absl::string_view s, std::string* out);

// ISO-8601 UTC with 'Z', seconds always, fraction without trailing zeros
// (Java's ISO_OFFSET_DATE_TIME), e.g. "2024-01-15T10:30:00.1234Z".
std::string FormatZonedTimestamp(int64_t unix_micros);

}  // namespace sa::cdc
