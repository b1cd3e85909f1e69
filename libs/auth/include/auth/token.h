// Access tokens: "sa1.<base64url JSON claims>.<base64url Ed25519 signature>",
// signed by the admin service and verified locally by every service with the
// admin's public key (no round trip). The claims carry the permissions the
// user's roles granted when the token was issued.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sa::auth {

struct Claims {
  std::string sub;     // user id
  std::string name;    // username
  std::string jti;     // token id (revocable)
  std::string key_id;  // API key id when the token was obtained with an API key
  int64_t iat_us = 0;
  int64_t exp_us = 0;
  std::vector<std::string> perms;  // "resource:action"
};

// secret_key: 64-byte libsodium Ed25519 secret key.
std::string IssueToken(const Claims& claims, absl::string_view secret_key);

// Thread-safe, immutable.
class TokenVerifier {
 public:
  explicit TokenVerifier(std::string public_key) : public_key_(std::move(public_key)) {}
  // Unauthenticated when malformed, signed by another key, or expired at now_us.
  absl::StatusOr<Claims> Verify(absl::string_view token, int64_t now_us) const;
  // Signature and format only (no expiry check).
  absl::StatusOr<Claims> VerifySignature(absl::string_view token) const;

 private:
  std::string public_key_;
};

}  // namespace sa::auth
