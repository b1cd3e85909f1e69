#include "auth/permissions.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "auth/builtin_roles.h"

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

// Oracle: on every concrete permission of a small universe, the intersection
// allows exactly what both sets allow.
TEST(Permissions, IntersectionAllowsExactlyWhatBothSetsAllow) {
  const std::vector<std::string> parts = {"users", "audit", "*"};
  const std::vector<std::string> actions = {"read", "write", "*"};
  std::vector<std::string> all;
  for (const auto& r : parts)
    for (const auto& a : actions) all.push_back(r + ":" + a);
  // Every pair of subsets of size <= 2 of the 9 patterns.
  std::vector<std::vector<std::string>> sets = {{}};
  for (size_t i = 0; i < all.size(); ++i) {
    sets.push_back({all[i]});
    for (size_t j = i + 1; j < all.size(); ++j) sets.push_back({all[i], all[j]});
  }
  for (const auto& a : sets) {
    for (const auto& b : sets) {
      auto both = IntersectPermissions(a, b);
      for (const char* r : {"users:read", "users:write", "audit:read", "audit:write", "roles:read", "roles:delete"})
        ASSERT_EQ(Allows(both, r), Allows(a, r) && Allows(b, r))
            << r << " in " << ::testing::PrintToString(a) << " x " << ::testing::PrintToString(b);
    }
  }
  EXPECT_EQ(IntersectPermissions({"*:read"}, {"users:*"}), (std::vector<std::string>{"users:read"}));
  EXPECT_EQ(IntersectPermissions({"*:*"}, {"cdc:read", "cdc:read"}), (std::vector<std::string>{"cdc:read"}));
  EXPECT_TRUE(IntersectPermissions({"users:read"}, {"audit:*"}).empty());
}

TEST(BuiltinRoles, TheViewerReadsButNotTheAuditLog) {
  for (const auto& role : BuiltinRoles()) {
    if (role.name() != "viewer") continue;
    std::vector<std::string> perms;
    for (const auto& p : role.permissions()) perms.push_back(p.resource() + ":" + p.action());
    EXPECT_FALSE(Allows(perms, "audit:read"));
    for (const char* r : {"users:read", "roles:read", "apikeys:read", "control:read", "cdc:read", "normalizer:read",
                          "ingest:read", "md:read"})
      EXPECT_TRUE(Allows(perms, r)) << r;
    EXPECT_FALSE(Allows(perms, "users:write"));
    return;
  }
  FAIL() << "no built-in viewer role";
}

// [6].13: no role but the administrator's may call any JetStream API; each
// service's rights name its own streams and durables.
TEST(BuiltinRoles, ServiceRolesCallOnlyTheirOwnJetStreamApis) {
  for (const auto& role : BuiltinRoles()) {
    if (role.name() == "admin") continue;
    for (const auto& s : role.nats().publish_allow()) {
      EXPECT_NE(s, "$JS.API.>") << role.name();
      EXPECT_NE(s, "$JS.ACK.>") << role.name();
      EXPECT_FALSE(s.find("$JS.API.STREAM.UPDATE") == 0 || s.find("$JS.API.STREAM.DELETE") == 0 ||
                   s.find("$JS.API.STREAM.PURGE") == 0)
          << role.name() << ": " << s;
      // One exception: the views service names its durables view_<name>,
      // one per view, and NATS cannot narrow a token to a prefix; it may use
      // any consumer of the source streams (docs/SECURITY.md), nothing else.
      const bool views_consumer = role.name() == "svc-views" && s.starts_with("$JS.API.CONSUMER.") &&
                                  (s.ends_with(".MD.*") || s.ends_with(".CDC.*") || s.ends_with(".ANOMALY.*") ||
                                   s.ends_with(".MD.*.>") || s.ends_with(".CDC.*.>") || s.ends_with(".ANOMALY.*.>"));
      if (s.starts_with("$JS.API.") && !views_consumer)
        EXPECT_EQ(s.find('*'), std::string::npos) << role.name() << ": " << s;
    }
  }
  auto publish_of = [](const std::string& name) {
    for (const auto& role : BuiltinRoles()) {
      if (role.name() == name)
        return std::vector<std::string>(role.nats().publish_allow().begin(), role.nats().publish_allow().end());
    }
    return std::vector<std::string>{};
  };
  auto normalizer = publish_of("svc-normalizer");
  for (const char* s : {"$JS.API.CONSUMER.CREATE.MD_RAW.normalizer", "$JS.API.CONSUMER.MSG.NEXT.MD_RAW.normalizer",
                        "$JS.ACK.MD_RAW.normalizer.>", "$JS.API.STREAM.CREATE.MD"})
    EXPECT_NE(std::find(normalizer.begin(), normalizer.end(), s), normalizer.end()) << s;
  auto cdc = publish_of("svc-cdc-bridge");
  for (const char* s : {"$KV.CDC_SNAPSHOTS.>", "$JS.API.STREAM.MSG.GET.KV_CDC_SNAPSHOTS", "$JS.API.STREAM.CREATE.CDC"})
    EXPECT_NE(std::find(cdc.begin(), cdc.end(), s), cdc.end()) << s;
  // The warehouse sink's rights are warehouse-sink's, not cdc-bridge's.
  auto sink = publish_of("svc-warehouse-sink");
  for (const char* s : {"$JS.API.CONSUMER.MSG.NEXT.CDC.warehouse", "$JS.ACK.CDC.warehouse.>",
                        "$JS.API.CONSUMER.MSG.NEXT.MD.warehouse-trades", "$JS.API.CONSUMER.MSG.NEXT.MD.warehouse-candles",
                        "$JS.API.STREAM.CREATE.DLQ", "dlq.cdc", "dlq.warehouse", "sa.audit.denied.warehouse-sink"}) {
    EXPECT_NE(std::find(sink.begin(), sink.end(), s), sink.end()) << s;
    if (std::string(s).find("warehouse") != std::string::npos)
      EXPECT_EQ(std::find(cdc.begin(), cdc.end(), s), cdc.end()) << s;
  }
  for (const char* s : {"$JS.API.STREAM.CREATE.CDC", "$JS.API.STREAM.CREATE.MD", "cdc.>", "md.trade.>"})
    EXPECT_EQ(std::find(sink.begin(), sink.end(), s), sink.end()) << s;
  // The admin publishes revocations and writes view definitions (KV
  // VIEW_DEFINITIONS, watched to list keys; VIEW_STATUS read).
  auto admin = publish_of("svc-admin");
  for (const char* s : {"sa.auth.revoked", "$KV.VIEW_DEFINITIONS.>", "$JS.API.STREAM.MSG.GET.KV_VIEW_STATUS"})
    EXPECT_NE(std::find(admin.begin(), admin.end(), s), admin.end()) << s;
  for (const char* s : {"md.>", "view.>", "$JS.API.STREAM.CREATE.MD", "$JS.API.CONSUMER.CREATE.MD.*"})
    EXPECT_EQ(std::find(admin.begin(), admin.end(), s), admin.end()) << s;
  // The views service: its outputs, its dead letters, any durable on the
  // source streams, its buckets; not the sources' subjects.
  auto views = publish_of("svc-views");
  for (const char* s : {"view.>", "dlq.view.>", "$JS.API.CONSUMER.MSG.NEXT.MD.*", "$JS.ACK.CDC.*.>",
                        "$KV.VIEW_LEASES.>", "$JS.API.STREAM.CREATE.VIEWS"})
    EXPECT_NE(std::find(views.begin(), views.end(), s), views.end()) << s;
  for (const char* s : {"md.trade.>", "cdc.>", "$JS.API.STREAM.CREATE.MD", "$JS.API.STREAM.DELETE.MD"})
    EXPECT_EQ(std::find(views.begin(), views.end(), s), views.end()) << s;
}

// [6].14: credentials carry a per-user inbox instead of "_INBOX.>".
TEST(BuiltinRoles, CredentialsReceiveRepliesOnlyOnTheUsersOwnInbox) {
  EXPECT_EQ(InboxPrefixFor("u_0a1b"), "_INBOX_u_0a1b");
  EXPECT_EQ(InboxPrefixFor("a.b").size(), 7u + 16u) << "ids that are not one subject token are hashed";
  EXPECT_NE(InboxPrefixFor("a.b"), InboxPrefixFor("a_b"));
  nkeys::Permissions p;
  p.sub_allow = {"md.>", kInboxSubscription};
  p = WithInboxPrefix(p, "_INBOX_u_1");
  EXPECT_EQ(p.sub_allow, (std::vector<std::string>{"md.>", "_INBOX_u_1.>"}));
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

namespace sa::auth {
namespace {

streamadmin::admin::v1::Role RoleWith(std::initializer_list<std::pair<const char*, const char*>> perms) {
  streamadmin::admin::v1::Role r;
  r.set_name("r");
  for (const auto& [res, act] : perms) {
    auto* p = r.add_permissions();
    p->set_resource(res);
    p->set_action(act);
  }
  return r;
}

bool Subscribes(const nkeys::Permissions& p, const std::string& s) {
  return std::find(p.sub_allow.begin(), p.sub_allow.end(), s) != p.sub_allow.end();
}

TEST(Permissions, ARoleThatMayReadViewsSubscribesToTheirOutputs) {
  EXPECT_TRUE(Subscribes(NatsPermissionsOf({RoleWith({{"views", "read"}})}), "view.>"));
  EXPECT_TRUE(Subscribes(NatsPermissionsOf({RoleWith({{"*", "read"}})}), "view.>"));
  auto one = NatsPermissionsOf({RoleWith({{"view.btc_ohlc", "read"}})});
  EXPECT_TRUE(Subscribes(one, "view.btc_ohlc"));
  EXPECT_FALSE(Subscribes(one, "view.>"));
  EXPECT_TRUE(NatsPermissionsOf({RoleWith({{"views", "write"}, {"md", "read"}})}).sub_allow.empty());
  EXPECT_TRUE(NatsPermissionsOf({RoleWith({{"view.x", "write"}})}).sub_allow.empty());
}

TEST(Permissions, ReadingACapturedTableMayBeGrantedPerServerSchemaOrTable) {
  EXPECT_TRUE(AllowsRead({"cdc:read"}, "cdc:read", "pg.public.orders"));
  EXPECT_TRUE(AllowsRead({"cdc.pg:read"}, "cdc:read", "pg.public.orders"));
  EXPECT_TRUE(AllowsRead({"cdc.pg.public.orders:read"}, "cdc:read", "pg.public.orders"));
  EXPECT_FALSE(AllowsRead({"cdc.pg.public.users:read"}, "cdc:read", "pg.public.orders"));
  EXPECT_FALSE(AllowsRead({"md:read"}, "cdc:read", "pg.public.orders"));
  EXPECT_TRUE(AllowsRead({"md:read"}, "md:read", ""));
  EXPECT_FALSE(AllowsRead({"cdc.pg:read"}, "md:read", ""));
}

}  // namespace
}  // namespace sa::auth
