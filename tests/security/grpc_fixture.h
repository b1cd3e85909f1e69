// The attacker's bench for the gRPC security suite: a real PostgreSQL, a real
// nats-server, the real `admin` binary and the real `normalizer` binary (for
// the enforcer of a service that is not the admin), all in token mode, driven
// only through their public gRPC APIs with the generated stubs, as an outside
// client would. The admin can be restarted (same database, same keys) between
// a revocation and the use of what it revoked.
//
// Binaries come from $SA_BUILD_DIR/bin; point SA_BUILD_DIR at another build
// (e.g. one of the old code) to see which attacks succeed there.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/crypto.h"
#include "auth/nkeys.h"
#include "cli/control_client.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/control/v1/control.grpc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::security_test {

namespace adm = streamadmin::admin::v1;
namespace ctl = streamadmin::control::v1;

inline constexpr char kAdminPassword[] = "first-admin-password-123";
// Failed logins in a row that lock a name; the slowdown starts after the first.
inline constexpr int kLockoutThreshold = 8;

inline std::string BinDir() {
  const char* b = std::getenv("SA_BUILD_DIR");
  return absl::StrCat(b ? b : ".", "/bin");
}

inline absl::Status ToStatus(const grpc::Status& st) {
  return st.ok() ? absl::OkStatus() : absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

struct Service {
  std::unique_ptr<testing::Process> process;
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
};

class GrpcAttack : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
    auto nats = testing::NatsServer::Start();
    ASSERT_TRUE(nats.ok()) << nats.status();
    nats_ = nats->release();
    auto dir = testing::TempDir::Create("security");
    ASSERT_TRUE(dir.ok());
    dir_ = new testing::TempDir(std::move(*dir));
    seed_ = new std::string(auth::RandomBytes(32));
    keys_ = new auth::KeyPair(*auth::KeyPairFromSeed(*seed_));
    nats_seeds_ = new std::string(absl::StrCat(
        "nats_jwt:\n  operator_seed: ", auth::nkeys::Generate(auth::nkeys::Type::kOperator).seed,
        "\n  account_seed: ", auth::nkeys::Generate(auth::nkeys::Type::kAccount).seed, "\n"));
    setenv("STREAM_ADMIN_AUTH_BOOTSTRAP_PASSWORD", kAdminPassword, 1);
    admin_ = new Service(Start("admin", AdminYaml()));
    unsetenv("STREAM_ADMIN_AUTH_BOOTSTRAP_PASSWORD");
    normalizer_ = new Service(Start("normalizer", ""));
  }
  static void TearDownTestSuite() {
    delete normalizer_;
    delete admin_;
    delete nats_seeds_;
    delete keys_;
    delete seed_;
    delete dir_;
    delete nats_;
    delete pg_;
  }

  static std::string AdminYaml() {
    return absl::StrCat("database:\n  dsn: \"", pg_->dsn(), "\"\nauth:\n  signing_key: \"", auth::Base64(*seed_),
                        "\"\n  lockout_threshold: ", kLockoutThreshold,
                        "\n  lockout_s: 60\n  slowdown_after: 1\n  slowdown_step_ms: 60\n", *nats_seeds_);
  }

  // extra: top-level YAML; auth_extra: YAML lines under server.auth.
  static Service Start(const std::string& name, const std::string& extra, const std::string& auth_extra = "") {
    int grpc_port = *testing::PickFreePort(), http_port = *testing::PickFreePort();
    std::string cfg = absl::StrCat(dir_->path(), "/", name, ".yaml");
    std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:"
                       << http_port << "\n  shutdown_grace_s: 2\n  auth:\n    mode: token\n    public_key: \""
                       << auth::Base64(keys_->public_key) << "\"\n"
                       << auth_extra << "nats:\n  servers: [" << nats_->url() << "]\n"
                       << extra;
    auto p = testing::Process::Spawn({BinDir() + "/" + name, "--config", cfg},
                                     {.log_file = absl::StrCat(dir_->path(), "/", name, ".log")});
    EXPECT_TRUE(p.ok()) << p.status();
    Service s{std::move(*p), absl::StrCat("127.0.0.1:", grpc_port), nullptr};
    s.channel = grpc::CreateChannel(s.target, grpc::InsecureChannelCredentials());
    cli::ControlClient control(s.target, absl::Seconds(1));
    bool up = testing::WaitFor([&] { return control.Health().ok(); }, absl::Seconds(30));
    EXPECT_TRUE(up) << name << " did not become SERVING:\n" << s.process->Output();
    return s;
  }

  // Stops the admin (SIGTERM) and starts it again on the same database.
  // server_auth_extra: YAML lines under server.auth (e.g. trusted_proxies).
  static void RestartAdmin(const std::string& server_auth_extra = "") {
    ASSERT_TRUE(admin_->process->Terminate(absl::Seconds(10)).ok());
    *admin_ = Start("admin", AdminYaml(), server_auth_extra);
  }
  static void RestartNormalizer() {
    ASSERT_TRUE(normalizer_->process->Terminate(absl::Seconds(10)).ok());
    *normalizer_ = Start("normalizer", "");
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                                  const std::vector<std::pair<std::string, std::string>>& md = {}) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    for (const auto& [k, v] : md) ctx->AddMetadata(k, v);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return ctx;
  }

  static absl::StatusOr<adm::TokenResponse> Login(const std::string& user, const std::string& password) {
    adm::LoginRequest req;
    req.set_username(user);
    req.set_password(password);
    adm::TokenResponse resp;
    absl::Status st = ToStatus(adm::Auth::NewStub(admin_->channel)->Login(Ctx("").get(), req, &resp));
    if (!st.ok()) return st;
    return resp;
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
    adm::ListAuditRequest req;
    req.set_action(action);
    req.set_actor(actor);
    req.set_limit(200);
    adm::ListAuditResponse resp;
    grpc::Status st = adm::Audit::NewStub(admin_->channel)->ListAudit(Ctx(AdminToken()).get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.entries().begin(), resp.entries().end()};
  }

  static testing::PostgresServer* pg_;
  static testing::NatsServer* nats_;
  static testing::TempDir* dir_;
  static std::string* seed_;
  static auth::KeyPair* keys_;
  static std::string* nats_seeds_;
  static Service* admin_;
  static Service* normalizer_;
};

}  // namespace sa::security_test
