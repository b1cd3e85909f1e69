// Every service binary boots the common runtime against a real nats-server and
// PostgreSQL, answers grpc.health.v1 and ServiceControl to a real gRPC client,
// serves /metrics that an independent Prometheus parser accepts, drains on
// SIGTERM, and refuses a bad config with one line naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "cli/control_client.h"
#include "e2e_util.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/suite_servers.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace ctl = streamadmin::control::v1;
using ::testing::HasSubstr;

using e2e::BinDir;

// Validates Prometheus text with prometheus_client's own parser (Debian's
// python3-prometheus-client): an independent implementation of the format.
absl::Status ValidatePrometheusText(const std::string& text, const std::string& dir) {
  std::string path = dir + "/metrics.txt";
  std::ofstream(path) << text;
  auto r = testing::RunProcess(
      {"/usr/bin/python3", "-c",
       "import sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n"
       "fams = list(p(open(sys.argv[1]).read()))\nprint('families', len(fams))",
       path});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return absl::InvalidArgumentError(r->output);
  return absl::OkStatus();
}

class ServicesTest : public testing::NatsPostgresSuite<ServicesTest> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(NatsPostgresSuite::SetUpTestSuite());
    ASSERT_TRUE(pg_->Exec("CREATE DATABASE warehouse").ok());
  }

  struct Running {
    std::unique_ptr<testing::Process> process;
    std::string target;
    int http_port;
  };

  Running StartService(const std::string& name, testing::TempDir& dir) {
    int grpc_port = *testing::PickFreePort();
    int http_port = *testing::PickFreePort();
    std::string cfg = absl::StrCat(dir.path(), "/", name, ".yaml");
    std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:"
                       << http_port << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << nats_->url() << "]\n"
                       << ExtraYaml(name);
    auto p = testing::Process::Spawn({BinDir() + "/" + name, "--config", cfg});
    EXPECT_TRUE(p.ok()) << p.status();
    return {std::move(*p), absl::StrCat("127.0.0.1:", grpc_port), http_port};
  }

  static std::string ExtraYaml(const std::string& name) {
    std::string wh = absl::StrCat("host=127.0.0.1 port=", pg_->port(), " user=postgres dbname=warehouse");
    if (name == "cdc-bridge") return absl::StrCat("source:\n  dsn: \"", pg_->dsn(), "\"\n");
    if (name == "warehouse-sink") return absl::StrCat("warehouse:\n  dsn: \"", wh, "\"\n");
    if (name == "admin") return absl::StrCat("database:\n  dsn: \"", pg_->dsn(), "\"\n");
    return "";
  }
};

class EveryService : public ServicesTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(EveryService, AnswersHealthStatusAndMetricsThenDrainsOnSigterm) {
  const std::string name = GetParam();
  auto dir = testing::TempDir::Create("e2e-" + name);
  ASSERT_TRUE(dir.ok());
  Running svc = StartService(name, *dir);
  cli::ControlClient client(svc.target, absl::Seconds(2));

  // Health turns SERVING once the runtime has started the application.
  ASSERT_TRUE(testing::WaitFor([&] { return client.Health().ok(); }, absl::Seconds(30)))
      << client.Health() << "\n" << svc.process->Output();
  EXPECT_TRUE(client.Health(name).ok()) << "health is reported under the service name too";

  // Dependencies (NATS + streams, PostgreSQL) come up in the background.
  absl::StatusOr<ctl::GetStatusResponse> status;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        status = client.GetStatus();
        if (!status.ok()) return false;
        for (const auto& d : status->dependencies())
          if (!d.healthy()) return false;
        return true;
      },
      absl::Seconds(30)))
      << (status.ok() ? status->DebugString() : status.status().ToString());
  EXPECT_EQ(status->service(), name);
  EXPECT_EQ(status->state(), ctl::SERVING_STATE_RUNNING);
  EXPECT_FALSE(status->version().empty());
  ASSERT_GE(status->dependencies_size(), 1);
  EXPECT_EQ(status->dependencies(0).name(), "nats");

  // Effective config comes back as JSON with secrets redacted.
  auto config = client.GetConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(*config, HasSubstr(svc.target));
  if (name == "cdc-bridge" || name == "warehouse-sink" || name == "admin") {
    EXPECT_THAT(*config, HasSubstr("\"dsn\": \"***\""));
    EXPECT_THAT(*config, ::testing::Not(HasSubstr("user=postgres")));
  }

  // HTTP: readiness, liveness, and Prometheus text an independent parser accepts.
  httplib::Client http("127.0.0.1", svc.http_port);
  ASSERT_TRUE(testing::WaitFor([&] { auto r = http.Get("/readyz"); return r && r->status == 200; },
                               absl::Seconds(10)));
  EXPECT_EQ(http.Get("/healthz")->status, 200);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->body, HasSubstr("streamadmin_service_state{service=\"" + name + "\"} 2"));
  EXPECT_THAT(metrics->body, HasSubstr("streamadmin_grpc_server_handled_total{method=\"/streamadmin.control.v1.ServiceControl/GetStatus\",code=\"OK\"}"));
  EXPECT_THAT(metrics->body, HasSubstr("streamadmin_bus_connected 1"));
  EXPECT_TRUE(ValidatePrometheusText(metrics->body, dir->path()).ok())
      << ValidatePrometheusText(metrics->body, dir->path());

  // Pause / resume / drain through ServiceControl.
  EXPECT_EQ(*client.Pause(), ctl::SERVING_STATE_PAUSED);
  EXPECT_EQ(client.GetStatus()->state(), ctl::SERVING_STATE_PAUSED);
  EXPECT_EQ(*client.Resume(), ctl::SERVING_STATE_RUNNING);

  // SIGTERM: graceful drain, exit 0.
  ASSERT_TRUE(svc.process->Signal(SIGTERM).ok());
  auto rc = svc.process->Wait(absl::Seconds(20));
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(*rc, 0) << svc.process->Output();
  EXPECT_THAT(svc.process->Output(), HasSubstr("\"msg\":\"" + name + " stopped\""));
}

INSTANTIATE_TEST_SUITE_P(Services, EveryService,
                         ::testing::Values("ingest", "normalizer", "cdc-bridge", "warehouse-sink", "anomaly", "admin"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST_F(ServicesTest, DrainStopsServingThenSigtermExits) {
  auto dir = testing::TempDir::Create("e2e-drain");
  Running svc = StartService("normalizer", *dir);
  cli::ControlClient client(svc.target, absl::Seconds(2));
  ASSERT_TRUE(testing::WaitFor([&] { return client.Health().ok(); }, absl::Seconds(30)));
  EXPECT_EQ(*client.Drain(absl::Seconds(5)), ctl::SERVING_STATE_DRAINED);
  EXPECT_FALSE(client.Health().ok()) << "a drained service reports NOT_SERVING";
  EXPECT_EQ(client.Pause().status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(svc.process->Signal(SIGTERM).ok());
  EXPECT_EQ(*svc.process->Wait(absl::Seconds(20)), 0);
}

TEST_F(ServicesTest, ReportsNatsDownAndRecoversWhenItReturns) {
  auto dir = testing::TempDir::Create("e2e-natsdown");
  auto own_nats = testing::NatsServer::Start();
  ASSERT_TRUE(own_nats.ok());
  int grpc_port = *testing::PickFreePort();
  std::string cfg = dir->path() + "/anomaly.yaml";
  std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                     << "\n  http_listen: 127.0.0.1:0\nnats:\n  servers: [" << (*own_nats)->url() << "]\n";
  ASSERT_TRUE((*own_nats)->Stop().ok());
  // The service starts although NATS is down, and says so.
  auto p = testing::Process::Spawn({BinDir() + "/anomaly", "--config", cfg});
  ASSERT_TRUE(p.ok());
  cli::ControlClient client(absl::StrCat("127.0.0.1:", grpc_port), absl::Seconds(2));
  ASSERT_TRUE(testing::WaitFor([&] { return client.Health().ok(); }, absl::Seconds(30))) << (*p)->Output();
  auto st = client.GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->dependencies(0).healthy());
  ASSERT_TRUE((*own_nats)->Resume().ok());
  EXPECT_TRUE(testing::WaitFor([&] { auto s = client.GetStatus(); return s.ok() && s->dependencies(0).healthy(); },
                               absl::Seconds(30)))
      << (*p)->Output();
  ASSERT_TRUE((*p)->Signal(SIGTERM).ok());
  EXPECT_EQ(*(*p)->Wait(absl::Seconds(20)), 0);
}

struct BadConfigCase {
  const char* name;
  const char* yaml;       // nullptr: the file does not exist
  const char* env;        // optional NAME=VALUE
  const char* expected;   // substring of the one-line error
};

class BadConfig : public ::testing::TestWithParam<BadConfigCase> {};

TEST_P(BadConfig, FailsStartupWithOneLineNamingIt) {
  const auto& c = GetParam();
  auto dir = testing::TempDir::Create("badcfg");
  std::string path = dir->path() + "/ingest.yaml";
  if (c.yaml) std::ofstream(path) << c.yaml;
  std::vector<std::string> argv = {"/usr/bin/env"};
  if (c.env) argv.push_back(c.env);
  argv.insert(argv.end(), {BinDir() + "/ingest", "--config", path, "--check-config"});
  auto r = testing::RunProcess(argv, absl::Seconds(20));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2) << r->output;
  std::string expected = absl::StrReplaceAll(c.expected, {{"$FILE", path}});
  EXPECT_THAT(r->output, HasSubstr(expected));
  std::vector<std::string> lines = absl::StrSplit(r->output, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << r->output;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BadConfig,
    ::testing::Values(
        BadConfigCase{"missing_file", nullptr, nullptr, "ingest: config $FILE: cannot open file"},
        BadConfigCase{"unknown_key", "nats:\n  servers: [nats://x:1]\n  max_pendng_acks: 3\n", nullptr,
                      "ingest: config $FILE:3:3: key 'nats.max_pendng_acks': unknown key"},
        BadConfigCase{"wrong_type", "server:\n  shutdown_grace_s: soon\n", nullptr,
                      "ingest: config $FILE:2:21: key 'server.shutdown_grace_s': expected an unsigned integer, got 'soon'"},
        BadConfigCase{"bad_value", "server:\n  grpc_listen: nowhere\n", nullptr,
                      "key 'server.grpc_listen': listen address 'nowhere' is not host:port"},
        BadConfigCase{"bad_env", "log:\n  level: info\n", "STREAM_ADMIN_NATS_SERVERZ=nats://x:1",
                      "ingest: environment STREAM_ADMIN_NATS_SERVERZ='nats://x:1': names no config key"},
        BadConfigCase{"bad_stream", "streams:\n  - name: MD RAW\n    subjects: [md.raw.>]\n", nullptr,
                      "key 'streams[0].name'"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Cli, LocalStackBootsEverythingAndReportsHealthy) {
  auto dir = testing::TempDir::Create("local");
  int base = *testing::PickFreePort();
  int http_base = *testing::PickFreePort();
  auto r = testing::RunProcess({BinDir() + "/stream-admin", "local", "--once", "--speed", "0", "--run-dir", dir->path(),
                                "--grpc-base-port", std::to_string(base), "--http-base-port",
                                std::to_string(http_base)},
                               absl::Seconds(180));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->output;
  EXPECT_THAT(r->output, HasSubstr("all services healthy"));
  // The bundled recordings are replayed and canonical messages arrive on NATS.
  EXPECT_THAT(r->output, ::testing::ContainsRegex("-- [1-9][0-9]* trades, [1-9][0-9]* book updates"));
  EXPECT_THAT(r->output, ::testing::ContainsRegex("md.trade [a-z-]+ +[a-z-]+ [A-Z0-9]+-[A-Z0-9]+ trade "));
  // warehouse-sink stores trades and CDC rows.
  EXPECT_THAT(r->output, ::testing::ContainsRegex("warehouse \\(written by warehouse-sink\\): [1-9][0-9]* trades in "
                                                  "md.trades, 1 CDC row\\(s\\) of public.local_check"));
  for (const char* s : {"ingest", "normalizer", "cdc-bridge", "warehouse-sink", "anomaly", "admin"})
    EXPECT_THAT(r->output, ::testing::ContainsRegex(std::string(s) + " +127.0.0.1:[0-9]+ +RUNNING"));
}

}  // namespace
}  // namespace sa
