// gRPC TLS from config (server.tls): server certificate, optional and
// required client certificates, with and without token auth on top.
// Certificates are made by the openssl CLI for each run.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "auth/crypto.h"
#include "auth/enforcer.h"
#include "bus/connection.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "observability/grpc_server.h"
#include "streamadmin/control/v1/control.grpc.pb.h"
#include "testing/certificates.h"
#include "testing/nats_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace sa::auth {
namespace {

namespace ctl = streamadmin::control::v1;
namespace cfg = streamadmin::config::v1;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Control final : public obs::ControlHandler {
 public:
  ctl::GetStatusResponse Status() override { return {}; }
  std::string EffectiveConfigJson() override { return "{}"; }
  absl::StatusOr<ctl::ServingState> Pause() override { return ctl::SERVING_STATE_PAUSED; }
  absl::StatusOr<ctl::ServingState> Resume() override { return ctl::SERVING_STATE_RUNNING; }
  absl::StatusOr<ctl::ServingState> Drain(absl::Duration) override { return ctl::SERVING_STATE_DRAINED; }
};

class GrpcTls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = testing::TempDir::Create("tls");
    ASSERT_TRUE(d.ok());
    dir_ = std::make_unique<testing::TempDir>(std::move(*d));
    absl::Status certificates = testing::MakeTestCertificates(dir_->path());
    ASSERT_TRUE(certificates.ok()) << certificates;
  }

  std::unique_ptr<obs::GrpcServer> StartServer(bool require_client_cert, bool token) {
    cfg::ServerConfig s;
    s.mutable_tls()->set_enabled(true);
    s.mutable_tls()->set_cert_file(dir_->path() + "/server.crt");
    s.mutable_tls()->set_key_file(dir_->path() + "/server.key");
    s.mutable_tls()->set_client_ca_file(dir_->path() + "/ca.crt");
    s.mutable_tls()->set_require_client_cert(require_client_cert);
    if (token) {
      s.mutable_auth()->set_mode("token");
      s.mutable_auth()->set_public_key(Base64(GenerateKeyPair().public_key));
    }
    auto e = Enforcer::Create(s, nullptr, "tls");
    EXPECT_TRUE(e.ok()) << e.status();
    enforcer_ = std::move(*e);
    obs::GrpcServer::Options o;
    o.listen = "127.0.0.1:0";
    o.service_name = "tls";
    o.control = &control_;
    o.credentials = enforcer_->Credentials();
    EXPECT_NE(o.credentials, nullptr);
    auto srv = obs::GrpcServer::Start(std::move(o));
    EXPECT_TRUE(srv.ok()) << srv.status();
    (*srv)->SetServing(true);
    return std::move(*srv);
  }

  grpc::Status Health(int port, bool tls, bool client_cert) {
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (tls) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = Read(dir_->path() + "/ca.crt");
      if (client_cert) {
        o.pem_private_key = Read(dir_->path() + "/client.key");
        o.pem_cert_chain = Read(dir_->path() + "/client.crt");
      }
      creds = grpc::SslCredentials(o);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto ch = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), creds, args);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckResponse resp;
    return grpc::health::v1::Health::NewStub(ch)->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
  }

  Control control_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<Enforcer> enforcer_;
};

TEST_F(GrpcTls, RequiredClientCertificateAdmitsOnlyClientsSignedByTheCa) {
  auto srv = StartServer(/*require_client_cert=*/true, /*token=*/false);
  EXPECT_TRUE(Health(srv->port(), true, true).ok());
  EXPECT_FALSE(Health(srv->port(), true, false).ok());
  EXPECT_FALSE(Health(srv->port(), false, false).ok());  // plaintext
}

TEST_F(GrpcTls, OptionalClientCertificateAndTokenAuthWorkTogether) {
  auto srv = StartServer(/*require_client_cert=*/false, /*token=*/true);
  EXPECT_TRUE(Health(srv->port(), true, false).ok());  // health stays open
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Read(dir_->path() + "/ca.crt");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto ch = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", srv->port()), grpc::SslCredentials(o), args);
  grpc::ClientContext ctx;
  ctl::GetStatusResponse resp;
  EXPECT_EQ(ctl::ServiceControl::NewStub(ch)->GetStatus(&ctx, ctl::GetStatusRequest(), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

// NATS TLS from config (nats.tls): libs/bus verifies the server with the CA and
// presents a client certificate when the server asks for one.
TEST_F(GrpcTls, NatsConnectionUsesTlsFromConfig) {
  std::string p = dir_->path();
  testing::NatsServer::Options o;
  o.jetstream = false;
  o.config_text = absl::StrCat("tls {\n  cert_file: \"", p, "/server.crt\"\n  key_file: \"", p,
                               "/server.key\"\n  ca_file: \"", p, "/ca.crt\"\n  verify: true\n}\n");
  auto server = testing::NatsServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status();
  cfg::NatsConfig nc;
  nc.add_servers(absl::StrCat("tls://127.0.0.1:", (*server)->port()));
  nc.set_connect_timeout_ms(2000);
  nc.mutable_tls()->set_enabled(true);
  nc.mutable_tls()->set_ca_file(p + "/ca.crt");
  nc.mutable_tls()->set_cert_file(p + "/client.crt");
  nc.mutable_tls()->set_key_file(p + "/client.key");
  auto ok = bus::Connection::Connect(nc);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE((*ok)->WaitConnected(absl::Seconds(10)));

  cfg::NatsConfig no_cert = nc;  // the server requires a client certificate
  no_cert.mutable_tls()->clear_cert_file();
  no_cert.mutable_tls()->clear_key_file();
  auto refused = bus::Connection::Connect(no_cert);
  if (refused.ok()) {
    EXPECT_FALSE((*refused)->WaitConnected(absl::Seconds(2)));
  }
}

}  // namespace
}  // namespace sa::auth
