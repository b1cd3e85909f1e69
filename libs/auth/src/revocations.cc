#include "auth/revocations.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/crypto.h"

namespace sa::auth {

std::string EncodeRevocation(const Revocation& r) {
  nlohmann::json j{{"kind", r.kind}, {"id", r.id}, {"until_us", r.until_us}};
  if (r.issued_before_us != 0) j["issued_before_us"] = r.issued_before_us;
  return j.dump();
}

std::optional<Revocation> DecodeRevocation(absl::string_view json) {
  auto j = nlohmann::json::parse(std::string_view(json.data(), json.size()), nullptr, false);
  if (!j.is_object() || !j["kind"].is_string() || !j["id"].is_string() || !j["until_us"].is_number_integer())
    return std::nullopt;
  Revocation r{j["kind"].get<std::string>(), j["id"].get<std::string>(), j["until_us"].get<int64_t>()};
  if (j.contains("issued_before_us")) {
    if (!j["issued_before_us"].is_number_integer()) return std::nullopt;
    r.issued_before_us = j["issued_before_us"].get<int64_t>();
  }
  if (r.kind != "jti" && r.kind != "sub" && r.kind != "key") return std::nullopt;
  return r;
}

namespace {
constexpr absl::string_view kSignedPrefix = "sarv1.";
}

std::string SignRevocation(const Revocation& r, absl::string_view secret_key) {
  std::string signed_part = absl::StrCat(kSignedPrefix, Base64Url(EncodeRevocation(r)));
  return absl::StrCat(signed_part, ".", Base64Url(Sign(signed_part, secret_key)));
}

RevocationCheck VerifyRevocation(absl::string_view message, absl::string_view public_key) {
  size_t dot = message.rfind('.');
  if (!absl::StartsWith(message, kSignedPrefix) || dot <= kSignedPrefix.size()) return {std::nullopt, "unsigned"};
  absl::string_view signed_part = message.substr(0, dot);
  auto sig = FromBase64Url(message.substr(dot + 1));
  if (!sig.ok() || !VerifySignature(signed_part, *sig, public_key)) return {std::nullopt, "bad_signature"};
  auto json = FromBase64Url(signed_part.substr(kSignedPrefix.size()));
  if (!json.ok()) return {std::nullopt, "malformed"};
  auto r = DecodeRevocation(*json);
  if (!r) return {std::nullopt, "malformed"};
  return {std::move(r), ""};
}

void RevocationList::Add(const Revocation& r) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = entries_.try_emplace(absl::StrCat(r.kind, ":", r.id), Entry{r.until_us, r.issued_before_us});
  if (!fresh) {
    Entry& e = it->second;
    e.until_us = std::max(e.until_us, r.until_us);
    e.issued_before_us =
        (e.issued_before_us == 0 || r.issued_before_us == 0) ? 0 : std::max(e.issued_before_us, r.issued_before_us);
  }
  ++generation_;
}

bool RevocationList::IsRevoked(const Claims& c, int64_t now_us) const {
  std::lock_guard lock(mu_);
  if (entries_.empty()) return false;
  auto hit = [&](const char* kind, const std::string& id) {
    if (id.empty()) return false;
    auto it = entries_.find(absl::StrCat(kind, ":", id));
    if (it == entries_.end() || it->second.until_us <= now_us) return false;
    return it->second.issued_before_us == 0 || c.iat_us < it->second.issued_before_us;
  };
  return hit("jti", c.jti) || hit("sub", c.sub) || hit("key", c.key_id);
}

std::vector<Revocation> RevocationList::Active(int64_t now_us) const {
  std::lock_guard lock(mu_);
  std::vector<Revocation> out;
  for (const auto& [k, e] : entries_) {
    if (e.until_us <= now_us) continue;
    size_t colon = k.find(':');
    out.push_back({k.substr(0, colon), k.substr(colon + 1), e.until_us, e.issued_before_us});
  }
  return out;
}

uint64_t RevocationList::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

}  // namespace sa::auth
