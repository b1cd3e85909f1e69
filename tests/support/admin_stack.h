// A real PostgreSQL, a real nats-server and a fresh token-signing key, on
// which tests start the real service binaries in token mode and talk to them
// through gRPC. Shared by services/admin/tests (the admin's own tests) and
// tests/security (the attacks from outside).
//
// Binaries come from $SA_BUILD_DIR/bin.
//
// Threading: drive it from the test's main thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/crypto.h"
#include "auth/nkeys.h"
#include "cli/control_client.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::testing {

inline absl::Status ToStatus(const grpc::Status& st) {
  return st.ok() ? absl::OkStatus() : absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

// A client context carrying `token` (none when empty) and extra metadata.
inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token,
                                                const std::vector<std::pair<std::string, std::string>>& md = {}) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  for (const auto& [k, v] : md) ctx->AddMetadata(k, v);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

// Auth.Login with a password on `admin`.
inline absl::StatusOr<streamadmin::admin::v1::TokenResponse> PasswordLogin(const std::shared_ptr<grpc::Channel>& admin,
                                                                           const std::string& user,
                                                                           const std::string& password) {
  streamadmin::admin::v1::LoginRequest req;
  req.set_username(user);
  req.set_password(password);
  streamadmin::admin::v1::TokenResponse resp;
  absl::Status st = ToStatus(streamadmin::admin::v1::Auth::NewStub(admin)->Login(Ctx("").get(), req, &resp));
  if (!st.ok()) return st;
  return resp;
}

// Roles.PutRole of `name` with "resource:action" permissions, as `token`.
inline absl::Status PutRole(const std::shared_ptr<grpc::Channel>& admin, const std::string& token,
                            const std::string& name, const std::vector<std::string>& perms) {
  streamadmin::admin::v1::PutRoleRequest req;
  req.mutable_role()->set_name(name);
  for (const auto& p : perms) {
    auto* perm = req.mutable_role()->add_permissions();
    perm->set_resource(p.substr(0, p.find(':')));
    perm->set_action(p.substr(p.find(':') + 1));
  }
  streamadmin::admin::v1::Role out;
  return ToStatus(streamadmin::admin::v1::Roles::NewStub(admin)->PutRole(Ctx(token).get(), req, &out));
}

// Users.CreateUser with a password and one role, as `token`.
inline absl::Status CreateUser(const std::shared_ptr<grpc::Channel>& admin, const std::string& token,
                               const std::string& name, const std::string& password, const std::string& role) {
  streamadmin::admin::v1::CreateUserRequest req;
  req.set_username(name);
  req.set_password(password);
  req.add_roles(role);
  streamadmin::admin::v1::User out;
  return ToStatus(streamadmin::admin::v1::Users::NewStub(admin)->CreateUser(Ctx(token).get(), req, &out));
}

// Audit.ListAudit as `token`: the newest `limit` entries of `action`, and of
// `actor` unless empty.
inline std::vector<streamadmin::admin::v1::AuditEntry> ListAudit(const std::shared_ptr<grpc::Channel>& admin,
                                                                 const std::string& token, const std::string& action,
                                                                 const std::string& actor, int limit) {
  streamadmin::admin::v1::ListAuditRequest req;
  req.set_action(action);
  req.set_actor(actor);
  req.set_limit(limit);
  streamadmin::admin::v1::ListAuditResponse resp;
  grpc::Status st = streamadmin::admin::v1::Audit::NewStub(admin)->ListAudit(Ctx(token).get(), req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return {resp.entries().begin(), resp.entries().end()};
}

struct Service {
  std::unique_ptr<Process> process;
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
};

class AdminStack {
 public:
  // dir_name: the temp dir's stem (configs and logs go there).
  static absl::StatusOr<std::unique_ptr<AdminStack>> Create(const std::string& dir_name) {
    std::unique_ptr<AdminStack> s(new AdminStack());
    auto pg = PostgresServer::Start();
    if (!pg.ok()) return pg.status();
    s->pg_ = std::move(*pg);
    auto nats = NatsServer::Start();
    if (!nats.ok()) return nats.status();
    s->nats_ = std::move(*nats);
    auto dir = TempDir::Create(dir_name);
    if (!dir.ok()) return dir.status();
    s->dir_ = std::make_unique<TempDir>(std::move(*dir));
    s->seed_ = auth::RandomBytes(32);
    s->keys_ = *auth::KeyPairFromSeed(s->seed_);
    return s;
  }

  // Starts bin/<name> with token auth (this stack's key) and NATS, and waits
  // until its gRPC health is SERVING. extra: top-level YAML; auth_extra: YAML
  // lines under server.auth (indented by 4); nats_extra: YAML lines under
  // nats (indented by 2) replacing "servers: [this stack's server]"; stem:
  // the config and log files' name (default `name`; another for a second
  // instance of one binary).
  Service Start(const std::string& name, const std::string& extra, const std::string& auth_extra = "",
                const std::string& nats_extra = "", const std::string& stem = "") {
    int grpc_port = *PickFreePort(), http_port = *PickFreePort();
    const std::string file = stem.empty() ? name : stem;
    std::string cfg = absl::StrCat(dir_->path(), "/", file, ".yaml");
    std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                       << "\n  http_listen: 127.0.0.1:" << http_port
                       << "\n  shutdown_grace_s: 2\n  auth:\n    mode: token\n    public_key: \""
                       << auth::Base64(keys_.public_key) << "\"\n"
                       << auth_extra << "nats:\n"
                       << (nats_extra.empty() ? absl::StrCat("  servers: [", nats_->url(), "]\n") : nats_extra)
                       << extra;
    auto p = Process::Spawn({BinDir() + "/" + name, "--config", cfg},
                            {.log_file = absl::StrCat(dir_->path(), "/", file, ".log")});
    EXPECT_TRUE(p.ok()) << p.status();
    Service s{std::move(*p), absl::StrCat("127.0.0.1:", grpc_port), nullptr};
    s.channel = grpc::CreateChannel(s.target, grpc::InsecureChannelCredentials());
    cli::ControlClient control(s.target, absl::Seconds(1));
    bool up = WaitFor([&] { return control.Health().ok(); }, absl::Seconds(30));
    EXPECT_TRUE(up) << name << " did not become SERVING:\n" << s.process->Output();
    return s;
  }

  // Starts bin/admin (see Start) with `password` as the first administrator's:
  // the admin reads it from the environment only, so it is set there for the
  // start and taken away again.
  Service StartAdmin(const std::string& password, const std::string& extra) {
    setenv("STREAM_ADMIN_AUTH_BOOTSTRAP_PASSWORD", password.c_str(), 1);
    Service s = Start("admin", extra);
    unsetenv("STREAM_ADMIN_AUTH_BOOTSTRAP_PASSWORD");
    return s;
  }

  // YAML of the admin's database and signing key (top level).
  std::string AdminYaml() const {
    return absl::StrCat("database:\n  dsn: \"", pg_->dsn(), "\"\nauth:\n  signing_key: \"", auth::Base64(seed_),
                        "\"\n");
  }

  PostgresServer& pg() { return *pg_; }
  NatsServer& nats() { return *nats_; }
  TempDir& dir() { return *dir_; }
  const std::string& seed() const { return seed_; }
  const auth::KeyPair& keys() const { return keys_; }

 private:
  AdminStack() = default;
  std::unique_ptr<PostgresServer> pg_;
  std::unique_ptr<NatsServer> nats_;
  std::unique_ptr<TempDir> dir_;
  std::string seed_;
  auth::KeyPair keys_;
};

// YAML (top level) giving the admin fresh NATS operator and account seeds, so
// that it issues NATS user JWTs.
inline std::string NatsJwtYaml() {
  return absl::StrCat("nats_jwt:\n  operator_seed: ", auth::nkeys::Generate(auth::nkeys::Type::kOperator).seed,
                      "\n  account_seed: ", auth::nkeys::Generate(auth::nkeys::Type::kAccount).seed, "\n");
}

// A fixture whose tests share one AdminStack, `stack_`: SetUpTestSuite calls
// ASSERT_NO_FATAL_FAILURE(CreateStack(...)) and TearDownTestSuite deletes it
// after the services started on it. Suite is the fixture itself, so that every
// suite has a stack_ of its own.
template <typename Suite>
class AdminStackSuite : public ::testing::Test {
 protected:
  // dir_name: the temp dir's stem (see AdminStack::Create).
  static void CreateStack(const std::string& dir_name) {
    auto stack = AdminStack::Create(dir_name);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = stack->release();
  }

  static inline AdminStack* stack_ = nullptr;
};

}  // namespace sa::testing
