// absl::Status is the one error type across library boundaries. Its codes map
// one to one onto gRPC status codes; these helpers convert at the gRPC edge.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sa {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// RETURN_IF_ERROR(expr): propagate a non-OK absl::Status.
#define SA_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    if (absl::Status _sa_st = (expr); !_sa_st.ok()) return _sa_st; \
  } while (0)

#define SA_CONCAT_INNER(a, b) a##b
#define SA_CONCAT(a, b) SA_CONCAT_INNER(a, b)
// SA_ASSIGN_OR_RETURN(auto x, StatusOrExpr()): unwrap or propagate the error.
#define SA_ASSIGN_OR_RETURN(lhs, expr)                          \
  auto SA_CONCAT(_sa_or_, __LINE__) = (expr);                   \
  if (!SA_CONCAT(_sa_or_, __LINE__).ok())                       \
    return SA_CONCAT(_sa_or_, __LINE__).status();               \
  lhs = std::move(*SA_CONCAT(_sa_or_, __LINE__))

}  // namespace sa
