#include "auth/permissions.h"

#include <set>
#include <string_view>
#include <unordered_map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sa::auth {
namespace {

bool ValidPart(absl::string_view p) {
  if (p == "*") return true;
  if (p.empty() || p.size() > 64) return false;
  for (char c : p) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

// The one table: gRPC method -> permission. Keep in step with the protos.
const std::unordered_map<std::string_view, std::string_view>& MethodTable() {
  static const auto* table = new std::unordered_map<std::string_view, std::string_view>{
      // control.v1 on every service
      {"/streamadmin.control.v1.ServiceControl/GetStatus", "control:read"},
      {"/streamadmin.control.v1.ServiceControl/GetConfig", "control:read"},
      {"/streamadmin.control.v1.ServiceControl/Pause", "control:write"},
      {"/streamadmin.control.v1.ServiceControl/Resume", "control:write"},
      {"/streamadmin.control.v1.ServiceControl/Drain", "control:write"},
      // ingest.v1
      {"/streamadmin.ingest.v1.Ingest/ListSources", "ingest:read"},
      {"/streamadmin.ingest.v1.Ingest/AddSource", "ingest:write"},
      {"/streamadmin.ingest.v1.Ingest/RemoveSource", "ingest:write"},
      {"/streamadmin.ingest.v1.Ingest/StartReplay", "ingest:write"},
      // normalizer.v1
      {"/streamadmin.normalizer.v1.Normalizer/GetBook", "normalizer:read"},
      {"/streamadmin.normalizer.v1.Normalizer/ListGaps", "normalizer:read"},
      {"/streamadmin.normalizer.v1.Normalizer/ListVenues", "normalizer:read"},
      // cdc.v1 on cdc-bridge
      {"/streamadmin.cdc.v1.Cdc/ListConnectors", "cdc:read"},
      {"/streamadmin.cdc.v1.Cdc/ListSnapshots", "cdc:read"},
      {"/streamadmin.cdc.v1.Cdc/SnapshotTable", "cdc:write"},
      // cdc.v1 on warehouse-sink
      {"/streamadmin.cdc.v1.CdcSink/GetSinkStatus", "cdc:read"},
      // admin.v1
      {"/streamadmin.admin.v1.Users/CreateUser", "users:write"},
      {"/streamadmin.admin.v1.Users/GetUser", "users:read"},
      {"/streamadmin.admin.v1.Users/ListUsers", "users:read"},
      {"/streamadmin.admin.v1.Users/UpdateUser", "users:write"},
      {"/streamadmin.admin.v1.Users/SetUserRoles", "users:write"},
      {"/streamadmin.admin.v1.Users/SetPassword", "users:write"},
      {"/streamadmin.admin.v1.Users/DeleteUser", "users:write"},
      {"/streamadmin.admin.v1.Roles/PutRole", "roles:write"},
      {"/streamadmin.admin.v1.Roles/ListRoles", "roles:read"},
      {"/streamadmin.admin.v1.Roles/DeleteRole", "roles:write"},
      {"/streamadmin.admin.v1.ApiKeys/CreateApiKey", "apikeys:write"},
      {"/streamadmin.admin.v1.ApiKeys/ListApiKeys", "apikeys:read"},
      {"/streamadmin.admin.v1.ApiKeys/RevokeApiKey", "apikeys:write"},
      {"/streamadmin.admin.v1.Auth/Login", std::string_view()},
      {"/streamadmin.admin.v1.Auth/Refresh", std::string_view()},
      {"/streamadmin.admin.v1.Auth/Logout", std::string_view()},
      {"/streamadmin.admin.v1.Auth/GetPublicKey", std::string_view()},
      {"/streamadmin.admin.v1.Audit/ListAudit", "audit:read"},
      {"/streamadmin.admin.v1.NatsAccess/GetMyCredentials", "@authenticated"},
      {"/streamadmin.admin.v1.NatsAccess/GetCredentials", "nats:admin"},
      {"/streamadmin.admin.v1.NatsAccess/GetServerConfig", "nats:admin"},
      // query.v1 on admin: any valid token; each source then needs its own
      // permission (md:read, cdc:read or a per-table cdc.<...>:read), checked
      // by the service against the catalog (services/admin/include/admin/query.h).
      {"/streamadmin.query.v1.Query/Run", "@authenticated"},
      {"/streamadmin.query.v1.Query/Explain", "@authenticated"},
      {"/streamadmin.query.v1.Query/Validate", "@authenticated"},
      {"/streamadmin.query.v1.Query/Catalog", "@authenticated"},
      {"/streamadmin.query.v1.Query/Ask", "@authenticated"},
      // views.v1: definitions on admin; running views on each views replica.
      {"/streamadmin.views.v1.Views/CreateView", "views:write"},
      {"/streamadmin.views.v1.Views/ReplaceView", "views:write"},
      {"/streamadmin.views.v1.Views/DropView", "views:write"},
      {"/streamadmin.views.v1.Views/GetView", "views:read"},
      {"/streamadmin.views.v1.Views/ListViews", "views:read"},
      {"/streamadmin.views.v1.ViewsReplica/ListRunning", "views:read"},
  };
  return *table;
}

}  // namespace

absl::Status ValidatePermission(absl::string_view permission) {
  size_t colon = permission.find(':');
  if (colon == absl::string_view::npos || !ValidPart(permission.substr(0, colon)) ||
      !ValidPart(permission.substr(colon + 1)))
    return absl::InvalidArgumentError(
        absl::StrCat("permission '", permission.substr(0, 80), "' is not resource:action ([a-z0-9_.-] or *)"));
  return absl::OkStatus();
}

bool PermissionCovers(absl::string_view granted, absl::string_view required) {
  size_t g = granted.find(':'), r = required.find(':');
  if (g == absl::string_view::npos || r == absl::string_view::npos) return false;
  absl::string_view gr = granted.substr(0, g), ga = granted.substr(g + 1);
  absl::string_view rr = required.substr(0, r), ra = required.substr(r + 1);
  return (gr == "*" || gr == rr) && (ga == "*" || ga == ra);
}

bool Allows(const std::vector<std::string>& granted, absl::string_view required) {
  for (const auto& g : granted) {
    if (PermissionCovers(g, required)) return true;
  }
  return false;
}

bool AllowsRead(const std::vector<std::string>& granted, absl::string_view permission, absl::string_view resource) {
  if (Allows(granted, permission)) return true;
  if (permission != "cdc:read" || resource.empty()) return false;
  // cdc.<server>:read, cdc.<server>.<schema>:read, cdc.<server>.<schema>.<table>:read
  std::string prefix = "cdc";
  for (absl::string_view part : absl::StrSplit(resource, '.')) {
    absl::StrAppend(&prefix, ".", part);
    const std::string required = absl::StrCat(prefix, ":read");
    if (ValidatePermission(required).ok() && Allows(granted, required)) return true;
  }
  return false;
}

namespace {
// The meet of two parts ("*" is the top); empty when they are disjoint.
absl::string_view Meet(absl::string_view a, absl::string_view b) {
  if (a == "*") return b;
  if (b == "*" || a == b) return a;
  return {};
}
}  // namespace

std::vector<std::string> IntersectPermissions(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::set<std::string> out;
  for (const auto& x : a) {
    size_t xc = x.find(':');
    if (xc == std::string::npos) continue;
    for (const auto& y : b) {
      size_t yc = y.find(':');
      if (yc == std::string::npos) continue;
      absl::string_view xv(x), yv(y);
      absl::string_view r = Meet(xv.substr(0, xc), yv.substr(0, yc));
      absl::string_view act = Meet(xv.substr(xc + 1), yv.substr(yc + 1));
      if (!r.empty() && !act.empty()) out.insert(absl::StrCat(r, ":", act));
    }
  }
  return {out.begin(), out.end()};
}

absl::string_view RequiredPermission(absl::string_view method) {
  if (absl::StartsWith(method, "/grpc.health.v1.Health/") ||
      absl::StartsWith(method, "/grpc.reflection.v1alpha.ServerReflection/") ||
      absl::StartsWith(method, "/grpc.reflection.v1.ServerReflection/"))
    return kOpen;
  const auto& t = MethodTable();
  auto it = t.find(std::string_view(method.data(), method.size()));
  if (it == t.end()) return "*:*";
  return absl::string_view(it->second.data(), it->second.size());
}

bool IsMutating(absl::string_view method) {
  absl::string_view p = RequiredPermission(method);
  if (p == kOpen || p == kAuthenticated) return false;
  return !absl::EndsWith(p, ":read");
}

}  // namespace sa::auth
