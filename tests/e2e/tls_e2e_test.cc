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
    std::string p = dir_->path();
    std::ofstream(p + "/san.ext") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    auto run = [&](std::vector<std::string> argv) {
      auto r = testing::RunProcess(argv);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->exit_code, 0) << r->output;
    };
    const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    std::vector<std::string> ca = {"openssl", "req", "-x509"};
    ca.insert(ca.end(), ec.begin(), ec.end());
    ca.insert(ca.end(), {"-keyout", p + "/ca.key", "-out", p + "/ca.crt", "-subj", "/CN=e2e-ca", "-days", "1"});
    run(ca);
    for (const char* who : {"server", "client"}) {
      std::string w = p + "/" + who;
      std::vector<std::string> req = {"openssl", "req"};
      req.insert(req.end(), ec.begin(), ec.end());
      req.insert(req.end(), {"-keyout", w + ".key", "-out", w + ".csr", "-subj", absl::StrCat("/CN=", who)});
      run(req);
      run({"openssl", "x509", "-req", "-in", w + ".csr", "-CA", p + "/ca.crt", "-CAkey", p + "/ca.key",
           "-CAcreateserial", "-out", w + ".crt", "-days", "1", "-extfile", p + "/san.ext"});
    }
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
