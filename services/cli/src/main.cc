// stream-admin: the command line for operators.
//   stream-admin status  [--target host:port ...]   every service's state and dependencies
//   stream-admin health  --target host:port          exit 0 when SERVING
//   stream-admin config  --target host:port          effective config (secrets redacted)
//   stream-admin pause|resume|drain --target host:port
//   stream-admin local   [--once] [--live]           run the whole stack on this machine
//   stream-admin tail    [SUBJECT] [--summary]       watch canonical messages on NATS
//   stream-admin init    --dsn DSN [--user NAME]     create the first administrator
//   stream-admin login   --target host:port --user NAME   print an access token
//   stream-admin keygen                              signing key + NATS seeds as config YAML
//   stream-admin query   'DSL' [--json|--csv|--explain|--validate] | --catalog   warehouse queries
//   stream-admin views   create|replace|list|get|drop|tail ...   continuous views (docs/VIEWS.md)
//   stream-admin users|roles|keys|audit|nats|sources|cdc|anomaly <verb>, book, gaps, venues, logout
//                                                    every gRPC API (cli/api_commands.h)
//   stream-admin monitor [--once]                    live full-screen view of the whole system
//   stream-admin start|stop                          the local stack in the background
//   stream-admin ask     "question" [--dry-run] [--json|--csv]   plain words → DSL → rows (docs/ASK.md)
// With token auth on, pass --token or STREAM_ADMIN_TOKEN (from `login`).
// Exit codes: 0 ok, 1 refused/failed/unreachable, 2 bad usage, 3 not found.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>

#include "cli/admin_commands.h"
#include "cli/api_commands.h"
#include "cli/background.h"
#include "cli/ask_command.h"
#include "cli/control_client.h"
#include "cli/local_stack.h"
#include "cli/monitor.h"
#include "cli/query_command.h"
#include "cli/rpc.h"
#include "cli/tail.h"
#include "cli/views_command.h"
#include "common/version.h"

namespace {

using sa::cli::ControlClient;

const std::vector<std::string> kDefaultTargets = {
    sa::cli::kIngestTarget, sa::cli::kNormalizerTarget,    sa::cli::kCdcBridgeTarget, sa::cli::kAnomalyTarget,
    sa::cli::kAdminTarget,  sa::cli::kWarehouseSinkTarget, sa::cli::kViewsTarget};

std::string g_token;                                // --token / STREAM_ADMIN_TOKEN
std::shared_ptr<grpc::ChannelCredentials> g_creds;  // --ca-file etc.; null: plaintext

int Status(const std::vector<std::string>& targets) {
  int rc = 0;
  std::printf("%-11s %-21s %-9s %-8s %s\n", "SERVICE", "TARGET", "STATE", "UPTIME", "DEPENDENCIES");
  for (const auto& t : targets) {
    auto st = ControlClient(t, absl::Seconds(5), g_token, g_creds).GetStatus();
    if (!st.ok()) {
      std::printf("%-11s %-21s %-9s %-8s %s\n", "?", t.c_str(), "DOWN", "-",
                  std::string(st.status().message()).c_str());
      rc = 1;
      continue;
    }
    std::string deps;
    for (const auto& d : st->dependencies()) {
      deps += (deps.empty() ? "" : ", ") + d.name() + (d.healthy() ? " ok" : " DOWN (" + d.detail() + ")");
      if (!d.healthy()) rc = 1;
    }
    std::printf("%-11s %-21s %-9s %-8s %s\n", st->service().c_str(), t.c_str(),
                sa::cli::StateLabel(st->state()).c_str(), (std::to_string(st->uptime_s()) + "s").c_str(), deps.c_str());
  }
  return rc;
}

template <typename F>
int Report(const std::string& target, F&& call) {
  auto st = call(ControlClient(target, absl::Seconds(5), g_token, g_creds));
  if (!st.ok()) {
    std::fprintf(stderr, "stream-admin: %s\n", std::string(st.status().message()).c_str());
    return 1;
  }
  std::printf("%s: %s\n", target.c_str(), sa::cli::StateLabel(*st).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stream-admin: drive the Stream-Admin services"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(sa::kVersion));
  app.footer(
      "Exit codes: 0 ok; 1 the service refused or failed, or is unreachable (the message says what to do);\n"
      "            2 bad usage; 3 not found.\n"
      "Nouns take verbs: stream-admin users list, stream-admin book kraken BTC-USD, ... (--help on each).");

  app.add_option("--token", g_token, "access token (stream-admin login)")->envname("STREAM_ADMIN_TOKEN");
  std::string ca_file, cert_file, key_file;
  app.add_option("--ca-file", ca_file, "TLS: CA that signed the services' certificates")
      ->envname("STREAM_ADMIN_CA_FILE");
  app.add_option("--cert-file", cert_file, "TLS: client certificate")->envname("STREAM_ADMIN_CERT_FILE");
  app.add_option("--key-file", key_file, "TLS: client key")->envname("STREAM_ADMIN_KEY_FILE");
  std::vector<std::string> targets;
  std::string target;
  int drain_timeout_s = 0;

  auto* status = app.add_subcommand("status", "state and dependencies of each service");
  status->add_option("-t,--target", targets, "host:port of a service (repeatable); default: the local stack");

  auto add_target = [&](CLI::App* cmd) {
    cmd->add_option("-t,--target", target, "host:port of the service")->required();
  };
  auto* health = app.add_subcommand("health", "grpc.health.v1 check; exit 0 when SERVING");
  add_target(health);
  auto* config = app.add_subcommand("config", "effective configuration of a service (secrets redacted)");
  add_target(config);
  auto* pause = app.add_subcommand("pause", "stop taking new input");
  add_target(pause);
  auto* resume = app.add_subcommand("resume", "resume after pause");
  add_target(resume);
  auto* drain = app.add_subcommand("drain", "finish in-flight work and stop taking input");
  add_target(drain);
  drain->add_option("--timeout", drain_timeout_s, "seconds (0: the service's default)");

  sa::cli::LocalStackOptions local_opts;
  auto* local = app.add_subcommand("local", "run nats-server, PostgreSQL and all services on this machine");
  local->add_flag("--once", local_opts.once, "exit after reporting health (for checks)");
  local->add_option("--run-dir", local_opts.run_dir, "configs and logs (default ./.stream-admin-local)");
  local->add_option("--bin-dir", local_opts.bin_dir, "where the service binaries are (default: beside stream-admin)");
  local->add_option("--grpc-base-port", local_opts.grpc_base_port, "service i listens on base+i (default 7100)");
  local->add_option("--http-base-port", local_opts.http_base_port, "metrics of service i on base+i (default 9100)");
  local->add_option("--timeout", local_opts.timeout_s, "seconds to wait for health and data (default 60)");
  local->add_flag("--live", local_opts.live, "connect to the exchanges' public feeds instead of replaying recordings");
  local->add_option("--speed", local_opts.speed, "replay pace: 1 = recorded, N = N x faster, 0 = as fast as possible");
  local->add_option("--samples-dir", local_opts.samples_dir, "recordings to replay (default data/samples)");

  auto add_stack_options = [](CLI::App* cmd, sa::cli::LocalStackOptions& lo) {
    cmd->add_option("--run-dir", lo.run_dir, "configs, logs, pid file (default ./.stream-admin-local)");
    cmd->add_option("--bin-dir", lo.bin_dir, "where the service binaries are (default: beside stream-admin)");
    cmd->add_option("--grpc-base-port", lo.grpc_base_port, "service i listens on base+i (default 7100)");
    cmd->add_option("--http-base-port", lo.http_base_port, "metrics of service i on base+i (default 9100)");
    cmd->add_option("--timeout", lo.timeout_s, "seconds to wait for health (default 60)");
    cmd->add_flag("--live", lo.live, "the exchanges' public feeds instead of the recordings");
    cmd->add_option("--speed", lo.speed, "replay pace: 1 = recorded, N = N x faster, 0 = as fast as possible");
    cmd->add_option("--samples-dir", lo.samples_dir, "recordings to replay (default data/samples)");
  };
  sa::cli::LocalStackOptions start_opts;
  auto* start = app.add_subcommand("start", "the local stack in the background: pid file, logs, URLs printed");
  add_stack_options(start, start_opts);
  std::string stop_run_dir;
  int stop_timeout_s = 60;
  auto* stop = app.add_subcommand("stop", "stop the background local stack cleanly");
  stop->add_option("--run-dir", stop_run_dir, "as given to start (default ./.stream-admin-local)");
  stop->add_option("--timeout", stop_timeout_s, "seconds to wait before SIGKILL (default 60)");
  sa::cli::MonitorOptions monitor_opts;
  auto* monitor = app.add_subcommand("monitor", "full-screen live view of every service (q quits, Tab moves)");
  monitor->add_option("-t,--target", monitor_opts.targets,
                      "host:port of a service (repeatable); default: the local stack");
  monitor->add_flag("--once", monitor_opts.once, "print one plain-text screen and exit (1 when a service is down)");
  monitor->add_option("--interval", monitor_opts.interval_s, "seconds between refreshes (default 1)");
  monitor->add_option("--http-offset", monitor_opts.http_offset, "metrics port = gRPC port + this (default 2000)");

  sa::cli::TailOptions tail_opts;
  auto* tail = app.add_subcommand("tail", "print canonical messages from NATS as JSON (or --summary lines)");
  tail->add_option("subject", tail_opts.subject, "subject or wildcard, e.g. 'md.trade.kraken.>' (default md.>)");
  tail->add_option("-s,--server", tail_opts.server, "NATS URL (default nats://127.0.0.1:4222)");
  tail->add_option("-n,--limit", tail_opts.limit, "exit after N messages");
  tail->add_flag("--summary", tail_opts.summary, "one readable line per message instead of JSON");

  sa::cli::InitOptions init_opts;
  auto* init =
      app.add_subcommand("init", "create the first administrator (password: STREAM_ADMIN_INIT_PASSWORD or prompt)");
  init->add_option("--dsn", init_opts.dsn, "admin database (libpq connection string)")->required();
  init->add_option("--user", init_opts.username, "administrator name (default admin)");
  sa::cli::LoginOptions login_opts;
  auto* login = app.add_subcommand("login", "print an access token (password: STREAM_ADMIN_PASSWORD or prompt)");
  login->add_option("-t,--target", login_opts.target, "the admin service (default 127.0.0.1:7105)");
  login->add_option("-u,--user", login_opts.username, "username")->required();
  login->add_flag("--json", login_opts.json, "the whole response: access and refresh tokens, expiry, permissions");
  sa::cli::QueryOptions query_opts;
  auto* query =
      app.add_subcommand("query", "run a DSL query over the warehouse (docs/DSL.md) through the admin service");
  query->add_option("query", query_opts.query, "the query, e.g. 'md.trades | summarize n = count() by venue'");
  query->add_option("-t,--target", query_opts.target, "the admin service (default 127.0.0.1:7105)");
  query->add_flag("--json", query_opts.json, "rows as a JSON array of objects (decimals as strings)");
  query->add_flag("--csv", query_opts.csv, "rows as CSV with a header line");
  query->add_flag("--explain", query_opts.explain, "print the SQL, its parameters and PostgreSQL's plan");
  query->add_flag("--validate", query_opts.validate, "check the query without running it");
  query->add_flag("--catalog", query_opts.catalog, "list the tables you may query, with their fields");
  query->add_option("--max-rows", query_opts.max_rows, "return at most N rows (default: the server's limit)");
  query->add_option("--timeout", query_opts.timeout_s, "seconds before the call is given up (default 60)");
  sa::cli::AskOptions ask_opts;
  auto* ask = app.add_subcommand("ask", "a question in plain words, translated into the DSL by the configured model");
  ask->add_option("question", ask_opts.question, "e.g. \"what was BTC's VWAP on each venue over the last hour?\"");
  ask->add_option("-t,--target", ask_opts.target, "the admin service (default 127.0.0.1:7105)");
  ask->add_flag("--dry-run", ask_opts.dry_run, "print the DSL (and explanation) only; nothing runs");
  ask->add_flag("--json", ask_opts.json, "rows as a JSON array of objects (the DSL goes to stderr)");
  ask->add_flag("--csv", ask_opts.csv, "rows as CSV (the DSL goes to stderr)");
  ask->add_option("--max-rows", ask_opts.max_rows, "return at most N rows (default: the server's limit)");
  ask->add_option("--timeout", ask_opts.timeout_s, "seconds before the call is given up (default 300)");
  sa::cli::ViewsOptions views_opts;
  auto* views = app.add_subcommand("views", "continuous views (docs/VIEWS.md) through the admin service");
  views->add_option("action", views_opts.action, "create, replace, list, get, drop or tail")->required();
  views->add_option("name", views_opts.name, "the view's name ([a-z0-9_]{1,64}; outputs on view.<name>)");
  views->add_option("statement", views_opts.statement, "create/replace: the DSL filter or windowed aggregate");
  views->add_option("-t,--target", views_opts.target, "the admin service (default 127.0.0.1:7105)");
  views->add_option("--emit", views_opts.emit, "windowed views: final (once per closed window) or changes");
  views->add_option("--from", views_opts.from, "where the version starts: now, beginning, seq:N or time:RFC3339");
  views->add_option("--memory-limit", views_opts.memory_limit_bytes, "window state bytes (0: the service's default)");
  views->add_flag("--json", views_opts.json, "JSON instead of a table");
  views->add_option("-s,--server", views_opts.server, "tail: NATS URL (default nats://127.0.0.1:4222)");
  views->add_option("-n,--limit", views_opts.limit, "tail: exit after N messages");
  auto* keygen = app.add_subcommand("keygen", "new token signing key and NATS operator/account seeds (config YAML)");
  sa::cli::GlobalOptions globals;
  std::function<int()> api_command;
  sa::cli::AddApiCommands(app, &globals, &api_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse error is bad usage.
    return app.exit(e) == 0 ? 0 : sa::cli::kExitUsage;
  }
  if (auto c = sa::cli::ClientCredentials(ca_file, cert_file, key_file); c.ok()) {
    g_creds = *c;
    login_opts.credentials = *c;
    query_opts.credentials = *c;
    views_opts.credentials = *c;
    globals.credentials = *c;
    ask_opts.credentials = *c;
  } else {
    std::fprintf(stderr, "stream-admin: %s\n", std::string(c.status().message()).c_str());
    return 2;
  }
  // Library connection chatter is for service logs; the CLI prints what matters.
  spdlog::set_level(spdlog::level::warn);
  globals.token = g_token;
  if (api_command) return api_command();

  if (*status) return Status(targets.empty() ? kDefaultTargets : targets);
  if (*health) {
    auto st = ControlClient(target, absl::Seconds(5), g_token, g_creds).Health();
    std::printf("%s: %s\n", target.c_str(), st.ok() ? "SERVING" : std::string(st.message()).c_str());
    return st.ok() ? 0 : 1;
  }
  if (*config) {
    auto json = ControlClient(target, absl::Seconds(5), g_token, g_creds).GetConfig();
    if (!json.ok()) {
      std::fprintf(stderr, "stream-admin: %s\n", std::string(json.status().message()).c_str());
      return 1;
    }
    std::printf("%s\n", json->c_str());
    return 0;
  }
  if (*pause) return Report(target, [](ControlClient c) { return c.Pause(); });
  if (*resume) return Report(target, [](ControlClient c) { return c.Resume(); });
  if (*drain) return Report(target, [&](ControlClient c) { return c.Drain(absl::Seconds(drain_timeout_s)); });
  if (*local) return sa::cli::RunLocalStack(local_opts);
  if (*start) return sa::cli::RunStart(start_opts);
  if (*stop) return sa::cli::RunStop(stop_run_dir, stop_timeout_s);
  if (*monitor) {
    monitor_opts.token = g_token;
    monitor_opts.credentials = g_creds;
    return sa::cli::RunMonitor(monitor_opts);
  }
  if (*tail) return sa::cli::RunTail(tail_opts);
  if (*init) return sa::cli::RunInit(init_opts);
  if (*login) return sa::cli::RunLogin(login_opts);
  if (*keygen) return sa::cli::RunKeygen();
  if (*query) {
    query_opts.token = g_token;
    return sa::cli::RunQuery(query_opts);
  }
  if (*ask) {
    ask_opts.token = g_token;
    return sa::cli::RunAsk(ask_opts);
  }
  if (*views) {
    views_opts.token = g_token;
    return sa::cli::RunViews(views_opts);
  }
  return 0;
}
