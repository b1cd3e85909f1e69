// The admin service and the auth enforcement, through a real gRPC client
// against the real `admin` binary (and `anomaly` for another service), with a
// real PostgreSQL and nats-server: every refusal gets the right status code
// and leaves an audit entry; the allowed path works; brute force locks;
// hostile input is refused or stored verbatim.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "admin_stack.h"
#include "auth/crypto.h"
#include "auth/nkeys.h"
#include "auth/token.h"
#include "bus/connection.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/control/v1/control.grpc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::admin {
namespace {

namespace adm = streamadmin::admin::v1;
namespace ctl = streamadmin::control::v1;
using ::testing::HasSubstr;

constexpr char kAdminPassword[] = "first-admin-password-123";

using testing::BinDir;
using testing::Ctx;
using testing::Service;

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

class AdminTest : public testing::AdminStackSuite<AdminTest> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(CreateStack("admin"));
    pg_ = &stack_->pg();
    dir_ = &stack_->dir();
    keys_ = &stack_->keys();

    admin_ = new Service(stack_->StartAdmin(
        kAdminPassword,
        absl::StrCat(stack_->AdminYaml(), "  lockout_s: 3\n  slowdown_step_ms: 5\n", testing::NatsJwtYaml())));
    anomaly_ = new Service(stack_->Start("anomaly", ""));
  }
  static void TearDownTestSuite() {
    delete anomaly_;
    delete admin_;
    delete stack_;
  }

  static absl::StatusOr<adm::TokenResponse> Login(const std::string& user, const std::string& password) {
    return testing::PasswordLogin(admin_->channel, user, password);
  }

  static std::string AdminToken() {
    auto t = Login("admin", kAdminPassword);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->access_token() : "";
  }

  static grpc::Status ListUsers(const std::string& token) {
    adm::ListUsersResponse resp;
    return adm::Users::NewStub(admin_->channel)->ListUsers(Ctx(token).get(), adm::ListUsersRequest(), &resp);
  }

  static grpc::Status CreateUser(const std::string& token, const std::string& username, const std::string& display_name,
                                 const std::string& password, std::vector<std::string> roles,
                                 adm::User* out = nullptr) {
    adm::CreateUserRequest req;
    req.set_username(username);
    req.set_display_name(display_name);
    req.set_password(password);
    for (auto& r : roles) req.add_roles(r);
    adm::User resp;
    grpc::Status st = adm::Users::NewStub(admin_->channel)->CreateUser(Ctx(token).get(), req, &resp);
    if (out) *out = resp;
    return st;
  }

  // Newest audit entries for `action` (as the administrator).
  static std::vector<adm::AuditEntry> AuditFor(const std::string& action) {
    return testing::ListAudit(admin_->channel, AdminToken(), action, "", 50);
  }

  static bool Audited(const std::string& action, const std::string& actor, const std::string& outcome,
                      int64_t since_us) {
    for (const auto& e : AuditFor(action)) {
      if (e.actor() == actor && e.outcome() == outcome && e.time_us() >= since_us) return true;
    }
    return false;
  }

  static std::string Token(int64_t exp_us, const std::vector<std::string>& perms, const std::string& secret_key) {
    auth::Claims c;
    c.sub = "u_test";
    c.name = "forger";
    c.jti = absl::StrCat("t_", NowUs());
    c.iat_us = NowUs() - 1000000;
    c.exp_us = exp_us;
    c.perms = perms;
    return auth::IssueToken(c, secret_key);
  }

  static testing::PostgresServer* pg_;
  static testing::TempDir* dir_;
  static const auth::KeyPair* keys_;
  static Service* admin_;
  static Service* anomaly_;
};
testing::PostgresServer* AdminTest::pg_ = nullptr;
testing::TempDir* AdminTest::dir_ = nullptr;
const auth::KeyPair* AdminTest::keys_ = nullptr;
Service* AdminTest::admin_ = nullptr;
Service* AdminTest::anomaly_ = nullptr;

constexpr char kListUsers[] = "/streamadmin.admin.v1.Users/ListUsers";
constexpr char kCreateUser[] = "/streamadmin.admin.v1.Users/CreateUser";

TEST_F(AdminTest, FirstAdministratorComesFromTheEnvironmentWithNoDefaultPassword) {
  EXPECT_TRUE(Login("admin", kAdminPassword).ok());
  EXPECT_TRUE(absl::IsUnauthenticated(Login("admin", "admin").status()));
  EXPECT_TRUE(absl::IsUnauthenticated(Login("admin", "").status()));
  EXPECT_TRUE(Audited("admin.init", "bootstrap", "OK", 0));
}

TEST_F(AdminTest, AllowedCallSucceedsAndMutationsAreAuditedWithCallerAndPeer) {
  int64_t t0 = NowUs();
  std::string token = AdminToken();
  EXPECT_TRUE(ListUsers(token).ok());
  adm::User u;
  ASSERT_TRUE(CreateUser(token, "carol", "Carol", "carol-password-123", {"viewer"}, &u).ok());
  EXPECT_EQ(u.roles(0), "viewer");
  auto entries = AuditFor(kCreateUser);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries[0].actor(), "admin");
  EXPECT_EQ(entries[0].resource(), "carol");
  EXPECT_EQ(entries[0].outcome(), "OK");
  EXPECT_THAT(entries[0].peer(), HasSubstr("127.0.0.1"));
  EXPECT_GE(entries[0].time_us(), t0);
  // The audit log is append-only at the database itself.
  EXPECT_FALSE(pg_->Exec("DELETE FROM audit_log").ok());
  EXPECT_FALSE(pg_->Exec("UPDATE audit_log SET outcome = 'OK'").ok());
}

TEST_F(AdminTest, NoTokenIsUnauthenticatedAndAudited) {
  int64_t t0 = NowUs();
  grpc::Status st = ListUsers("");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("no access token"));
  EXPECT_TRUE(Audited(kListUsers, "anonymous", "UNAUTHENTICATED", t0));
}

TEST_F(AdminTest, ExpiredTokenIsUnauthenticatedAndAudited) {
  int64_t t0 = NowUs();
  grpc::Status st = ListUsers(Token(NowUs() - 1, {"*:*"}, keys_->secret_key));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("expired"));
  EXPECT_TRUE(Audited(kListUsers, "anonymous", "UNAUTHENTICATED", t0));
}

TEST_F(AdminTest, TokenSignedByAnotherKeyIsUnauthenticatedAndAudited) {
  int64_t t0 = NowUs();
  auth::KeyPair other = auth::GenerateKeyPair();
  grpc::Status st = ListUsers(Token(NowUs() + 60000000, {"*:*"}, other.secret_key));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("signature"));
  EXPECT_TRUE(Audited(kListUsers, "anonymous", "UNAUTHENTICATED", t0));
}

TEST_F(AdminTest, RoleLackingThePermissionIsDeniedNamingItAndAudited) {
  std::string admin = AdminToken();
  ASSERT_TRUE(CreateUser(admin, "vera", "Vera Viewer", "vera-password-123", {"viewer"}).ok());
  auto vera = Login("vera", "vera-password-123");
  ASSERT_TRUE(vera.ok()) << vera.status();
  int64_t t0 = NowUs();
  EXPECT_TRUE(ListUsers(vera->access_token()).ok());  // *:read
  grpc::Status st = CreateUser(vera->access_token(), "mallory", "", "mallory-password-1", {"admin"});
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("users:write"));
  EXPECT_TRUE(Audited(kCreateUser, "vera", "PERMISSION_DENIED", t0));
}

TEST_F(AdminTest, RevokedApiKeyIsUnauthenticatedAtOnceAndAudited) {
  std::string admin = AdminToken();
  ASSERT_TRUE(CreateUser(admin, "robot", "CI robot", "robot-password-123", {"viewer"}).ok());
  adm::CreateApiKeyRequest kreq;
  kreq.set_username("robot");
  kreq.set_name("ci \"nightly\"");
  adm::CreateApiKeyResponse key;
  ASSERT_TRUE(adm::ApiKeys::NewStub(admin_->channel)->CreateApiKey(Ctx(admin).get(), kreq, &key).ok());
  EXPECT_EQ(key.key().name(), "ci \"nightly\"");
  // Stored only as a hash.
  auto stored = pg_->Query(absl::StrCat("SELECT hash FROM api_keys WHERE id = '", key.key().id(), "'"));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->find(key.secret().substr(key.secret().rfind('_') + 1)), std::string::npos);

  adm::LoginRequest lreq;
  lreq.set_api_key(key.secret());
  adm::TokenResponse tok;
  ASSERT_TRUE(adm::Auth::NewStub(admin_->channel)->Login(Ctx("").get(), lreq, &tok).ok());
  EXPECT_TRUE(ListUsers(tok.access_token()).ok());
  ctl::GetStatusResponse status;
  EXPECT_TRUE(ctl::ServiceControl::NewStub(anomaly_->channel)
                  ->GetStatus(Ctx(tok.access_token()).get(), ctl::GetStatusRequest(), &status)
                  .ok());

  int64_t t0 = NowUs();
  adm::RevokeApiKeyRequest rreq;
  rreq.set_id(key.key().id());
  adm::RevokeApiKeyResponse rresp;
  ASSERT_TRUE(adm::ApiKeys::NewStub(admin_->channel)->RevokeApiKey(Ctx(admin).get(), rreq, &rresp).ok());

  grpc::Status st = ListUsers(tok.access_token());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("revoked"));
  EXPECT_TRUE(Audited(kListUsers, "robot", "UNAUTHENTICATED", t0));
  grpc::Status relogin = adm::Auth::NewStub(admin_->channel)->Login(Ctx("").get(), lreq, &tok);
  EXPECT_EQ(relogin.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(relogin.error_message(), HasSubstr("revoked"));
  // Another service learns it over NATS, without asking the admin.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        ctl::GetStatusResponse s;
        return ctl::ServiceControl::NewStub(anomaly_->channel)
                   ->GetStatus(Ctx(tok.access_token()).get(), ctl::GetStatusRequest(), &s)
                   .error_code() == grpc::StatusCode::UNAUTHENTICATED;
      },
      absl::Seconds(10)));
}

TEST_F(AdminTest, ApiKeysExpire) {
  std::string admin = AdminToken();
  ASSERT_TRUE(CreateUser(admin, "shortlived", "", "shortlived-password", {"viewer"}).ok());
  adm::CreateApiKeyRequest kreq;
  kreq.set_username("shortlived");
  kreq.set_name("one second");
  kreq.set_ttl_s(1);
  adm::CreateApiKeyResponse key;
  ASSERT_TRUE(adm::ApiKeys::NewStub(admin_->channel)->CreateApiKey(Ctx(admin).get(), kreq, &key).ok());
  adm::LoginRequest lreq;
  lreq.set_api_key(key.secret());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        adm::TokenResponse tok;
        grpc::Status st = adm::Auth::NewStub(admin_->channel)->Login(Ctx("").get(), lreq, &tok);
        return st.error_code() == grpc::StatusCode::UNAUTHENTICATED &&
               st.error_message().find("expired") != std::string::npos;
      },
      absl::Seconds(10)));
  // Listed without its secret.
  adm::ListApiKeysRequest list;
  list.set_username("shortlived");
  adm::ListApiKeysResponse keys;
  ASSERT_TRUE(adm::ApiKeys::NewStub(admin_->channel)->ListApiKeys(Ctx(admin).get(), list, &keys).ok());
  ASSERT_EQ(keys.keys_size(), 1);
  EXPECT_EQ(keys.keys(0).prefix(), key.secret().substr(0, 12));
  EXPECT_EQ(keys.keys(0).DebugString().find(key.secret()), std::string::npos);
}

TEST_F(AdminTest, RemovedUserIsUnauthenticatedAtOnceAndAudited) {
  std::string admin = AdminToken();
  ASSERT_TRUE(CreateUser(admin, "leaver", "", "leaver-password-123", {"viewer"}).ok());
  auto t = Login("leaver", "leaver-password-123");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(ListUsers(t->access_token()).ok());
  int64_t t0 = NowUs();
  adm::DeleteUserRequest dreq;
  dreq.set_username("leaver");
  adm::DeleteUserResponse dresp;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->DeleteUser(Ctx(admin).get(), dreq, &dresp).ok());
  grpc::Status st = ListUsers(t->access_token());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Audited(kListUsers, "leaver", "UNAUTHENTICATED", t0));
  EXPECT_TRUE(Audited("/streamadmin.admin.v1.Users/DeleteUser", "admin", "OK", t0));
  EXPECT_TRUE(absl::IsUnauthenticated(Login("leaver", "leaver-password-123").status()));
}

TEST_F(AdminTest, LogoutRevokesTheAccessTokenAndRefreshRotates) {
  auto t = Login("admin", kAdminPassword);
  ASSERT_TRUE(t.ok());
  auto stub = adm::Auth::NewStub(admin_->channel);
  adm::RefreshRequest rr;
  rr.set_refresh_token(t->refresh_token());
  adm::TokenResponse t2;
  ASSERT_TRUE(stub->Refresh(Ctx("").get(), rr, &t2).ok());
  EXPECT_TRUE(ListUsers(t2.access_token()).ok());
  adm::TokenResponse again;
  EXPECT_EQ(stub->Refresh(Ctx("").get(), rr, &again).error_code(), grpc::StatusCode::UNAUTHENTICATED);  // used once

  adm::LogoutRequest lo;
  lo.set_access_token(t2.access_token());
  lo.set_refresh_token(t2.refresh_token());
  adm::LogoutResponse lresp;
  ASSERT_TRUE(stub->Logout(Ctx("").get(), lo, &lresp).ok());
  EXPECT_EQ(ListUsers(t2.access_token()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  rr.set_refresh_token(t2.refresh_token());
  EXPECT_EQ(stub->Refresh(Ctx("").get(), rr, &again).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AdminTest, TwentyWrongPasswordsLockTheAccountUntilTheLockEnds) {
  std::string admin = AdminToken();
  ASSERT_TRUE(CreateUser(admin, "bob", "", "bob-password-12345", {"viewer"}).ok());
  int64_t t0 = NowUs();
  for (int i = 0; i < 20; ++i) {
    auto r = Login("bob", absl::StrCat("wrong-", i));
    ASSERT_TRUE(absl::IsUnauthenticated(r.status())) << i << ": " << r.status();
  }
  auto locked = Login("bob", "bob-password-12345");
  EXPECT_TRUE(absl::IsUnauthenticated(locked.status()));
  EXPECT_THAT(std::string(locked.status().message()), HasSubstr("locked"));
  EXPECT_TRUE(Audited("auth.lock", "bob", "LOCKED", t0));
  // The lock (3 s in this config) ends; the right password works again.
  EXPECT_TRUE(testing::WaitFor([] { return Login("bob", "bob-password-12345").ok(); }, absl::Seconds(20)));
}

TEST_F(AdminTest, HostileNamesAreRefusedOrStoredVerbatimNeverInterpreted) {
  std::string admin = AdminToken();
  const std::string verbatim[] = {
      "O'Brien \"the\" `admin`", "Robert'); DROP TABLE users; --",     "' OR '1'='1",
      "$1 $$ \\x00 %s %n {0}",   "日本語 ✓ <script>alert(1)</script>",
  };
  int n = 0;
  for (const auto& text : verbatim) {
    std::string username = absl::StrCat("hostile", n++);
    adm::User u;
    ASSERT_TRUE(CreateUser(admin, username, text, "hostile-password-1", {"viewer"}, &u).ok()) << text;
    adm::GetUserRequest g;
    g.set_username(username);
    adm::User got;
    ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->GetUser(Ctx(admin).get(), g, &got).ok());
    EXPECT_EQ(got.display_name(), text);
  }
  auto refused = [&](const std::string& username, const std::string& display) {
    return CreateUser(admin, username, display, "hostile-password-1", {"viewer"}).error_code() ==
           grpc::StatusCode::INVALID_ARGUMENT;
  };
  EXPECT_TRUE(refused("x'; DROP TABLE users; --", ""));
  EXPECT_TRUE(refused("a b", ""));
  EXPECT_TRUE(refused("", ""));
  EXPECT_TRUE(refused(std::string(65, 'a'), ""));
  EXPECT_TRUE(refused("ctl1", "line\nbreak"));
  EXPECT_TRUE(refused("ctl2", std::string("nul\0byte", 8)));
  EXPECT_TRUE(refused("ctl3", "bell\a"));
  EXPECT_TRUE(refused("big", std::string(1 << 20, 'x')));
  EXPECT_EQ(CreateUser(admin, "roley", "", "hostile-password-1", {"admin'; --"}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CreateUser(admin, "roley", "", "hostile-password-1", {"no-such-role"}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Roles: names are checked; descriptions and subjects stored verbatim or refused.
  auto roles = adm::Roles::NewStub(admin_->channel);
  adm::PutRoleRequest pr;
  pr.mutable_role()->set_name("quoted");
  pr.mutable_role()->set_description("it's \"quoted\"; SELECT 1; --");
  auto* perm = pr.mutable_role()->add_permissions();
  perm->set_resource("cdc");
  perm->set_action("*");
  pr.mutable_role()->mutable_nats()->add_subscribe_allow("md.>");
  adm::Role out;
  ASSERT_TRUE(roles->PutRole(Ctx(admin).get(), pr, &out).ok());
  adm::ListRolesResponse lr;
  ASSERT_TRUE(roles->ListRoles(Ctx(admin).get(), adm::ListRolesRequest(), &lr).ok());
  bool found = false;
  for (const auto& r : lr.roles()) found |= r.name() == "quoted" && r.description() == pr.role().description();
  EXPECT_TRUE(found);
  for (auto bad : {std::pair<std::string, std::string>{"Quoted'", "cdc"}, {"ok-name", "cdc'--"}}) {
    adm::PutRoleRequest b = pr;
    b.mutable_role()->set_name(bad.first);
    b.mutable_role()->mutable_permissions(0)->set_resource(bad.second);
    EXPECT_EQ(roles->PutRole(Ctx(admin).get(), b, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << bad.first << " " << bad.second;
  }
  adm::PutRoleRequest bad_subject = pr;
  bad_subject.mutable_role()->mutable_nats()->add_publish_allow("md. >");
  EXPECT_EQ(roles->PutRole(Ctx(admin).get(), bad_subject, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // SQL in a login or an audit filter matches nothing; the tables are intact.
  EXPECT_TRUE(absl::IsUnauthenticated(Login("' OR '1'='1", "' OR '1'='1").status()));
  adm::ListAuditRequest ar;
  ar.set_actor("' OR 1=1 --");
  adm::ListAuditResponse aresp;
  ASSERT_TRUE(adm::Audit::NewStub(admin_->channel)->ListAudit(Ctx(admin).get(), ar, &aresp).ok());
  EXPECT_EQ(aresp.entries_size(), 0);
  adm::ListUsersResponse users;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->ListUsers(Ctx(admin).get(), adm::ListUsersRequest(), &users).ok());
  EXPECT_GE(users.users_size(), 6);
}

TEST_F(AdminTest, EveryServiceEnforcesTokensButHealthAndReflectionStayOpen) {
  auto control = ctl::ServiceControl::NewStub(anomaly_->channel);
  ctl::GetStatusResponse s;
  int64_t t0 = NowUs();
  EXPECT_EQ(control->GetStatus(Ctx("").get(), ctl::GetStatusRequest(), &s).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(control->GetStatus(Ctx(AdminToken()).get(), ctl::GetStatusRequest(), &s).ok());

  std::string admin = AdminToken();
  ASSERT_TRUE(CreateUser(admin, "watcher", "", "watcher-password-1", {"viewer"}).ok());
  auto w = Login("watcher", "watcher-password-1");
  ASSERT_TRUE(w.ok());
  EXPECT_TRUE(control->GetStatus(Ctx(w->access_token()).get(), ctl::GetStatusRequest(), &s).ok());
  ctl::PauseResponse p;
  grpc::Status st = control->Pause(Ctx(w->access_token()).get(), ctl::PauseRequest(), &p);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("control:write"));

  grpc::health::v1::HealthCheckResponse h;
  EXPECT_TRUE(grpc::health::v1::Health::NewStub(anomaly_->channel)
                  ->Check(Ctx("").get(), grpc::health::v1::HealthCheckRequest(), &h)
                  .ok());
  // Denials on other services reach the admin's audit log over NATS.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return Audited("/streamadmin.control.v1.ServiceControl/Pause", "watcher", "PERMISSION_DENIED", t0) &&
               Audited("/streamadmin.control.v1.ServiceControl/GetStatus", "anonymous", "UNAUTHENTICATED", t0);
      },
      absl::Seconds(10)));
}

TEST_F(AdminTest, NatsAccessGivesCredentialsThatTheNatsServerEnforces) {
  std::string admin = AdminToken();
  auto nats_access = adm::NatsAccess::NewStub(admin_->channel);
  adm::GetServerConfigResponse server_cfg;
  ASSERT_TRUE(nats_access->GetServerConfig(Ctx(admin).get(), adm::GetServerConfigRequest(), &server_cfg).ok());
  testing::NatsServer::Options o;
  o.config_text = server_cfg.server_config();
  o.jetstream = false;
  auto secured = testing::NatsServer::Start(o);
  ASSERT_TRUE(secured.ok()) << secured.status();

  ASSERT_TRUE(CreateUser(admin, "natsviewer", "", "natsviewer-password", {"viewer"}).ok());
  auto v = Login("natsviewer", "natsviewer-password");
  ASSERT_TRUE(v.ok());
  adm::GetCredentialsResponse creds;
  ASSERT_TRUE(nats_access->GetMyCredentials(Ctx(v->access_token()).get(), adm::GetCredentialsRequest(), &creds).ok());
  EXPECT_THAT(creds.creds(), HasSubstr("-----BEGIN USER NKEY SEED-----"));
  EXPECT_THAT(creds.permissions().subscribe_deny(), ::testing::Contains("cdc.>")) << creds.DebugString();
  // A viewer may not mint credentials for others.
  adm::GetCredentialsRequest other;
  other.set_username("admin");
  EXPECT_EQ(nats_access->GetCredentials(Ctx(v->access_token()).get(), other, &creds).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  std::string path = absl::StrCat(dir_->path(), "/natsviewer.creds");
  std::ofstream(path) << creds.creds();
  streamadmin::config::v1::NatsConfig nc;
  nc.add_servers(secured->get()->url());
  nc.set_creds_file(path);
  // Up to 3 attempts: nats.c 3.4.1 + nats-server 2.9.10 refuse ~1 in 200 valid
  // nonce signatures (docs/SECURITY.md, known limits).
  absl::StatusOr<std::unique_ptr<bus::Connection>> conn;
  for (int attempt = 0; attempt < 3; ++attempt) {
    conn = bus::Connection::Connect(nc);
    ASSERT_TRUE(conn.ok());
    if ((*conn)->WaitConnected(absl::Seconds(10))) break;
  }
  ASSERT_TRUE((*conn)->IsConnected());
  auto md = (*conn)->Subscribe("md.>", [](const bus::InboundMessage&) {});
  auto cdc = (*conn)->Subscribe("cdc.>", [](const bus::InboundMessage&) {});
  ASSERT_TRUE(md.ok() && cdc.ok());
  EXPECT_TRUE((*conn)->WaitForAsyncError("Permissions Violation for Subscription to \"cdc.>\"", absl::Seconds(5)));
  for (const auto& e : (*conn)->AsyncErrors()) EXPECT_THAT(e, ::testing::Not(HasSubstr("\"md.>\"")));
}

TEST_F(AdminTest, CliInitCreatesTheFirstAdministratorOnceAndLoginGivesATokenOtherServicesAccept) {
  ASSERT_TRUE(pg_->Exec("CREATE DATABASE admin_cli").ok());
  std::string dsn = absl::StrCat("host=127.0.0.1 port=", pg_->port(), " user=postgres dbname=admin_cli");
  setenv("STREAM_ADMIN_INIT_PASSWORD", "cli-admin-password-1", 1);
  auto first = testing::RunProcess({BinDir() + "/stream-admin", "init", "--dsn", dsn, "--user", "root"});
  auto second = testing::RunProcess({BinDir() + "/stream-admin", "init", "--dsn", dsn, "--user", "other"});
  unsetenv("STREAM_ADMIN_INIT_PASSWORD");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->exit_code, 0) << first->output;
  EXPECT_EQ(second->exit_code, 1) << second->output;
  EXPECT_THAT(second->output, HasSubstr("already has users"));
  auto users = pg_->Query("SELECT username FROM users", "admin_cli");
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(*users, "root");
  // Without a password from the environment or a terminal, init refuses.
  auto none = testing::RunProcess({BinDir() + "/stream-admin", "init", "--dsn", dsn});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->exit_code, 2) << none->output;

  setenv("STREAM_ADMIN_PASSWORD", kAdminPassword, 1);
  auto login =
      testing::RunProcess({BinDir() + "/stream-admin", "login", "--target", admin_->target, "--user", "admin"});
  unsetenv("STREAM_ADMIN_PASSWORD");
  ASSERT_TRUE(login.ok());
  ASSERT_EQ(login->exit_code, 0) << login->output;
  std::string token(absl::StripAsciiWhitespace(login->output.substr(login->output.rfind("sa1."))));
  auto status =
      testing::RunProcess({BinDir() + "/stream-admin", "--token", token, "status", "--target", anomaly_->target});
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(status->output, HasSubstr("anomaly")) << status->output;
  EXPECT_THAT(status->output, ::testing::Not(HasSubstr("UNAUTHENTICATED")));
  auto anonymous = testing::RunProcess({BinDir() + "/stream-admin", "status", "--target", anomaly_->target});
  ASSERT_TRUE(anonymous.ok());
  EXPECT_THAT(anonymous->output, HasSubstr("no access token"));
}

}  // namespace
}  // namespace sa::admin
