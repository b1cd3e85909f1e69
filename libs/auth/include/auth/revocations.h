// Revocations that must take effect before an access token expires: a token
// (jti), every token of a user (sub: logout everywhere, user removed), every
// token obtained with an API key (key). The admin service publishes them on
// NATS (SignRevocation) and republishes the active set periodically; each
// service's Enforcer keeps them here until they can no longer matter
// (until_us = the latest expiry of a token they cover).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/string_view.h"
#include "auth/token.h"
#include "wire/subjects.h"

namespace sa::auth {

inline constexpr const auto& kDefaultRevocationSubject = wire::kAuthRevoked;

struct Revocation {
  std::string kind;  // "jti", "sub" or "key"
  std::string id;
  int64_t until_us = 0;
  // Only tokens issued (iat) before this instant are revoked; 0: every token.
  // A disabled user, a password reset: tokens issued afterwards (a re-enabled
  // user's new login) are not affected.
  int64_t issued_before_us = 0;
};

std::string EncodeRevocation(const Revocation& r);
std::optional<Revocation> DecodeRevocation(absl::string_view json);

// What travels on sa.auth.revoked: the revocation signed by the admin's token
// key, so that a subscriber acts only on revocations the admin made (anyone
// who can make a message appear on the subject — a JetStream republish, a
// push consumer's deliveries — cannot forge one):
//   "sarv1.<base64url EncodeRevocation>.<base64url Ed25519 signature of the
//   text before the last '.'>"
// The prefix differs from access tokens' ("sa1."), so a token's signature can
// never pass for a revocation's. A signed revocation replayed changes nothing
// (adding an entry twice is adding it once).
// secret_key: 64-byte libsodium Ed25519 secret key.
std::string SignRevocation(const Revocation& r, absl::string_view secret_key);

struct RevocationCheck {
  std::optional<Revocation> revocation;  // set when accepted
  // Else why, a bounded metric label: "unsigned" (not in the signed form,
  // e.g. bare JSON), "bad_signature" (not signed by `public_key`'s owner),
  // "malformed" (signed form, but no valid revocation inside).
  std::string rejected;
};
RevocationCheck VerifyRevocation(absl::string_view message, absl::string_view public_key);

// Thread-safe.
class RevocationList {
 public:
  // Merging two entries of the same kind and id keeps the later until_us and
  // the later issued_before_us (0, "every token", covers any bound).
  void Add(const Revocation& r);
  // Revoked when its jti, its user or its API key is (and it was issued before the bound).
  bool IsRevoked(const Claims& claims, int64_t now_us) const;
  std::vector<Revocation> Active(int64_t now_us) const;
  // Bumped by every Add; lets caches know their verdicts may be stale.
  uint64_t generation() const;

 private:
  mutable std::mutex mu_;
  struct Entry {
    int64_t until_us = 0;
    int64_t issued_before_us = 0;  // 0: every token
  };
  std::unordered_map<std::string, Entry> entries_;  // "kind:id"
  uint64_t generation_ = 0;
};

}  // namespace sa::auth
