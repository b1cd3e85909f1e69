// NATS nkeys and JWTs (the decentralized auth model: operator -> account ->
// user), implemented on libsodium's Ed25519 as specified by nats-io/nkeys and
// nats-io/jwt v2.
//
// An nkey is base32 (RFC 4648, no padding) of prefix byte(s) + 32-byte key +
// CRC16/XMODEM (little endian). Seeds start with "S" + the type letter
// ("SO", "SA", "SU"); public keys with the type letter ("O", "A", "U").
// A JWT is header {"typ":"JWT","alg":"ed25519-nkey"} . claims . Ed25519
// signature of "header.claims" by the issuer's seed, all base64url raw.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sa::auth::nkeys {

enum class Type : uint8_t { kOperator = 14 << 3, kAccount = 0, kUser = 20 << 3 };

struct NKey {
  Type type;
  std::string seed;        // "S..." text
  std::string public_key;  // "O..."/"A..."/"U..." text
  std::string secret_key;  // 64-byte libsodium secret key
};

NKey Generate(Type type);
// The key of a 32-byte Ed25519 seed (derived keys: the admin's system account).
NKey FromRawSeed(Type type, absl::string_view seed);
absl::StatusOr<NKey> FromSeed(absl::string_view seed_text);
// Checks the CRC and the type of a public key.
absl::Status ValidatePublicKey(absl::string_view public_key, Type type);

uint16_t Crc16(absl::string_view data);
std::string Base32(absl::string_view data);

struct Permissions {
  std::vector<std::string> pub_allow, pub_deny, sub_allow, sub_deny;
};

// JWTs signed by `issuer`.
std::string OperatorJwt(const NKey& op, const std::string& name, int64_t now_s);
// jetstream: unlimited JetStream for the account (never for the system account).
std::string AccountJwt(const NKey& op, const std::string& account_public_key, const std::string& name, int64_t now_s,
                       bool jetstream = true);
std::string UserJwt(const NKey& account, const std::string& user_public_key, const std::string& name,
                    const Permissions& perms, int64_t now_s, int64_t expires_s);

// A .creds file as nats.c (natsOptions_SetUserCredentialsFromFiles) and the nats CLI read it.
std::string CredsFile(const std::string& user_jwt, const std::string& user_seed);

}  // namespace sa::auth::nkeys
