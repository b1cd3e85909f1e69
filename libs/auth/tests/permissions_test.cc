#include "auth/permissions.h"

#include <gtest/gtest.h>

namespace sa::auth {
namespace {

TEST(Permissions, WildcardsCoverResourceOrAction) {
  EXPECT_TRUE(Allows({"cdc:*"}, "cdc:write"));
  EXPECT_TRUE(Allows({"*:read"}, "users:read"));
  EXPECT_TRUE(Allows({"*:*"}, "anything:at_all"));
  EXPECT_FALSE(Allows({"*:read"}, "users:write"));
  EXPECT_FALSE(Allows({"cdc:*"}, "ingest:read"));
  EXPECT_FALSE(Allows({}, "users:read"));
  EXPECT_FALSE(Allows({"cdcx:read"}, "cdc:read"));
}

TEST(Permissions, ValidationRejectsMalformedOnes) {
  EXPECT_TRUE(ValidatePermission("cdc:*").ok());
  EXPECT_TRUE(ValidatePermission("*:read").ok());
  for (const char* bad : {"", "cdc", "cdc:", ":read", "Cdc:read", "cdc:read:x", "c d:read", "cdc:re'ad"})
    EXPECT_FALSE(ValidatePermission(bad).ok()) << bad;
}

TEST(Permissions, HealthAndReflectionAreOpenUnknownMethodsNeedEverything) {
  EXPECT_EQ(RequiredPermission("/grpc.health.v1.Health/Check"), kOpen);
  EXPECT_EQ(RequiredPermission("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"), kOpen);
  EXPECT_EQ(RequiredPermission("/streamadmin.admin.v1.Auth/Login"), kOpen);
  EXPECT_EQ(RequiredPermission("/streamadmin.control.v1.ServiceControl/Pause"), "control:write");
  EXPECT_EQ(RequiredPermission("/x.y.Z/Unknown"), "*:*");
  EXPECT_TRUE(IsMutating("/streamadmin.admin.v1.Users/CreateUser"));
  EXPECT_FALSE(IsMutating("/streamadmin.admin.v1.Users/ListUsers"));
}

}  // namespace
}  // namespace sa::auth
