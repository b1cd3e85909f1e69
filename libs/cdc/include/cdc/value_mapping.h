// Text output of PostgreSQL types -> streamadmin.cdc.v1.Value, by type OID.
// The walsender session must use DateStyle=ISO, TimeZone=UTC,
// bytea_output=hex, extra_float_digits=3 (ReplicationClient sets them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::cdc {

// Built-in type names ("int8", "_text", ...); empty for an OID we do not know.
std::string BuiltinTypeName(uint32_t type_oid);

// Element type of a known one-dimensional array type; 0 if not an array we map.
uint32_t ArrayElementType(uint32_t array_oid);

// Strict conversion; an error (InvalidArgument naming the type) when `text` is
// not what the type's output function produces or has no typed mapping
// (infinity timestamps, BC dates, multi-dimensional arrays).
absl::Status ConvertTextValue(uint32_t type_oid, absl::string_view text,
                              streamadmin::cdc::v1::Value* out);

// Never fails: ConvertTextValue, falling back to text_value with the exact
// text when the type is unknown or the strict conversion failed.
void MapTextValue(uint32_t type_oid, absl::string_view text, streamadmin::cdc::v1::Value* out);

// Parses a one-dimensional array literal ("{1,NULL,\"a b\"}", optionally with
// a "[lo:hi]=" dimension prefix) into element strings; nullopt entries are NULL.
absl::Status ParseArrayLiteral(absl::string_view text,
                               std::vector<std::optional<std::string>>* elements);

}  // namespace sa::cdc
