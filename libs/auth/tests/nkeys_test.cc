#include "auth/nkeys.h"

#include <gtest/gtest.h>

#include "auth/crypto.h"

namespace sa::auth::nkeys {
namespace {

TEST(NKeys, Crc16IsXmodem) {
  EXPECT_EQ(Crc16(""), 0x0000);
  EXPECT_EQ(Crc16("abc"), 0x9DD6);
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
}

// Vector published with the nkeys ports (seed -> public key, signature of a nonce).
TEST(NKeys, DecodesAKnownUserSeedAndSignsLikeOtherImplementations) {
  auto k = FromSeed("SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->type, Type::kUser);
  EXPECT_EQ(k->public_key, "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L");
  EXPECT_EQ(Base64(Sign("PXoWU7zWAMt75FY", k->secret_key)),
            "ZaAiVDgB5CeYoXoQ7cBCmq+ZllzUnGUoDVb8C7PilWvCs8XKfUchAUhz2P4BYAF++Dg3w05CqyQFRDiGL6LrDw==");
}

TEST(NKeys, GeneratedSeedsRoundTripWithTheirTypePrefix) {
  for (auto [type, s, p] : {std::tuple{Type::kOperator, "SO", 'O'}, std::tuple{Type::kAccount, "SA", 'A'},
                            std::tuple{Type::kUser, "SU", 'U'}}) {
    NKey k = Generate(type);
    EXPECT_EQ(k.seed.substr(0, 2), s);
    EXPECT_EQ(k.public_key[0], p);
    EXPECT_TRUE(ValidatePublicKey(k.public_key, type).ok());
    auto again = FromSeed(k.seed);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->public_key, k.public_key);
  }
  std::string bad = Generate(Type::kUser).seed;
  bad[10] = bad[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(FromSeed(bad).ok());
}

}  // namespace
}  // namespace sa::auth::nkeys
