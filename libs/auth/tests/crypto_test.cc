#include "auth/crypto.h"

#include <gtest/gtest.h>

namespace sa::auth {
namespace {

TEST(Crypto, PasswordHashIsArgon2idAndVerifiesOnlyTheRightPassword) {
  auto h = HashPassword("correct horse battery staple");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u) << *h;
  EXPECT_TRUE(VerifyPassword(*h, "correct horse battery staple"));
  EXPECT_FALSE(VerifyPassword(*h, "correct horse battery stapl"));
  EXPECT_NE(*h, *HashPassword("correct horse battery staple"));  // salted
}

TEST(Crypto, SignaturesVerifyWithTheirKeyOnly) {
  KeyPair a = GenerateKeyPair(), b = GenerateKeyPair();
  std::string sig = Sign("hello", a.secret_key);
  EXPECT_TRUE(VerifySignature("hello", sig, a.public_key));
  EXPECT_FALSE(VerifySignature("hellO", sig, a.public_key));
  EXPECT_FALSE(VerifySignature("hello", sig, b.public_key));
}

TEST(Crypto, SeedGivesTheSameKeyPair) {
  std::string seed = RandomBytes(32);
  EXPECT_EQ(KeyPairFromSeed(seed)->public_key, KeyPairFromSeed(seed)->public_key);
  EXPECT_FALSE(KeyPairFromSeed("short").ok());
}

}  // namespace
}  // namespace sa::auth
