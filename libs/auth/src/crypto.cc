#include "auth/crypto.h"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

#include "absl/strings/escaping.h"

namespace sa::auth {
namespace {

void EnsureSodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no usable randomness: nothing here can be safe
  });
}

const unsigned char* U(absl::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

std::string RandomBytes(size_t n) {
  EnsureSodium();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string Base64Url(absl::string_view data) { return absl::WebSafeBase64Escape(data); }

absl::StatusOr<std::string> FromBase64Url(absl::string_view text) {
  std::string out;
  if (!absl::WebSafeBase64Unescape(text, &out)) return absl::InvalidArgumentError("not base64url");
  return out;
}

std::string Base64(absl::string_view data) { return absl::Base64Escape(data); }

absl::StatusOr<std::string> FromBase64(absl::string_view text) {
  std::string out;
  if (!absl::Base64Unescape(text, &out)) return absl::InvalidArgumentError("not base64");
  return out;
}

KeyPair GenerateKeyPair() {
  EnsureSodium();
  KeyPair kp{std::string(crypto_sign_PUBLICKEYBYTES, '\0'), std::string(crypto_sign_SECRETKEYBYTES, '\0')};
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(kp.public_key.data()),
                      reinterpret_cast<unsigned char*>(kp.secret_key.data()));
  return kp;
}

absl::StatusOr<KeyPair> KeyPairFromSeed(absl::string_view seed) {
  EnsureSodium();
  if (seed.size() != crypto_sign_SEEDBYTES) return absl::InvalidArgumentError("an Ed25519 seed is 32 bytes");
  KeyPair kp{std::string(crypto_sign_PUBLICKEYBYTES, '\0'), std::string(crypto_sign_SECRETKEYBYTES, '\0')};
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(kp.public_key.data()),
                           reinterpret_cast<unsigned char*>(kp.secret_key.data()), U(seed));
  return kp;
}

std::string Sign(absl::string_view message, absl::string_view secret_key) {
  EnsureSodium();
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) std::abort();  // caller bug
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr, U(message), message.size(),
                       U(secret_key));
  return sig;
}

bool VerifySignature(absl::string_view message, absl::string_view signature, absl::string_view public_key) {
  EnsureSodium();
  if (signature.size() != crypto_sign_BYTES || public_key.size() != crypto_sign_PUBLICKEYBYTES) return false;
  return crypto_sign_verify_detached(U(signature), U(message), message.size(), U(public_key)) == 0;
}

absl::StatusOr<std::string> HashPassword(absl::string_view password) {
  EnsureSodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return absl::ResourceExhaustedError("Argon2id: out of memory");
  return std::string(out);
}

bool VerifyPassword(absl::string_view hash, absl::string_view password) {
  EnsureSodium();
  std::string h(hash);  // NUL-terminated copy
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string Sha256(absl::string_view data) {
  EnsureSodium();
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()), U(data), data.size());
  return out;
}

std::string Sha256Hex(absl::string_view data) { return absl::BytesToHexString(Sha256(data)); }

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  EnsureSodium();
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sa::auth
