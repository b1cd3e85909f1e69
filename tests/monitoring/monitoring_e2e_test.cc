// The alert rules and dashboards of deploy/monitoring against a real Prometheus
// (Debian's `prometheus`) scraping the whole stack: nats-server, PostgreSQL and
// the six services replaying the bundled recordings.
//   - `stream-admin pause` on ingest makes StreamAdminIngestionStalled pending,
//     then firing (read from /api/v1/alerts); `stream-admin resume` resolves it.
//     The test's copy of the rules only shortens `for:` (the expressions are the
//     shipped ones) and Prometheus scrapes and evaluates every second.
//   - One undecodable raw frame counts (its series existed at 0) and fires
//     StreamAdminDeadLettersGrowing for dlq.normalizer; a killed service fires
//     StreamAdminServiceDown for its job only.
//   - Every metric name in every rule and every dashboard's Prometheus queries is
//     a series that Prometheus holds (/api/v1/series), each dashboard query returns
//     data (/api/v1/query), and each warehouse (SQL) panel runs on the warehouse.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "bus/connection.h"
#include "e2e_util.h"
#include "service_runner.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/suite_servers.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string SourceDir() {
  const char* s = std::getenv("SA_SOURCE_DIR");
  return s ? s : ".";
}
std::string MonitoringDir() { return SourceDir() + "/deploy/monitoring"; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The shipped rules with every `for:` shortened to `for_seconds`: the
// expressions stay exactly as shipped.
std::string RulesWithShortFor(const std::string& rules, int for_seconds) {
  static const std::regex kFor(R"(^(\s+for: )\S+$)");
  std::vector<std::string> lines = absl::StrSplit(rules, '\n');
  for (auto& line : lines) {
    std::smatch m;
    if (std::regex_match(line, m, kFor)) line = absl::StrCat(m[1].str(), for_seconds, "s");
  }
  return absl::StrJoin(lines, "\n");
}

// The `expr:` of every rule, read with Prometheus's own tool: promtool has no
// dump, so the expressions are taken from the YAML the way Prometheus loads it
// (python3-yaml, an independent parser of the file).
std::vector<std::string> RuleExpressions(const std::string& path) {
  auto r = testing::RunProcess({"/usr/bin/python3", "-c",
                                "import sys, yaml, json\n"
                                "doc = yaml.safe_load(open(sys.argv[1]))\n"
                                "print(json.dumps([r['expr'] for g in doc['groups'] for r in g['rules']]))",
                                path});
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->output : r.status().ToString());
  if (!r.ok() || r->exit_code != 0) return {};
  return json::parse(r->output).get<std::vector<std::string>>();
}

struct DashboardQuery {
  std::string dashboard, panel, expr;
  bool sql = false;
};

// Every target of every panel (rows included) of the JSON dashboards.
std::vector<DashboardQuery> DashboardQueries() {
  std::vector<DashboardQuery> out;
  for (const auto& e : fs::directory_iterator(MonitoringDir() + "/grafana/dashboards")) {
    if (e.path().extension() != ".json") continue;
    json d = json::parse(ReadFile(e.path()));
    std::vector<json> panels(d["panels"].begin(), d["panels"].end());
    for (size_t i = 0; i < panels.size(); ++i) {
      const json& p = panels[i];
      if (p.contains("panels"))
        for (const auto& c : p["panels"]) panels.push_back(c);
      if (!p.contains("targets")) continue;
      for (const auto& t : p["targets"]) {
        if (t.contains("expr"))
          out.push_back({e.path().filename(), p["title"], t["expr"], false});
        else if (t.contains("rawSql"))
          out.push_back({e.path().filename(), p["title"], t["rawSql"], true});
      }
    }
  }
  return out;
}

// Metric names a PromQL expression selects: identifiers that are not
// functions, keywords, label names or label values.
std::set<std::string> MetricNames(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"("(\\.|[^"\\])*")"), "\"\"");  // string literals
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");           // label matchers
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");          // range selectors
  expr = std::regex_replace(expr, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"),
                            " ");  // label lists
  static const std::set<std::string> kKeywords = {"and", "or", "unless", "bool", "offset", "inf", "nan"};
  std::set<std::string> names;
  std::regex ident(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?)");
  for (std::sregex_iterator it(expr.begin(), expr.end(), ident), end; it != end; ++it) {
    const std::smatch& m = *it;
    if (m[2].matched) continue;  // a function or aggregation
    // Skip identifiers glued to a number (1e9, 5m): the match starts mid-token.
    if (m.position(0) > 0 && std::isdigit(static_cast<unsigned char>(expr[m.position(0) - 1]))) continue;
    if (kKeywords.count(m[1].str())) continue;
    names.insert(m[1].str());
  }
  return names;
}

class Prometheus {
 public:
  static absl::StatusOr<std::unique_ptr<Prometheus>> Start(const std::string& dir, const std::string& config) {
    auto port = testing::PickFreePort();
    if (!port.ok()) return port.status();
    std::ofstream(dir + "/prometheus.yml") << config;
    auto p = std::unique_ptr<Prometheus>(new Prometheus(*port));
    testing::Process::Options o;
    o.log_file = dir + "/prometheus.log";
    auto proc = testing::Process::Spawn(
        {"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
         absl::StrCat("--web.listen-address=127.0.0.1:", *port)},
        o);
    if (!proc.ok()) return proc.status();
    p->process_ = std::move(*proc);
    if (!testing::WaitFor([&] { return p->process_->Exited() || p->Get("/-/ready").has_value(); }, absl::Seconds(60)) ||
        p->process_->Exited())
      return absl::UnavailableError(absl::StrCat("prometheus not ready:\n", p->process_->Output()));
    return p;
  }

  // The body of a 200 answer, else nullopt.
  std::optional<std::string> Get(const std::string& path, const httplib::Params& params = {}) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(2);
    c.set_read_timeout(10);
    auto r = c.Get(path, params, httplib::Headers{});
    if (!r || r->status != 200) return std::nullopt;
    return r->body;
  }
  // data of an API answer with status "success", else null.
  json Api(const std::string& path, const httplib::Params& params = {}) {
    auto body = Get(path, params);
    if (!body) return nullptr;
    json j = json::parse(*body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return nullptr;
    return j["data"];
  }
  // State of `alert` with label job=`job`: "pending", "firing" or "" (inactive).
  std::string AlertState(const std::string& alert, const std::string& job) {
    json d = Api("/api/v1/alerts");
    if (d.is_null()) return "?";
    for (const auto& a : d["alerts"])
      if (a["labels"].value("alertname", "") == alert && a["labels"].value("job", "") == job) return a["state"];
    return "";
  }
  json Alerts() { return Api("/api/v1/alerts"); }

 private:
  explicit Prometheus(int port) : port_(port) {}
  int port_;
  std::unique_ptr<testing::Process> process_;
};

class MonitoringTest : public testing::NatsPostgresSuite<MonitoringTest> {
 protected:
  static void SetUpTestSuite() {
    auto dir = testing::TempDir::Create("monitoring-e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = new testing::TempDir(std::move(*dir));
    ASSERT_NO_FATAL_FAILURE(NatsPostgresSuite::SetUpTestSuite());
    for (const char* db : {"warehouse", "admin"}) ASSERT_TRUE(pg_->Exec(absl::StrCat("CREATE DATABASE ", db)).ok());
    // A table on the CDC source, so capture has something to carry.
    ASSERT_TRUE(pg_->Exec("CREATE TABLE orders (id int PRIMARY KEY, note text); "
                          "INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 50) g")
                    .ok());

    const std::string wh = absl::StrCat("host=127.0.0.1 port=", pg_->port(), " user=postgres dbname=warehouse");
    const std::string admin_db = absl::StrCat("host=127.0.0.1 port=", pg_->port(), " user=postgres dbname=admin");
    std::string sources = "sources:\n";
    for (const char* venue : {"kraken", "binance", "coinbase-exchange", "coinbase-advanced-trade"})
      absl::StrAppend(&sources, "  - {name: replay-", venue, ", kind: replay, replay: {path: \"", SourceDir(),
                      "/data/samples/", venue, ".jsonl.zst\", speed: 1, loop: true}}\n");
    // And a live source whose venue cannot be reached: the live-source metrics
    // (received frames, connections, source errors) exist as in production.
    auto closed_port = testing::PickFreePort();
    ASSERT_TRUE(closed_port.ok());
    absl::StrAppend(&sources, "  - {name: kraken-unreachable, kind: websocket, venue: kraken, websocket: {url: ",
                    "\"ws://127.0.0.1:", *closed_port, "\", channels: [trade], symbols: [BTC-USD], ",
                    "reconnect_min_ms: 200, reconnect_max_ms: 1000}}\n");
    e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
    const std::vector<std::pair<std::string, std::string>> specs = {
        {"ingest", sources},
        {"normalizer", ""},
        {"cdc-bridge", absl::StrCat("source:\n  dsn: \"", pg_->dsn(), "\"\n")},
        {"warehouse-sink", absl::StrCat("warehouse:\n  dsn: \"", wh, "\"\n")},
        {"anomaly", ""},
        {"admin", absl::StrCat("database:\n  dsn: \"", admin_db, "\"\n")},
    };
    std::string scrape;
    for (const auto& [name, yaml] : specs) {
      auto s = runner.Start({.binary = name, .yaml = yaml});
      ASSERT_TRUE(s.ok()) << name << ": " << s.status();
      ASSERT_FALSE(s->process->Exited()) << name << " exited:\n" << s->process->Output();
      absl::StrAppend(&scrape, "  - job_name: ", name, "\n    static_configs: [{targets: [\"127.0.0.1:", s->http_port,
                      "\"]}]\n");
      targets_[name] = s->target;
      services_.push_back(new e2e::RunningService(std::move(*s)));
    }

    // The shipped rules, `for:` shortened so the test waits seconds, not minutes.
    std::ofstream(dir_->path() + "/alerts.yaml")
        << RulesWithShortFor(ReadFile(MonitoringDir() + "/prometheus/alerts.yaml"), kForSeconds);
    auto prom =
        Prometheus::Start(dir_->path(), absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                                     "rule_files: [alerts.yaml]\nscrape_configs:\n",
                                                     scrape));
    ASSERT_TRUE(prom.ok()) << prom.status();
    prom_ = prom->release();
    // Every target scraped and up.
    ASSERT_TRUE(testing::WaitFor(
        [&] {
          json d = prom_->Api("/api/v1/query", {{"query", "sum(up)"}});
          return !d.is_null() && !d["result"].empty() &&
                 d["result"][0]["value"][1].get<std::string>() == std::to_string(specs.size());
        },
        absl::Seconds(60)))
        << prom_->Get("/api/v1/targets").value_or("no answer");
  }
  static void TearDownTestSuite() {
    delete prom_;
    for (auto* s : services_) {
      (void)s->process->Terminate(absl::Seconds(10));
      delete s;
    }
    services_.clear();
    NatsPostgresSuite::TearDownTestSuite();
    delete dir_;
  }

  static absl::StatusOr<testing::ProcessResult> Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {e2e::BinDir() + "/stream-admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunProcess(argv);
  }

  static constexpr int kForSeconds = 3;
  static testing::TempDir* dir_;
  static std::vector<e2e::RunningService*> services_;
  static std::map<std::string, std::string> targets_;
  static Prometheus* prom_;
};
testing::TempDir* MonitoringTest::dir_ = nullptr;
std::vector<e2e::RunningService*> MonitoringTest::services_;
std::map<std::string, std::string> MonitoringTest::targets_;
Prometheus* MonitoringTest::prom_ = nullptr;

TEST(MonitoringRules, ShortenedCopyKeepsEveryExpression) {
  const std::string shipped = ReadFile(MonitoringDir() + "/prometheus/alerts.yaml");
  const std::string copy = RulesWithShortFor(shipped, 3);
  EXPECT_NE(copy, shipped);
  EXPECT_THAT(copy, ::testing::Not(::testing::ContainsRegex(R"(\n\s+for: ([0-9]+m|[0-9]*[1-9]0s))")));
  // Only the `for:` lines differ.
  std::vector<std::string> a = absl::StrSplit(shipped, '\n'), b = absl::StrSplit(copy, '\n');
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) {
      EXPECT_THAT(a[i], ::testing::ContainsRegex(R"(^\s+for: )")) << b[i];
    }
}

TEST(MonitoringRules, MetricNamesAreTakenFromExpressions) {
  EXPECT_THAT(MetricNames(R"(sum by (job, instance) (increase(streamadmin_ingest_frames_total{a="b"}[1m])) == 0)"),
              ::testing::ElementsAre("streamadmin_ingest_frames_total"));
  EXPECT_THAT(MetricNames(R"x(up{job=~"(.+-)?(ingest|admin)"} == 0)x"), ::testing::ElementsAre("up"));
  EXPECT_THAT(MetricNames(R"(label_replace(increase(x_total[5m]), "dlq", "dlq.ingest", "", "") or y > 1e9)"),
              ::testing::ElementsAre("x_total", "y"));
}

TEST_F(MonitoringTest, PausingIngestMakesTheStallAlertPendThenFireAndResumingResolvesIt) {
  const std::string alert = "StreamAdminIngestionStalled";
  // Frames flow: the alert is inactive.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        json d = prom_->Api("/api/v1/query",
                            {{"query", "sum(increase(streamadmin_ingest_published_frames_total[1m])) > 0"}});
        return !d.is_null() && !d["result"].empty();
      },
      absl::Seconds(60)));
  EXPECT_EQ(prom_->AlertState(alert, "ingest"), "");

  auto paused = Cli({"pause", "--target", targets_["ingest"]});
  ASSERT_TRUE(paused.ok() && paused->exit_code == 0) << (paused.ok() ? paused->output : paused.status().ToString());
  EXPECT_THAT(paused->output, ::testing::HasSubstr("PAUSED"));

  // The expression needs a minute without frames; then `for:` (3 s) of pending.
  std::vector<std::string> seen;  // distinct states in order
  auto record = [&] {
    std::string s = prom_->AlertState(alert, "ingest");
    if (seen.empty() || seen.back() != s) seen.push_back(s);
    return s;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return record() == "pending"; }, absl::Seconds(120), absl::Milliseconds(100)))
      << absl::StrJoin(seen, " -> ");
  ASSERT_TRUE(testing::WaitFor([&] { return record() == "firing"; }, absl::Seconds(30), absl::Milliseconds(100)))
      << absl::StrJoin(seen, " -> ");
  EXPECT_THAT(seen, ::testing::ElementsAre("", "pending", "firing"));
  // The alert carries what the operator needs.
  json firing, alerts = prom_->Alerts();
  ASSERT_FALSE(alerts.is_null());
  for (const auto& a : alerts["alerts"])
    if (a["labels"]["alertname"] == alert) firing = a;
  ASSERT_FALSE(firing.is_null());
  EXPECT_EQ(firing["labels"]["severity"], "critical");
  EXPECT_THAT(firing["annotations"]["summary"].get<std::string>(), ::testing::HasSubstr("ingest (127.0.0.1:"));
  EXPECT_THAT(firing["annotations"]["description"].get<std::string>(), ::testing::HasSubstr("stream-admin resume"));
  EXPECT_EQ(firing["annotations"]["runbook_url"], "docs/OPERATIONS.md#streamadminingestionstalled");

  auto resumed = Cli({"resume", "--target", targets_["ingest"]});
  ASSERT_TRUE(resumed.ok() && resumed->exit_code == 0)
      << (resumed.ok() ? resumed->output : resumed.status().ToString());
  ASSERT_TRUE(testing::WaitFor([&] { return record() == ""; }, absl::Seconds(30), absl::Milliseconds(100)))
      << absl::StrJoin(seen, " -> ");
  EXPECT_THAT(seen, ::testing::ElementsAre("", "pending", "firing", ""));
}

// The looping replays themselves dead-letter frames now and then (a recording
// starting again sends venue sequences backwards: out_of_order), so the alert
// may already be active; what this shows is that one frame of a reason never
// seen before is an increase (the series existed at 0), and the alert fires.
TEST_F(MonitoringTest, TheFirstDeadLetterOfAReasonCountsAndTheAlertFiresWithItsSubject) {
  // Kraken's dead-letter reasons that have not happened: each series exists, at 0.
  const std::string kraken = R"(streamadmin_normalizer_decode_errors_total{venue="kraken"})";
  json before = prom_->Api("/api/v1/query", {{"query", kraken + " == 0"}});
  ASSERT_FALSE(before.is_null());
  std::set<std::string> unseen;
  for (const auto& r : before["result"]) unseen.insert(r["metric"]["reason"]);
  ASSERT_GE(unseen.size(), 5u) << before.dump();

  // A raw frame no decoder can read, stored in MD_RAW like any other.
  streamadmin::config::v1::NatsConfig cfg;
  cfg.add_servers(nats_->url());
  auto conn = bus::Connection::Connect(cfg);
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->WaitConnected(absl::Seconds(10)));
  ASSERT_TRUE((*conn)->Publish("md.raw.kraken", "{not json").ok());
  ASSERT_TRUE((*conn)->Flush(absl::Seconds(5)).ok());

  // The rule's own term counts it under a reason that was at 0.
  std::string reason;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        json d = prom_->Api("/api/v1/query", {{"query", absl::StrCat("increase(", kraken, "[5m]) > 0")}});
        if (d.is_null()) return false;
        for (const auto& r : d["result"])
          if (unseen.count(r["metric"]["reason"])) reason = r["metric"]["reason"];
        return !reason.empty();
      },
      absl::Seconds(30), absl::Milliseconds(200)));
  // ... and the alert fires for dlq.normalizer.
  json alert;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        json d = prom_->Alerts();
        if (d.is_null()) return false;
        for (const auto& a : d["alerts"])
          if (a["labels"].value("alertname", "") == "StreamAdminDeadLettersGrowing" &&
              a["labels"].value("dlq", "") == "dlq.normalizer" && a["state"] == "firing")
            alert = a;
        return !alert.is_null();
      },
      absl::Seconds(30), absl::Milliseconds(200)))
      << prom_->Get("/api/v1/alerts").value_or("");
  EXPECT_EQ(alert["labels"]["job"], "normalizer");
  EXPECT_EQ(alert["labels"]["severity"], "warning");
  EXPECT_THAT(alert["annotations"]["summary"].get<std::string>(), ::testing::HasSubstr("to dlq.normalizer"));
}

TEST_F(MonitoringTest, EveryRuleAndDashboardMetricIsExportedAndEveryPanelHasData) {
  std::map<std::string, std::set<std::string>> used;  // metric -> where
  const auto rules = RuleExpressions(MonitoringDir() + "/prometheus/alerts.yaml");
  ASSERT_EQ(rules.size(), 8u);
  for (const auto& e : rules)
    for (const auto& m : MetricNames(e)) used[m].insert("alerts.yaml");
  const auto queries = DashboardQueries();
  int prom_queries = 0, sql_queries = 0;
  for (const auto& q : queries) {
    if (q.sql) {
      ++sql_queries;
      continue;
    }
    ++prom_queries;
    for (const auto& m : MetricNames(q.expr)) used[m].insert(q.dashboard + ": " + q.panel);
  }
  EXPECT_GE(prom_queries, 30);
  EXPECT_GE(sql_queries, 5);
  ASSERT_GE(used.size(), 30u);

  // Each metric name is a series Prometheus scraped from the services.
  std::set<std::string> missing;
  testing::WaitFor(
      [&] {
        missing.clear();
        for (const auto& [metric, where] : used) {
          json d = prom_->Api("/api/v1/series", {{"match[]", metric}});
          if (d.is_null() || d.empty()) missing.insert(metric);
        }
        return missing.empty();
      },
      absl::Seconds(90), absl::Seconds(1));
  for (const auto& m : missing)
    ADD_FAILURE() << "no series " << m << " (used in " << absl::StrJoin(used[m], "; ") << ")";

  // Each dashboard query returns data (rates need two scrapes, checkpoints 5 s).
  std::vector<std::string> empty;
  testing::WaitFor(
      [&] {
        empty.clear();
        for (const auto& q : queries) {
          if (q.sql) continue;
          json d = prom_->Api("/api/v1/query", {{"query", q.expr}});
          if (d.is_null() || d["result"].empty()) empty.push_back(q.dashboard + " / " + q.panel + ": " + q.expr);
        }
        return empty.empty();
      },
      absl::Seconds(90), absl::Seconds(1));
  for (const auto& e : empty) ADD_FAILURE() << "no data: " << e;

  // Each warehouse panel's SQL runs on the warehouse the sink filled, with
  // Grafana's macros and variables replaced as Grafana would.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return pg_->Query("SELECT count(*) > 0 FROM md.candles WHERE interval = '1m'", "warehouse").value_or("") == "t";
      },
      absl::Seconds(120)));
  // ... and the CDC part: the source's orders applied, with their position.
  ASSERT_TRUE(testing::WaitFor(
      [&] { return pg_->Query("SELECT count(*) FROM streamadmin.cdc_positions", "warehouse").value_or("") == "1"; },
      absl::Seconds(120)));
  auto pick = pg_->Query("SELECT venue || '|' || symbol FROM md.candles WHERE interval = '1m' LIMIT 1", "warehouse");
  ASSERT_TRUE(pick.ok()) << pick.status();
  std::vector<std::string> vs = absl::StrSplit(*pick, '|');
  ASSERT_EQ(vs.size(), 2u);
  for (const auto& q : queries) {
    if (!q.sql) continue;
    std::string sql = std::regex_replace(q.expr, std::regex(R"(\$__timeGroupAlias\((\w+), '[^']*'\))"),
                                         "date_trunc('minute', $1) AS time");
    sql = std::regex_replace(sql, std::regex(R"(\$__timeFilter\((\w+)\))"), "$1 > now() - interval '100 years'");
    sql = absl::StrReplaceAll(sql, {{"$venue", vs[0]}, {"$symbol", vs[1]}, {"$interval", "1m"}});
    auto rows = pg_->Query(sql, "warehouse");
    EXPECT_TRUE(rows.ok()) << q.dashboard << " / " << q.panel << ":\n" << sql << "\n" << rows.status();
    // The recordings do not overlap in time across venues: no cross-venue minute.
    if (rows.ok() && q.panel.find("Cross-venue") == std::string::npos) {
      EXPECT_FALSE(rows->empty()) << q.dashboard << " / " << q.panel << " returned no rows:\n" << sql;
    }
  }
}

// Last: the anomaly service stays down afterwards.
TEST_F(MonitoringTest, AServiceThatDiesIsReportedDown) {
  EXPECT_EQ(prom_->AlertState("StreamAdminServiceDown", "anomaly"), "");
  e2e::RunningService* anomaly = nullptr;
  for (auto* s : services_)
    if (s->log_file.ends_with("/anomaly.log")) anomaly = s;
  ASSERT_NE(anomaly, nullptr);
  ASSERT_TRUE(anomaly->process->Kill().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return prom_->AlertState("StreamAdminServiceDown", "anomaly") == "firing"; },
                               absl::Seconds(60), absl::Milliseconds(200)))
      << prom_->Get("/api/v1/alerts").value_or("");
  // Only that one.
  json d = prom_->Alerts();
  for (const auto& a : d["alerts"])
    if (a["labels"]["alertname"] == "StreamAdminServiceDown") {
      EXPECT_EQ(a["labels"]["job"], "anomaly");
    }
}

}  // namespace
}  // namespace sa
