#include "admin/bootstrap.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "admin/validation.h"
#include "auth/crypto.h"

namespace sa::admin {

absl::StatusOr<bool> CreateFirstAdministrator(Store& store, const std::string& username, const std::string& password) {
  if (auto st = ValidateUsername(username); !st.ok()) return st;
  if (auto st = ValidatePassword(password); !st.ok()) return st;
  auto n = store.CountUsers();
  if (!n.ok()) return n.status();
  if (*n > 0) return false;
  auto hash = auth::HashPassword(password);
  if (!hash.ok()) return hash.status();
  int64_t now = absl::ToUnixMicros(absl::Now());
  auto u = store.CreateUser(absl::StrCat("u_", absl::BytesToHexString(auth::RandomBytes(12))), username,
                            "first administrator", *hash, {"admin"}, now);
  if (!u.ok()) return u.status();
  streamadmin::admin::v1::AuditEntry e;
  e.set_time_us(now);
  e.set_actor("bootstrap");
  e.set_action("admin.init");
  e.set_resource(username);
  e.set_peer("local");
  e.set_outcome("OK");
  e.set_detail("first administrator created");
  (void)store.AppendAudit(e);
  return true;
}

}  // namespace sa::admin
