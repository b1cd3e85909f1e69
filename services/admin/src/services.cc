#include "admin/services.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "admin/bootstrap.h"
#include "admin/validation.h"
#include "auth/builtin_roles.h"
#include "auth/crypto.h"
#include "auth/permissions.h"
#include "auth/token.h"
#include "common/clock.h"
#include "common/status.h"
#include "observability/grpc_server.h"

namespace sa::admin {

namespace adm = streamadmin::admin::v1;
namespace cfg = streamadmin::config::v1;

namespace {

constexpr char kApiKeyPrefix[] = "sak_";
constexpr char kRefreshPrefix[] = "sar_";
constexpr int64_t kDefaultApiKeyTtlS = 90 * 86400;
constexpr int64_t kMaxApiKeyTtlS = 10 * 366 * 86400;
constexpr int64_t kMaxSlowdownMs = 2000;

std::string NewId(const char* prefix) { return absl::StrCat(prefix, absl::BytesToHexString(auth::RandomBytes(12))); }

absl::StatusOr<std::string> ReadKeyFile(const std::string& path, const char* key) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("key '", key, "': cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return std::string(absl::StripAsciiWhitespace(ss.str()));
}

// "<prefix><id>_<secret>" -> {id, secret}.
bool SplitSecret(const std::string& text, const char* prefix, std::string* id, std::string* secret) {
  if (!absl::StartsWith(text, prefix)) return false;
  std::string rest = text.substr(std::string(prefix).size());
  size_t us = rest.find('_');
  if (us == std::string::npos || us == 0 || us + 1 >= rest.size()) return false;
  *id = rest.substr(0, us);
  *secret = rest.substr(us + 1);
  return true;
}

grpc::Status Grpc(const absl::Status& st) { return ToGrpcStatus(st); }

// When a revocation issued now stops mattering: every token it covers has expired.
int64_t RevocationUntil(const AdminOptions& o, int64_t now_us) { return now_us + o.access_ttl_s * 1000000 + 1000000; }

// Ends every session of a user: its refresh tokens, and its access tokens
// issued before now (later ones, e.g. after re-enabling, are not affected).
absl::Status EndSessions(AdminCore* core, const std::string& user_id) {
  int64_t now = NowUnixMicros();
  absl::Status st = core->store().RevokeRefreshTokensOf(user_id);
  absl::Status revoked = core->Revoke({"sub", user_id, RevocationUntil(core->options(), now), now});
  return st.ok() ? revoked : st;
}

absl::Status ValidateRole(const adm::Role& r) {
  if (auto st = ValidateRoleName(r.name()); !st.ok()) return st;
  if (auto st = ValidateText("role.description", r.description(), 1024); !st.ok()) return st;
  for (const auto& p : r.permissions()) {
    if (auto st = auth::ValidatePermission(absl::StrCat(p.resource(), ":", p.action())); !st.ok()) return st;
  }
  const auto& n = r.nats();
  for (const auto* list : {&n.publish_allow(), &n.publish_deny(), &n.subscribe_allow(), &n.subscribe_deny()}) {
    if (list->size() > 256) return absl::InvalidArgumentError("role.nats: at most 256 subjects per list");
    for (const auto& s : *list) {
      if (auto st = ValidateNatsSubject(s); !st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AdminOptions> OptionsFromConfig(const cfg::AdminConfig& c) {
  AdminOptions o;
  const auto& a = c.auth();
  std::string seed_text = a.signing_key();
  if (seed_text.empty() && !a.signing_key_file().empty()) {
    auto f = ReadKeyFile(a.signing_key_file(), "auth.signing_key_file");
    if (!f.ok()) return f.status();
    seed_text = *f;
  }
  if (!seed_text.empty()) {
    auto seed = auth::FromBase64(seed_text);
    if (!seed.ok() || seed->size() != 32)
      return absl::InvalidArgumentError("key 'auth.signing_key': a base64 Ed25519 seed of 32 bytes");
    o.signing_secret_key = auth::KeyPairFromSeed(*seed)->secret_key;
  }
  if (a.access_token_ttl_s()) o.access_ttl_s = a.access_token_ttl_s();
  if (a.refresh_token_ttl_s()) o.refresh_ttl_s = a.refresh_token_ttl_s();
  if (a.lockout_threshold()) o.lockout_threshold = static_cast<int>(a.lockout_threshold());
  if (a.lockout_s()) o.lockout_s = a.lockout_s();
  if (a.slowdown_after()) o.slowdown_after = static_cast<int>(a.slowdown_after());
  if (a.slowdown_step_ms()) o.slowdown_step_ms = a.slowdown_step_ms();
  const auto& n = c.nats_jwt();
  if (!n.operator_seed().empty() || !n.account_seed().empty()) {
    auto op = auth::nkeys::FromSeed(n.operator_seed());
    if (!op.ok() || op->type != auth::nkeys::Type::kOperator)
      return absl::InvalidArgumentError("key 'nats_jwt.operator_seed': not an operator nkey seed (SO...)");
    auto acc = auth::nkeys::FromSeed(n.account_seed());
    if (!acc.ok() || acc->type != auth::nkeys::Type::kAccount)
      return absl::InvalidArgumentError("key 'nats_jwt.account_seed': not an account nkey seed (SA...)");
    o.nats_operator = *op;
    o.nats_account = *acc;
    o.nats_system_account = auth::nkeys::FromRawSeed(
        auth::nkeys::Type::kAccount, auth::Sha256(absl::StrCat("stream-admin system account\n", op->seed)));
  }
  if (n.user_jwt_ttl_s()) o.user_jwt_ttl_s = n.user_jwt_ttl_s();
  if (n.max_user_jwt_ttl_s()) o.max_user_jwt_ttl_s = n.max_user_jwt_ttl_s();
  o.password_hash_concurrency = a.password_hash_concurrency()
                                    ? static_cast<int>(std::min<uint32_t>(a.password_hash_concurrency(), 1024))
                                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  if (o.user_jwt_ttl_s > o.max_user_jwt_ttl_s)
    return absl::InvalidArgumentError(absl::StrCat("key 'nats_jwt.user_jwt_ttl_s': ", o.user_jwt_ttl_s,
                                                   " is above nats_jwt.max_user_jwt_ttl_s (", o.max_user_jwt_ttl_s,
                                                   ")"));
  return o;
}

// ------------------------------------------------------------------- core ---

AdminCore::AdminCore(Store* store, AdminOptions options,
                     std::function<absl::Status(const std::string&, const std::string&)> publish)
    : store_(store),
      options_(std::move(options)),
      publish_(std::move(publish)),
      hashing_(std::clamp(options_.password_hash_concurrency, 1, 1024)) {
  dummy_hash_ = *auth::HashPassword(absl::BytesToHexString(auth::RandomBytes(16)));
}

absl::StatusOr<std::string> AdminCore::HashPassword(const std::string& password) {
  hashing_.acquire();
  auto h = auth::HashPassword(password);
  hashing_.release();
  return h;
}

bool AdminCore::VerifyPassword(const std::string& hash, const std::string& password) {
  hashing_.acquire();
  bool ok = auth::VerifyPassword(hash, password);
  hashing_.release();
  return ok;
}

absl::Status AdminCore::Revoke(const auth::Revocation& r) {
  absl::Status stored = store_->SaveRevocation(r);
  if (!stored.ok())
    spdlog::error("revocation {}:{} not stored (in force until this admin restarts): {}", r.kind, r.id,
                  std::string(stored.message()));
  (enforcer_ ? enforcer_->revocations() : local_).Add(r);
  if (publish_ && !options_.signing_secret_key.empty()) {  // without a key there is no token to revoke
    if (auto st = publish_(auth::kDefaultRevocationSubject, auth::SignRevocation(r, options_.signing_secret_key));
        !st.ok())
      spdlog::warn("revocation not published (will be republished): {}", std::string(st.message()));
  }
  return stored;
}

absl::Status AdminCore::LoadRevocations() {
  auto stored = store_->LoadRevocations(NowUnixMicros());
  if (!stored.ok()) return stored.status();
  auto& list = enforcer_ ? enforcer_->revocations() : local_;
  for (const auto& r : *stored) list.Add(r);
  spdlog::info("{} stored revocations in force", stored->size());
  return absl::OkStatus();
}

void AdminCore::RepublishRevocations() {
  if (!publish_ || options_.signing_secret_key.empty()) return;
  for (const auto& r : (enforcer_ ? enforcer_->revocations() : local_).Active(NowUnixMicros()))
    (void)publish_(auth::kDefaultRevocationSubject, auth::SignRevocation(r, options_.signing_secret_key));
}

void AdminCore::Audit(const std::string& actor, const std::string& action, const std::string& resource,
                      const std::string& peer, const std::string& outcome, const std::string& detail) {
  adm::AuditEntry e;
  e.set_time_us(NowUnixMicros());
  e.set_actor(AuditSafe(actor));
  e.set_action(AuditSafe(action));
  e.set_resource(AuditSafe(resource));
  e.set_peer(AuditSafe(peer));
  e.set_outcome(AuditSafe(outcome));
  e.set_detail(AuditSafe(detail, 1024));
  if (auto st = store_->AppendAudit(e); !st.ok())
    spdlog::error("AUDIT ENTRY LOST ({} {} {} {}): {}", e.actor(), e.action(), e.resource(), e.outcome(),
                  std::string(st.message()));
}

void AdminCore::RecordCall(const auth::CallRecord& r) {
  // On another service the resource says which one (the method names only the API).
  std::string resource = r.service == "admin" ? r.target
                         : r.target.empty()   ? r.service
                                              : absl::StrCat(r.service, ":", r.target);
  Audit(r.username.empty() ? "anonymous" : r.username, r.method, resource, r.peer, obs::GrpcCodeName(r.code),
        r.message);
}

absl::StatusOr<std::vector<std::string>> AdminCore::PermissionsOf(const std::string& user_id) {
  auto roles = store_->RolesOf(user_id);
  if (!roles.ok()) return roles.status();
  std::vector<std::string> perms;
  for (const auto& r : *roles) {
    for (const auto& p : r.permissions()) {
      std::string s = absl::StrCat(p.resource(), ":", p.action());
      if (std::find(perms.begin(), perms.end(), s) == perms.end()) perms.push_back(s);
    }
  }
  return perms;
}

absl::StatusOr<adm::TokenResponse> AdminCore::IssueTokens(const UserRecord& user, const std::string& key_id,
                                                          bool with_refresh, const std::vector<std::string>* only) {
  if (options_.signing_secret_key.empty())
    return absl::FailedPreconditionError("the admin service has no signing key (auth.signing_key)");
  absl::StatusOr<std::vector<std::string>> perms = only ? *only : PermissionsOf(user.user.id());
  if (!perms.ok()) return perms.status();
  int64_t now = NowUnixMicros();
  auth::Claims c;
  c.sub = user.user.id();
  c.name = user.user.username();
  c.jti = NewId("t_");
  c.key_id = key_id;
  c.iat_us = now;
  c.exp_us = now + options_.access_ttl_s * 1000000;
  c.perms = *perms;
  adm::TokenResponse resp;
  resp.set_access_token(auth::IssueToken(c, options_.signing_secret_key));
  resp.set_expires_at_us(c.exp_us);
  *resp.mutable_user() = user.user;
  for (const auto& p : *perms) resp.add_permissions(p);
  if (with_refresh) {
    RefreshRecord r;
    r.id = absl::BytesToHexString(auth::RandomBytes(8));
    std::string secret = auth::Base64Url(auth::RandomBytes(32));
    r.user_id = user.user.id();
    r.hash = auth::Sha256Hex(secret);
    r.expires_at_us = now + options_.refresh_ttl_s * 1000000;
    if (auto st = store_->CreateRefresh(r); !st.ok()) return st;
    resp.set_refresh_token(absl::StrCat(kRefreshPrefix, r.id, "_", secret));
    resp.set_refresh_expires_at_us(r.expires_at_us);
  }
  return resp;
}

absl::StatusOr<adm::GetCredentialsResponse> AdminCore::NatsCredentials(const UserRecord& user, int64_t ttl_s) {
  if (!options_.nats_account)
    return absl::FailedPreconditionError("NATS JWT auth is not configured (nats_jwt.operator_seed/account_seed)");
  if (ttl_s < 0 || ttl_s > options_.max_user_jwt_ttl_s)
    return absl::InvalidArgumentError(absl::StrCat("ttl_s: 0 (default ", options_.user_jwt_ttl_s, ") to ",
                                                   options_.max_user_jwt_ttl_s, " (nats_jwt.max_user_jwt_ttl_s); got ",
                                                   ttl_s));
  if (user.user.disabled())
    return absl::FailedPreconditionError(absl::StrCat("user '", user.user.username(), "' is disabled"));
  auto roles = store_->RolesOf(user.user.id());
  if (!roles.ok()) return roles.status();
  const std::string inbox_prefix = auth::InboxPrefixFor(user.user.id());
  auth::nkeys::Permissions perms = auth::WithInboxPrefix(auth::NatsPermissionsOf(*roles), inbox_prefix);
  auth::nkeys::NKey nkey = auth::nkeys::Generate(auth::nkeys::Type::kUser);
  int64_t now_s = absl::ToUnixSeconds(absl::Now());
  int64_t exp_s = now_s + (ttl_s > 0 ? ttl_s : options_.user_jwt_ttl_s);
  std::string jwt =
      auth::nkeys::UserJwt(*options_.nats_account, nkey.public_key, user.user.username(), perms, now_s, exp_s);
  adm::GetCredentialsResponse resp;
  resp.set_user_jwt(jwt);
  resp.set_creds(auth::nkeys::CredsFile(jwt, nkey.seed));
  resp.set_user_public_key(nkey.public_key);
  resp.set_expires_at_us(exp_s * 1000000);
  resp.set_inbox_prefix(inbox_prefix);
  auto* p = resp.mutable_permissions();
  for (const auto& s : perms.pub_allow) p->add_publish_allow(s);
  for (const auto& s : perms.pub_deny) p->add_publish_deny(s);
  for (const auto& s : perms.sub_allow) p->add_subscribe_allow(s);
  for (const auto& s : perms.sub_deny) p->add_subscribe_deny(s);
  return resp;
}

absl::StatusOr<bool> AdminCore::Bootstrap(const std::string& username, const std::string& password) {
  return CreateFirstAdministrator(*store_, username, password);
}

// --------------------------------------------------------------- services ---

namespace {

class UsersService final : public adm::Users::Service {
 public:
  explicit UsersService(AdminCore* core) : core_(core) {}

  grpc::Status CreateUser(grpc::ServerContext*, const adm::CreateUserRequest* req, adm::User* resp) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    if (auto st = ValidateText("display_name", req->display_name(), 256); !st.ok()) return Grpc(st);
    if (auto st = ValidatePassword(req->password()); !st.ok()) return Grpc(st);
    std::vector<std::string> roles(req->roles().begin(), req->roles().end());
    for (const auto& r : roles) {
      if (auto st = ValidateRoleName(r); !st.ok()) return Grpc(st);
    }
    auto hash = core_->HashPassword(req->password());
    if (!hash.ok()) return Grpc(hash.status());
    auto u =
        core_->store().CreateUser(NewId("u_"), req->username(), req->display_name(), *hash, roles, NowUnixMicros());
    if (!u.ok()) return Grpc(u.status());
    *resp = u->user;
    return grpc::Status::OK;
  }
  grpc::Status GetUser(grpc::ServerContext*, const adm::GetUserRequest* req, adm::User* resp) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    auto u = core_->store().FindUser(req->username());
    if (!u.ok()) return Grpc(u.status());
    *resp = u->user;
    return grpc::Status::OK;
  }
  grpc::Status ListUsers(grpc::ServerContext*, const adm::ListUsersRequest*, adm::ListUsersResponse* resp) override {
    auto users = core_->store().ListUsers();
    if (!users.ok()) return Grpc(users.status());
    for (auto& u : *users) *resp->add_users() = std::move(u);
    return grpc::Status::OK;
  }
  grpc::Status UpdateUser(grpc::ServerContext*, const adm::UpdateUserRequest* req, adm::User* resp) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    if (auto st = ValidateText("display_name", req->display_name(), 256); !st.ok()) return Grpc(st);
    auto u = core_->store().UpdateUser(req->username(), req->display_name(), req->disabled());
    if (!u.ok()) return Grpc(u.status());
    if (req->disabled()) {
      if (auto st = EndSessions(core_, u->user.id()); !st.ok()) return Grpc(st);
    }
    *resp = u->user;
    return grpc::Status::OK;
  }
  grpc::Status SetUserRoles(grpc::ServerContext*, const adm::SetUserRolesRequest* req, adm::User* resp) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    for (const auto& r : req->roles()) {
      if (auto st = ValidateRoleName(r); !st.ok()) return Grpc(st);
    }
    auto u = core_->store().SetUserRoles(req->username(), {req->roles().begin(), req->roles().end()});
    if (!u.ok()) return Grpc(u.status());
    *resp = u->user;
    return grpc::Status::OK;
  }
  // A new password ends every session of the user (a reset after a theft
  // must lock the thief out), the caller's own included when it is the user.
  grpc::Status SetPassword(grpc::ServerContext*, const adm::SetPasswordRequest* req,
                           adm::SetPasswordResponse*) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    if (auto st = ValidatePassword(req->password()); !st.ok()) return Grpc(st);
    auto hash = core_->HashPassword(req->password());  // no database connection held meanwhile
    if (!hash.ok()) return Grpc(hash.status());
    auto id = core_->store().SetPasswordHash(req->username(), *hash);
    if (!id.ok()) return Grpc(id.status());
    return Grpc(EndSessions(core_, *id));
  }
  grpc::Status DeleteUser(grpc::ServerContext*, const adm::DeleteUserRequest* req, adm::DeleteUserResponse*) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    auto id = core_->store().DeleteUser(req->username());
    if (!id.ok()) return Grpc(id.status());
    // Every token of the user stops working now, here and on every service.
    int64_t now = NowUnixMicros();
    return Grpc(core_->Revoke({"sub", *id, RevocationUntil(core_->options(), now), now}));
  }

 private:
  AdminCore* core_;
};

class RolesService final : public adm::Roles::Service {
 public:
  explicit RolesService(AdminCore* core) : core_(core) {}
  grpc::Status PutRole(grpc::ServerContext*, const adm::PutRoleRequest* req, adm::Role* resp) override {
    if (auto st = ValidateRole(req->role()); !st.ok()) return Grpc(st);
    if (auto st = core_->store().PutRole(req->role()); !st.ok()) return Grpc(st);
    *resp = req->role();
    return grpc::Status::OK;
  }
  grpc::Status ListRoles(grpc::ServerContext*, const adm::ListRolesRequest*, adm::ListRolesResponse* resp) override {
    auto roles = core_->store().ListRoles();
    if (!roles.ok()) return Grpc(roles.status());
    for (auto& r : *roles) *resp->add_roles() = std::move(r);
    return grpc::Status::OK;
  }
  grpc::Status DeleteRole(grpc::ServerContext*, const adm::DeleteRoleRequest* req, adm::DeleteRoleResponse*) override {
    if (auto st = ValidateRoleName(req->name()); !st.ok()) return Grpc(st);
    return Grpc(core_->store().DeleteRole(req->name()));
  }

 private:
  AdminCore* core_;
};

// A caller manages its own API keys; another user's need users:write (to
// create or revoke) or users:read (to list). A key never grants more than its
// creator had: its permission set is fixed at creation within the creator's
// token, and a login with it is further limited to its owner's roles then.
class ApiKeysService final : public adm::ApiKeys::Service {
 public:
  explicit ApiKeysService(AdminCore* core) : core_(core) {}
  grpc::Status CreateApiKey(grpc::ServerContext* ctx, const adm::CreateApiKeyRequest* req,
                            adm::CreateApiKeyResponse* resp) override {
    if (auto st = ValidateText("name", req->name(), 128); !st.ok()) return Grpc(st);
    if (req->ttl_s() < 0) return Grpc(absl::InvalidArgumentError("ttl_s: must not be negative"));
    if (req->ttl_s() > kMaxApiKeyTtlS)
      return Grpc(absl::InvalidArgumentError(absl::StrCat("ttl_s: at most ", kMaxApiKeyTtlS, " (10 years)")));
    if (req->permissions_size() > 256) return Grpc(absl::InvalidArgumentError("permissions: at most 256"));
    std::vector<std::string> asked(req->permissions().begin(), req->permissions().end());
    for (const auto& p : asked) {
      if (auto st = auth::ValidatePermission(p); !st.ok()) return Grpc(st);
    }
    auth::Caller caller = core_->CallerOf(*ctx);
    auto user = Target(caller, req->username(), "users:write");
    if (!user.ok()) return Grpc(user.status());
    // What the creator may pass on: its token's permissions within its roles now.
    std::vector<std::string> creator = {"*:*"};
    if (caller.authenticated) {
      auto roles = core_->PermissionsOf(caller.sub);
      if (!roles.ok()) return Grpc(roles.status());
      creator = auth::IntersectPermissions(caller.perms, *roles);
    }
    std::vector<std::string> perms = asked.empty() ? creator : auth::IntersectPermissions(asked, creator);
    for (const auto& p : asked) {
      if (auth::IntersectPermissions({p}, creator) != std::vector<std::string>{p})
        return Grpc(
            absl::PermissionDeniedError(absl::StrCat("permissions: '", p, "' is beyond what the caller may grant")));
    }
    ApiKeyRecord k;
    std::string id = absl::BytesToHexString(auth::RandomBytes(8));
    std::string secret = auth::Base64Url(auth::RandomBytes(32));
    std::string full = absl::StrCat(kApiKeyPrefix, id, "_", secret);
    int64_t now = NowUnixMicros();
    k.key.set_id(id);
    k.key.set_user_id(user->user.id());
    k.key.set_name(req->name());
    k.key.set_prefix(full.substr(0, 12));
    k.key.set_created_at_us(now);
    k.key.set_expires_at_us(now + (req->ttl_s() > 0 ? req->ttl_s() : kDefaultApiKeyTtlS) * 1000000);
    for (const auto& p : perms) k.key.add_permissions(p);
    k.has_permissions = true;
    k.hash = auth::Sha256Hex(secret);
    if (auto st = core_->store().CreateApiKey(k); !st.ok()) return Grpc(st);
    *resp->mutable_key() = k.key;
    resp->set_secret(full);
    return grpc::Status::OK;
  }
  grpc::Status ListApiKeys(grpc::ServerContext* ctx, const adm::ListApiKeysRequest* req,
                           adm::ListApiKeysResponse* resp) override {
    auto user = Target(core_->CallerOf(*ctx), req->username(), "users:read");
    if (!user.ok()) return Grpc(user.status());
    auto keys = core_->store().ListApiKeys(user->user.id());
    if (!keys.ok()) return Grpc(keys.status());
    for (auto& k : *keys) *resp->add_keys() = std::move(k);
    return grpc::Status::OK;
  }
  grpc::Status RevokeApiKey(grpc::ServerContext* ctx, const adm::RevokeApiKeyRequest* req,
                            adm::RevokeApiKeyResponse*) override {
    if (auto st = ValidateHexId("API key id", req->id()); !st.ok()) return Grpc(st);
    auto k = core_->store().FindApiKey(req->id());
    if (!k.ok()) return Grpc(k.status());
    auth::Caller caller = core_->CallerOf(*ctx);
    if (caller.authenticated && k->key.user_id() != caller.sub && !auth::Allows(caller.perms, "users:write"))
      return Grpc(absl::NotFoundError("no such API key"));  // another user's key: not even its existence
    if (auto st = core_->store().RevokeApiKey(req->id()); !st.ok()) return Grpc(st);
    return Grpc(core_->Revoke({"key", req->id(), RevocationUntil(core_->options(), NowUnixMicros())}));
  }

 private:
  // The user a request names (empty: the caller); another user than the
  // caller needs `need` on users.
  absl::StatusOr<UserRecord> Target(const auth::Caller& c, const std::string& username, const char* need) {
    if (!username.empty()) {
      if (auto st = ValidateUsername(username); !st.ok()) return st;
      auto u = core_->store().FindUser(username);
      if (!u.ok()) return u.status();
      if (c.authenticated && u->user.id() != c.sub && !auth::Allows(c.perms, need))
        return absl::PermissionDeniedError(
            absl::StrCat("permission '", need, "' needed to manage another user's API keys"));
      return u;
    }
    if (!c.authenticated) return absl::InvalidArgumentError("username: required when auth mode is none");
    return core_->store().FindUserById(c.sub);
  }
  AdminCore* core_;
};

class AuthService final : public adm::Auth::Service {
 public:
  explicit AuthService(AdminCore* core) : core_(core) {}

  // Every password login that is refused costs the same, whether the name is
  // unknown, the password wrong, the account locked or disabled: one Argon2id
  // verification (against a dummy hash when there is no user), one failure
  // recorded under the attempted name, and the same slowdown for the same
  // count. Locks too apply to names without a user, so the "locked" answer
  // does not tell that a user exists either.
  grpc::Status Login(grpc::ServerContext* ctx, const adm::LoginRequest* req, adm::TokenResponse* resp) override {
    if (!req->api_key().empty()) return ApiKeyLogin(ctx, req->api_key(), resp);
    const std::string peer = core_->PeerOf(*ctx);
    const std::string& name = req->username();
    const bool valid_name = ValidateUsername(name).ok();
    absl::StatusOr<UserRecord> user = absl::NotFoundError("invalid username");
    LoginFailures before;
    if (valid_name) {  // an invalid name (a NUL, a control byte...) never reaches the database
      user = core_->store().FindUser(name);
      if (!user.ok() && !absl::IsNotFound(user.status())) return Grpc(user.status());
      auto f = core_->store().LoginFailuresOf(name);
      if (!f.ok()) return Grpc(f.status());
      before = *f;
    }
    const bool password_ok =
        core_->VerifyPassword(user.ok() ? user->password_hash : core_->dummy_hash(), req->password());
    int64_t now = NowUnixMicros();
    const bool locked = before.locked_until_us > now;
    if (user.ok() && password_ok && !locked && !user->user.disabled()) {
      if (before.failures > 0) (void)core_->store().ResetLoginFailures(name);
      auto tokens = core_->IssueTokens(*user, "", /*with_refresh=*/true);
      if (!tokens.ok()) return Grpc(tokens.status());
      core_->Audit(name, "auth.login", name, peer, "OK", "password");
      *resp = std::move(*tokens);
      return grpc::Status::OK;
    }
    std::string why = !valid_name             ? "invalid username"
                      : !user.ok()            ? "unknown user"
                      : locked                ? "account locked"
                      : user->user.disabled() ? "account disabled"
                                              : "wrong password";
    LoginFailures after = before;
    if (valid_name) {
      const auto& o = core_->options();
      auto n = core_->store().RecordLoginFailure(name, o.lockout_threshold, now, now + o.lockout_s * 1000000);
      if (!n.ok()) return Grpc(n.status());
      after = *n;
      if (after.failures == o.lockout_threshold)
        core_->Audit(name, "auth.lock", name, peer, "LOCKED",
                     absl::StrCat(after.failures, " failed logins in a row; locked for ", o.lockout_s, " s"));
      if (after.failures > o.slowdown_after) {
        // Slow the guesser down; the thread is the caller's own call.
        absl::SleepFor(absl::Milliseconds(
            std::min<int64_t>(kMaxSlowdownMs, o.slowdown_step_ms * (after.failures - o.slowdown_after))));
      }
      absl::StrAppend(&why, " (", after.failures, " in a row)");
    }
    core_->Audit(name, "auth.login", name, peer, "UNAUTHENTICATED", why);
    if (locked)
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          absl::StrCat("account locked after repeated failed logins; retry after ",
                                       absl::FormatTime(absl::FromUnixMicros(after.locked_until_us))));
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid username or password");
  }

  // A refresh token works once: using it and marking it used is one
  // statement, so of concurrent refreshes with one token exactly one wins.
  grpc::Status Refresh(grpc::ServerContext* ctx, const adm::RefreshRequest* req, adm::TokenResponse* resp) override {
    std::string id, secret;
    auto bad = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "refresh token invalid, expired or revoked");
    if (!SplitSecret(req->refresh_token(), kRefreshPrefix, &id, &secret) || !ValidateHexId("refresh token id", id).ok())
      return bad;
    auto user_id = core_->store().ConsumeRefresh(id, auth::Sha256Hex(secret), NowUnixMicros());
    if (!user_id.ok()) return absl::IsNotFound(user_id.status()) ? bad : Grpc(user_id.status());
    auto user = core_->store().FindUserById(*user_id);
    if (!user.ok() || user->user.disabled()) return bad;
    auto tokens = core_->IssueTokens(*user, "", /*with_refresh=*/true);
    if (!tokens.ok()) return Grpc(tokens.status());
    core_->Audit(user->user.username(), "auth.refresh", user->user.username(), core_->PeerOf(*ctx), "OK", "");
    *resp = std::move(*tokens);
    return grpc::Status::OK;
  }

  grpc::Status Logout(grpc::ServerContext* ctx, const adm::LogoutRequest* req, adm::LogoutResponse*) override {
    std::string actor = "anonymous";
    std::string id, secret;
    if (SplitSecret(req->refresh_token(), kRefreshPrefix, &id, &secret) && ValidateHexId("refresh token id", id).ok()) {
      auto r = core_->store().FindRefresh(id);
      if (r.ok() && auth::ConstantTimeEquals(r->hash, auth::Sha256Hex(secret))) {
        (void)core_->store().RevokeRefresh(id);
        actor = r->user_id;
      }
    }
    if (!req->access_token().empty() && !core_->options().signing_secret_key.empty()) {
      auth::TokenVerifier v(core_->options().signing_secret_key.substr(32));
      if (auto c = v.VerifySignature(req->access_token()); c.ok()) {
        if (auto st = core_->Revoke({"jti", c->jti, c->exp_us}); !st.ok()) return Grpc(st);
        actor = c->name;
      }
    }
    core_->Audit(actor, "auth.logout", actor, core_->PeerOf(*ctx), "OK", "");
    return grpc::Status::OK;
  }

  grpc::Status GetPublicKey(grpc::ServerContext*, const adm::GetPublicKeyRequest*,
                            adm::GetPublicKeyResponse* resp) override {
    if (core_->options().signing_secret_key.empty())
      return Grpc(absl::FailedPreconditionError("the admin service has no signing key (auth.signing_key)"));
    resp->set_public_key(auth::Base64(core_->options().signing_secret_key.substr(32)));
    return grpc::Status::OK;
  }

 private:
  grpc::Status ApiKeyLogin(grpc::ServerContext* ctx, const std::string& key, adm::TokenResponse* resp) {
    std::string id, secret;
    const std::string peer = core_->PeerOf(*ctx);
    auto fail = [&](const std::string& detail) {
      core_->Audit(absl::StrCat("apikey:", id.substr(0, 16)), "auth.login", id.substr(0, 16), peer, "UNAUTHENTICATED",
                   detail);
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("API key ", detail));
    };
    if (!SplitSecret(key, kApiKeyPrefix, &id, &secret) || !ValidateHexId("API key id", id).ok())
      return fail("malformed");
    auto k = core_->store().FindApiKey(id);
    if (!k.ok()) return absl::IsNotFound(k.status()) ? fail("unknown") : Grpc(k.status());
    if (!auth::ConstantTimeEquals(k->hash, auth::Sha256Hex(secret))) return fail("unknown");
    if (k->key.revoked()) return fail("revoked");
    if (k->key.expires_at_us() <= NowUnixMicros()) return fail("expired");
    auto user = core_->store().FindUserById(k->key.user_id());
    if (!user.ok() || user->user.disabled()) return fail("owner removed or disabled");
    // The key's own set, within what its owner's roles grant now.
    auto owner = core_->PermissionsOf(user->user.id());
    if (!owner.ok()) return Grpc(owner.status());
    std::vector<std::string> perms =
        k->has_permissions
            ? auth::IntersectPermissions(
                  std::vector<std::string>(k->key.permissions().begin(), k->key.permissions().end()), *owner)
            : *owner;
    auto tokens = core_->IssueTokens(*user, id, /*with_refresh=*/false, &perms);
    if (!tokens.ok()) return Grpc(tokens.status());
    core_->Audit(user->user.username(), "auth.login", user->user.username(), peer, "OK", absl::StrCat("api key ", id));
    *resp = std::move(*tokens);
    return grpc::Status::OK;
  }
  AdminCore* core_;
};

class AuditService final : public adm::Audit::Service {
 public:
  explicit AuditService(AdminCore* core) : core_(core) {}
  grpc::Status ListAudit(grpc::ServerContext*, const adm::ListAuditRequest* req,
                         adm::ListAuditResponse* resp) override {
    if (auto st = ValidateText("actor", req->actor(), 512); !st.ok()) return Grpc(st);
    if (auto st = ValidateText("action", req->action(), 512); !st.ok()) return Grpc(st);
    AuditFilter f{req->actor(), req->action(), req->since_us(),
                  static_cast<int>(req->limit() == 0 ? 100 : std::min<uint32_t>(req->limit(), 1000))};
    auto entries = core_->store().ListAudit(f);
    if (!entries.ok()) return Grpc(entries.status());
    for (auto& e : *entries) *resp->add_entries() = std::move(e);
    return grpc::Status::OK;
  }

 private:
  AdminCore* core_;
};

class NatsAccessService final : public adm::NatsAccess::Service {
 public:
  explicit NatsAccessService(AdminCore* core) : core_(core) {}
  grpc::Status GetMyCredentials(grpc::ServerContext* ctx, const adm::GetCredentialsRequest* req,
                                adm::GetCredentialsResponse* resp) override {
    auth::Caller c = core_->CallerOf(*ctx);
    if (!c.authenticated)
      return Grpc(absl::FailedPreconditionError("GetMyCredentials needs auth mode token (who is 'me'?)"));
    return Reply(core_->store().FindUserById(c.sub), req->ttl_s(), resp);
  }
  grpc::Status GetCredentials(grpc::ServerContext*, const adm::GetCredentialsRequest* req,
                              adm::GetCredentialsResponse* resp) override {
    if (auto st = ValidateUsername(req->username()); !st.ok()) return Grpc(st);
    return Reply(core_->store().FindUser(req->username()), req->ttl_s(), resp);
  }
  grpc::Status GetServerConfig(grpc::ServerContext*, const adm::GetServerConfigRequest* req,
                               adm::GetServerConfigResponse* resp) override {
    const auto& o = core_->options();
    if (!o.nats_operator || !o.nats_account || !o.nats_system_account)
      return Grpc(absl::FailedPreconditionError("NATS JWT auth is not configured (nats_jwt)"));
    const std::string& store_dir = req->jetstream_store_dir().empty() ? "/data" : req->jetstream_store_dir();
    if (store_dir.find_first_of("\"\\\n\r") != std::string::npos)
      return Grpc(absl::InvalidArgumentError("jetstream_store_dir: no quotes, backslashes or line breaks"));
    int64_t now_s = absl::ToUnixSeconds(absl::Now());
    const auth::nkeys::NKey& sys = *o.nats_system_account;
    resp->set_operator_jwt(auth::nkeys::OperatorJwt(*o.nats_operator, "stream-admin", now_s));
    resp->set_account_public_key(o.nats_account->public_key);
    resp->set_account_jwt(auth::nkeys::AccountJwt(*o.nats_operator, o.nats_account->public_key, "STREAM_ADMIN", now_s));
    resp->set_system_account_public_key(sys.public_key);
    // JetStream in operator mode needs a system account (nats-server refuses
    // to enable it otherwise); the system account itself gets no JetStream.
    resp->set_server_config(absl::StrCat("operator: ", resp->operator_jwt(), "\nsystem_account: ", sys.public_key,
                                         "\nresolver: MEMORY\nresolver_preload: {\n  ", resp->account_public_key(),
                                         ": ", resp->account_jwt(), "\n  ", sys.public_key, ": ",
                                         auth::nkeys::AccountJwt(*o.nats_operator, sys.public_key, "SYS", now_s, false),
                                         "\n}\njetstream {\n  store_dir: \"", store_dir, "\"\n}\n"));
    return grpc::Status::OK;
  }

 private:
  grpc::Status Reply(const absl::StatusOr<UserRecord>& user, int64_t ttl_s, adm::GetCredentialsResponse* resp) {
    if (!user.ok()) return Grpc(user.status());
    auto creds = core_->NatsCredentials(*user, ttl_s);
    if (!creds.ok()) return Grpc(creds.status());
    *resp = std::move(*creds);
    return grpc::Status::OK;
  }
  AdminCore* core_;
};

}  // namespace

struct AdminServices::Impl {
  explicit Impl(AdminCore* core) : users(core), roles(core), keys(core), auth(core), audit(core), nats(core) {}
  UsersService users;
  RolesService roles;
  ApiKeysService keys;
  AuthService auth;
  AuditService audit;
  NatsAccessService nats;
};

AdminServices::AdminServices(AdminCore* core) : impl_(std::make_unique<Impl>(core)) {}
AdminServices::~AdminServices() = default;

std::vector<grpc::Service*> AdminServices::services() {
  return {&impl_->users, &impl_->roles, &impl_->keys, &impl_->auth, &impl_->audit, &impl_->nats};
}

}  // namespace sa::admin
