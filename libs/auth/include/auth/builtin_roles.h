// Roles the admin service creates on first start (migration 2): an
// administrator, a viewer, and one role per service with exactly the NATS
// subjects its pipeline uses. Operators may change them through admin.v1.Roles.
#pragma once

#include <vector>

#include "auth/nkeys.h"
#include "streamadmin/admin/v1/admin.pb.h"
#include "wire/subjects.h"

namespace sa::auth {

// What a role lists to receive replies (request/reply, JetStream API
// answers, JetStream publish acks). Credentials never carry it as such: every
// user gets an inbox prefix of its own (InboxPrefixFor) and may subscribe only
// below it, so nobody receives replies addressed to another client.
inline constexpr const auto& kInboxSubscription = wire::kInboxAll;

std::vector<streamadmin::admin::v1::Role> BuiltinRoles();

// "_INBOX_<user id>" (user ids are [A-Za-z0-9_-]; any other id is replaced by
// 16 hex digits of its SHA-256): the inbox prefix a client of that user sets
// (nats.inbox_prefix, `nats --inbox-prefix`).
std::string InboxPrefixFor(const std::string& user_id);

// `perms` with kInboxSubscription in its subscribe allow list replaced by
// "<inbox_prefix>.>".
nkeys::Permissions WithInboxPrefix(nkeys::Permissions perms, const std::string& inbox_prefix);

// The union of the roles' NATS permissions, as a user JWT carries them.
nkeys::Permissions NatsPermissionsOf(const std::vector<streamadmin::admin::v1::Role>& roles);

}  // namespace sa::auth
