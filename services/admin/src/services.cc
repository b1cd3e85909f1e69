#include "admin/services.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

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

std::string Peer(grpc::ServerContext* ctx) { return ctx->peer(); }

std::string ActorOf(AdminCore* core, grpc::ServerContextBase* ctx) {
  auth::Caller c = core->CallerOf(*ctx);
  return c.authenticated ? c.name : "anonymous";
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
  }
  if (n.user_jwt_ttl_s()) o.user_jwt_ttl_s = n.user_jwt_ttl_s();
  return o;
}

// ------------------------------------------------------------------- core ---

AdminCore::AdminCore(Store* store, AdminOptions options,
                     std::function<absl::Status(const std::string&, const std::string&)> publish)
    : store_(store), options_(std::move(options)), publish_(std::move(publish)) {
  dummy_hash_ = *auth::HashPassword(absl::BytesToHexString(auth::RandomBytes(16)));
}

void AdminCore::Revoke(const auth::Revocation& r) {
  (enforcer_ ? enforcer_->revocations() : local_).Add(r);
  if (publish_) {
    if (auto st = publish_(auth::kDefaultRevocationSubject, auth::EncodeRevocation(r)); !st.ok())
      spdlog::warn("revocation not published (will be republished): {}", std::string(st.message()));
  }
}

void AdminCore::RepublishRevocations() {
  if (!publish_) return;
  for (const auto& r : (enforcer_ ? enforcer_->revocations() : local_).Active(NowUnixMicros()))
    (void)publish_(auth::kDefaultRevocationSubject, auth::EncodeRevocation(r));
}

void AdminCore::Audit(const std::string& actor, const std::string& action, const std::string& resource,
                      const std::string& peer, const std::string& outcome, const std::string& detail) {
  adm::AuditEntry e;
  e.set_time_us(NowUnixMicros());
  e.set_actor(actor);
  e.set_action(action);
  e.set_resource(resource);
  e.set_peer(peer);
  e.set_outcome(outcome);
  e.set_detail(detail);
  if (auto st = store_->AppendAudit(e); !st.ok())
    spdlog::error("AUDIT ENTRY LOST ({} {} {} {}): {}", actor, action, resource, outcome, std::string(st.message()));
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
                                                          bool with_refresh) {
  if (options_.signing_secret_key.empty())
    return absl::FailedPreconditionError("the admin service has no signing key (auth.signing_key)");
  auto perms = PermissionsOf(user.user.id());
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
  auto roles = store_->RolesOf(user.user.id());
  if (!roles.ok()) return roles.status();
  auth::nkeys::Permissions perms = auth::NatsPermissionsOf(*roles);
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
    auto hash = auth::HashPassword(req->password());
    if (!hash.ok()) return Grpc(hash.status());
    auto u =
        core_->store().CreateUser(NewId("u_"), req->username(), req->display_name(), *hash, roles, NowUnixMicros());
    if (!u.ok()) return Grpc(u.status());
    *resp = u->user;
    return grpc::Status::OK;
  }
  grpc::Status GetUser(grpc::ServerContext*, const adm::GetUserRequest* req, adm::User* resp) override {
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
    if (auto st = ValidateText("display_name", req->display_name(), 256); !st.ok()) return Grpc(st);
    auto u = core_->store().UpdateUser(req->username(), req->display_name(), req->disabled());
    if (!u.ok()) return Grpc(u.status());
    if (req->disabled())
      core_->Revoke({"sub", u->user.id(), NowUnixMicros() + core_->options().access_ttl_s * 1000000 + 1000000});
    *resp = u->user;
    return grpc::Status::OK;
  }
  grpc::Status SetUserRoles(grpc::ServerContext*, const adm::SetUserRolesRequest* req, adm::User* resp) override {
    for (const auto& r : req->roles()) {
      if (auto st = ValidateRoleName(r); !st.ok()) return Grpc(st);
    }
    auto u = core_->store().SetUserRoles(req->username(), {req->roles().begin(), req->roles().end()});
    if (!u.ok()) return Grpc(u.status());
    *resp = u->user;
    return grpc::Status::OK;
  }
  grpc::Status SetPassword(grpc::ServerContext*, const adm::SetPasswordRequest* req,
                           adm::SetPasswordResponse*) override {
    if (auto st = ValidatePassword(req->password()); !st.ok()) return Grpc(st);
    auto hash = auth::HashPassword(req->password());
    if (!hash.ok()) return Grpc(hash.status());
    return Grpc(core_->store().SetPasswordHash(req->username(), *hash));
  }
  grpc::Status DeleteUser(grpc::ServerContext*, const adm::DeleteUserRequest* req, adm::DeleteUserResponse*) override {
    auto id = core_->store().DeleteUser(req->username());
    if (!id.ok()) return Grpc(id.status());
    // Every token of the user stops working now, here and on every service.
    core_->Revoke({"sub", *id, NowUnixMicros() + core_->options().access_ttl_s * 1000000 + 1000000});
    return grpc::Status::OK;
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
    return Grpc(core_->store().DeleteRole(req->name()));
  }

 private:
  AdminCore* core_;
};

class ApiKeysService final : public adm::ApiKeys::Service {
 public:
  explicit ApiKeysService(AdminCore* core) : core_(core) {}
  grpc::Status CreateApiKey(grpc::ServerContext* ctx, const adm::CreateApiKeyRequest* req,
                            adm::CreateApiKeyResponse* resp) override {
    if (auto st = ValidateText("name", req->name(), 128); !st.ok()) return Grpc(st);
    if (req->ttl_s() < 0) return Grpc(absl::InvalidArgumentError("ttl_s: must not be negative"));
    auto user = Target(ctx, req->username());
    if (!user.ok()) return Grpc(user.status());
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
    k.hash = auth::Sha256Hex(secret);
    if (auto st = core_->store().CreateApiKey(k); !st.ok()) return Grpc(st);
    *resp->mutable_key() = k.key;
    resp->set_secret(full);
    return grpc::Status::OK;
  }
  grpc::Status ListApiKeys(grpc::ServerContext* ctx, const adm::ListApiKeysRequest* req,
                           adm::ListApiKeysResponse* resp) override {
    auto user = Target(ctx, req->username());
    if (!user.ok()) return Grpc(user.status());
    auto keys = core_->store().ListApiKeys(user->user.id());
    if (!keys.ok()) return Grpc(keys.status());
    for (auto& k : *keys) *resp->add_keys() = std::move(k);
    return grpc::Status::OK;
  }
  grpc::Status RevokeApiKey(grpc::ServerContext*, const adm::RevokeApiKeyRequest* req,
                            adm::RevokeApiKeyResponse*) override {
    auto k = core_->store().FindApiKey(req->id());
    if (!k.ok()) return Grpc(k.status());
    if (auto st = core_->store().RevokeApiKey(req->id()); !st.ok()) return Grpc(st);
    core_->Revoke({"key", req->id(), NowUnixMicros() + core_->options().access_ttl_s * 1000000 + 1000000});
    return grpc::Status::OK;
  }

 private:
  absl::StatusOr<UserRecord> Target(grpc::ServerContext* ctx, const std::string& username) {
    if (!username.empty()) return core_->store().FindUser(username);
    auth::Caller c = core_->CallerOf(*ctx);
    if (!c.authenticated) return absl::InvalidArgumentError("username: required when auth mode is none");
    return core_->store().FindUserById(c.sub);
  }
  AdminCore* core_;
};

class AuthService final : public adm::Auth::Service {
 public:
  explicit AuthService(AdminCore* core) : core_(core) {}

  grpc::Status Login(grpc::ServerContext* ctx, const adm::LoginRequest* req, adm::TokenResponse* resp) override {
    if (!req->api_key().empty()) return ApiKeyLogin(ctx, req->api_key(), resp);
    const std::string peer = Peer(ctx);
    const std::string who = ValidateUsername(req->username()).ok() ? req->username() : "(invalid username)";
    auto fail = [&](const std::string& detail) {
      core_->Audit(who, "auth.login", who, peer, "UNAUTHENTICATED", detail);
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid username or password");
    };
    auto user = core_->store().FindUser(req->username());
    if (!user.ok()) {
      if (!absl::IsNotFound(user.status())) return Grpc(user.status());
      auth::VerifyPassword(core_->dummy_hash(), req->password());  // same cost as a real user
      return fail("unknown user");
    }
    int64_t now = NowUnixMicros();
    if (user->user.locked_until_us() > now) {
      core_->Audit(who, "auth.login", who, peer, "UNAUTHENTICATED", "account locked");
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          absl::StrCat("account locked after repeated failed logins; retry after ",
                                       absl::FormatTime(absl::FromUnixMicros(user->user.locked_until_us()))));
    }
    if (user->user.disabled()) return fail("account disabled");
    if (!auth::VerifyPassword(user->password_hash, req->password())) {
      const auto& o = core_->options();
      auto n = core_->store().RecordLoginFailure(user->user.id(), o.lockout_threshold, now + o.lockout_s * 1000000);
      if (!n.ok()) return Grpc(n.status());
      if (*n == o.lockout_threshold) {
        core_->Audit(who, "auth.lock", who, peer, "LOCKED",
                     absl::StrCat(*n, " failed logins in a row; locked for ", o.lockout_s, " s"));
      }
      if (*n > o.slowdown_after) {
        // Slow the guesser down; the thread is the caller's own call.
        absl::SleepFor(absl::Milliseconds(std::min(kMaxSlowdownMs, o.slowdown_step_ms * (*n - o.slowdown_after))));
      }
      return fail(absl::StrCat("wrong password (", *n, " in a row)"));
    }
    if (user->failed_logins > 0 || user->user.locked_until_us() > 0)
      (void)core_->store().ResetLoginFailures(user->user.id());
    auto tokens = core_->IssueTokens(*user, "", /*with_refresh=*/true);
    if (!tokens.ok()) return Grpc(tokens.status());
    core_->Audit(who, "auth.login", who, peer, "OK", "password");
    *resp = std::move(*tokens);
    return grpc::Status::OK;
  }

  grpc::Status Refresh(grpc::ServerContext* ctx, const adm::RefreshRequest* req, adm::TokenResponse* resp) override {
    std::string id, secret;
    auto bad = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "refresh token invalid, expired or revoked");
    if (!SplitSecret(req->refresh_token(), kRefreshPrefix, &id, &secret)) return bad;
    auto r = core_->store().FindRefresh(id);
    if (!r.ok()) return absl::IsNotFound(r.status()) ? bad : Grpc(r.status());
    if (r->revoked || r->expires_at_us <= NowUnixMicros() ||
        !auth::ConstantTimeEquals(r->hash, auth::Sha256Hex(secret)))
      return bad;
    auto user = core_->store().FindUserById(r->user_id);
    if (!user.ok() || user->user.disabled()) return bad;
    (void)core_->store().RevokeRefresh(id);  // rotation: each refresh token works once
    auto tokens = core_->IssueTokens(*user, "", /*with_refresh=*/true);
    if (!tokens.ok()) return Grpc(tokens.status());
    core_->Audit(user->user.username(), "auth.refresh", user->user.username(), Peer(ctx), "OK", "");
    *resp = std::move(*tokens);
    return grpc::Status::OK;
  }

  grpc::Status Logout(grpc::ServerContext* ctx, const adm::LogoutRequest* req, adm::LogoutResponse*) override {
    std::string actor = "anonymous";
    std::string id, secret;
    if (SplitSecret(req->refresh_token(), kRefreshPrefix, &id, &secret)) {
      auto r = core_->store().FindRefresh(id);
      if (r.ok() && auth::ConstantTimeEquals(r->hash, auth::Sha256Hex(secret))) {
        (void)core_->store().RevokeRefresh(id);
        actor = r->user_id;
      }
    }
    if (!req->access_token().empty() && !core_->options().signing_secret_key.empty()) {
      auth::TokenVerifier v(core_->options().signing_secret_key.substr(32));
      if (auto c = v.VerifySignature(req->access_token()); c.ok()) {
        core_->Revoke({"jti", c->jti, c->exp_us});
        actor = c->name;
      }
    }
    core_->Audit(actor, "auth.logout", actor, Peer(ctx), "OK", "");
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
    const std::string peer = Peer(ctx);
    auto fail = [&](const std::string& detail) {
      core_->Audit(absl::StrCat("apikey:", id.substr(0, 16)), "auth.login", id.substr(0, 16), peer, "UNAUTHENTICATED",
                   detail);
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("API key ", detail));
    };
    if (!SplitSecret(key, kApiKeyPrefix, &id, &secret)) return fail("malformed");
    auto k = core_->store().FindApiKey(id);
    if (!k.ok()) return absl::IsNotFound(k.status()) ? fail("unknown") : Grpc(k.status());
    if (!auth::ConstantTimeEquals(k->hash, auth::Sha256Hex(secret))) return fail("unknown");
    if (k->key.revoked()) return fail("revoked");
    if (k->key.expires_at_us() <= NowUnixMicros()) return fail("expired");
    auto user = core_->store().FindUserById(k->key.user_id());
    if (!user.ok() || user->user.disabled()) return fail("owner removed or disabled");
    auto tokens = core_->IssueTokens(*user, id, /*with_refresh=*/false);
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
    return Reply(core_->store().FindUser(req->username()), req->ttl_s(), resp);
  }
  grpc::Status GetServerConfig(grpc::ServerContext*, const adm::GetServerConfigRequest*,
                               adm::GetServerConfigResponse* resp) override {
    const auto& o = core_->options();
    if (!o.nats_operator || !o.nats_account)
      return Grpc(absl::FailedPreconditionError("NATS JWT auth is not configured (nats_jwt)"));
    int64_t now_s = absl::ToUnixSeconds(absl::Now());
    resp->set_operator_jwt(auth::nkeys::OperatorJwt(*o.nats_operator, "stream-admin", now_s));
    resp->set_account_public_key(o.nats_account->public_key);
    resp->set_account_jwt(auth::nkeys::AccountJwt(*o.nats_operator, o.nats_account->public_key, "STREAM_ADMIN", now_s));
    resp->set_server_config(absl::StrCat("operator: ", resp->operator_jwt(),
                                         "\nresolver: MEMORY\nresolver_preload: {\n  ", resp->account_public_key(),
                                         ": ", resp->account_jwt(), "\n}\n"));
    return grpc::Status::OK;
  }

 private:
  grpc::Status Reply(const absl::StatusOr<UserRecord>& user, int64_t ttl_s, adm::GetCredentialsResponse* resp) {
    if (!user.ok()) return Grpc(user.status());
    if (ttl_s < 0) return Grpc(absl::InvalidArgumentError("ttl_s: must not be negative"));
    auto creds = core_->NatsCredentials(*user, ttl_s);
    if (!creds.ok()) return Grpc(creds.status());
    *resp = std::move(*creds);
    return grpc::Status::OK;
  }
  AdminCore* core_;
};

// ------------------------------------------------------------ audit hook ---

// The target a request names, for the audit entry: its first set field among these.
std::string TargetOf(const google::protobuf::Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (const char* name : {"username", "name", "id"}) {
    if (const auto* f = d->FindFieldByName(name);
        f && f->type() == google::protobuf::FieldDescriptor::TYPE_STRING && !f->is_repeated()) {
      std::string v = r->GetString(m, f);
      if (!v.empty()) return v.substr(0, 256);
    }
  }
  if (const auto* f = d->FindFieldByName("role"); f && f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
    return TargetOf(r->GetMessage(m, f));
  }
  return "";
}

class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(AdminCore* core, grpc::experimental::ServerRpcInfo* info) : core_(core), info_(info) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Sync unary handlers: the request is the generated message type.
      if (void* msg = methods->GetRecvMessage()) target_ = TargetOf(*static_cast<google::protobuf::Message*>(msg));
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status st = methods->GetSendStatus();
      auto* ctx = info_->server_context();
      core_->Audit(ActorOf(core_, ctx), info_->method(), target_, ctx->peer(), obs::GrpcCodeName(st.error_code()),
                   st.ok() ? "" : st.error_message().substr(0, 512));
    }
    methods->Proceed();
  }

 private:
  AdminCore* core_;
  grpc::experimental::ServerRpcInfo* info_;
  std::string target_;
};

class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuditInterceptorFactory(AdminCore* core) : core_(core) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    if (!auth::IsMutating(info->method())) return nullptr;
    return new AuditInterceptor(core_, info);
  }

 private:
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

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeAuditInterceptorFactory(AdminCore* core) {
  return std::make_unique<AuditInterceptorFactory>(core);
}

}  // namespace sa::admin
