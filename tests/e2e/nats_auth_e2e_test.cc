// The services' own NATS users (built-in roles svc-ingest, svc-normalizer)
// are enough for their pipeline: ingest and normalizer run against a
// nats-server in operator mode (JetStream on) with .creds files signed by the
// account key, replay a recording end to end, and never hit a permissions
// violation — while the same server refuses what the roles do not allow.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/builtin_roles.h"
#include "auth/nkeys.h"
#include "bus/connection.h"
#include "cli/control_client.h"
#include "e2e_util.h"
#include "testing/nats_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace adm = streamadmin::admin::v1;
namespace nk = auth::nkeys;
using e2e::BinDir;
using e2e::Fixture;

adm::Role RoleNamed(const std::string& name) {
  for (auto& r : auth::BuiltinRoles()) {
    if (r.name() == name) return r;
  }
  ADD_FAILURE() << "no role " << name;
  return {};
}

class NatsAuthPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    op_ = nk::Generate(nk::Type::kOperator);
    account_ = nk::Generate(nk::Type::kAccount);
    nk::NKey sys = nk::Generate(nk::Type::kAccount);
    int64_t now = absl::ToUnixSeconds(absl::Now());
    testing::NatsServer::Options o;
    o.config_text = absl::StrCat("operator: ", nk::OperatorJwt(op_, "e2e", now), "\nsystem_account: ", sys.public_key,
                                 "\nresolver: MEMORY\nresolver_preload: {\n  ", account_.public_key, ": ",
                                 nk::AccountJwt(op_, account_.public_key, "STREAM_ADMIN", now), "\n  ", sys.public_key,
                                 ": ", nk::AccountJwt(op_, sys.public_key, "SYS", now, false), "\n}\n");
    auto s = testing::NatsServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    nats_ = std::move(*s);
    auto d = testing::TempDir::Create("nats-auth-e2e");
    ASSERT_TRUE(d.ok());
    dir_ = std::make_unique<testing::TempDir>(std::move(*d));
  }

  std::string Creds(const std::string& name, const std::string& role) {
    nk::NKey user = nk::Generate(nk::Type::kUser);
    int64_t now = absl::ToUnixSeconds(absl::Now());
    std::string path = absl::StrCat(dir_->path(), "/", name, ".creds");
    std::ofstream(path) << nk::CredsFile(
        nk::UserJwt(account_, user.public_key, name, auth::NatsPermissionsOf({RoleNamed(role)}), now, now + 3600),
        user.seed);
    return path;
  }

  struct Service {
    std::unique_ptr<testing::Process> process;
    std::string target;
  };

  // Starts `name` with its service role's credentials and waits until its
  // NATS dependency is healthy. One restart is allowed: nats.c 3.4.1 +
  // nats-server 2.9.10 refuse ~1 in 200 valid nonce signatures and nats.c
  // then gives up (docs/SECURITY.md, known limits).
  Service Start(const std::string& name, const std::string& extra_yaml) {
    for (int attempt = 0;; ++attempt) {
      int grpc_port = *testing::PickFreePort();
      std::string cfg = absl::StrCat(dir_->path(), "/", name, ".yaml");
      std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                         << "\n  http_listen: 127.0.0.1:0\n  shutdown_grace_s: 5\nnats:\n  servers: [" << nats_->url()
                         << "]\n  creds_file: " << Creds(name, "svc-" + name) << "\n"
                         << extra_yaml;
      testing::Process::Options opts;
      opts.log_file = absl::StrCat(dir_->path(), "/", name, ".log");
      auto p = testing::Process::Spawn({BinDir() + "/" + name, "--config", cfg}, opts);
      EXPECT_TRUE(p.ok()) << p.status();
      Service s{std::move(*p), absl::StrCat("127.0.0.1:", grpc_port)};
      cli::ControlClient client(s.target, absl::Seconds(2));
      bool ready = testing::WaitFor(
          [&] {
            auto st = client.GetStatus();
            if (!st.ok()) return false;
            for (const auto& d : st->dependencies()) {
              if (d.name() == "nats" && d.healthy()) return true;
            }
            return false;
          },
          absl::Seconds(20));
      if (ready || attempt == 1) {
        EXPECT_TRUE(ready) << name << " never connected to NATS:\n" << s.process->Output();
        return s;
      }
      (void)s.process->Terminate(absl::Seconds(5));
    }
  }

  nk::NKey op_, account_;
  std::unique_ptr<testing::NatsServer> nats_;
  std::unique_ptr<testing::TempDir> dir_;
};

TEST_F(NatsAuthPipeline, IngestAndNormalizerRunOnTheirOwnRolesWithoutViolations) {
  streamadmin::config::v1::NatsConfig oc;
  oc.add_servers(nats_->url());
  oc.set_creds_file(Creds("viewer", "viewer"));
  std::unique_ptr<bus::Connection> viewer;
  for (int attempt = 0; attempt < 3 && !viewer; ++attempt) {
    auto c = bus::Connection::Connect(oc);
    ASSERT_TRUE(c.ok());
    if ((*c)->WaitConnected(absl::Seconds(10))) viewer = std::move(*c);
  }
  ASSERT_TRUE(viewer);
  std::atomic<int> trades{0};
  auto sub = viewer->Subscribe("md.trade.kraken.>", [&](const bus::InboundMessage&) { trades++; });
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(viewer->Flush(absl::Seconds(5)).ok());

  Service normalizer = Start("normalizer", "");
  Service ingest =
      Start("ingest", absl::StrCat("sources:\n  - {name: r-kraken, kind: replay, venue: kraken, replay: {path: \"",
                                   Fixture("kraken.jsonl.zst"), "\", speed: 0}}\n"));
  EXPECT_TRUE(testing::WaitFor([&] { return trades.load() > 0; }, absl::Seconds(60)))
      << "no trade reached the viewer\n--- normalizer\n"
      << normalizer.process->Output().substr(0, 3000) << "\n--- ingest\n"
      << ingest.process->Output().substr(0, 3000);
  EXPECT_THAT(normalizer.process->Output(), ::testing::Not(::testing::HasSubstr("Permissions Violation")));
  EXPECT_THAT(ingest.process->Output(), ::testing::Not(::testing::HasSubstr("Permissions Violation")));
  // The viewer reads market data but not the raw frames.
  auto raw = viewer->Subscribe("md.raw.>", [](const bus::InboundMessage&) {});
  ASSERT_TRUE(raw.ok());
  EXPECT_TRUE(viewer->WaitForAsyncError("Permissions Violation for Subscription to \"md.raw.>\"", absl::Seconds(5)));
}

}  // namespace
}  // namespace sa
