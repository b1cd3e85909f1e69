// The attacker's bench for the gRPC security suite: on tests/support's
// AdminStack, the real `admin` binary and the real `normalizer` binary (for
// the enforcer of a service that is not the admin), both in token mode, driven
// only through their public gRPC APIs with the generated stubs, as an outside
// client would. The admin can be restarted (same database, same keys) between
// a revocation and the use of what it revoked.
//
// Binaries come from $SA_BUILD_DIR/bin; point SA_BUILD_DIR at another build
// (e.g. one of the old code) to see which attacks succeed there.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "admin_stack.h"
#include "auth/nkeys.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/control/v1/control.grpc.pb.h"

namespace sa::security_test {

namespace adm = streamadmin::admin::v1;
namespace ctl = streamadmin::control::v1;
using testing::Ctx;
using testing::Service;
using testing::ToStatus;

inline constexpr char kAdminPassword[] = "first-admin-password-123";
// Failed logins in a row that lock a name; the slowdown starts after the first.
inline constexpr int kLockoutThreshold = 8;

class GrpcAttack : public testing::AdminStackSuite<GrpcAttack> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(CreateStack("security"));
    admin_yaml_ = new std::string(absl::StrCat(stack_->AdminYaml(), "  lockout_threshold: ", kLockoutThreshold,
                                               "\n  lockout_s: 60\n  slowdown_after: 1\n  slowdown_step_ms: 60\n",
                                               testing::NatsJwtYaml()));
    admin_ = new Service(stack_->StartAdmin(kAdminPassword, *admin_yaml_));
    normalizer_ = new Service(stack_->Start("normalizer", ""));
  }
  static void TearDownTestSuite() {
    delete normalizer_;
    delete admin_;
    delete admin_yaml_;
    delete stack_;
  }

  // Stops the admin (SIGTERM) and starts it again on the same database.
  // server_auth_extra: YAML lines under server.auth (e.g. trusted_proxies).
  static void RestartAdmin(const std::string& server_auth_extra = "") {
    ASSERT_TRUE(admin_->process->Terminate(absl::Seconds(10)).ok());
    *admin_ = stack_->Start("admin", *admin_yaml_, server_auth_extra);
  }
  static void RestartNormalizer() {
    ASSERT_TRUE(normalizer_->process->Terminate(absl::Seconds(10)).ok());
    *normalizer_ = stack_->Start("normalizer", "");
  }
  static testing::PostgresServer& pg() { return stack_->pg(); }

  static absl::StatusOr<adm::TokenResponse> Login(const std::string& user, const std::string& password) {
    return testing::PasswordLogin(admin_->channel, user, password);
  }
  static absl::StatusOr<adm::TokenResponse> LoginWithKey(const std::string& key) {
    adm::LoginRequest req;
    req.set_api_key(key);
    adm::TokenResponse resp;
    absl::Status st = ToStatus(adm::Auth::NewStub(admin_->channel)->Login(Ctx("").get(), req, &resp));
    if (!st.ok()) return st;
    return resp;
  }
  static absl::StatusOr<adm::TokenResponse> Refresh(const std::string& refresh_token) {
    adm::RefreshRequest req;
    req.set_refresh_token(refresh_token);
    adm::TokenResponse resp;
    absl::Status st = ToStatus(adm::Auth::NewStub(admin_->channel)->Refresh(Ctx("").get(), req, &resp));
    if (!st.ok()) return st;
    return resp;
  }

  static std::string AdminToken() {
    auto t = Login("admin", kAdminPassword);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->access_token() : "";
  }

  static absl::Status CreateUser(const std::string& username, const std::string& password,
                                 std::vector<std::string> roles) {
    adm::CreateUserRequest req;
    req.set_username(username);
    req.set_password(password);
    for (auto& r : roles) req.add_roles(r);
    adm::User resp;
    return ToStatus(adm::Users::NewStub(admin_->channel)->CreateUser(Ctx(AdminToken()).get(), req, &resp));
  }

  static absl::StatusOr<adm::User> GetUser(const std::string& token, const std::string& username) {
    adm::GetUserRequest req;
    req.set_username(username);
    adm::User resp;
    absl::Status st = ToStatus(adm::Users::NewStub(admin_->channel)->GetUser(Ctx(token).get(), req, &resp));
    if (!st.ok()) return st;
    return resp;
  }

  static absl::Status ListUsersOnAdmin(const std::string& token) {
    adm::ListUsersResponse resp;
    return ToStatus(adm::Users::NewStub(admin_->channel)->ListUsers(Ctx(token).get(), adm::ListUsersRequest(), &resp));
  }
  // A read on the normalizer (control:read): what another service's enforcer says of the token.
  static absl::Status StatusOnNormalizer(const std::string& token) {
    ctl::GetStatusResponse resp;
    return ToStatus(ctl::ServiceControl::NewStub(normalizer_->channel)
                        ->GetStatus(Ctx(token).get(), ctl::GetStatusRequest(), &resp));
  }

  static std::vector<adm::AuditEntry> Audit(const std::string& action, const std::string& actor = "") {
    return testing::ListAudit(admin_->channel, AdminToken(), action, actor, 200);
  }

  static std::string* admin_yaml_;
  static Service* admin_;
  static Service* normalizer_;
};

}  // namespace sa::security_test
