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

absl::StatusOr<int> Half(int v) {
  if (v % 2) return absl::InvalidArgumentError("odd");
  return v / 2;
}

absl::Status UseMacros(int v, int* out) {
  SA_ASSIGN_OR_RETURN(int h, Half(v));
  SA_RETURN_IF_ERROR(h > 100 ? absl::OutOfRangeError("big") : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(Status, MacrosPropagateErrorsAndUnwrapValues) {
  int out = 0;
  EXPECT_TRUE(UseMacros(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(UseMacros(3, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseMacros(400, &out).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace sa
