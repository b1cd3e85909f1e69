// Permissions are "resource:action"; either part may be "*" ("cdc:*", "*:read", "*:*").
// The permission each gRPC method needs is declared once, in RequiredPermission().
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sa::auth {

// Special values of RequiredPermission().
inline constexpr absl::string_view kOpen = "";                         // no token needed
inline constexpr absl::string_view kAuthenticated = "@authenticated";  // any valid token

// [a-z0-9_.-]{1,64} or "*", on both sides of one ':'.
absl::Status ValidatePermission(absl::string_view permission);

// True when `granted` (possibly with wildcards) covers `required` (no wildcards).
bool PermissionCovers(absl::string_view granted, absl::string_view required);
bool Allows(const std::vector<std::string>& granted, absl::string_view required);
// Reading a DSL source that needs `permission` ("md:read", "cdc:read"): for a
// captured table (`resource` "<server>.<schema>.<table>") cdc:read may be
// narrowed to cdc.<server>:read, cdc.<server>.<schema>:read or
// cdc.<server>.<schema>.<table>:read.
bool AllowsRead(const std::vector<std::string>& granted, absl::string_view permission, absl::string_view resource);

// The permissions granted by both sets: a required permission is covered by
// the result exactly when both `a` and `b` cover it. (Wildcards meet: "*:read"
// and "users:*" give "users:read".) Sorted, without duplicates.
std::vector<std::string> IntersectPermissions(const std::vector<std::string>& a, const std::vector<std::string>& b);

// The permission a full gRPC method name ("/pkg.Service/Method") needs.
// Health and reflection are open; methods nobody declared need "*:*".
absl::string_view RequiredPermission(absl::string_view method);

// A call that changes state (audited): declared with an action other than "read".
bool IsMutating(absl::string_view method);

}  // namespace sa::auth
