// gRPC TLS from config in a real service binary, driven by the real CLI:
// `anomaly` with server.tls (client certificates required) and token auth;
// `stream-admin` with --ca-file/--cert-file/--key-file and --token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/crypto.h"
#include "auth/token.h"
#include "e2e_util.h"
#include "testing/certificates.h"
#include "testing/nats_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

using e2e::BinDir;
using ::testing::HasSubstr;

class TlsService : public e2e::NatsTest {
 protected:
  void MakeCertificates() {
    absl::Status certificates = testing::MakeTestCertificates(dir_->path());
    ASSERT_TRUE(certificates.ok()) << certificates;
  }

  testing::ProcessResult Cli(std::vector<std::string> args, bool client_cert = true, bool tls = true) {
    std::string p = dir_->path();
    std::vector<std::string> argv = {BinDir() + "/stream-admin"};
    if (tls) argv.insert(argv.end(), {"--ca-file", p + "/ca.crt"});
    if (client_cert) argv.insert(argv.end(), {"--cert-file", p + "/client.crt", "--key-file", p + "/client.key"});
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = testing::RunProcess(argv, absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::ProcessResult{};
  }
};

TEST_F(TlsService, CliReachesATlsServiceOnlyWithTheCaAndAClientCertificate) {
  MakeCertificates();
  auth::KeyPair keys = auth::GenerateKeyPair();
  std::string p = dir_->path();
  int grpc_port = *testing::PickFreePort();
  std::string cfg = p + "/anomaly.yaml";
  std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                     << "\n  http_listen: 127.0.0.1:0\n  shutdown_grace_s: 2\n  auth:\n    mode: token\n"
                     << "    public_key: \"" << auth::Base64(keys.public_key) << "\"\n  tls:\n    enabled: true\n"
                     << "    cert_file: " << p << "/server.crt\n    key_file: " << p << "/server.key\n"
                     << "    client_ca_file: " << p << "/ca.crt\n    require_client_cert: true\n"
                     << "nats:\n  servers: [" << nats_->url() << "]\n";
  auto svc = testing::Process::Spawn({BinDir() + "/anomaly", "--config", cfg});
  ASSERT_TRUE(svc.ok()) << svc.status();
  std::string target = absl::StrCat("localhost:", grpc_port);

  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Cli({"health", "--target", target}).exit_code == 0;
      },
      absl::Seconds(30)))
      << (*svc)->Output();
  EXPECT_NE(Cli({"health", "--target", target}, /*client_cert=*/false).exit_code, 0);
  EXPECT_NE(Cli({"health", "--target", target}, false, /*tls=*/false).exit_code, 0);

  auth::Claims c;
  c.sub = "u1";
  c.name = "operator";
  c.jti = "t1";
  c.exp_us = absl::ToUnixMicros(absl::Now()) + 60'000'000;
  c.perms = {"control:read"};
  std::string token = auth::IssueToken(c, keys.secret_key);
  auto with_token = Cli({"--token", token, "status", "--target", target});
  EXPECT_THAT(with_token.output, HasSubstr("RUNNING")) << with_token.output;
  auto without = Cli({"status", "--target", target});
  EXPECT_THAT(without.output, HasSubstr("no access token")) << without.output;
  auto pause = Cli({"--token", token, "pause", "--target", target});
  EXPECT_NE(pause.exit_code, 0);
  EXPECT_THAT(pause.output, HasSubstr("control:write"));
}

}  // namespace
}  // namespace sa
