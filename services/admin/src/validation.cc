#include "admin/validation.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sa::admin {

absl::Status ValidatePassword(const std::string& p) {
  if (p.size() < 12) return absl::InvalidArgumentError("password: at least 12 bytes");
  if (p.size() > 1024) return absl::InvalidArgumentError("password: at most 1024 bytes");
  return absl::OkStatus();
}

absl::Status ValidateUsername(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return absl::InvalidArgumentError("username: 1 to 64 characters of [A-Za-z0-9._@-]");
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '@' || c == '-'))
      return absl::InvalidArgumentError("username: 1 to 64 characters of [A-Za-z0-9._@-]");
  }
  return absl::OkStatus();
}

absl::Status ValidateRoleName(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return absl::InvalidArgumentError("role name: 1 to 64 characters of [a-z0-9_-]");
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return absl::InvalidArgumentError("role name: 1 to 64 characters of [a-z0-9_-]");
  }
  return absl::OkStatus();
}

absl::Status ValidateText(const char* field, const std::string& value, size_t max_bytes) {
  if (value.size() > max_bytes)
    return absl::InvalidArgumentError(absl::StrCat(field, ": at most ", max_bytes, " bytes"));
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f)
      return absl::InvalidArgumentError(absl::StrCat(field, ": control characters are not allowed"));
  }
  return absl::OkStatus();
}

absl::Status ValidateNatsSubject(const std::string& s) {
  if (s.empty() || s.size() > 256) return absl::InvalidArgumentError("NATS subject: 1 to 256 bytes");
  for (absl::string_view token : absl::StrSplit(s, '.')) {
    if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("NATS subject '", s, "': empty token"));
  }
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return absl::InvalidArgumentError("NATS subject: no spaces or control characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateHexId(const char* field, const std::string& id) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok) return absl::InvalidArgumentError(absl::StrCat(field, ": 1 to 64 characters of [0-9a-f]"));
  return absl::OkStatus();
}

std::string AuditSafe(const std::string& text, size_t max_bytes) {
  std::string cut = text.size() > max_bytes ? text.substr(0, max_bytes) : text;
  bool plain = true;
  for (unsigned char c : cut) {
    if (c < 0x20 || c == 0x7f || c == '\\') plain = false;
  }
  std::string out = plain ? cut : absl::CEscape(cut);
  if (text.size() > max_bytes) absl::StrAppend(&out, "...(", text.size(), " bytes)");
  return out;
}

}  // namespace sa::admin
