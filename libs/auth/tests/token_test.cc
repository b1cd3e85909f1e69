#include "auth/token.h"

#include <gtest/gtest.h>

#include "auth/crypto.h"

namespace sa::auth {
namespace {

Claims Sample(int64_t exp_us) {
  Claims c;
  c.sub = "u1";
  c.name = "alice";
  c.jti = "t1";
  c.exp_us = exp_us;
  c.perms = {"cdc:*", "*:read"};
  return c;
}

TEST(Token, RoundTripsClaimsWhenSignedByTheTrustedKey) {
  KeyPair k = GenerateKeyPair();
  std::string t = IssueToken(Sample(2000), k.secret_key);
  auto c = TokenVerifier(k.public_key).Verify(t, 1000);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "alice");
  EXPECT_EQ(c->perms, (std::vector<std::string>{"cdc:*", "*:read"}));
}

TEST(Token, RejectsExpiredForeignAndTamperedTokens) {
  KeyPair k = GenerateKeyPair(), other = GenerateKeyPair();
  std::string t = IssueToken(Sample(2000), k.secret_key);
  EXPECT_EQ(TokenVerifier(k.public_key).Verify(t, 2000).status().message(), "access token expired");
  EXPECT_TRUE(absl::IsUnauthenticated(TokenVerifier(other.public_key).Verify(t, 1000).status()));
  // Swap in claims granting more: the signature no longer matches.
  Claims more = Sample(2000);
  more.perms = {"*:*"};
  std::string forged = IssueToken(more, other.secret_key);
  std::string spliced = forged.substr(0, forged.rfind('.')) + t.substr(t.rfind('.'));
  EXPECT_TRUE(absl::IsUnauthenticated(TokenVerifier(k.public_key).Verify(spliced, 1000).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(TokenVerifier(k.public_key).Verify("garbage", 1000).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(TokenVerifier(k.public_key).Verify("sa1..", 1000).status()));
}

}  // namespace
}  // namespace sa::auth
