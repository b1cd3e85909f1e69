// Input rules of the admin service: identifiers are checked against a strict
// alphabet; free text is stored verbatim but has a size limit and no control
// characters (PostgreSQL text cannot hold NUL; logs and terminals must not be
// steered by what a user typed).
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"

namespace sa::admin {

absl::Status ValidateUsername(const std::string& name);      // [A-Za-z0-9._@-]{1,64}
absl::Status ValidateRoleName(const std::string& name);      // [a-z0-9_-]{1,64}
absl::Status ValidatePassword(const std::string& password);  // 12..1024 bytes
absl::Status ValidateText(const char* field, const std::string& value, size_t max_bytes);
absl::Status ValidateNatsSubject(const std::string& subject);
absl::Status ValidateHexId(const char* field, const std::string& id);  // [0-9a-f]{1,64}

// `text` as it may be written to the audit log and to logs: verbatim when it
// holds no control byte (NUL included), DEL or backslash; otherwise C-escaped
// ("admin\000x"), so an attempted name can never pass for another one.
// Longer than max_bytes: cut, with "...(N bytes)" appended.
std::string AuditSafe(const std::string& text, size_t max_bytes = 256);

}  // namespace sa::admin
