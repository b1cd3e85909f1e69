// Security from outside: an attacker with a gRPC client against the real admin
// and normalizer (tests/security/grpc_fixture.h). Each test names the defect of
// issue [6] it would have found; every one of them failed on the code before
// the fix (run with SA_BUILD_DIR pointing at an old build to see it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <latch>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "cli/control_client.h"
#include "grpc_fixture.h"

namespace sa::security_test {

std::string* GrpcAttack::admin_yaml_ = nullptr;
Service* GrpcAttack::admin_ = nullptr;
Service* GrpcAttack::normalizer_ = nullptr;

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

int64_t NowUs() { return absl::ToUnixMicros(absl::Now()); }

// A name no other test uses.
std::string Fresh(const std::string& stem) {
  static std::atomic<int> n{0};
  return absl::StrCat(stem, "-", n++, "-", absl::BytesToHexString(auth::RandomBytes(3)));
}

constexpr char kUserPassword[] = "user-password-12345";

// Names an attacker sends instead of a real one: NUL and other control bytes,
// very long, non-ASCII, look-alikes.
std::vector<std::string> HostileNames(const std::string& real) {
  return {real + std::string("\0x", 2),
          std::string("\0", 1) + real,
          real + "\x01",
          real + "\n",
          real + "\r\nX-Injected: 1",
          real + "\x7f",
          real + " ",
          " " + real,
          std::string(100000, 'a'),
          "\xc3\xa4" + real,      // ä
          real + "\xe2\x80\x8b",  // zero-width space
          "\xef\xbc\xa1" + real,  // fullwidth A
          real + "%",
          real + "'--"};
}

// ------------------------------------------------------------------ [6].5 ---

TEST_F(GrpcAttack, ANulByteInALoginNameNeverLogsInAsTheUserBeforeIt) {
  auto r = Login(std::string("admin\0x", 7), kAdminPassword);
  EXPECT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  for (const auto& name : HostileNames("admin")) {
    auto h = Login(name, kAdminPassword);
    EXPECT_TRUE(absl::IsUnauthenticated(h.status())) << absl::CHexEscape(name.substr(0, 40)) << ": " << h.status();
  }
  EXPECT_TRUE(Login("admin", kAdminPassword).ok()) << "the real account still works";
}

TEST_F(GrpcAttack, EveryCallNamingAUserRefusesHostileNamesAndLeavesTheRealUserAlone) {
  std::string victim = Fresh("victim");
  ASSERT_TRUE(CreateUser(victim, kUserPassword, {"viewer"}).ok());
  std::string admin = AdminToken();
  auto before = GetUser(admin, victim);
  ASSERT_TRUE(before.ok());
  auto users = adm::Users::NewStub(admin_->channel);
  auto keys = adm::ApiKeys::NewStub(admin_->channel);
  auto nats = adm::NatsAccess::NewStub(admin_->channel);
  for (const auto& name : HostileNames(victim)) {
    SCOPED_TRACE(absl::CHexEscape(name.substr(0, 60)));
    auto got = GetUser(admin, name);
    EXPECT_FALSE(got.ok()) << "GetUser returned '" << got->username() << "'";
    {
      adm::UpdateUserRequest req;
      req.set_username(name);
      req.set_disabled(true);
      adm::User resp;
      EXPECT_FALSE(users->UpdateUser(Ctx(admin).get(), req, &resp).ok());
    }
    {
      adm::SetUserRolesRequest req;
      req.set_username(name);
      req.add_roles("admin");
      adm::User resp;
      EXPECT_FALSE(users->SetUserRoles(Ctx(admin).get(), req, &resp).ok());
    }
    {
      adm::SetPasswordRequest req;
      req.set_username(name);
      req.set_password("attacker-password-1");
      adm::SetPasswordResponse resp;
      EXPECT_FALSE(users->SetPassword(Ctx(admin).get(), req, &resp).ok());
    }
    {
      adm::CreateApiKeyRequest req;
      req.set_username(name);
      adm::CreateApiKeyResponse resp;
      EXPECT_FALSE(keys->CreateApiKey(Ctx(admin).get(), req, &resp).ok());
    }
    {
      adm::ListApiKeysRequest req;
      req.set_username(name);
      adm::ListApiKeysResponse resp;
      EXPECT_FALSE(keys->ListApiKeys(Ctx(admin).get(), req, &resp).ok());
    }
    {
      adm::GetCredentialsRequest req;
      req.set_username(name);
      adm::GetCredentialsResponse resp;
      EXPECT_FALSE(nats->GetCredentials(Ctx(admin).get(), req, &resp).ok());
    }
    {
      adm::DeleteUserRequest req;
      req.set_username(name);
      adm::DeleteUserResponse resp;
      EXPECT_FALSE(users->DeleteUser(Ctx(admin).get(), req, &resp).ok());
    }
  }
  // The victim is exactly as it was, and its own password still works.
  auto after = GetUser(admin, victim);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
  EXPECT_TRUE(Login(victim, kUserPassword).ok());
  // Role names too.
  adm::DeleteRoleRequest dr;
  dr.set_name(std::string("viewer\0x", 8));
  adm::DeleteRoleResponse dresp;
  EXPECT_FALSE(adm::Roles::NewStub(admin_->channel)->DeleteRole(Ctx(admin).get(), dr, &dresp).ok());
  adm::ListRolesResponse roles;
  ASSERT_TRUE(adm::Roles::NewStub(admin_->channel)->ListRoles(Ctx(admin).get(), adm::ListRolesRequest(), &roles).ok());
  EXPECT_TRUE(
      std::any_of(roles.roles().begin(), roles.roles().end(), [](const auto& r) { return r.name() == "viewer"; }));
}

TEST_F(GrpcAttack, FailedLoginsUnderANulNameDoNotLockTheRealAccount) {
  std::string victim = Fresh("lockvictim");
  ASSERT_TRUE(CreateUser(victim, kUserPassword, {"viewer"}).ok());
  for (int i = 0; i < kLockoutThreshold + 2; ++i) {
    auto r = Login(victim + std::string("\0x", 2), absl::StrCat("wrong-", i));
    ASSERT_TRUE(absl::IsUnauthenticated(r.status())) << r.status();
  }
  auto ok = Login(victim, kUserPassword);
  EXPECT_TRUE(ok.ok()) << ok.status();
  auto u = GetUser(AdminToken(), victim);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->locked_until_us(), 0);
}

TEST_F(GrpcAttack, TheAuditLogRecordsTheAttemptedNameEscapedNotAsAnotherAccount) {
  int64_t t0 = NowUs();
  ASSERT_FALSE(Login(std::string("admin\0x", 7), "wrong-password-1").ok());
  ASSERT_FALSE(Login("admin\x1b[2J", "wrong-password-1").ok());
  bool nul = false, esc = false;
  for (const auto& e : Audit("auth.login")) {
    if (e.time_us() < t0) continue;
    EXPECT_NE(e.actor(), "(invalid username)");
    if (e.outcome() != "OK") EXPECT_NE(e.actor(), "admin") << "an attempt under another name is filed under admin";
    for (unsigned char c : e.actor() + e.resource() + e.detail()) EXPECT_GE(c, 0x20) << "raw control byte in the log";
    nul |= e.actor() == "admin\\000x" && e.outcome() == "UNAUTHENTICATED";
    esc |= e.actor() == "admin\\033[2J";
  }
  EXPECT_TRUE(nul) << "no entry for the NUL attempt under its escaped name";
  EXPECT_TRUE(esc) << "no entry for the escape-sequence attempt under its escaped name";
}

// ------------------------------------------------------------------ [6].6 ---

TEST_F(GrpcAttack, ApiKeysWriteAloneCannotMintAKeyForAnotherUser) {
  std::string admin = AdminToken();
  adm::PutRoleRequest pr;
  pr.mutable_role()->set_name("keymaker");
  auto* p = pr.mutable_role()->add_permissions();
  p->set_resource("apikeys");
  p->set_action("write");
  adm::Role role;
  ASSERT_TRUE(adm::Roles::NewStub(admin_->channel)->PutRole(Ctx(admin).get(), pr, &role).ok());
  std::string mallory = Fresh("mallory");
  ASSERT_TRUE(CreateUser(mallory, kUserPassword, {"keymaker"}).ok());
  auto m = Login(mallory, kUserPassword);
  ASSERT_TRUE(m.ok());
  auto keys = adm::ApiKeys::NewStub(admin_->channel);

  adm::CreateApiKeyRequest for_admin;
  for_admin.set_username("admin");
  adm::CreateApiKeyResponse stolen;
  grpc::Status st = keys->CreateApiKey(Ctx(m->access_token()).get(), for_admin, &stolen);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  if (st.ok()) {
    auto escalated = LoginWithKey(stolen.secret());
    EXPECT_FALSE(escalated.ok() && ListUsersOnAdmin(escalated->access_token()).ok())
        << "mallory became admin through an API key";
  }

  // A key asking for more than its creator has is refused.
  adm::CreateApiKeyRequest greedy;
  greedy.add_permissions("*:*");
  adm::CreateApiKeyResponse g;
  EXPECT_EQ(keys->CreateApiKey(Ctx(m->access_token()).get(), greedy, &g).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // Its own key carries exactly its own permissions.
  adm::CreateApiKeyResponse own;
  ASSERT_TRUE(keys->CreateApiKey(Ctx(m->access_token()).get(), adm::CreateApiKeyRequest(), &own).ok());
  auto k = LoginWithKey(own.secret());
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_THAT(std::vector<std::string>(k->permissions().begin(), k->permissions().end()),
              UnorderedElementsAre("apikeys:write"));
  EXPECT_TRUE(absl::IsPermissionDenied(ListUsersOnAdmin(k->access_token())));
}

TEST_F(GrpcAttack, AKeyNeverCarriesMoreThanItsCreatorOrItsOwner) {
  std::string admin = AdminToken();
  auto keys = adm::ApiKeys::NewStub(admin_->channel);
  // The administrator narrows its own key to users:read.
  adm::CreateApiKeyRequest narrow;
  narrow.add_permissions("users:read");
  adm::CreateApiKeyResponse n;
  ASSERT_TRUE(keys->CreateApiKey(Ctx(admin).get(), narrow, &n).ok());
  EXPECT_THAT(std::vector<std::string>(n.key().permissions().begin(), n.key().permissions().end()),
              UnorderedElementsAre("users:read"));
  auto t = LoginWithKey(n.secret());
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(std::vector<std::string>(t->permissions().begin(), t->permissions().end()),
              UnorderedElementsAre("users:read"));
  EXPECT_TRUE(ListUsersOnAdmin(t->access_token()).ok());
  adm::CreateUserRequest cu;
  cu.set_username(Fresh("viakey"));
  cu.set_password(kUserPassword);
  adm::User u;
  EXPECT_EQ(adm::Users::NewStub(admin_->channel)->CreateUser(Ctx(t->access_token()).get(), cu, &u).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // A key the administrator makes for a viewer with users:write still cannot write: the owner cannot.
  std::string vic = Fresh("keyowner");
  ASSERT_TRUE(CreateUser(vic, kUserPassword, {"viewer"}).ok());
  adm::CreateApiKeyRequest for_viewer;
  for_viewer.set_username(vic);
  for_viewer.add_permissions("users:write");
  for_viewer.add_permissions("users:read");
  adm::CreateApiKeyResponse fv;
  ASSERT_TRUE(keys->CreateApiKey(Ctx(admin).get(), for_viewer, &fv).ok());
  auto vt = LoginWithKey(fv.secret());
  ASSERT_TRUE(vt.ok());
  EXPECT_THAT(std::vector<std::string>(vt->permissions().begin(), vt->permissions().end()),
              UnorderedElementsAre("users:read"));
}

// ------------------------------------------------------------------ [6].7 ---

TEST_F(GrpcAttack, RevokedTokensStayRevokedAcrossAnAdminRestart) {
  std::string admin = AdminToken();
  std::string a = Fresh("rev-logout"), b = Fresh("rev-deleted"), c = Fresh("rev-key"), d = Fresh("rev-disabled");
  for (const auto& u : {a, b, c, d}) ASSERT_TRUE(CreateUser(u, kUserPassword, {"viewer"}).ok());
  auto ta = Login(a, kUserPassword), tb = Login(b, kUserPassword), td = Login(d, kUserPassword);
  ASSERT_TRUE(ta.ok() && tb.ok() && td.ok());
  auto keys = adm::ApiKeys::NewStub(admin_->channel);
  adm::CreateApiKeyRequest kr;
  kr.set_username(c);
  adm::CreateApiKeyResponse key;
  ASSERT_TRUE(keys->CreateApiKey(Ctx(admin).get(), kr, &key).ok());
  auto tc = LoginWithKey(key.secret());
  ASSERT_TRUE(tc.ok());
  std::vector<std::string> tokens = {ta->access_token(), tb->access_token(), tc->access_token(), td->access_token()};
  for (const auto& t : tokens) ASSERT_TRUE(StatusOnNormalizer(t).ok());

  adm::LogoutRequest lo;
  lo.set_access_token(ta->access_token());
  adm::LogoutResponse lresp;
  ASSERT_TRUE(adm::Auth::NewStub(admin_->channel)->Logout(Ctx("").get(), lo, &lresp).ok());
  adm::DeleteUserRequest del;
  del.set_username(b);
  adm::DeleteUserResponse dresp;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->DeleteUser(Ctx(admin).get(), del, &dresp).ok());
  adm::RevokeApiKeyRequest rk;
  rk.set_id(key.key().id());
  adm::RevokeApiKeyResponse rresp;
  ASSERT_TRUE(keys->RevokeApiKey(Ctx(admin).get(), rk, &rresp).ok());
  adm::UpdateUserRequest dis;
  dis.set_username(d);
  dis.set_disabled(true);
  adm::User uresp;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->UpdateUser(Ctx(admin).get(), dis, &uresp).ok());
  for (const auto& t : tokens) ASSERT_TRUE(absl::IsUnauthenticated(ListUsersOnAdmin(t)));

  RestartAdmin();
  RestartNormalizer();
  for (size_t i = 0; i < tokens.size(); ++i) {
    absl::Status st = ListUsersOnAdmin(tokens[i]);
    EXPECT_TRUE(absl::IsUnauthenticated(st)) << "token " << i << " works again on the restarted admin: " << st;
  }
  // The restarted normalizer learns them from the admin's republication.
  for (size_t i = 0; i < tokens.size(); ++i) {
    EXPECT_TRUE(
        testing::WaitFor([&] { return absl::IsUnauthenticated(StatusOnNormalizer(tokens[i])); }, absl::Seconds(30)))
        << "token " << i << " still accepted by the normalizer";
  }
}

TEST_F(GrpcAttack, RevocationsWhoseTokensHaveAllExpiredAreDroppedAtStart) {
  ASSERT_TRUE(pg().Exec(absl::StrCat("INSERT INTO revocations (kind, id, until_us) VALUES ('jti', 'long-expired', 1), "
                                     "('jti', 'still-needed', ",
                                     NowUs() + int64_t{3600} * 1000000, ")"))
                  .ok());
  RestartAdmin();
  auto left = pg().Query("SELECT id FROM revocations WHERE id IN ('long-expired', 'still-needed') ORDER BY id");
  ASSERT_TRUE(left.ok()) << left.status();
  EXPECT_EQ(*left, "still-needed");
}

// ------------------------------------------------------------------ [6].8 ---

TEST_F(GrpcAttack, APasswordResetEndsEverySessionOfTheUser) {
  std::string victim = Fresh("stolen");
  ASSERT_TRUE(CreateUser(victim, kUserPassword, {"viewer"}).ok());
  auto s1 = Login(victim, kUserPassword), s2 = Login(victim, kUserPassword);
  ASSERT_TRUE(s1.ok() && s2.ok());
  ASSERT_TRUE(StatusOnNormalizer(s1->access_token()).ok());
  adm::SetPasswordRequest req;
  req.set_username(victim);
  req.set_password("brand-new-password-1");
  adm::SetPasswordResponse resp;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->SetPassword(Ctx(AdminToken()).get(), req, &resp).ok());

  for (const auto* s : {&*s1, &*s2}) {
    EXPECT_TRUE(absl::IsUnauthenticated(ListUsersOnAdmin(s->access_token())));
    EXPECT_TRUE(testing::WaitFor([&] { return absl::IsUnauthenticated(StatusOnNormalizer(s->access_token())); },
                                 absl::Seconds(10)));
    auto renewed = Refresh(s->refresh_token());
    EXPECT_TRUE(absl::IsUnauthenticated(renewed.status())) << "the stolen refresh token renewed the session";
  }
  EXPECT_FALSE(Login(victim, kUserPassword).ok());
  auto fresh = Login(victim, "brand-new-password-1");
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(ListUsersOnAdmin(fresh->access_token()).ok());
  EXPECT_TRUE(StatusOnNormalizer(fresh->access_token()).ok());
}

// ------------------------------------------------------------------ [6].9 ---

TEST_F(GrpcAttack, OfSimultaneousRefreshesWithOneTokenExactlyOneSucceeds) {
  std::string user = Fresh("racer");
  ASSERT_TRUE(CreateUser(user, kUserPassword, {"viewer"}).ok());
  constexpr int kCalls = 16;
  constexpr int kRounds = 30;
  // One connection per call, connected beforehand, so the calls reach the
  // server together; all are started at once from one thread (callback API).
  std::vector<std::unique_ptr<adm::Auth::Stub>> stubs;
  for (int i = 0; i < kCalls; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    auto channel = grpc::CreateCustomChannel(admin_->target, grpc::InsecureChannelCredentials(), args);
    ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5)));
    stubs.push_back(adm::Auth::NewStub(channel));
  }
  int total_won = 0;
  for (int round = 0; round < kRounds; ++round) {
    auto t = Login(user, kUserPassword);
    ASSERT_TRUE(t.ok());
    adm::RefreshRequest req;
    req.set_refresh_token(t->refresh_token());
    std::vector<std::unique_ptr<grpc::ClientContext>> ctxs;
    std::vector<adm::TokenResponse> resps(kCalls);
    std::mutex mu;
    std::condition_variable cv;
    int done = 0, won = 0, refused = 0;
    for (int i = 0; i < kCalls; ++i) ctxs.push_back(Ctx(""));
    for (int i = 0; i < kCalls; ++i) {
      stubs[i]->async()->Refresh(ctxs[i].get(), &req, &resps[i], [&](grpc::Status st) {
        std::lock_guard lock(mu);
        (st.ok() ? won : refused)++;
        if (!st.ok()) {
          EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
        }
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == kCalls; }));
    EXPECT_EQ(won, 1) << "round " << round << ": " << won << " of " << kCalls << " refreshes with one token won";
    total_won += won;
  }
  EXPECT_EQ(total_won, kRounds);
}

// ----------------------------------------------------------------- [6].10 ---

struct Attempt {
  absl::Duration took;
  absl::Status status;
};

double MedianMs(std::vector<absl::Duration> v) {
  std::sort(v.begin(), v.end());
  return absl::ToDoubleMilliseconds(v[v.size() / 2]);
}

class LoginTiming : public GrpcAttack {
 protected:
  static Attempt TimedLogin(const std::string& user, const std::string& password) {
    absl::Time t0 = absl::Now();
    auto r = Login(user, password);
    return {absl::Now() - t0, r.status()};
  }
};

TEST_F(LoginTiming, ARefusedLoginTakesAsLongWhetherTheUserExistsIsLockedOrIsDisabled) {
  const std::string ghost = Fresh("ghost"), real = Fresh("real"), disabled = Fresh("disabled"),
                    locked = Fresh("locked"), ghost2 = Fresh("ghost");
  for (const auto& u : {real, disabled, locked}) ASSERT_TRUE(CreateUser(u, kUserPassword, {"viewer"}).ok());
  adm::UpdateUserRequest dis;
  dis.set_username(disabled);
  dis.set_disabled(true);
  adm::User uresp;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->UpdateUser(Ctx(AdminToken()).get(), dis, &uresp).ok());

  // Below the lock: the same number of failures under each name, interleaved
  // so that load on the shared machine hits every kind alike.
  std::map<std::string, std::vector<absl::Duration>> took;
  for (int round = 0; round < kLockoutThreshold - 1; ++round) {
    std::vector<std::pair<std::string, std::string>> tries = {
        {ghost, "wrong-password-1"}, {real, "wrong-password-1"}, {disabled, kUserPassword}};
    std::rotate(tries.begin(), tries.begin() + round % 3, tries.end());
    for (const auto& [name, password] : tries) {
      Attempt a = TimedLogin(name, password);
      ASSERT_TRUE(absl::IsUnauthenticated(a.status)) << name << ": " << a.status;
      EXPECT_EQ(a.status.message(), "invalid username or password") << name << ": the answer tells";
      took[name].push_back(a.took);
    }
  }
  // Locked: a locked account given its right password against an unknown
  // name with as many failures.
  for (int i = 0; i < kLockoutThreshold; ++i) {
    ASSERT_FALSE(Login(locked, "wrong-password-1").ok());
    ASSERT_FALSE(Login(ghost2, "wrong-password-1").ok());
  }
  for (int round = 0; round < 5; ++round) {
    std::vector<std::pair<std::string, std::string>> tries = {{locked, kUserPassword}, {ghost2, kUserPassword}};
    if (round % 2) std::swap(tries[0], tries[1]);
    absl::Status answers[2];
    for (int i = 0; i < 2; ++i) {
      Attempt a = TimedLogin(tries[i].first, tries[i].second);
      ASSERT_TRUE(absl::IsUnauthenticated(a.status));
      answers[i] = a.status;
      took[tries[i].first].push_back(a.took);
    }
    EXPECT_EQ(absl::StrContains(answers[0].message(), "locked"), absl::StrContains(answers[1].message(), "locked"))
        << answers[0] << " vs " << answers[1];
  }

  // Medians: robust to a few slow outliers on a noisy machine. A real user,
  // a disabled one or a locked one must not stand out from an unknown name by
  // more than half (the defect: 4x, and 30x faster when locked).
  const double g = MedianMs(took[ghost]), r = MedianMs(took[real]), d = MedianMs(took[disabled]);
  const double l = MedianMs(took[locked]), g2 = MedianMs(took[ghost2]);
  std::cout << "median refused login (ms): unknown " << g << ", real " << r << ", disabled " << d << "; locked " << l
            << " vs unknown " << g2 << "\n";
  for (auto [what, ratio] :
       {std::pair{"real/unknown", r / g}, {"disabled/unknown", d / g}, {"locked/unknown", l / g2}}) {
    EXPECT_GT(ratio, 1 / 1.5) << what;
    EXPECT_LT(ratio, 1.5) << what;
  }
}

// ----------------------------------------------------------------- [6].11 ---

TEST_F(GrpcAttack, AReEnabledUserCanLogInAtOnceButItsOldTokensStayDead) {
  std::string user = Fresh("returning");
  ASSERT_TRUE(CreateUser(user, kUserPassword, {"viewer"}).ok());
  auto old = Login(user, kUserPassword);
  ASSERT_TRUE(old.ok());
  auto users = adm::Users::NewStub(admin_->channel);
  adm::UpdateUserRequest req;
  req.set_username(user);
  req.set_disabled(true);
  adm::User resp;
  ASSERT_TRUE(users->UpdateUser(Ctx(AdminToken()).get(), req, &resp).ok());
  EXPECT_FALSE(Login(user, kUserPassword).ok());
  req.set_disabled(false);
  ASSERT_TRUE(users->UpdateUser(Ctx(AdminToken()).get(), req, &resp).ok());

  auto back = Login(user, kUserPassword);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(ListUsersOnAdmin(back->access_token()).ok()) << "a fresh login after re-enabling is refused";
  EXPECT_TRUE(testing::WaitFor([&] { return StatusOnNormalizer(back->access_token()).ok(); }, absl::Seconds(5)));
  EXPECT_TRUE(absl::IsUnauthenticated(ListUsersOnAdmin(old->access_token())));
  EXPECT_TRUE(absl::IsUnauthenticated(StatusOnNormalizer(old->access_token())));
  EXPECT_TRUE(absl::IsUnauthenticated(Refresh(old->refresh_token()).status()));
}

// ----------------------------------------------------------------- [6].12 ---

TEST_F(GrpcAttack, ASuccessfulPauseAndResumeOnAnotherServiceAreAudited) {
  int64_t t0 = NowUs();
  std::string admin = AdminToken();
  auto control = ctl::ServiceControl::NewStub(normalizer_->channel);
  ctl::PauseResponse p;
  ASSERT_TRUE(control->Pause(Ctx(admin).get(), ctl::PauseRequest(), &p).ok());
  ctl::ResumeResponse r;
  ASSERT_TRUE(control->Resume(Ctx(admin).get(), ctl::ResumeRequest(), &r).ok());
  for (const char* method :
       {"/streamadmin.control.v1.ServiceControl/Pause", "/streamadmin.control.v1.ServiceControl/Resume"}) {
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          for (const auto& e : Audit(method)) {
            if (e.time_us() >= t0 && e.actor() == "admin" && e.outcome() == "OK" && e.resource() == "normalizer")
              return true;
          }
          return false;
        },
        absl::Seconds(10)))
        << method << " on the normalizer left no audit entry";
  }
}

// The CLI's drain carries the caller's token like every other control call: a
// viewer's is refused for its rights (PERMISSION_DENIED), not as missing.
TEST_F(GrpcAttack, TheCliSendsItsTokenWithDrain) {
  std::string viewer = Fresh("drainer");
  ASSERT_TRUE(CreateUser(viewer, kUserPassword, {"viewer"}).ok());
  auto v = Login(viewer, kUserPassword);
  ASSERT_TRUE(v.ok()) << v.status();
  cli::ControlClient anonymous(normalizer_->target, absl::Seconds(5));
  EXPECT_TRUE(absl::IsUnauthenticated(anonymous.Drain(absl::Seconds(1)).status()));
  cli::ControlClient with_token(normalizer_->target, absl::Seconds(5), v->access_token());
  auto drained = with_token.Drain(absl::Seconds(1));
  EXPECT_TRUE(absl::IsPermissionDenied(drained.status())) << drained.status();
  EXPECT_TRUE(with_token.GetStatus().ok()) << "the viewer reads the status with the same client";
}

TEST_F(GrpcAttack, AClientSentForwardedForIsNeverTakenForThePeer) {
  const std::string spoofed = "203.0.113.9";
  std::string viewer = Fresh("spoofer");
  ASSERT_TRUE(CreateUser(viewer, kUserPassword, {"viewer"}).ok());
  auto v = Login(viewer, kUserPassword);
  ASSERT_TRUE(v.ok());
  int64_t t0 = NowUs();
  // A refused call (the viewer may not create users) and an allowed one.
  adm::CreateUserRequest cu;
  cu.set_username(Fresh("spoofed"));
  cu.set_password(kUserPassword);
  adm::User u;
  auto users = adm::Users::NewStub(admin_->channel);
  EXPECT_EQ(users->CreateUser(Ctx(v->access_token(), {{"x-forwarded-for", spoofed}}).get(), cu, &u).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(users->CreateUser(Ctx(AdminToken(), {{"x-forwarded-for", spoofed}}).get(), cu, &u).ok());
  int seen = 0;
  for (const auto& e : Audit("/streamadmin.admin.v1.Users/CreateUser")) {
    if (e.time_us() < t0) continue;
    ++seen;
    EXPECT_THAT(e.peer(), Not(HasSubstr(spoofed))) << e.outcome() << " entry took the client's word for its address";
  }
  EXPECT_EQ(seen, 2);

  // Behind a configured proxy (here: loopback) the header is believed, and the proxy named.
  RestartAdmin("    trusted_proxies: [\"127.0.0.1\"]\n");
  users = adm::Users::NewStub(admin_->channel);
  int64_t t1 = NowUs();
  cu.set_username(Fresh("proxied"));
  grpc::Status created = users->CreateUser(Ctx(AdminToken(), {{"x-forwarded-for", spoofed}}).get(), cu, &u);
  ASSERT_TRUE(created.ok()) << created.error_message();
  bool proxied = false;
  for (const auto& e : Audit("/streamadmin.admin.v1.Users/CreateUser")) {
    if (e.time_us() >= t1 && e.resource() == cu.username())
      proxied = absl::StartsWith(e.peer(), spoofed + " via ipv4:127.0.0.1:");
  }
  EXPECT_TRUE(proxied);
  RestartAdmin();
}

TEST_F(GrpcAttack, TheBuiltInViewerCannotReadTheAuditLog) {
  std::string viewer = Fresh("curious");
  ASSERT_TRUE(CreateUser(viewer, kUserPassword, {"viewer"}).ok());
  auto v = Login(viewer, kUserPassword);
  ASSERT_TRUE(v.ok());
  adm::ListAuditResponse resp;
  grpc::Status st =
      adm::Audit::NewStub(admin_->channel)->ListAudit(Ctx(v->access_token()).get(), adm::ListAuditRequest(), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << resp.entries_size() << " entries read";
  EXPECT_TRUE(ListUsersOnAdmin(v->access_token()).ok()) << "the viewer still reads the rest";
  EXPECT_TRUE(StatusOnNormalizer(v->access_token()).ok());
}

TEST_F(GrpcAttack, AnUpgradedDeploymentsViewerLosesTheAuditLog) {
  // The database as schema 2 left it: the built-in viewer with "*:read".
  ASSERT_TRUE(pg().Exec(R"(UPDATE roles SET spec = '{"name":"viewer","permissions":[{"resource":"*","action":"read"}],)"
                        R"("nats":{"subscribeAllow":["md.>"]}}' WHERE name = 'viewer';)"
                        "DELETE FROM schema_migrations WHERE version >= 3;")
                  .ok());
  RestartAdmin();
  adm::ListRolesResponse roles;
  ASSERT_TRUE(
      adm::Roles::NewStub(admin_->channel)->ListRoles(Ctx(AdminToken()).get(), adm::ListRolesRequest(), &roles).ok());
  for (const auto& r : roles.roles()) {
    if (r.name() != "viewer") continue;
    std::vector<std::string> perms;
    for (const auto& p : r.permissions()) perms.push_back(p.resource() + ":" + p.action());
    EXPECT_THAT(perms, Not(::testing::Contains("*:read")));
    EXPECT_THAT(perms, ::testing::Contains("users:read"));
    EXPECT_THAT(std::vector<std::string>(r.nats().subscribe_allow().begin(), r.nats().subscribe_allow().end()),
                ::testing::ElementsAre("md.>"))
        << "the stored NATS part is kept";
  }
  std::string viewer = Fresh("upgraded");
  ASSERT_TRUE(CreateUser(viewer, kUserPassword, {"viewer"}).ok());
  auto v = Login(viewer, kUserPassword);
  ASSERT_TRUE(v.ok());
  adm::ListAuditResponse resp;
  EXPECT_EQ(adm::Audit::NewStub(admin_->channel)
                ->ListAudit(Ctx(v->access_token()).get(), adm::ListAuditRequest(), &resp)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// ----------------------------------------------------------------- [6].15 ---

TEST_F(GrpcAttack, NatsCredentialLifetimesAreCappedAndDisabledUsersGetNone) {
  std::string admin = AdminToken();
  auto nats = adm::NatsAccess::NewStub(admin_->channel);
  for (int64_t ttl : {int64_t{10} * 365 * 86400, std::numeric_limits<int64_t>::max(), int64_t{86401}, int64_t{-1}}) {
    adm::GetCredentialsRequest req;
    req.set_ttl_s(ttl);
    adm::GetCredentialsResponse resp;
    grpc::Status st = nats->GetMyCredentials(Ctx(admin).get(), req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "ttl " << ttl << " granted, expiring at " << resp.expires_at_us();
  }
  adm::GetCredentialsRequest ok;
  ok.set_ttl_s(3600);
  adm::GetCredentialsResponse creds;
  int64_t now = NowUs();
  ASSERT_TRUE(nats->GetMyCredentials(Ctx(admin).get(), ok, &creds).ok());
  EXPECT_NEAR(static_cast<double>(creds.expires_at_us() - now) / 1e6, 3600, 5);

  std::string user = Fresh("natsoff");
  ASSERT_TRUE(CreateUser(user, kUserPassword, {"viewer"}).ok());
  adm::UpdateUserRequest dis;
  dis.set_username(user);
  dis.set_disabled(true);
  adm::User u;
  ASSERT_TRUE(adm::Users::NewStub(admin_->channel)->UpdateUser(Ctx(admin).get(), dis, &u).ok());
  adm::GetCredentialsRequest for_disabled;
  for_disabled.set_username(user);
  adm::GetCredentialsResponse none;
  EXPECT_EQ(nats->GetCredentials(Ctx(admin).get(), for_disabled, &none).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(none.creds().empty());
}

}  // namespace
}  // namespace sa::security_test
