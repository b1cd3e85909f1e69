#include "common/status.h"

#include <gtest/gtest.h>

namespace sa {
namespace {

TEST(Status, CodesAndMessagesSurviveTheGrpcRoundTrip) {
  absl::Status st = absl::PermissionDeniedError("missing cdc:write");
  grpc::Status g = ToGrpcStatus(st);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(g.error_message(), "missing cdc:write");
  EXPECT_EQ(FromGrpcStatus(g), st);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace sa
