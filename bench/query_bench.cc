// Query latency (issue [8] phase 2; docs/PERFORMANCE.md "DSL queries"): the
// warehouse filled by the real pipeline (ingest replaying the four
// recordings -> normalizer -> warehouse-sink), the real admin
// serving query.v1, and a typical query timed three ways in the same run:
//   grpc      Query.Run over gRPC (parse, check, permissions, compile, the
//             prelude + SQL + COMMIT on the warehouse, stream, audit)
//   libpq     the same statements (the prelude in one round trip, the
//             compiled SQL with its parameters, COMMIT) sent directly with
//             libpq on one connection as the same read-only role: the limit
//   sql only  the compiled SQL alone with libpq (the database's own cost)
//   validate  Query.Validate over gRPC: parse, check, compile, no database
//             and no audit (what the service itself costs)
// Each round runs --queries of each, interleaved; the figures are the medians
// over --rounds of each round's p50 and p99.
//
//   build/bench/query_bench [--bin_dir=build/bin] [--rounds=5] [--queries=300] [--json=PATH]
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "bench_util.h"
#include "cli/control_client.h"
#include "streamadmin/query/v1/query.grpc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"
#include "trade_oracle.h"

namespace {

namespace qpb = streamadmin::query::v1;
using sa::bench::CheckOr;
using sa::bench::Die;

constexpr char kQuery[] =
    "md.trades | where venue = \"kraken\" and side = \"buy\" | summarize n = count(), vwap = vwap(price, size), "
    "high = max(price) by symbol";

struct Args {
  std::string bin_dir = "build/bin";
  int rounds = 5;
  int queries = 300;
  std::string json_path;  // --json=PATH: every round's p50/p99 (scripts/bench.sh)
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto num = [&](const char* flag, int* out) {
      if (!sa::bench::IntFlag(s, flag, out)) return false;
      if (*out <= 0) Die(absl::StrCat("bad ", s));
      return true;
    };
    if (absl::StartsWith(s, "--bin_dir=")) {
      a.bin_dir = s.substr(10);
    } else if (absl::StartsWith(s, "--json=")) {
      a.json_path = s.substr(7);
    } else if (!num("--rounds=", &a.rounds) && !num("--queries=", &a.queries)) {
      Die(absl::StrCat("unknown argument ", s));
    }
  }
  return a;
}

struct Service {
  std::unique_ptr<sa::testing::Process> process;
  std::string target;
};

Service Start(const sa::testing::TempDir& dir, const Args& a, const std::string& name, const std::string& nats,
              const std::string& yaml) {
  int grpc_port = CheckOr(sa::testing::PickFreePort(), "port");
  std::string cfg = absl::StrCat(dir.path(), "/", name, ".yaml");
  std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                     << "\n  http_listen: 127.0.0.1:0\nnats:\n  servers: [" << nats << "]\n"
                     << yaml;
  Service s{CheckOr(sa::testing::Process::Spawn({a.bin_dir + "/" + name, "--config", cfg},
                                                {.log_file = absl::StrCat(dir.path(), "/", name, ".log")}),
                    "spawn " + name),
            absl::StrCat("127.0.0.1:", grpc_port)};
  sa::cli::ControlClient control(s.target, absl::Seconds(1));
  if (!sa::testing::WaitFor([&] { return control.Health().ok(); }, absl::Seconds(30)))
    Die(name + " did not become SERVING:\n" + s.process->Output());
  return s;
}

PGresult* Exec(PGconn* c, const std::string& sql, const std::vector<const char*>& params = {}) {
  PGresult* r = params.empty() ? PQexec(c, sql.c_str())
                               : PQexecParams(c, sql.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                                              nullptr, nullptr, 0);
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) Die(absl::StrCat(sql, ": ", PQresultErrorMessage(r)));
  return r;
}

struct Pct {
  double p50 = 0, p99 = 0;
};
Pct Percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = ParseArgs(argc, argv);
  sa::bench::StartWatchdog("query_bench", 900);
  auto dir = CheckOr(sa::testing::TempDir::Create("query-bench"), "TempDir");
  auto pg = CheckOr(sa::testing::PostgresServer::Start(), "PostgreSQL");
  auto nats = CheckOr(sa::testing::NatsServer::Start(), "nats-server");
  sa::bench::Check(pg->Exec("CREATE DATABASE warehouse"), "create warehouse");
  sa::bench::Check(pg->Exec("CREATE DATABASE admin"), "create admin database");
  const std::string wh = absl::StrCat(pg->dsn(), " dbname=warehouse");

  // The warehouse, filled by the real pipeline.
  Service normalizer = Start(dir, a, "normalizer", nats->url(), "");
  Service bridge = Start(dir, a, "cdc-bridge", nats->url(), absl::StrCat("source:\n  dsn: \"", pg->dsn(), "\"\n"));
  Service sink = Start(dir, a, "warehouse-sink", nats->url(), absl::StrCat("warehouse:\n  dsn: \"", wh, "\"\n"));
  const std::vector<std::pair<std::string, std::string>> venues = {{"kraken.jsonl.zst", "kraken"},
                                                                   {"binance.jsonl.zst", "binance"},
                                                                   {"coinbase-exchange.jsonl.zst", "coinbase-exchange"},
                                                                   {"coinbase-advanced-trade.jsonl.zst", "coinbase"}};
  std::string sources = "sources:\n";
  size_t want = 0;
  for (const auto& [file, venue] : venues) {
    const std::string path = sa::bench::FixturePath(file);
    absl::StrAppend(&sources, "  - {name: r-", venue, ", kind: replay, replay: {path: \"", path, "\", speed: 0}}\n");
    for (const auto& [k, n] : CheckOr(sa::e2e::TradesInRecording(path, venue), "oracle " + file))
      want += static_cast<size_t>(n);
  }
  Service ingest = Start(dir, a, "ingest", nats->url(), sources);
  auto count = [&] {
    auto r = pg->Query("SELECT count(*) FROM md.trades", "warehouse");
    return r.ok() ? *r : "";
  };
  if (!sa::testing::WaitFor([&] { return count() == std::to_string(want); }, absl::Seconds(180)))
    Die(absl::StrCat("md.trades holds ", count(), " of ", want, " trades"));
  Service admin =
      Start(dir, a, "admin", nats->url(),
            absl::StrCat("database:\n  dsn: \"", pg->dsn(), " dbname=admin\"\nquery:\n  warehouse:\n    dsn: \"", wh,
                         " user=sa_query\"\n  setup_dsn: \"", wh, "\"\n  role_password: \"bench\"\n"));

  auto stub = qpb::Query::NewStub(grpc::CreateChannel(admin.target, grpc::InsecureChannelCredentials()));
  qpb::ExplainRequest ereq;
  ereq.set_query(kQuery);
  qpb::ExplainResponse plan;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub->Explain(&ctx, ereq, &plan);
    if (!st.ok()) Die(absl::StrCat("Explain: ", st.error_message()));
  }
  std::vector<std::string> param_text;
  for (const auto& p : plan.params()) param_text.push_back(p.text());
  std::vector<const char*> params;
  for (const auto& p : param_text) params.push_back(p.c_str());
  const std::vector<std::string> prelude = {"BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                                            absl::StrCat("SET LOCAL statement_timeout = ", plan.statement_timeout_ms()),
                                            "SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, YMD'",
                                            "SET LOCAL search_path = ''"};
  PGconn* direct = PQconnectdb(absl::StrCat(wh, " user=sa_query").c_str());
  if (PQstatus(direct) != CONNECTION_OK) Die(absl::StrCat("libpq: ", PQerrorMessage(direct)));

  auto run_grpc = [&] {
    grpc::ClientContext ctx;
    qpb::RunRequest req;
    req.set_query(kQuery);
    auto reader = stub->Run(&ctx, req);
    qpb::RunResponse part;
    size_t rows = 0;
    while (reader->Read(&part)) rows += static_cast<size_t>(part.rows().rows_size());
    grpc::Status st = reader->Finish();
    if (!st.ok()) Die(absl::StrCat("Run: ", st.error_message()));
    return rows;
  };
  // The prelude in one round trip, as the service sends it.
  const std::string prelude_text = absl::StrJoin(prelude, "; ");
  auto run_libpq = [&](bool with_prelude) {
    if (with_prelude) PQclear(Exec(direct, prelude_text));
    PGresult* r = Exec(direct, plan.sql(), params);
    size_t rows = static_cast<size_t>(PQntuples(r));
    PQclear(r);
    if (with_prelude) PQclear(Exec(direct, "COMMIT"));
    return rows;
  };
  auto run_validate = [&] {
    grpc::ClientContext ctx;
    qpb::ValidateRequest req;
    req.set_query(kQuery);
    qpb::ValidateResponse resp;
    grpc::Status st = stub->Validate(&ctx, req, &resp);
    if (!st.ok() || !resp.ok()) Die("Validate failed");
  };
  const size_t rows = run_grpc();
  if (rows != run_libpq(true) || rows == 0) Die("gRPC and libpq disagree on the row count, or no rows");
  std::printf("query_bench: %zu trades in md.trades; query (%zu rows):\n  %s\nSQL: %s\n", want, rows, kQuery,
              plan.sql().c_str());
  for (int i = 0; i < 50; ++i) run_grpc(), run_libpq(true);  // warm-up

  std::vector<double> g50, g99, l50, l99, s50, s99, v50, v99;
  for (int round = 0; round < a.rounds; ++round) {
    std::vector<double> g, l, s, v;
    for (int i = 0; i < a.queries; ++i) {
      absl::Time t0 = absl::Now();
      run_grpc();
      absl::Time t1 = absl::Now();
      run_libpq(true);
      absl::Time t2 = absl::Now();
      run_libpq(false);
      absl::Time t3 = absl::Now();
      run_validate();
      v.push_back(absl::ToDoubleMilliseconds(absl::Now() - t3));
      g.push_back(absl::ToDoubleMilliseconds(t1 - t0));
      l.push_back(absl::ToDoubleMilliseconds(t2 - t1));
      s.push_back(absl::ToDoubleMilliseconds(t3 - t2));
    }
    Pct pg_ = Percentiles(g), pl = Percentiles(l), ps = Percentiles(s), pv = Percentiles(v);
    std::printf(
        "round %d: grpc p50 %.3f p99 %.3f | libpq p50 %.3f p99 %.3f | sql only p50 %.3f p99 %.3f | validate p50 "
        "%.3f p99 %.3f ms\n",
        round + 1, pg_.p50, pg_.p99, pl.p50, pl.p99, ps.p50, ps.p99, pv.p50, pv.p99);
    v50.push_back(pv.p50), v99.push_back(pv.p99);
    g50.push_back(pg_.p50), g99.push_back(pg_.p99), l50.push_back(pl.p50), l99.push_back(pl.p99);
    s50.push_back(ps.p50), s99.push_back(ps.p99);
  }
  std::printf("medians of %d rounds x %d queries:\n", a.rounds, a.queries);
  std::printf("  grpc Query.Run     p50 %7.3f ms  p99 %7.3f ms\n", Median(g50), Median(g99));
  std::printf("  libpq, same stmts  p50 %7.3f ms  p99 %7.3f ms  (the limit)\n", Median(l50), Median(l99));
  std::printf("  libpq, SQL only    p50 %7.3f ms  p99 %7.3f ms\n", Median(s50), Median(s99));
  std::printf("  grpc Validate      p50 %7.3f ms  p99 %7.3f ms  (no database, no audit)\n", Median(v50), Median(v99));
  std::printf("  ratio grpc / libpq: p50 %.2fx  p99 %.2fx\n", Median(g50) / Median(l50), Median(g99) / Median(l99));
  if (!a.json_path.empty()) {
    std::string out = "{\"bench\": \"query\", \"rounds\": [";
    for (size_t i = 0; i < g50.size(); ++i)
      absl::StrAppend(&out, i ? ", " : "", "{\"grpc_p50_ms\": ", g50[i], ", \"grpc_p99_ms\": ", g99[i],
                      ", \"libpq_p50_ms\": ", l50[i], ", \"libpq_p99_ms\": ", l99[i], ", \"sql_p50_ms\": ", s50[i],
                      ", \"sql_p99_ms\": ", s99[i], ", \"validate_p50_ms\": ", v50[i],
                      ", \"validate_p99_ms\": ", v99[i], "}");
    absl::StrAppend(&out, "]}\n");
    std::ofstream file(a.json_path);
    file << out;
    if (!file.flush()) Die("cannot write " + a.json_path);
  }
  PQfinish(direct);
  (void)admin.process->Terminate(absl::Seconds(5));
  (void)ingest.process->Terminate(absl::Seconds(5));
  (void)bridge.process->Terminate(absl::Seconds(5));
  (void)normalizer.process->Terminate(absl::Seconds(5));
  return 0;
}
