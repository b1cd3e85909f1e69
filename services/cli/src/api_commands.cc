#include "cli/api_commands.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/rpc.h"
#include "cli/terminal.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/anomaly/v1/anomaly.grpc.pb.h"
#include "streamadmin/cdc/v1/cdc.grpc.pb.h"
#include "streamadmin/ingest/v1/ingest.grpc.pb.h"
#include "streamadmin/normalizer/v1/normalizer.grpc.pb.h"

namespace sa::cli {
namespace {

namespace apb = streamadmin::admin::v1;
namespace anpb = streamadmin::anomaly::v1;
namespace cpb = streamadmin::cdc::v1;
namespace ipb = streamadmin::ingest::v1;
namespace npb = streamadmin::normalizer::v1;

// What every command of one noun shares: where the service is, output form, deadline.
struct Common {
  std::string command;  // "users list", for messages
  std::string service;  // "admin", for hints
  std::string target;
  bool json = false;
  double timeout_s = 30;
};

// Aligned columns; the last one is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print() const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      if (width.size() < r.size()) width.resize(r.size(), 0);
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i) {
        if (i) line += "  ";
        line += r[i];
        if (i + 1 < r.size()) line += std::string(width[i] - r[i].size(), ' ');
      }
      std::printf("%s\n", line.c_str());
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string TimeUs(int64_t us) {
  if (us <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(us), absl::UTCTimeZone());
}
std::string TimeNs(int64_t ns) {
  if (ns <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}
std::string Num(uint64_t v) { return std::to_string(v); }

// New passwords: STREAM_ADMIN_NEW_PASSWORD, else typed twice.
std::string NewPassword() {
  std::string p = EnvOr("STREAM_ADMIN_NEW_PASSWORD");
  if (!p.empty()) return p;
  p = PromptSecret("new password: ");
  if (p.empty() || PromptSecret("again: ") != p) return "";
  return p;
}

// Parsing and running one noun's verbs.
class Registrar {
 public:
  Registrar(const GlobalOptions* globals, std::function<int()>* run) : globals_(globals), run_(run) {}

  // A verb under `noun`; `body` runs with the Common filled in.
  CLI::App* Verb(CLI::App* noun, const std::string& name, const std::string& help, const std::string& service,
                 const std::string& default_target, std::function<int(const Common&)> body) {
    auto common = std::make_shared<Common>();
    common->command = noun->get_parent() == nullptr ? name : absl::StrCat(noun->get_name(), " ", name);
    common->service = service;
    common->target = default_target;
    CLI::App* verb = noun->add_subcommand(name, help);
    verb->add_option("-t,--target", common->target,
                     absl::StrCat("the ", service, " service (default ", default_target, ")"));
    verb->add_flag("--json", common->json, "the response as JSON instead of a table");
    verb->add_option("--timeout", common->timeout_s, "seconds before the call is given up (default 30)");
    auto* run = run_;
    verb->callback([run, common, body] { *run = [common, body] { return body(*common); }; });
    return verb;
  }

  CallOptions Call(const Common& c) const { return {c.target, globals_->token, globals_->credentials, c.timeout_s}; }

  // One unary call; on failure prints and returns the exit code, else kExitOk.
  template <typename Service, typename Method, typename Req, typename Resp>
  int Unary(const Common& c, Method method, const Req& req, Resp* resp) const {
    CallOptions call = Call(c);
    auto stub = Service::NewStub(MakeChannel(call));
    auto ctx = MakeContext(call);
    grpc::Status st = ((*stub).*method)(ctx.get(), req, resp);
    if (!st.ok()) return ReportFailure(c.command, c.service, call, st);
    return kExitOk;
  }

 private:
  const GlobalOptions* globals_;
  std::function<int()>* run_;
};

// ------------------------------------------------------------------ admin ---

void PrintUsers(const std::vector<apb::User>& users) {
  Table t({"USERNAME", "DISPLAY NAME", "ROLES", "STATE", "CREATED", "ID"});
  for (const auto& u : users) {
    std::string state = u.disabled() ? "disabled" : "active";
    if (u.locked_until_us() > absl::ToUnixMicros(absl::Now())) state = "locked until " + TimeUs(u.locked_until_us());
    t.Add({u.username(), u.display_name().empty() ? "-" : u.display_name(), absl::StrJoin(u.roles(), ","), state,
           TimeUs(u.created_at_us()), u.id()});
  }
  t.Print();
}

int PrintUser(const Common& c, const apb::User& u, const char* what) {
  if (c.json) {
    std::printf("%s\n", ProtoJson(u).c_str());
  } else {
    std::printf("%s user %s (roles: %s%s)\n", what, u.username().c_str(),
                u.roles().empty() ? "none" : absl::StrJoin(u.roles(), ",").c_str(), u.disabled() ? "; disabled" : "");
  }
  return kExitOk;
}

void AddUsers(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("users", "users of the admin service (admin.v1.Users)");
  noun->require_subcommand(1);
  r.Verb(noun, "list", "every user", "admin", kAdminTarget, [&r](const Common& c) {
    apb::ListUsersResponse resp;
    if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::ListUsers, apb::ListUsersRequest(), &resp)) return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
    PrintUsers({resp.users().begin(), resp.users().end()});
    return kExitOk;
  });
  auto name = std::make_shared<std::string>();
  auto* get = r.Verb(noun, "get", "one user", "admin", kAdminTarget, [&r, name](const Common& c) {
    apb::GetUserRequest req;
    req.set_username(*name);
    apb::User u;
    if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::GetUser, req, &u)) return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(u).c_str()), kExitOk;
    PrintUsers({u});
    return kExitOk;
  });
  get->add_option("username", *name)->required();

  struct CreateArgs {
    std::string username, display_name;
    std::vector<std::string> roles;
  };
  auto ca = std::make_shared<CreateArgs>();
  auto* create =
      r.Verb(noun, "create", "a new user (password: STREAM_ADMIN_NEW_PASSWORD or typed twice)", "admin", kAdminTarget,
             [&r, ca](const Common& c) {
               apb::CreateUserRequest req;
               req.set_username(ca->username);
               req.set_display_name(ca->display_name);
               req.set_password(NewPassword());
               if (req.password().empty())
                 return ReportUsage(c.command, "no password (set STREAM_ADMIN_NEW_PASSWORD or type it twice)");
               for (const auto& role : ca->roles) req.add_roles(role);
               apb::User u;
               if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::CreateUser, req, &u)) return rc;
               return PrintUser(c, u, "created");
             });
  create->add_option("username", ca->username)->required();
  create->add_option("--display-name", ca->display_name, "free text");
  create->add_option("-r,--role", ca->roles, "a role (repeatable)");

  struct UpdateArgs {
    std::string username, display_name;
    bool set_display = false, disable = false, enable = false;
  };
  auto ua = std::make_shared<UpdateArgs>();
  auto* update = r.Verb(noun, "update", "change a user's display name or disable/enable it", "admin", kAdminTarget,
                        [&r, ua](const Common& c) {
                          if (ua->disable && ua->enable)
                            return ReportUsage(c.command, "--disable or --enable, not both");
                          // UpdateUser sets both fields: start from what is stored.
                          apb::GetUserRequest get;
                          get.set_username(ua->username);
                          apb::User current;
                          if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::GetUser, get, &current)) return rc;
                          apb::UpdateUserRequest req;
                          req.set_username(ua->username);
                          req.set_display_name(ua->set_display ? ua->display_name : current.display_name());
                          req.set_disabled(ua->disable ? true : ua->enable ? false : current.disabled());
                          apb::User u;
                          if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::UpdateUser, req, &u)) return rc;
                          return PrintUser(c, u, "updated");
                        });
  update->add_option("username", ua->username)->required();
  update->add_option("--display-name", ua->display_name, "new display name")->each([ua](const std::string&) {
    ua->set_display = true;
  });
  update->add_flag("--disable", ua->disable, "refuse its logins and tokens");
  update->add_flag("--enable", ua->enable, "undo --disable");

  auto del = std::make_shared<std::string>();
  auto* remove =
      r.Verb(noun, "delete", "delete a user, its keys and tokens", "admin", kAdminTarget, [&r, del](const Common& c) {
        apb::DeleteUserRequest req;
        req.set_username(*del);
        apb::DeleteUserResponse resp;
        if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::DeleteUser, req, &resp)) return rc;
        std::printf("deleted user %s\n", del->c_str());
        return kExitOk;
      });
  remove->add_option("username", *del)->required();

  struct RolesArgs {
    std::string username;
    std::vector<std::string> roles;
  };
  auto ra = std::make_shared<RolesArgs>();
  auto* set_roles = r.Verb(noun, "set-roles", "replace a user's roles (none: no roles)", "admin", kAdminTarget,
                           [&r, ra](const Common& c) {
                             apb::SetUserRolesRequest req;
                             req.set_username(ra->username);
                             for (const auto& role : ra->roles) req.add_roles(role);
                             apb::User u;
                             if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::SetUserRoles, req, &u)) return rc;
                             return PrintUser(c, u, "updated");
                           });
  set_roles->add_option("username", ra->username)->required();
  set_roles->add_option("roles", ra->roles, "the roles");

  auto pw = std::make_shared<std::string>();
  auto* set_password =
      r.Verb(noun, "set-password", "a new password (STREAM_ADMIN_NEW_PASSWORD or typed twice)", "admin", kAdminTarget,
             [&r, pw](const Common& c) {
               apb::SetPasswordRequest req;
               req.set_username(*pw);
               req.set_password(NewPassword());
               if (req.password().empty())
                 return ReportUsage(c.command, "no password (set STREAM_ADMIN_NEW_PASSWORD or type it twice)");
               apb::SetPasswordResponse resp;
               if (int rc = r.Unary<apb::Users>(c, &apb::Users::Stub::SetPassword, req, &resp)) return rc;
               std::printf("password of %s changed\n", pw->c_str());
               return kExitOk;
             });
  set_password->add_option("username", *pw)->required();
}

// "resource:action" -> Permission; false when there is no colon.
bool ParsePermission(const std::string& s, apb::Permission* p) {
  auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  p->set_resource(s.substr(0, colon));
  p->set_action(s.substr(colon + 1));
  return true;
}

void AddRoles(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("roles", "roles and their permissions (admin.v1.Roles)");
  noun->require_subcommand(1);
  r.Verb(noun, "list", "every role", "admin", kAdminTarget, [&r](const Common& c) {
    apb::ListRolesResponse resp;
    if (int rc = r.Unary<apb::Roles>(c, &apb::Roles::Stub::ListRoles, apb::ListRolesRequest(), &resp)) return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
    Table t({"ROLE", "PERMISSIONS", "NATS PUBLISH", "NATS SUBSCRIBE", "DESCRIPTION"});
    for (const auto& role : resp.roles()) {
      std::vector<std::string> perms;
      for (const auto& p : role.permissions()) perms.push_back(p.resource() + ":" + p.action());
      t.Add({role.name(), perms.empty() ? "-" : absl::StrJoin(perms, ","),
             role.nats().publish_allow().empty() ? "-" : absl::StrJoin(role.nats().publish_allow(), ","),
             role.nats().subscribe_allow().empty() ? "-" : absl::StrJoin(role.nats().subscribe_allow(), ","),
             role.description()});
    }
    t.Print();
    return kExitOk;
  });
  struct PutArgs {
    std::string name, description;
    std::vector<std::string> permissions, pub_allow, pub_deny, sub_allow, sub_deny;
  };
  auto pa = std::make_shared<PutArgs>();
  auto* put = r.Verb(noun, "put", "create or replace a role", "admin", kAdminTarget, [&r, pa](const Common& c) {
    apb::PutRoleRequest req;
    auto* role = req.mutable_role();
    role->set_name(pa->name);
    role->set_description(pa->description);
    for (const auto& p : pa->permissions)
      if (!ParsePermission(p, role->add_permissions()))
        return ReportUsage(c.command,
                           absl::StrCat("permission '", p, "' is not resource:action (e.g. md:read, cdc:*)"));
    for (const auto& s : pa->pub_allow) role->mutable_nats()->add_publish_allow(s);
    for (const auto& s : pa->pub_deny) role->mutable_nats()->add_publish_deny(s);
    for (const auto& s : pa->sub_allow) role->mutable_nats()->add_subscribe_allow(s);
    for (const auto& s : pa->sub_deny) role->mutable_nats()->add_subscribe_deny(s);
    apb::Role out;
    if (int rc = r.Unary<apb::Roles>(c, &apb::Roles::Stub::PutRole, req, &out)) return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(out).c_str()), kExitOk;
    std::printf("stored role %s (%d permission%s)\n", out.name().c_str(), out.permissions_size(),
                out.permissions_size() == 1 ? "" : "s");
    return kExitOk;
  });
  put->add_option("name", pa->name)->required();
  put->add_option("-p,--permission", pa->permissions, "resource:action, '*' wildcards (repeatable)");
  put->add_option("--description", pa->description);
  put->add_option("--nats-publish-allow", pa->pub_allow, "subject (repeatable)");
  put->add_option("--nats-publish-deny", pa->pub_deny, "subject (repeatable)");
  put->add_option("--nats-subscribe-allow", pa->sub_allow, "subject (repeatable)");
  put->add_option("--nats-subscribe-deny", pa->sub_deny, "subject (repeatable)");
  auto name = std::make_shared<std::string>();
  auto* del = r.Verb(noun, "delete", "delete a role", "admin", kAdminTarget, [&r, name](const Common& c) {
    apb::DeleteRoleRequest req;
    req.set_name(*name);
    apb::DeleteRoleResponse resp;
    if (int rc = r.Unary<apb::Roles>(c, &apb::Roles::Stub::DeleteRole, req, &resp)) return rc;
    std::printf("deleted role %s\n", name->c_str());
    return kExitOk;
  });
  del->add_option("name", *name)->required();
}

void AddKeys(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("keys", "API keys (admin.v1.ApiKeys)");
  noun->require_subcommand(1);
  auto user = std::make_shared<std::string>();
  auto* list =
      r.Verb(noun, "list", "API keys of a user (default: yours)", "admin", kAdminTarget, [&r, user](const Common& c) {
        apb::ListApiKeysRequest req;
        req.set_username(*user);
        apb::ListApiKeysResponse resp;
        if (int rc = r.Unary<apb::ApiKeys>(c, &apb::ApiKeys::Stub::ListApiKeys, req, &resp)) return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        Table t({"ID", "NAME", "PREFIX", "STATE", "CREATED", "EXPIRES", "PERMISSIONS"});
        for (const auto& k : resp.keys())
          t.Add({k.id(), k.name(), k.prefix(), k.revoked() ? "revoked" : "active", TimeUs(k.created_at_us()),
                 TimeUs(k.expires_at_us()),
                 k.permissions().empty() ? "(all of the owner's)" : absl::StrJoin(k.permissions(), ",")});
        t.Print();
        return kExitOk;
      });
  list->add_option("-u,--user", *user, "whose keys (needs users:read for another user)");
  struct CreateArgs {
    std::string name, user;
    int64_t ttl_s = 0;
    std::vector<std::string> permissions;
  };
  auto ca = std::make_shared<CreateArgs>();
  auto* create = r.Verb(
      noun, "create", "a new API key; its secret is printed once", "admin", kAdminTarget, [&r, ca](const Common& c) {
        apb::CreateApiKeyRequest req;
        req.set_name(ca->name);
        req.set_username(ca->user);
        req.set_ttl_s(ca->ttl_s);
        for (const auto& p : ca->permissions) req.add_permissions(p);
        apb::CreateApiKeyResponse resp;
        if (int rc = r.Unary<apb::ApiKeys>(c, &apb::ApiKeys::Stub::CreateApiKey, req, &resp)) return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        std::fprintf(stderr, "created key %s (id %s, expires %s); the secret is shown only now:\n",
                     resp.key().name().c_str(), resp.key().id().c_str(), TimeUs(resp.key().expires_at_us()).c_str());
        std::printf("%s\n", resp.secret().c_str());
        return kExitOk;
      });
  create->add_option("name", ca->name)->required();
  create->add_option("-u,--user", ca->user, "owner (default: you; another user needs users:write)");
  create->add_option("--ttl", ca->ttl_s, "seconds until it expires (default 90 days)");
  create->add_option("-p,--permission", ca->permissions, "resource:action it may use (repeatable; default: all yours)");
  auto id = std::make_shared<std::string>();
  auto* revoke = r.Verb(noun, "revoke", "revoke an API key at once", "admin", kAdminTarget, [&r, id](const Common& c) {
    apb::RevokeApiKeyRequest req;
    req.set_id(*id);
    apb::RevokeApiKeyResponse resp;
    if (int rc = r.Unary<apb::ApiKeys>(c, &apb::ApiKeys::Stub::RevokeApiKey, req, &resp)) return rc;
    std::printf("revoked key %s\n", id->c_str());
    return kExitOk;
  });
  revoke->add_option("id", *id)->required();
}

void AddLogout(CLI::App& app, Registrar& r, const GlobalOptions* globals) {
  auto refresh = std::make_shared<std::string>();
  auto* logout = r.Verb(&app, "logout", "revoke the refresh token (and the access token given with --token)", "admin",
                        kAdminTarget, [&r, refresh, globals](const Common& c) {
                          if (refresh->empty() && globals->token.empty())
                            return ReportUsage(c.command,
                                               "nothing to revoke: --refresh-token (or STREAM_ADMIN_REFRESH_TOKEN) "
                                               "and/or --token (STREAM_ADMIN_TOKEN)");
                          apb::LogoutRequest req;
                          req.set_refresh_token(*refresh);
                          req.set_access_token(globals->token);
                          apb::LogoutResponse resp;
                          if (int rc = r.Unary<apb::Auth>(c, &apb::Auth::Stub::Logout, req, &resp)) return rc;
                          std::printf("logged out: %s%s%s revoked\n", refresh->empty() ? "" : "refresh token",
                                      !refresh->empty() && !globals->token.empty() ? " and " : "",
                                      globals->token.empty() ? "" : "access token");
                          return kExitOk;
                        });
  logout->add_option("--refresh-token", *refresh, "from `stream-admin login --json`")
      ->envname("STREAM_ADMIN_REFRESH_TOKEN");
}

// --since: a duration back from now ("15m", "2h", "1d") or an RFC3339 time.
bool ParseSince(const std::string& s, int64_t* us) {
  if (s.empty()) return true;
  absl::Duration d;
  std::string spec = s;
  if (spec.size() > 1 && spec.back() == 'd') {
    int64_t days = 0;
    if (!absl::SimpleAtoi(spec.substr(0, spec.size() - 1), &days)) return false;
    d = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(spec, &d)) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, spec, &t, &err)) return false;
    *us = absl::ToUnixMicros(t);
    return true;
  }
  *us = absl::ToUnixMicros(absl::Now() - d);
  return true;
}

void AddAudit(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("audit", "the audit log (admin.v1.Audit)");
  noun->require_subcommand(1);
  struct Args {
    std::string actor, action, since;
    uint32_t limit = 0;
  };
  auto a = std::make_shared<Args>();
  auto* list = r.Verb(noun, "list", "entries, newest first", "admin", kAdminTarget, [&r, a](const Common& c) {
    apb::ListAuditRequest req;
    req.set_actor(a->actor);
    req.set_action(a->action);
    req.set_limit(a->limit);
    int64_t since = 0;
    if (!ParseSince(a->since, &since))
      return ReportUsage(c.command, absl::StrCat("--since '", a->since, "': a duration (90s, 15m, 2h, 7d) or RFC3339"));
    req.set_since_us(since);
    apb::ListAuditResponse resp;
    if (int rc = r.Unary<apb::Audit>(c, &apb::Audit::Stub::ListAudit, req, &resp)) return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
    Table t({"TIME (UTC)", "ACTOR", "ACTION", "RESOURCE", "OUTCOME", "PEER", "DETAIL"});
    for (const auto& e : resp.entries())
      t.Add({TimeUs(e.time_us()), e.actor(), e.action(), e.resource().empty() ? "-" : e.resource(), e.outcome(),
             e.peer(), e.detail()});
    t.Print();
    return kExitOk;
  });
  list->add_option("--actor", a->actor, "user id or service identity (exact)");
  list->add_option("--action", a->action, "gRPC method or domain action (exact)");
  list->add_option("--since", a->since, "a duration back from now (15m, 2h, 7d) or an RFC3339 time");
  list->add_option("-n,--limit", a->limit, "at most N entries (default 100, at most 1000)");
}

void AddNats(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("nats", "NATS credentials (admin.v1.NatsAccess)");
  noun->require_subcommand(1);
  struct Args {
    std::string user, out;
    int64_t ttl_s = 0;
  };
  auto a = std::make_shared<Args>();
  auto* creds = r.Verb(
      noun, "creds", "a .creds file for NATS: yours, or another user's with --user (nats:admin)", "admin", kAdminTarget,
      [&r, a](const Common& c) {
        apb::GetCredentialsRequest req;
        req.set_username(a->user);
        req.set_ttl_s(a->ttl_s);
        apb::GetCredentialsResponse resp;
        int rc = a->user.empty() ? r.Unary<apb::NatsAccess>(c, &apb::NatsAccess::Stub::GetMyCredentials, req, &resp)
                                 : r.Unary<apb::NatsAccess>(c, &apb::NatsAccess::Stub::GetCredentials, req, &resp);
        if (rc) return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        if (a->out.empty() || a->out == "-") {
          std::printf("%s", resp.creds().c_str());
        } else {
          // Owner-only from the first byte: the file holds a secret seed.
          const mode_t old = umask(077);
          std::ofstream f(a->out, std::ios::trunc);
          f << resp.creds();
          f.close();
          umask(old);
          if (!f) {
            std::fprintf(stderr, "stream-admin nats creds: cannot write %s\n", a->out.c_str());
            return static_cast<int>(kExitFailed);
          }
          ::chmod(a->out.c_str(), 0600);
          std::printf("wrote %s (user %s, expires %s)\n", a->out.c_str(), resp.user_public_key().c_str(),
                      TimeUs(resp.expires_at_us()).c_str());
        }
        std::fprintf(stderr, "inbox prefix: %s (set it in the client, e.g. nats --inbox-prefix %s)\n",
                     resp.inbox_prefix().c_str(), resp.inbox_prefix().c_str());
        return kExitOk;
      });
  creds->add_option("-u,--user", a->user, "another user (needs nats:admin)");
  creds->add_option("--ttl", a->ttl_s, "seconds the credentials are valid (default: the server's)");
  creds->add_option("-o,--output", a->out, "the .creds file to write (mode 0600; default: stdout)");
  auto store = std::make_shared<std::string>();
  auto* server = r.Verb(noun, "server-config", "a nats-server configuration for operator mode", "admin", kAdminTarget,
                        [&r, store](const Common& c) {
                          apb::GetServerConfigRequest req;
                          req.set_jetstream_store_dir(*store);
                          apb::GetServerConfigResponse resp;
                          if (int rc = r.Unary<apb::NatsAccess>(c, &apb::NatsAccess::Stub::GetServerConfig, req, &resp))
                            return rc;
                          if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
                          std::printf("%s", resp.server_config().c_str());
                          return kExitOk;
                        });
  server->add_option("--store-dir", *store, "JetStream store_dir (default /data)");
}

// ----------------------------------------------------------------- ingest ---

void PrintSources(const std::vector<ipb::SourceState>& sources) {
  Table t({"NAME", "KIND", "VENUE", "STATE", "FRAMES", "BYTES", "RECONNECTS", "LAST FRAME", "DETAIL"});
  for (const auto& s : sources)
    t.Add({s.config().name(), s.config().kind(), s.config().venue(), s.state(), Num(s.frames()), Num(s.bytes()),
           Num(s.reconnects()), s.last_frame_unix_ms() ? TimeUs(s.last_frame_unix_ms() * 1000) : "-", s.detail()});
  t.Print();
}

void AddSources(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("sources", "where ingest gets raw frames (ingest.v1.Ingest)");
  noun->require_subcommand(1);
  r.Verb(noun, "list", "every source with its counters", "ingest", kIngestTarget, [&r](const Common& c) {
    ipb::ListSourcesResponse resp;
    if (int rc = r.Unary<ipb::Ingest>(c, &ipb::Ingest::Stub::ListSources, ipb::ListSourcesRequest(), &resp)) return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
    PrintSources({resp.sources().begin(), resp.sources().end()});
    return kExitOk;
  });
  struct AddArgs {
    std::string name, kind = "websocket", venue, url, config_json;
    std::vector<std::string> channels, symbols;
  };
  auto aa = std::make_shared<AddArgs>();
  auto* add = r.Verb(
      noun, "add", "a new source: --venue V --symbol S --channel C, or --config JSON (config.v1.SourceConfig)",
      "ingest", kIngestTarget, [&r, aa](const Common& c) {
        ipb::AddSourceRequest req;
        auto* s = req.mutable_source();
        if (!aa->config_json.empty()) {
          auto st = google::protobuf::util::JsonStringToMessage(aa->config_json, s);
          if (!st.ok())
            return ReportUsage(c.command, absl::StrCat("--config is not a SourceConfig: ", std::string(st.message())));
        } else {
          s->set_kind(aa->kind);
          s->set_venue(aa->venue);
          if (aa->kind == "websocket") {
            s->mutable_websocket()->set_url(aa->url);
            for (const auto& ch : aa->channels) s->mutable_websocket()->add_channels(ch);
            for (const auto& sym : aa->symbols) s->mutable_websocket()->add_symbols(sym);
          }
        }
        if (!aa->name.empty()) s->set_name(aa->name);
        if (s->name().empty()) return ReportUsage(c.command, "a source needs a name");
        ipb::AddSourceResponse resp;
        if (int rc = r.Unary<ipb::Ingest>(c, &ipb::Ingest::Stub::AddSource, req, &resp)) return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        PrintSources({resp.source()});
        return kExitOk;
      });
  add->add_option("name", aa->name, "unique source name");
  add->add_option("--kind", aa->kind, "websocket (default), replay or kafka (those two: use --config)");
  add->add_option("--venue", aa->venue, "coinbase, coinbase-exchange, binance, kraken");
  add->add_option("--url", aa->url, "WebSocket URL (default: the venue's public endpoint)");
  add->add_option("--channel", aa->channels, "venue channel, e.g. trade, book (repeatable)");
  add->add_option("--symbol", aa->symbols, "canonical BASE-QUOTE (repeatable)");
  add->add_option("--config", aa->config_json, "the whole SourceConfig as JSON");
  auto name = std::make_shared<std::string>();
  auto* remove =
      r.Verb(noun, "remove", "stop and remove a source", "ingest", kIngestTarget, [&r, name](const Common& c) {
        ipb::RemoveSourceRequest req;
        req.set_name(*name);
        ipb::RemoveSourceResponse resp;
        if (int rc = r.Unary<ipb::Ingest>(c, &ipb::Ingest::Stub::RemoveSource, req, &resp)) return rc;
        std::printf("removed source %s\n", name->c_str());
        return kExitOk;
      });
  remove->add_option("name", *name)->required();
  struct ReplayArgs {
    std::string path, name, venue;
    double speed = 0;
  };
  auto ra = std::make_shared<ReplayArgs>();
  auto* replay = r.Verb(noun, "replay", "replay a recording once (a path on the ingest host)", "ingest", kIngestTarget,
                        [&r, ra](const Common& c) {
                          ipb::StartReplayRequest req;
                          req.set_path(ra->path);
                          req.set_name(ra->name);
                          req.set_venue(ra->venue);
                          req.set_speed(ra->speed);
                          ipb::StartReplayResponse resp;
                          if (int rc = r.Unary<ipb::Ingest>(c, &ipb::Ingest::Stub::StartReplay, req, &resp)) return rc;
                          if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
                          PrintSources({resp.source()});
                          return kExitOk;
                        });
  replay->add_option("path", ra->path, ".jsonl or .jsonl.zst")->required();
  replay->add_option("--name", ra->name, "source name (default: from the file name)");
  replay->add_option("--venue", ra->venue, "default: from the recording's header");
  replay->add_option("--speed", ra->speed, "0 (default): as fast as possible; 1: recorded pace; N: N x");
}

// ------------------------------------------------------------- normalizer ---

void AddNormalizer(CLI::App& app, Registrar& r) {
  struct BookArgs {
    std::string venue, symbol;
    uint32_t depth = 10;
  };
  auto ba = std::make_shared<BookArgs>();
  auto* book = r.Verb(&app, "book", "the normalizer's live order book: stream-admin book kraken BTC-USD", "normalizer",
                      kNormalizerTarget, [&r, ba](const Common& c) {
                        npb::GetBookRequest req;
                        req.set_venue(ba->venue);
                        req.set_symbol(ba->symbol);
                        req.set_depth(ba->depth);
                        npb::GetBookResponse resp;
                        if (int rc = r.Unary<npb::Normalizer>(c, &npb::Normalizer::Stub::GetBook, req, &resp))
                          return rc;
                        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
                        std::printf("%s %s  sequence %llu  version %llu%s\n", resp.venue().c_str(),
                                    resp.symbol().c_str(), static_cast<unsigned long long>(resp.sequence()),
                                    static_cast<unsigned long long>(resp.book_version()),
                                    resp.valid() ? "" : "  RESYNCING: levels not to be trusted");
                        Table t({"BID SIZE", "BID", "ASK", "ASK SIZE"});
                        const int n = std::max(resp.bids_size(), resp.asks_size());
                        for (int i = 0; i < n; ++i) {
                          std::string bs, bp, ap, as;
                          if (i < resp.bids_size()) {
                            bs = resp.bids(i).size().value();
                            bp = resp.bids(i).price().value();
                          }
                          if (i < resp.asks_size()) {
                            ap = resp.asks(i).price().value();
                            as = resp.asks(i).size().value();
                          }
                          t.Add({bs, bp, ap, as});
                        }
                        t.Print();
                        if (resp.bids_size() && resp.asks_size()) {
                          double bid = 0, ask = 0;
                          if (absl::SimpleAtod(resp.bids(0).price().value(), &bid) &&
                              absl::SimpleAtod(resp.asks(0).price().value(), &ask))
                            std::printf("spread %.10g\n", ask - bid);
                        }
                        return kExitOk;
                      });
  book->add_option("venue", ba->venue)->required();
  book->add_option("symbol", ba->symbol, "canonical BASE-QUOTE")->required();
  book->add_option("-d,--depth", ba->depth, "levels per side (default 10)");

  auto limit = std::make_shared<uint32_t>(20);
  auto* gaps = r.Verb(&app, "gaps", "the latest gaps, checksum mismatches and resyncs", "normalizer", kNormalizerTarget,
                      [&r, limit](const Common& c) {
                        npb::ListGapsRequest req;
                        req.set_limit(*limit);
                        npb::ListGapsResponse resp;
                        if (int rc = r.Unary<npb::Normalizer>(c, &npb::Normalizer::Stub::ListGaps, req, &resp))
                          return rc;
                        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
                        Table t({"TIME (UTC)", "VENUE", "SYMBOL", "KIND", "EXPECTED", "RECEIVED", "DETAIL"});
                        for (const auto& e : resp.events()) {
                          std::string kind = streamadmin::marketdata::v1::VenueStatus::Kind_Name(e.kind());
                          if (kind.rfind("KIND_", 0) == 0) kind = kind.substr(5);
                          t.Add({TimeNs(e.origin().receive_time_ns()), e.origin().venue(), e.origin().symbol(), kind,
                                 Num(e.expected_sequence()), Num(e.received_sequence()), e.detail()});
                        }
                        t.Print();
                        return kExitOk;
                      });
  gaps->add_option("-n,--limit", *limit, "at most N events (default 20)");

  r.Verb(
      &app, "venues", "per venue: frames, trades, books (resyncing), symbols", "normalizer", kNormalizerTarget,
      [&r](const Common& c) {
        npb::ListVenuesResponse resp;
        if (int rc = r.Unary<npb::Normalizer>(c, &npb::Normalizer::Stub::ListVenues, npb::ListVenuesRequest(), &resp))
          return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        Table t({"VENUE", "FRAMES", "DECODE ERRORS", "TRADES", "BOOK UPDATES", "BOOKS", "RESYNCING", "SYMBOLS"});
        for (const auto& v : resp.venues())
          t.Add({v.venue(), Num(v.frames()), Num(v.decode_errors()), Num(v.trades()), Num(v.book_updates()),
                 Num(v.books()), Num(v.books_resyncing()), absl::StrJoin(v.symbols(), ",")});
        t.Print();
        return kExitOk;
      });
}

// -------------------------------------------------------------------- cdc ---

void AddCdc(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("cdc", "change data capture: cdc-bridge connectors, snapshots; the warehouse sink");
  noun->require_subcommand(1);
  r.Verb(noun, "connectors", "replication slots, LSNs, lag and counters", "cdc-bridge", kCdcBridgeTarget,
         [&r](const Common& c) {
           cpb::ListConnectorsResponse resp;
           if (int rc = r.Unary<cpb::Cdc>(c, &cpb::Cdc::Stub::ListConnectors, cpb::ListConnectorsRequest(), &resp))
             return rc;
           if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
           Table t({"SERVER", "SLOT", "PUBLICATION", "STREAMING", "CONFIRMED LSN", "LAG BYTES", "EVENTS", "ACKED",
                    "TXNS", "DEAD LETTERS", "RECONNECTS", "LAST ERROR"});
           for (const auto& k : resp.connectors())
             t.Add({k.server(), k.slot(), k.publication(), k.streaming() ? "yes" : "NO", k.confirmed_lsn(),
                    k.lag_bytes() < 0 ? "?" : std::to_string(k.lag_bytes()), Num(k.events_published()),
                    Num(k.events_acked()), Num(k.transactions()), Num(k.dead_letters()), Num(k.reconnects()),
                    k.last_error().empty() ? "-" : k.last_error()});
           t.Print();
           return kExitOk;
         });
  auto print_snapshots = [](const std::vector<cpb::SnapshotState>& snaps) {
    Table t({"TABLE", "STATE", "ROWS", "ERROR"});
    for (const auto& s : snaps) t.Add({s.schema() + "." + s.table(), s.state(), Num(s.rows()), s.error()});
    t.Print();
  };
  r.Verb(noun, "snapshots", "snapshots queued, running and done", "cdc-bridge", kCdcBridgeTarget,
         [&r, print_snapshots](const Common& c) {
           cpb::ListSnapshotsResponse resp;
           if (int rc = r.Unary<cpb::Cdc>(c, &cpb::Cdc::Stub::ListSnapshots, cpb::ListSnapshotsRequest(), &resp))
             return rc;
           if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
           print_snapshots({resp.snapshots().begin(), resp.snapshots().end()});
           return kExitOk;
         });
  struct SnapArgs {
    std::string table, schema = "public";
    uint32_t chunk = 0;
  };
  auto sa = std::make_shared<SnapArgs>();
  auto* snap = r.Verb(noun, "snapshot", "queue a chunked snapshot of one table", "cdc-bridge", kCdcBridgeTarget,
                      [&r, sa, print_snapshots](const Common& c) {
                        cpb::SnapshotTableRequest req;
                        req.set_schema(sa->schema);
                        req.set_table(sa->table);
                        req.set_chunk_size(sa->chunk);
                        cpb::SnapshotTableResponse resp;
                        if (int rc = r.Unary<cpb::Cdc>(c, &cpb::Cdc::Stub::SnapshotTable, req, &resp)) return rc;
                        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
                        print_snapshots({resp.snapshot()});
                        return kExitOk;
                      });
  snap->add_option("table", sa->table)->required();
  snap->add_option("--schema", sa->schema, "default public");
  snap->add_option("--chunk-size", sa->chunk, "rows per chunk (default: the connector's)");
  r.Verb(
      noun, "sink", "where the warehouse stands per server (warehouse-sink)", "warehouse-sink", kWarehouseSinkTarget,
      [&r](const Common& c) {
        cpb::SinkStatus resp;
        if (int rc = r.Unary<cpb::CdcSink>(c, &cpb::CdcSink::Stub::GetSinkStatus, cpb::GetSinkStatusRequest(), &resp))
          return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        std::printf(
            "sink %s: applied %llu, skipped %llu, dead letters %llu, transactions %llu, errors %llu, "
            "rewinds %llu%s%s\n",
            resp.enabled() ? "enabled" : "DISABLED", static_cast<unsigned long long>(resp.applied()),
            static_cast<unsigned long long>(resp.skipped()), static_cast<unsigned long long>(resp.dead_letters()),
            static_cast<unsigned long long>(resp.transactions()), static_cast<unsigned long long>(resp.errors()),
            static_cast<unsigned long long>(resp.rewinds()),
            resp.last_error().empty() ? "" : "; last error: ", resp.last_error().c_str());
        Table t({"SERVER", "APPLIED UP TO LSN"});
        for (const auto& p : resp.positions()) t.Add({p.server(), p.lsn()});
        t.Print();
        return kExitOk;
      });
}

// ---------------------------------------------------------------- anomaly ---

void PrintModels(const std::vector<anpb::ModelInfo>& models) {
  Table t({"MODEL", "STATE", "THRESHOLD", "MODE", "TREES", "TRAINED ON", "TRAINED AT (UTC)", "SCORED", "ANOMALIES",
           "BUFFERED"});
  for (const auto& m : models)
    t.Add({m.model_id(),
           m.state() == anpb::ModelInfo::STATE_READY
               ? "ready"
               : absl::StrCat("warming up (", m.buffered_points(), "/", m.warmup_points(), ")"),
           absl::StrFormat("%.4f", m.threshold()), m.threshold_mode(), Num(m.num_trees()), Num(m.training_rows()),
           TimeNs(m.trained_at_ns()), Num(m.points_scored()), Num(m.anomalies()), Num(m.buffered_points())});
  t.Print();
}

void AddAnomaly(CLI::App& app, Registrar& r) {
  auto* noun = app.add_subcommand("anomaly", "the anomaly service's models, thresholds and findings");
  noun->require_subcommand(1);
  r.Verb(noun, "models", "each model with its state and threshold", "anomaly", kAnomalyTarget, [&r](const Common& c) {
    anpb::ListModelsResponse resp;
    if (int rc =
            r.Unary<anpb::AnomalyService>(c, &anpb::AnomalyService::Stub::ListModels, anpb::ListModelsRequest(), &resp))
      return rc;
    if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
    PrintModels({resp.models().begin(), resp.models().end()});
    return kExitOk;
  });
  struct ThresholdArgs {
    std::string model;
    double contamination = 0, score = 0;
  };
  auto ta = std::make_shared<ThresholdArgs>();
  auto* threshold =
      r.Verb(noun, "threshold", "set a model's threshold (--contamination or --score)", "anomaly", kAnomalyTarget,
             [&r, ta](const Common& c) {
               if ((ta->contamination > 0) == (ta->score > 0))
                 return ReportUsage(c.command, "one of --contamination (0, 0.5] or --score (0, 1)");
               anpb::SetThresholdRequest req;
               req.set_model_id(ta->model);
               if (ta->contamination > 0)
                 req.set_contamination(ta->contamination);
               else
                 req.set_score(ta->score);
               anpb::SetThresholdResponse resp;
               if (int rc = r.Unary<anpb::AnomalyService>(c, &anpb::AnomalyService::Stub::SetThreshold, req, &resp))
                 return rc;
               if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
               PrintModels({resp.models().begin(), resp.models().end()});
               return kExitOk;
             });
  threshold->add_option("-m,--model", ta->model, "trade or quote (default: every model)");
  threshold->add_option("--contamination", ta->contamination, "share of training scores above it, (0, 0.5]");
  threshold->add_option("--score", ta->score, "a fixed score, (0, 1)");
  struct RecentArgs {
    uint32_t limit = 20;
    std::string venue, symbol;
  };
  auto ra = std::make_shared<RecentArgs>();
  auto* recent = r.Verb(
      noun, "recent", "the latest anomalies, newest first", "anomaly", kAnomalyTarget, [&r, ra](const Common& c) {
        anpb::ListRecentAnomaliesRequest req;
        req.set_limit(ra->limit);
        req.set_venue(ra->venue);
        req.set_symbol(ra->symbol);
        anpb::ListRecentAnomaliesResponse resp;
        if (int rc = r.Unary<anpb::AnomalyService>(c, &anpb::AnomalyService::Stub::ListRecentAnomalies, req, &resp))
          return rc;
        if (c.json) return std::printf("%s\n", ProtoJson(resp).c_str()), kExitOk;
        Table t({"EVENT TIME (UTC)", "VENUE", "SYMBOL", "KIND", "SCORE", "THRESHOLD", "TOP FEATURE"});
        for (const auto& a : resp.anomalies()) {
          std::string top = "-";
          double best = -1;
          for (const auto& f : a.features())
            if (f.contribution() > best) {
              best = f.contribution();
              top = absl::StrFormat("%s=%.6g (%.0f%%)", f.name(), f.value(), 100 * f.contribution());
            }
          t.Add({TimeNs(a.event_time_ns()), a.venue(), a.symbol(), a.event_kind(), absl::StrFormat("%.4f", a.score()),
                 absl::StrFormat("%.4f", a.threshold()), top});
        }
        t.Print();
        return kExitOk;
      });
  recent->add_option("-n,--limit", ra->limit, "at most N (default 20)");
  recent->add_option("--venue", ra->venue);
  recent->add_option("--symbol", ra->symbol);
}

}  // namespace

void AddApiCommands(CLI::App& app, const GlobalOptions* globals, std::function<int()>* run) {
  // The verbs' bodies hold the registrar by reference; main's app lives
  // until the process exits, so the registrar does too (deliberately leaked).
  Registrar& r = *new Registrar(globals, run);
  AddUsers(app, r);
  AddRoles(app, r);
  AddKeys(app, r);
  AddLogout(app, r, globals);
  AddAudit(app, r);
  AddNats(app, r);
  AddSources(app, r);
  AddNormalizer(app, r);
  AddCdc(app, r);
  AddAnomaly(app, r);
}

}  // namespace sa::cli
