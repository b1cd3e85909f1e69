#include "auth/token.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "auth/crypto.h"

namespace sa::auth {
namespace {
constexpr absl::string_view kPrefix = "sa1.";
}

std::string IssueToken(const Claims& c, absl::string_view secret_key) {
  nlohmann::json j = {{"sub", c.sub},    {"name", c.name},  {"jti", c.jti},
                      {"iat", c.iat_us}, {"exp", c.exp_us}, {"perms", c.perms}};
  if (!c.key_id.empty()) j["key"] = c.key_id;
  std::string signed_part = absl::StrCat(kPrefix, Base64Url(j.dump()));
  return absl::StrCat(signed_part, ".", Base64Url(Sign(signed_part, secret_key)));
}

absl::StatusOr<Claims> TokenVerifier::VerifySignature(absl::string_view token) const {
  if (!absl::StartsWith(token, kPrefix)) return absl::UnauthenticatedError("malformed access token");
  size_t dot = token.rfind('.');
  if (dot <= kPrefix.size()) return absl::UnauthenticatedError("malformed access token");
  absl::string_view signed_part = token.substr(0, dot);
  auto sig = FromBase64Url(token.substr(dot + 1));
  if (!sig.ok()) return absl::UnauthenticatedError("malformed access token signature");
  if (!auth::VerifySignature(signed_part, *sig, public_key_))
    return absl::UnauthenticatedError("access token signature invalid (not issued by this admin key)");
  auto payload = FromBase64Url(signed_part.substr(kPrefix.size()));
  if (!payload.ok()) return absl::UnauthenticatedError("malformed access token claims");
  const nlohmann::json j = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  // Every field is type-checked before it is read: a claim of the wrong type
  // refuses the token (found by fuzz/targets/token.cc: "jti": 1 used to throw).
  auto str = [&](const char* k) { return !j.contains(k) || j[k].is_string(); };
  auto num = [&](const char* k) { return !j.contains(k) || j[k].is_number_integer(); };
  if (!j.is_object() || !j.contains("sub") || !j["sub"].is_string() || !j.contains("exp") ||
      !j["exp"].is_number_integer() || !j.contains("perms") || !j["perms"].is_array() || !str("name") ||
      !str("jti") || !str("key") || !num("iat"))
    return absl::UnauthenticatedError("malformed access token claims");
  Claims c;
  c.sub = j["sub"].get<std::string>();
  if (c.sub.empty()) return absl::UnauthenticatedError("malformed access token claims (empty sub)");
  c.name = j.value("name", "");
  c.jti = j.value("jti", "");
  c.key_id = j.value("key", "");
  c.iat_us = j.value("iat", int64_t{0});
  c.exp_us = j["exp"].get<int64_t>();
  for (const auto& p : j["perms"]) {
    if (!p.is_string()) return absl::UnauthenticatedError("malformed access token claims (perms)");
    c.perms.push_back(p.get<std::string>());
  }
  return c;
}

absl::StatusOr<Claims> TokenVerifier::Verify(absl::string_view token, int64_t now_us) const {
  auto c = VerifySignature(token);
  if (!c.ok()) return c;
  if (c->exp_us <= now_us) return absl::UnauthenticatedError("access token expired");
  return c;
}

}  // namespace sa::auth
