#include "admin/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace sa::admin {
namespace {

TEST(AuditSafe, KeepsPrintableTextAndEscapesWhatCouldHideOrForgeAName) {
  EXPECT_EQ(AuditSafe("alice"), "alice");
  EXPECT_EQ(AuditSafe("O'Brien \xc3\xa4"), "O'Brien \xc3\xa4");
  EXPECT_EQ(AuditSafe(std::string("admin\0x", 7)), "admin\\000x");
  EXPECT_EQ(AuditSafe("a\nb\x1b[2J\x7f"), "a\\nb\\033[2J\\177");
  // A typed backslash cannot pass for an escaped NUL.
  EXPECT_NE(AuditSafe("admin\\000x"), AuditSafe(std::string("admin\0x", 7)));
  EXPECT_EQ(AuditSafe(std::string(300, 'a'), 256), std::string(256, 'a') + "...(300 bytes)");
}

TEST(Validation, NamesWithNulOrControlBytesAreRefused) {
  for (const std::string& bad : {std::string("admin\0x", 7), std::string("admin\n"), std::string("admin "),
                                 std::string(65, 'a'), std::string("\xc3\xa4" "dmin"), std::string()}) {
    EXPECT_FALSE(ValidateUsername(bad).ok());
  }
  EXPECT_TRUE(ValidateUsername("ops.team-1@example").ok());
  EXPECT_FALSE(ValidateRoleName(std::string("viewer\0", 7)).ok());
  EXPECT_TRUE(ValidateHexId("API key id", "0123456789abcdef").ok());
  EXPECT_FALSE(ValidateHexId("API key id", std::string("01\0", 3)).ok());
  EXPECT_FALSE(ValidateHexId("API key id", "0123ABCD").ok());
}

}  // namespace
}  // namespace sa::admin
