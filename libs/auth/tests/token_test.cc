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

// Found by fuzz/targets/token.cc (fuzz/corpus/token/regression_claim_of_wrong_type):
// a correctly signed token whose "jti" was a number threw out of the verifier.
TEST(Token, RefusesSignedClaimsOfTheWrongTypeWithoutThrowing) {
  KeyPair k = GenerateKeyPair();
  auto sign = [&](const std::string& json) {
    std::string signed_part = "sa1." + Base64Url(json);
    return signed_part + "." + Base64Url(Sign(signed_part, k.secret_key));
  };
  for (const char* claims : {
           R"({"sub":"u1","jti":1456,"exp":2000,"perms":[]})",
           R"({"sub":"u1","name":["a"],"exp":2000,"perms":[]})",
           R"({"sub":"u1","key":{},"exp":2000,"perms":[]})",
           R"({"sub":"u1","iat":"yesterday","exp":2000,"perms":[]})",
           R"({"sub":"u1","exp":2000,"perms":["md:read",7]})",
           R"({"sub":"","exp":2000,"perms":[]})",
           R"({"sub":"u1","exp":2000.5,"perms":[]})",
           R"(["sub","u1"])",
       }) {
    auto c = TokenVerifier(k.public_key).Verify(sign(claims), 1000);
    EXPECT_TRUE(absl::IsUnauthenticated(c.status())) << claims << ": " << c.status();
  }
  auto ok = TokenVerifier(k.public_key).Verify(sign(R"({"sub":"u1","exp":2000,"perms":["md:read"]})"), 1000);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->perms, std::vector<std::string>{"md:read"});
}

}  // namespace
}  // namespace sa::auth
