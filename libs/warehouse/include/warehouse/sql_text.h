// cdc.v1.Value -> the text PostgreSQL's input function of the column's type
// accepts, so a value goes back into a table exactly as it came out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::warehouse {

// std::nullopt for SQL NULL. Errors (InvalidArgument): an unchanged TOAST
// value (it has no text: leave the column out), a Value with no kind set, a
// uuid that is not 16 bytes.
absl::StatusOr<std::optional<std::string>> ValueToSqlText(const streamadmin::cdc::v1::Value& value);

// The same text, appended to `out` (nothing appended and *null set for SQL
// NULL); the same errors. Allocates nothing beyond `out`'s growth for every
// kind but uuid and arrays.
absl::Status AppendSqlText(const streamadmin::cdc::v1::Value& value, std::string* out, bool* null);

// OK when ValueToSqlText(value) would succeed; does not build the text.
absl::Status CheckSqlText(const streamadmin::cdc::v1::Value& value);

// Appends `element` to a PostgreSQL array literal body: quoted, with '"' and
// '\' escaped, or NULL.
void AppendArrayElement(const std::optional<std::string>& element, std::string* out);
void AppendArrayText(std::string_view element, std::string* out);  // the same, never NULL

// Appends `value` as one field of COPY's text format: \N for NULL, and
// backslash, tab, newline and carriage return escaped.
void AppendCopyField(const std::optional<std::string>& value, std::string* out);
void AppendCopyText(std::string_view value, std::string* out);  // the same, never NULL

}  // namespace sa::warehouse
