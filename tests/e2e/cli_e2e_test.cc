// stream-admin's commands against the real services: the admin API in token
// mode (users, roles, keys, audit, NATS credentials, logout, exit codes and
// hints), and the pipeline commands, `monitor` (--once and full-screen under
// tmux) and `start`/`stop` against a background local stack.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "admin_stack.h"
#include "auth/nkeys.h"
#include "cli/control_client.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAdminPassword[] = "correct horse battery staple";

std::string Cli() { return testing::BinDir() + "/stream-admin"; }

testing::ProcessResult RunCli(std::vector<std::string> args, absl::Duration timeout = absl::Seconds(60)) {
  args.insert(args.begin(), Cli());
  auto r = testing::RunProcess(args, timeout);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : testing::ProcessResult{-1, ""};
}

class CliAdmin : public testing::AdminStackSuite<CliAdmin> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(CreateStack("cli_admin"));
    admin_ = new testing::Service(
        stack_->StartAdmin(kAdminPassword, absl::StrCat(stack_->AdminYaml(), testing::NatsJwtYaml())));
  }
  static void TearDownTestSuite() {
    delete admin_;
    delete stack_;
  }
  // `stream-admin login --json` as admin: {access_token, refresh_token, ...}.
  static nlohmann::json Login() {
    setenv("STREAM_ADMIN_PASSWORD", kAdminPassword, 1);
    auto r = RunCli({"login", "-t", admin_->target, "-u", "admin", "--json"});
    unsetenv("STREAM_ADMIN_PASSWORD");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output, nullptr, false);
  }
  // Runs a command as admin against the admin service.
  static testing::ProcessResult As(const std::string& token, std::vector<std::string> args) {
    args.insert(args.end(), {"-t", admin_->target});
    args.insert(args.begin(), {"--token", token});
    return RunCli(args);
  }

  static testing::Service* admin_;
};
testing::Service* CliAdmin::admin_ = nullptr;

TEST_F(CliAdmin, ManagesUsersRolesAndKeysWithTablesJsonAndExitCodes) {
  const std::string token = Login()["access_token"];
  ASSERT_FALSE(token.empty());

  // Roles: put, listed in the table and the JSON, deleted.
  auto r = As(token, {"roles", "put", "cli_reader", "-p", "md:read", "-p", "views:read", "--description", "reads"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stored role cli_reader (2 permissions)"));
  r = As(token, {"roles", "list"});
  EXPECT_THAT(r.output, ContainsRegex("cli_reader +md:read,views:read"));
  r = As(token, {"roles", "put", "bad", "-p", "nocolon"});
  EXPECT_EQ(r.exit_code, 2) << r.output;

  // Users: create with a role, listed, updated, roles set, password set.
  setenv("STREAM_ADMIN_NEW_PASSWORD", "a long enough password 1", 1);
  r = As(token, {"users", "create", "bob", "--display-name", "Bob B", "-r", "cli_reader"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("created user bob (roles: cli_reader)"));
  r = As(token, {"users", "create", "bob"});
  EXPECT_EQ(r.exit_code, 1) << r.output;  // already exists: refused
  r = As(token, {"users", "list"});
  EXPECT_THAT(r.output, ContainsRegex("USERNAME +DISPLAY NAME +ROLES"));
  EXPECT_THAT(r.output, ContainsRegex("bob +Bob B +cli_reader +active"));
  r = As(token, {"users", "list", "--json"});
  auto users = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_TRUE(users.is_object()) << r.output;
  std::vector<std::string> names;
  for (const auto& u : users["users"]) names.push_back(u["username"]);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"admin", "bob"}));
  r = As(token, {"users", "update", "bob", "--disable"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = As(token, {"users", "get", "bob", "--json"});
  EXPECT_EQ(nlohmann::json::parse(r.output, nullptr, false).value("disabled", false), true) << r.output;
  EXPECT_EQ(nlohmann::json::parse(r.output, nullptr, false).value("display_name", ""), "Bob B") << r.output;
  r = As(token, {"users", "update", "bob", "--enable"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = As(token, {"users", "set-roles", "bob"});
  EXPECT_THAT(r.output, HasSubstr("updated user bob (roles: none)"));
  setenv("STREAM_ADMIN_NEW_PASSWORD", "another long password 2", 1);
  r = As(token, {"users", "set-password", "bob"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  unsetenv("STREAM_ADMIN_NEW_PASSWORD");
  ASSERT_TRUE(testing::PasswordLogin(admin_->channel, "bob", "another long password 2").ok());

  // Not found: 3.
  r = As(token, {"users", "get", "nobody"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  r = As(token, {"users", "delete", "bob"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = As(token, {"users", "get", "bob"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  r = As(token, {"roles", "delete", "cli_reader"});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // Keys: the secret printed once logs in; revoked, it does not.
  r = As(token, {"keys", "create", "ci", "-p", "md:read"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = As(token, {"keys", "create", "ci2", "--json"});
  auto key = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_TRUE(key.is_object()) << r.output;
  const std::string id = key["key"]["id"], secret = key["secret"];
  r = As(token, {"keys", "list"});
  EXPECT_THAT(r.output, ContainsRegex(id + " +ci2 +[^ ]+ +active"));
  EXPECT_THAT(r.output, ContainsRegex(" ci +[^ ]+ +active .* md:read"));
  r = As(token, {"keys", "revoke", id});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = As(token, {"keys", "list"});
  EXPECT_THAT(r.output, ContainsRegex(id + " +ci2 +[^ ]+ +revoked"));

  // Audit, filtered: the admin's logins, and nothing of another actor.
  r = As(token, {"audit", "list", "--actor", "admin", "--action", "auth.login", "--since", "10m", "-n", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ContainsRegex("\n[0-9-]+ [0-9:]+ +admin +auth.login +admin +OK +"));
  EXPECT_THAT(r.output, Not(HasSubstr("bob")));
  r = As(token, {"audit", "list", "--json", "-n", "3"});
  EXPECT_EQ(nlohmann::json::parse(r.output, nullptr, false)["entries"].size(), 3u) << r.output;
  r = As(token, {"audit", "list", "--since", "yesterday-ish"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST_F(CliAdmin, NatsCredentialsAreWrittenOwnerOnly) {
  const std::string token = Login()["access_token"];
  auto dir = testing::TempDir::Create("cli_creds");
  const std::string path = dir->path() + "/me.creds";
  auto r = As(token, {"nats", "creds", "-o", path});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("inbox prefix: _INBOX_"));
  std::ifstream in(path);
  std::string creds((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(creds, HasSubstr("-----BEGIN NATS USER JWT-----"));
  EXPECT_THAT(creds, HasSubstr("NKEY SEED"));
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  r = As(token, {"nats", "creds", "-u", "nobody"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
}

TEST_F(CliAdmin, ErrorsSayWhatToDo) {
  // No token: log in.
  auto r = RunCli({"users", "list", "-t", admin_->target});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("log in first"));
  // Nothing listening: is the service up, which -t.
  const std::string nowhere = absl::StrCat("127.0.0.1:", *testing::PickFreePort());
  r = RunCli({"users", "list", "-t", nowhere, "--timeout", "3"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("is the admin service up at " + nowhere));
  // Bad usage: 2.
  r = RunCli({"users", "frobnicate"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunCli({"book", "kraken"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunCli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("Exit codes: 0 ok; 1"));
}

TEST_F(CliAdmin, LogoutRevokesTheRefreshAndAccessTokens) {
  auto login = Login();
  const std::string access = login["access_token"], refresh = login["refresh_token"];
  ASSERT_FALSE(refresh.empty());
  auto r = As(access, {"users", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = As(access, {"logout", "--refresh-token", refresh});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("refresh token and access token revoked"));
  // The refresh token no longer refreshes; the access token is refused.
  streamadmin::admin::v1::RefreshRequest req;
  req.set_refresh_token(refresh);
  streamadmin::admin::v1::TokenResponse resp;
  auto st = streamadmin::admin::v1::Auth::NewStub(admin_->channel)->Refresh(testing::Ctx("").get(), req, &resp);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(testing::WaitFor([&] { return As(access, {"users", "list"}).exit_code == 1; }, absl::Seconds(10)));
}

// ------------------------------------------------- the background stack ---

std::string Capture(const std::string& session) {
  auto r = testing::RunProcess({"tmux", "capture-pane", "-p", "-t", session}, absl::Seconds(10));
  return r.ok() ? r->output : "";
}

TEST(CliStack, StartMonitorPipelineCommandsAndStop) {
  auto dir = testing::TempDir::Create("cli_stack");
  // Metrics on gRPC port + 2000, the monitor's default convention; every
  // port of the stack free when chosen.
  int base = 0;
  for (int i = 0; i < 50 && base == 0; ++i) {
    int p = *testing::PickFreePort();
    bool all_free = p > 12000 && p < 60000;
    for (int k = 1; k <= 7 && all_free; ++k) all_free = testing::PortIsFree(p + k) && testing::PortIsFree(p + 2000 + k);
    if (all_free) base = p;
  }
  ASSERT_NE(base, 0);
  const std::string run_dir = dir->path() + "/stack";
  auto r = RunCli({"start", "--run-dir", run_dir, "--speed", "0", "--grpc-base-port", std::to_string(base),
                   "--http-base-port", std::to_string(base + 2000)},
                  absl::Seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ContainsRegex("ingest +127.0.0.1:[0-9]+ +RUNNING"));
  EXPECT_THAT(r.output, HasSubstr("stream-admin stop --run-dir " + run_dir));
  EXPECT_THAT(r.output, ContainsRegex("first administrator: stream-admin init --dsn \"host=127.0.0.1 port=[0-9]+ "
                                      "user=postgres dbname=admin\""));
  EXPECT_TRUE(std::filesystem::exists(run_dir + "/stack.pid"));
  struct StopAtEnd {
    std::string dir;
    ~StopAtEnd() {
      // A failure says what the services said last.
      if (::testing::Test::HasFailure()) {
        std::error_code ec;
        for (const auto& f : std::filesystem::directory_iterator(dir, ec))
          if (f.path().extension() == ".log") {
            auto tail = testing::RunProcess({"tail", "-n", "25", f.path().string()}, absl::Seconds(10));
            std::fprintf(stderr, "---- %s (last lines)\n%s", f.path().c_str(), tail.ok() ? tail->output.c_str() : "");
          }
      }
      (void)testing::RunProcess({Cli(), "stop", "--run-dir", dir}, absl::Seconds(90));
    }
  } stop_at_end{run_dir};
  // A second start is refused while it runs.
  EXPECT_EQ(RunCli({"start", "--run-dir", run_dir}).exit_code, 1);

  // Where each service listens, as `start` printed it (a service whose port
  // was taken meanwhile is started on other free ports).
  const char* const kNames[] = {"",        "ingest", "normalizer",     "cdc-bridge",
                                "anomaly", "admin",  "warehouse-sink", "views"};
  std::map<std::string, std::string> listening;
  {
    const std::regex row("(^|\n)([a-z-]+) +(127\\.0\\.0\\.1:[0-9]+) +RUNNING");
    for (auto it = std::sregex_iterator(r.output.begin(), r.output.end(), row); it != std::sregex_iterator(); ++it)
      listening[(*it)[2]] = (*it)[3];
  }
  auto target = [&](int i) {
    auto it = listening.find(kNames[i]);
    return it != listening.end() ? it->second : absl::StrCat("127.0.0.1:", base + i);
  };
  for (int i = 1; i <= 7; ++i) EXPECT_TRUE(listening.count(kNames[i])) << kNames[i] << " not in\n" << r.output;
  std::vector<std::string> all;
  for (int i = 1; i <= 7; ++i) all.insert(all.end(), {"-t", target(i)});

  // Ingest sources.
  r = RunCli({"sources", "list", "-t", target(1)});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ContainsRegex("replay-kraken +replay +(kraken +)?running"));
  // Venues and a book from the normalizer, once it has one.
  std::string symbol;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto v = RunCli({"venues", "-t", target(2), "--json"});
        auto j = nlohmann::json::parse(v.output, nullptr, false);
        if (!j.is_object()) return false;
        for (const auto& venue : j.value("venues", nlohmann::json::array()))
          if (venue.value("venue", "") == "kraken" && venue.value("books", 0) > 0 && !venue["symbols"].empty())
            symbol = venue["symbols"][0];
        return !symbol.empty();
      },
      absl::Seconds(60)));
  r = RunCli({"venues", "-t", target(2)});
  EXPECT_THAT(r.output, ContainsRegex("kraken +[1-9][0-9]* "));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        r = RunCli({"book", "kraken", symbol, "-t", target(2), "-d", "5"});
        return r.exit_code == 0 && r.output.find("BID SIZE") != std::string::npos &&
               r.output.find("RESYNCING") == std::string::npos;
      },
      absl::Seconds(60)))
      << r.output;
  EXPECT_THAT(r.output, ContainsRegex("kraken " + symbol + "  sequence [0-9]+"));
  EXPECT_THAT(r.output, ContainsRegex("\n[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+\n"));
  EXPECT_THAT(r.output, HasSubstr("spread "));
  EXPECT_EQ(RunCli({"book", "nowhere", "XXX-YYY", "-t", target(2)}).exit_code, 3);
  EXPECT_EQ(RunCli({"gaps", "-t", target(2)}).exit_code, 0);
  // CDC and anomaly.
  r = RunCli({"cdc", "connectors", "-t", target(3)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ContainsRegex("SERVER +SLOT"));
  r = RunCli({"cdc", "sink", "-t", target(6)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("sink enabled"));
  r = RunCli({"anomaly", "models", "-t", target(4)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ContainsRegex("\ntrade +"));
  EXPECT_EQ(RunCli({"anomaly", "recent", "-t", target(4), "--json"}).exit_code, 0);
  EXPECT_EQ(RunCli({"anomaly", "threshold", "-t", target(4)}).exit_code, 2);

  // monitor --once: every service, non-zero throughput, the books.
  std::vector<std::string> once = {"monitor", "--once"};
  once.insert(once.end(), all.begin(), all.end());
  r = RunCli(once);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* s : {"ingest", "normalizer", "cdc-bridge", "warehouse-sink", "anomaly", "admin", "views"})
    EXPECT_THAT(r.output, ContainsRegex(std::string("\n") + s + " +127.0.0.1:[0-9]+ +RUNNING +ready")) << s;
  EXPECT_THAT(r.output, ContainsRegex("\ningest .* [1-9][0-9.]*[kM]?/s .*raw frames in"));
  EXPECT_THAT(r.output, ContainsRegex("\nnormalizer .* [1-9][0-9.]*[kM]?/s .*canonical msgs out"));
  EXPECT_THAT(r.output, ContainsRegex("\nkraken +[1-9]"));
  EXPECT_THAT(r.output, HasSubstr("== CONSUMER LAG"));

  // Full screen under tmux: renders, reacts to a key, survives a killed service.
  const std::string session = absl::StrCat("sa-monitor-", getpid());
  std::string cmd = Cli() + " monitor";
  for (const auto& a : all) cmd += " " + a;
  auto t = testing::RunProcess({"tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", cmd},
                               absl::Seconds(10));
  ASSERT_TRUE(t.ok() && t->exit_code == 0) << (t.ok() ? t->output : "");
  struct KillSession {
    std::string s;
    ~KillSession() { (void)testing::RunProcess({"tmux", "kill-session", "-t", s}, absl::Seconds(10)); }
  } kill_session{session};
  std::string screen;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        screen = Capture(session);
        return screen.find("> SERVICES") != std::string::npos && screen.find("7/7 services up") != std::string::npos;
      },
      absl::Seconds(20)))
      << screen;
  EXPECT_THAT(screen, HasSubstr("CONSUMER LAG"));
  EXPECT_THAT(screen, HasSubstr("LATEST ANOMALIES"));
  ASSERT_TRUE(testing::RunProcess({"tmux", "send-keys", "-t", session, "Tab"}, absl::Seconds(10)).ok());
  EXPECT_TRUE(
      testing::WaitFor([&] { return Capture(session).find("> CONSUMER LAG") != std::string::npos; }, absl::Seconds(10)))
      << Capture(session);
  // Kill the anomaly service (its pid from GetStatus: instance = host:pid).
  auto status = cli::ControlClient(target(4)).GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(status->instance().substr(status->instance().rfind(':') + 1), &pid))
      << status->instance();
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  // Back to the services pane (it shows every service when selected).
  ASSERT_TRUE(testing::RunProcess({"tmux", "send-keys", "-t", session, "p"}, absl::Seconds(10)).ok());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        screen = Capture(session);
        return screen.find("6/7 services up") != std::string::npos && screen.find("> SERVICES") != std::string::npos &&
               std::regex_search(screen, std::regex("anomaly +" + target(4) + " +DOWN"));
      },
      absl::Seconds(20)))
      << screen;
  // Still refreshing: the clock in the header moves on.
  const std::string header = screen.substr(0, screen.find('\n'));
  EXPECT_TRUE(testing::WaitFor([&] { return Capture(session).substr(0, header.size()) != header; }, absl::Seconds(10)));
  auto bad = RunCli(once);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, ContainsRegex(target(4) + " +DOWN"));
  ASSERT_TRUE(testing::RunProcess({"tmux", "send-keys", "-t", session, "q"}, absl::Seconds(10)).ok());

  // stop: clean, the pid file gone, the services gone.
  r = RunCli({"stop", "--run-dir", run_dir}, absl::Seconds(90));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stopped"));
  EXPECT_FALSE(std::filesystem::exists(run_dir + "/stack.pid"));
  EXPECT_FALSE(cli::ControlClient(target(2), absl::Seconds(1)).Health().ok());
  EXPECT_EQ(RunCli({"stop", "--run-dir", run_dir}).exit_code, 3);
}

}  // namespace
}  // namespace sa
