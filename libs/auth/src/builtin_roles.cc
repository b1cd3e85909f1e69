#include "auth/builtin_roles.h"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "absl/strings/str_split.h"

namespace sa::auth {
namespace {

namespace adm = streamadmin::admin::v1;

adm::Role MakeRole(const char* name, const char* description, std::initializer_list<const char*> perms,
                   std::initializer_list<const char*> pub_allow, std::initializer_list<const char*> pub_deny,
                   std::initializer_list<const char*> sub_allow, std::initializer_list<const char*> sub_deny) {
  adm::Role r;
  r.set_name(name);
  r.set_description(description);
  for (const char* p : perms) {
    std::pair<std::string, std::string> ra = absl::StrSplit(p, absl::MaxSplits(':', 1));
    auto* perm = r.add_permissions();
    perm->set_resource(ra.first);
    perm->set_action(ra.second);
  }
  for (const char* s : pub_allow) r.mutable_nats()->add_publish_allow(s);
  for (const char* s : pub_deny) r.mutable_nats()->add_publish_deny(s);
  for (const char* s : sub_allow) r.mutable_nats()->add_subscribe_allow(s);
  for (const char* s : sub_deny) r.mutable_nats()->add_subscribe_deny(s);
  return r;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

std::vector<adm::Role> BuiltinRoles() {
  return {
      MakeRole("admin", "everything", {"*:*"}, {">"}, {}, {">"}, {}),
      MakeRole(
          "viewer", "read everything but the audit log; subscribe to market data and anomalies",
          {"control:read", "ingest:read", "normalizer:read", "cdc:read", "users:read", "roles:read", "apikeys:read",
           "md:read"},
          {}, {">"}, {"md.>", "anomaly.>", "_INBOX.>"}, {"cdc.>", "md.raw.>"}),
      MakeRole("svc-ingest", "the ingest service", {"control:read"},
               {"md.raw.>", "dlq.ingest", "$JS.API.>", "sa.audit.denied.ingest", "sa.audit.call.ingest"}, {},
               {"_INBOX.>", "md.ctl.snapshot.>", "sa.auth.revoked"}, {}),
      MakeRole("svc-normalizer", "the normalizer service", {"control:read"},
               {"md.trade.>", "md.ticker.>", "md.book.>", "md.candle.>", "md.status.>", "md.ctl.snapshot.>",
                "dlq.normalizer", "$JS.API.>", "$JS.ACK.>", "sa.audit.denied.normalizer", "sa.audit.call.normalizer"},
               {}, {"_INBOX.>", "sa.auth.revoked"}, {}),
      MakeRole("svc-cdc-bridge", "the cdc-bridge service", {"control:read"},
               {"cdc.>", "dlq.cdc", "dlq.warehouse", "$JS.API.>", "$JS.ACK.>", "$KV.CDC_SNAPSHOTS.>",
                "sa.audit.denied.cdc-bridge", "sa.audit.call.cdc-bridge"},
               {}, {"_INBOX.>", "sa.auth.revoked"}, {}),
      MakeRole("svc-anomaly", "the anomaly service", {"control:read"},
               {"anomaly.>", "$JS.API.>", "$JS.ACK.>", "sa.audit.denied.anomaly", "sa.audit.call.anomaly"}, {},
               {"md.>", "_INBOX.>", "sa.auth.revoked"}, {}),
      MakeRole("svc-admin", "the admin service", {"control:read"}, {"sa.auth.revoked", "$JS.API.>"}, {},
               {"sa.audit.>", "_INBOX.>", "sa.auth.revoked"}, {}),
  };
}

nkeys::Permissions NatsPermissionsOf(const std::vector<adm::Role>& roles) {
  nkeys::Permissions p;
  for (const auto& r : roles) {
    for (const auto& s : r.nats().publish_allow()) AddUnique(&p.pub_allow, s);
    for (const auto& s : r.nats().publish_deny()) AddUnique(&p.pub_deny, s);
    for (const auto& s : r.nats().subscribe_allow()) AddUnique(&p.sub_allow, s);
    for (const auto& s : r.nats().subscribe_deny()) AddUnique(&p.sub_deny, s);
  }
  return p;
}

}  // namespace sa::auth
