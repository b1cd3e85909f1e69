// absl::Status is the one error type across library boundaries. Its codes map
// one to one onto gRPC status codes; these helpers convert at the gRPC edge.
// Errors propagate with the plain `if (auto st = ...; !st.ok()) return st;`
// (no SA_RETURN_IF_ERROR / SA_ASSIGN_OR_RETURN macros: docs/STYLE.md).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sa {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace sa
