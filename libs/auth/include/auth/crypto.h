// Cryptographic building blocks of libs/auth, all from libsodium: random
// bytes, Ed25519 signatures, Argon2id password hashes, SHA-256. Every function
// is thread-safe; sodium_init() runs once on first use.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sa::auth {

// n bytes from the OS CSPRNG.
std::string RandomBytes(size_t n);

// RFC 4648 base64url without padding (tokens), and standard base64 (keys in config).
std::string Base64Url(absl::string_view data);
absl::StatusOr<std::string> FromBase64Url(absl::string_view text);
std::string Base64(absl::string_view data);
absl::StatusOr<std::string> FromBase64(absl::string_view text);

// Ed25519. public_key: 32 bytes; secret_key: 64 bytes (libsodium's seed||pk); seed: 32 bytes.
struct KeyPair {
  std::string public_key;
  std::string secret_key;
};
KeyPair GenerateKeyPair();
absl::StatusOr<KeyPair> KeyPairFromSeed(absl::string_view seed);
std::string Sign(absl::string_view message, absl::string_view secret_key);
bool VerifySignature(absl::string_view message, absl::string_view signature, absl::string_view public_key);

// Argon2id (crypto_pwhash_str, interactive limits): the result embeds salt and parameters.
absl::StatusOr<std::string> HashPassword(absl::string_view password);
bool VerifyPassword(absl::string_view hash, absl::string_view password);

// Lower-case hex SHA-256: for high-entropy secrets (API keys, refresh tokens) only.
std::string Sha256Hex(absl::string_view data);
std::string Sha256(absl::string_view data);

// Compares in constant time.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace sa::auth
