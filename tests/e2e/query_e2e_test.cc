// The query.v1 service end to end (issue [8] phase 2): the warehouse is filled
// by the real pipeline (ingest replaying the four recordings -> normalizer ->
// warehouse-sink; a source database captured by cdc-bridge -> warehouse-sink),
// and the real admin answers DSL queries over gRPC in token mode, as the
// read-only role it sets up itself.
//
// - every DSL query of a table of pairs returns exactly the rows of its
//   hand-written SQL over the same warehouse;
// - injection attempts never change the SQL's shape, and the warehouse is
//   unchanged afterwards;
// - a user without cdc:read can neither query nor see CDC tables (a per-table
//   grant opens one table only); denials are in the audit log;
// - typical mistakes get their recorded messages with line, column and caret;
// - a query past the statement timeout is DEADLINE_EXCEEDED and gone from
//   pg_stat_activity, as is one whose client gave up;
// - a result cut at the row limit says so.
#include <google/protobuf/any.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "admin_stack.h"
#include "e2e_util.h"
#include "service_runner.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/query/v1/query.grpc.pb.h"
#include "testing/wait.h"
#include "trade_oracle.h"

namespace sa {
namespace {

namespace adm = streamadmin::admin::v1;
namespace qpb = streamadmin::query::v1;
using Rows = std::vector<std::vector<std::string>>;

constexpr char kAdminPassword[] = "admin-password-for-e2e";
constexpr char kUserPassword[] = "user-password-for-e2e";

// A libpq connection to the warehouse as its owner (the oracle's side).
class Warehouse {
 public:
  explicit Warehouse(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    (void)Exec("SET TimeZone = 'UTC'");
    (void)Exec("SET DateStyle = 'ISO, YMD'");
  }
  ~Warehouse() { PQfinish(conn_); }
  absl::StatusOr<Rows> Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
      std::string e = PQresultErrorMessage(r);
      PQclear(r);
      return absl::InternalError(absl::StrCat(sql, ": ", e));
    }
    Rows rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.push_back(PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
      rows.push_back(std::move(row));
    }
    PQclear(r);
    return rows;
  }
  std::string One(const std::string& sql) {
    auto r = Exec(sql);
    if (!r.ok() || r->empty() || r->front().empty()) return absl::StrCat("error: ", r.status().message());
    return r->front().front();
  }

 private:
  PGconn* conn_;
};

struct RunResult {
  grpc::Status status;
  std::vector<qpb::Column> columns;
  Rows rows;
  qpb::Trailer trailer;
  bool saw_trailer = false;
};

class QueryE2E : public testing::AdminStackSuite<QueryE2E> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(CreateStack("query-e2e"));
    auto& pg = stack_->pg();
    ASSERT_TRUE(pg.Exec("CREATE DATABASE warehouse").ok());
    ASSERT_TRUE(pg.Exec("CREATE DATABASE shop").ok());
    // The captured source: hostile text, NULLs, varied scales.
    ASSERT_TRUE(pg.Exec("CREATE TABLE orders (id int8 PRIMARY KEY, status text, amount numeric(12,2), customer text,"
                        " created_at timestamptz, note text);"
                        "INSERT INTO orders SELECT g, (ARRAY['paid','new','cancelled','refunded'])[g % 4 + 1],"
                        " CASE WHEN g % 7 = 0 THEN NULL ELSE round((g * 13.25) % 997, 2) END,"
                        " CASE WHEN g % 11 = 0 THEN NULL ELSE 'customer' || (g % 6) END,"
                        " '2024-04-30 00:00:00+00'::timestamptz + g * interval '37 minutes',"
                        " CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, 300) g;"
                        "INSERT INTO orders VALUES (301, 'paid', 1.5, 'O''Brien; DROP TABLE orders; --',"
                        " '2024-05-02 00:00:00+00', '$$ /* */ \\x27 '')');"
                        "CREATE TABLE secrets (id int PRIMARY KEY, v text);"
                        "INSERT INTO secrets VALUES (1, 'only for cdc:read')",
                        "shop")
                    .ok());
    // A big table straight in the warehouse (not captured): slow enough to
    // pass a statement timeout.
    ASSERT_TRUE(pg.Exec("CREATE SCHEMA cdc_pg_bulk; CREATE TABLE cdc_pg_bulk.big (id int8 PRIMARY KEY, note text);"
                        "INSERT INTO cdc_pg_bulk.big SELECT g, md5(g::text) FROM generate_series(1, 1500000) g",
                        "warehouse")
                    .ok());
    runner_ = new e2e::ServiceRunner(stack_->dir().path(), {stack_->nats().url()});
    services_ = new std::vector<e2e::RunningService>();
    auto start = [](e2e::ServiceSpec spec) {
      auto s = runner_->Start(spec);
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok()) services_->push_back(std::move(*s));
    };
    start({.binary = "normalizer"});
    start({.binary = "cdc-bridge",
           .yaml = absl::StrCat("source:\n  dsn: \"", pg.dsn(),
                                " dbname=shop\"\nconnector:\n  server_name: pg\n  slot_name: q_slot\n"
                                "  publication_name: q_pub\n")});
    start({.binary = "warehouse-sink",
           .yaml = absl::StrCat("warehouse:\n  dsn: \"", pg.dsn(), " dbname=warehouse\"\n")});
    std::string sources = "sources:\n";
    for (const auto& [file, venue] : Venues())
      absl::StrAppend(&sources, e2e::ReplaySourceYaml(absl::StrCat("r-", venue), file, "0"));
    start({.binary = "ingest", .yaml = sources});

    const std::string query_yaml =
        absl::StrCat("query:\n  warehouse:\n    dsn: \"", pg.dsn(), " dbname=warehouse user=sa_query\"\n",
                     "  setup_dsn: \"", pg.dsn(), " dbname=warehouse\"\n  role_password: \"sa-query-pw\"\n",
                     "  catalog_refresh_s: 2\n  max_rows: 1000000\n");
    admin_ = new testing::Service(stack_->Start(
        "admin", absl::StrCat(stack_->AdminYaml(), "  bootstrap_password: \"", kAdminPassword, "\"\n", query_yaml)));
    // A second admin on the same databases with a short statement timeout.
    admin_fast_timeout_ = new testing::Service(stack_->Start(
        "admin", absl::StrCat(stack_->AdminYaml(), query_yaml, "  statement_timeout_ms: 300\n"), "", "", "admin-timeout"));

    auto login = testing::PasswordLogin(admin_->channel, "admin", kAdminPassword);
    ASSERT_TRUE(login.ok()) << login.status() << "\n" << admin_->process->Output();
    admin_token_ = new std::string(login->access_token());
    // alice: market data only. bob: market data and one CDC table.
    for (const auto& [name, perms] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"md-reader", {"md:read"}}, {"orders-reader", {"md:read", "cdc.pg.public.orders:read"}}})
      ASSERT_TRUE(testing::PutRole(admin_->channel, *admin_token_, name, perms).ok());
    for (const auto& [name, role] : std::vector<std::pair<std::string, std::string>>{
             {"alice", "md-reader"}, {"bob", "orders-reader"}, {"carol", "viewer"}})
      ASSERT_TRUE(testing::CreateUser(admin_->channel, *admin_token_, name, kUserPassword, role).ok());
    alice_token_ = new std::string(testing::PasswordLogin(admin_->channel, "alice", kUserPassword)->access_token());
    bob_token_ = new std::string(testing::PasswordLogin(admin_->channel, "bob", kUserPassword)->access_token());

    // The pipeline has delivered everything: every trade of the recordings,
    // and both source tables.
    size_t want_trades = 0;
    for (const auto& [file, venue] : Venues()) {
      auto t = e2e::TradesInRecording(e2e::Fixture(file), venue);
      ASSERT_TRUE(t.ok()) << t.status();
      for (const auto& [k, n] : *t) want_trades += static_cast<size_t>(n);
    }
    warehouse_ = new Warehouse(absl::StrCat(pg.dsn(), " dbname=warehouse"));
    ASSERT_TRUE(testing::WaitFor(
        [&] { return warehouse_->One("SELECT count(*) FROM md.trades") == std::to_string(want_trades); },
        absl::Seconds(120)))
        << warehouse_->One("SELECT count(*) FROM md.trades") << " of " << want_trades;
    auto digest = [&](const char* db, const char* table) {
      Warehouse w(absl::StrCat(pg.dsn(), " dbname=", db));
      return w.One(
          absl::StrCat("SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM ", table, " t"));
    };
    for (const auto& [src, dst] :
         {std::pair{"orders", "cdc_pg_public.orders"}, std::pair{"secrets", "cdc_pg_public.secrets"}})
      ASSERT_TRUE(testing::WaitFor([&] { return digest("warehouse", dst) == digest("shop", src); }, absl::Seconds(60)))
          << dst << ": " << digest("warehouse", dst) << " != " << digest("shop", src);
    std::printf("warehouse: %zu trades, %s candles, %s orders\n", want_trades,
                warehouse_->One("SELECT count(*) FROM md.candles").c_str(),
                warehouse_->One("SELECT count(*) FROM cdc_pg_public.orders").c_str());
  }

  static void TearDownTestSuite() {
    delete warehouse_;
    delete admin_fast_timeout_;
    delete admin_;
    delete services_;
    delete runner_;
    delete admin_token_;
    delete alice_token_;
    delete bob_token_;
    delete stack_;
  }

  static std::vector<std::pair<std::string, std::string>> Venues() {
    return {{"kraken.jsonl.zst", "kraken"},
            {"binance.jsonl.zst", "binance"},
            {"coinbase-exchange.jsonl.zst", "coinbase-exchange"},
            {"coinbase-advanced-trade.jsonl.zst", "coinbase"}};
  }

  static RunResult Run(const std::string& token, const std::string& query, uint64_t max_rows = 0,
                       const testing::Service* admin = nullptr, std::chrono::milliseconds deadline = {}) {
    auto stub = qpb::Query::NewStub((admin ? admin : admin_)->channel);
    auto ctx = testing::Ctx(token);
    if (deadline.count()) ctx->set_deadline(std::chrono::system_clock::now() + deadline);
    qpb::RunRequest req;
    req.set_query(query);
    req.set_max_rows(max_rows);
    auto reader = stub->Run(ctx.get(), req);
    RunResult out;
    qpb::RunResponse part;
    while (reader->Read(&part)) {
      if (part.has_header()) out.columns.assign(part.header().columns().begin(), part.header().columns().end());
      for (const auto& r : part.rows().rows()) {
        std::vector<std::string> row;
        for (const auto& c : r.cells()) row.push_back(c.is_null() ? "NULL" : c.text());
        out.rows.push_back(std::move(row));
      }
      if (part.has_trailer()) {
        out.trailer = part.trailer();
        out.saw_trailer = true;
      }
    }
    out.status = reader->Finish();
    return out;
  }

  static grpc::Status Explain(const std::string& token, const std::string& query, qpb::ExplainResponse* resp) {
    qpb::ExplainRequest req;
    req.set_query(query);
    return qpb::Query::NewStub(admin_->channel)->Explain(testing::Ctx(token).get(), req, resp);
  }

  static std::vector<adm::AuditEntry> Audit(const std::string& actor, const std::string& action) {
    adm::ListAuditRequest req;
    req.set_actor(actor);
    req.set_action(action);
    req.set_limit(1000);
    adm::ListAuditResponse resp;
    EXPECT_TRUE(adm::Audit::NewStub(admin_->channel)->ListAudit(testing::Ctx(*admin_token_).get(), req, &resp).ok());
    return {resp.entries().begin(), resp.entries().end()};
  }

  // count:md5 over every warehouse table's rows and the list of relations:
  // what an injection would have to change.
  static std::string WarehouseDigest() {
    std::string d = warehouse_->One(
        "SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind, ',' ORDER BY 1) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', "
        "'pg_toast')");
    for (const char* t : {"md.trades", "md.candles", "cdc_pg_public.orders", "cdc_pg_public.secrets"})
      absl::StrAppend(&d, "|", t, "=",
                      warehouse_->One(absl::StrCat("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' "
                                                   "ORDER BY t::text)), '') FROM ",
                                                   t, " t")));
    absl::StrAppend(
        &d, "|roles=", warehouse_->One("SELECT string_agg(rolname || rolsuper::text, ',' ORDER BY 1) FROM pg_roles"));
    return d;
  }

  static e2e::ServiceRunner* runner_;
  static std::vector<e2e::RunningService>* services_;
  static testing::Service* admin_;
  static testing::Service* admin_fast_timeout_;
  static std::string* admin_token_;
  static std::string* alice_token_;
  static std::string* bob_token_;
  static Warehouse* warehouse_;
};

e2e::ServiceRunner* QueryE2E::runner_ = nullptr;
std::vector<e2e::RunningService>* QueryE2E::services_ = nullptr;
testing::Service* QueryE2E::admin_ = nullptr;
testing::Service* QueryE2E::admin_fast_timeout_ = nullptr;
std::string* QueryE2E::admin_token_ = nullptr;
std::string* QueryE2E::alice_token_ = nullptr;
std::string* QueryE2E::bob_token_ = nullptr;
Warehouse* QueryE2E::warehouse_ = nullptr;

struct Pair {
  const char* dsl;
  const char* oracle;
  bool ordered;  // compare in order (sort/top); otherwise as multisets
};

// Over the replayed recordings (md.trades, md.candles) and the captured
// tables (cdc_pg_public.orders). Timestamps print in UTC on both sides.
const Pair kPairs[] = {
    {"md.trades | where venue = \"kraken\" | project trade_id, symbol, price, size",
     "SELECT trade_id, symbol, price, size FROM md.trades WHERE venue = 'kraken'", false},
    {"md.trades | where venue in (\"coinbase\", \"binance\") and price > 1 | project venue, trade_id, price",
     "SELECT venue, trade_id, price FROM md.trades WHERE venue IN ('coinbase', 'binance') AND price > 1", false},
    {"md.trades | summarize n = count(), volume = sum(size) by venue",
     "SELECT venue, count(*), sum(size) FROM md.trades GROUP BY venue", false},
    {"md.trades | where side = \"sell\" | summarize n = count() by venue, symbol",
     "SELECT venue, symbol, count(*) FROM md.trades WHERE side = 'sell' GROUP BY 1, 2", false},
    {"md.trades | summarize vwap = vwap(price, size) by venue, symbol",
     "SELECT venue, symbol, sum(price * size) / sum(size) FROM md.trades GROUP BY 1, 2", false},
    {"md.trades | summarize vwap = sum(price * size) / sum(size), n = count() by venue, bin(ts, 1m)",
     "SELECT venue, date_trunc('minute', ts), sum(price * size) / sum(size), count(*) FROM md.trades GROUP BY 1, 2",
     false},
    {"md.trades | summarize n = count(), high = max(price), low = min(price) by symbol, hour = bin(ts, 1h)",
     "SELECT symbol, date_trunc('hour', ts), count(*), max(price), min(price) FROM md.trades GROUP BY 1, 2", false},
    {"md.trades | summarize n = count() by venue, five = bin(ts, 5s)",
     "SELECT venue, to_timestamp(floor(extract(epoch FROM ts) / 5) * 5), count(*) FROM md.trades GROUP BY 1, 2", false},
    {"md.trades | where side = \"buy\" | summarize bought = sum(size), lo = min(price) by symbol",
     "SELECT symbol, sum(size), min(price) FROM md.trades WHERE side = 'buy' GROUP BY symbol", false},
    {"md.trades | summarize p90 = percentile(price, 0.9) by venue",
     "SELECT venue, price FROM (SELECT venue, price, row_number() OVER (PARTITION BY venue ORDER BY price) AS rn, "
     "count(*) OVER (PARTITION BY venue) AS n FROM md.trades) t WHERE rn = greatest(ceil(0.9 * n), 1)",
     false},
    {"md.trades | summarize avg_size = avg(size) by venue", "SELECT venue, avg(size) FROM md.trades GROUP BY venue",
     false},
    {"md.trades | top 7 by price desc, trade_id | project venue, trade_id, price",
     "SELECT venue, trade_id, price FROM md.trades ORDER BY price DESC, trade_id COLLATE \"C\" LIMIT 7", true},
    {"md.trades | where price * size > 1000 | summarize n = count(), notional = sum(price * size)",
     "SELECT count(*), sum(price * size) FROM md.trades WHERE price * size > 1000", false},
    {"md.trades | summarize n = count() by side, venue | where n > 20",
     "SELECT side, venue, count(*) FROM md.trades GROUP BY side, venue HAVING count(*) > 20", false},
    {"md.trades | where contains(symbol, \"BTC\") or endswith(symbol, \"-EUR\") | summarize n = count() by symbol",
     "SELECT symbol, count(*) FROM md.trades WHERE symbol LIKE '%BTC%' OR symbol LIKE '%-EUR' GROUP BY symbol", false},
    {"md.trades | where matches(symbol, \"^(XMR|ETH)-\") | summarize n = count(), sd = stddev(price) by symbol",
     "SELECT symbol, count(*), stddev_samp(price::float8) FROM md.trades WHERE symbol ~ '^(XMR|ETH)-' "
     "GROUP BY symbol",
     false},
    {"md.trades | where ts >= timestamp(\"2021-04-17T16:40:00Z\") and ts < timestamp(\"2021-04-17T16:45:00Z\")"
     " | summarize n = count() by venue",
     "SELECT venue, count(*) FROM md.trades WHERE ts >= '2021-04-17 16:40:00+00' AND ts < '2021-04-17 16:45:00+00' "
     "GROUP BY venue",
     false},
    {"md.trades | summarize first_ts = min(ts), last_ts = max(ts), span = max(ts) - min(ts) by venue",
     "SELECT venue, min(ts), max(ts), max(ts) - min(ts) FROM md.trades GROUP BY venue", false},
    {"md.trades | where venue = \"coinbase-exchange\" | sort by ts desc, trade_id | limit 12 | project trade_id, ts",
     "SELECT trade_id, ts FROM md.trades WHERE venue = 'coinbase-exchange' ORDER BY ts DESC, trade_id COLLATE \"C\" "
     "LIMIT 12",
     true},
    {"md.trades | summarize n = count() by len = len(symbol)",
     "SELECT length(symbol), count(*) FROM md.trades GROUP BY 1", false},
    {"md.trades | where abs(price - 100) < 50 | project trade_id, r = round(price, 1)",
     "SELECT trade_id, round(price, 1) FROM md.trades WHERE abs(price - 100) < 50", false},
    {"md.candles | summarize n = count(), hi = max(high), lo = min(low), trades = sum(trade_count) by venue, symbol",
     "SELECT venue, symbol, count(*), max(high), min(low), sum(trade_count) FROM md.candles GROUP BY 1, 2", false},
    {"md.candles | where closed | project venue, symbol, interval, open_time, close",
     "SELECT venue, symbol, interval, open_time, close FROM md.candles WHERE closed", false},
    {"cdc_pg_public.orders | where status = \"paid\" | top 3 by amount desc, id | project id, amount",
     "SELECT id, amount FROM cdc_pg_public.orders WHERE status = 'paid' ORDER BY amount DESC NULLS LAST, id LIMIT 3",
     true},
    {"cdc_pg_public.orders | where note is null | project id", "SELECT id FROM cdc_pg_public.orders WHERE note IS NULL",
     false},
    {"cdc_pg_public.orders | where amount is not null | summarize total = sum(amount), n = count(amount), c = count() "
     "by status",
     "SELECT status, sum(amount), count(amount), count(*) FROM cdc_pg_public.orders WHERE amount IS NOT NULL "
     "GROUP BY status",
     false},
    {"cdc_pg_public.orders | where customer = \"O'Brien; DROP TABLE orders; --\" | project id, note",
     "SELECT id, note FROM cdc_pg_public.orders WHERE customer = 'O''Brien; DROP TABLE orders; --'", false},
    {"cdc_pg_public.orders | where created_at > timestamp(\"2024-05-01T00:00:00Z\") and not (status in "
     "(\"cancelled\", \"refunded\")) | project id, status, created_at",
     "SELECT id, status, created_at FROM cdc_pg_public.orders WHERE created_at > '2024-05-01 00:00:00+00' AND "
     "status NOT IN ('cancelled', 'refunded')",
     false},
    {"cdc_pg_public.orders | summarize orders = count(), total = sum(amount) by customer, day = bin(created_at, 1d)"
     " | where orders > 2",
     "SELECT customer, date_trunc('day', created_at), count(*), sum(amount) FROM cdc_pg_public.orders "
     "GROUP BY 1, 2 HAVING count(*) > 2",
     false},
    {"cdc_pg_public.orders | where coalesce(note, \"\") = \"\" and amount > 100 | project id, amount",
     "SELECT id, amount FROM cdc_pg_public.orders WHERE coalesce(note, '') = '' AND amount > 100", false},
};

Rows Sorted(Rows r) {
  std::sort(r.begin(), r.end());
  return r;
}

TEST_F(QueryE2E, EveryDslQueryReturnsExactlyTheRowsOfItsHandWrittenSql) {
  ASSERT_GE(std::size(kPairs), 25u);
  int non_empty = 0;
  for (const Pair& p : kPairs) {
    SCOPED_TRACE(p.dsl);
    RunResult got = Run(*admin_token_, p.dsl);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    ASSERT_TRUE(got.saw_trailer);
    EXPECT_FALSE(got.trailer.truncated());
    EXPECT_EQ(got.trailer.row_count(), got.rows.size());
    auto want = warehouse_->Exec(p.oracle);
    ASSERT_TRUE(want.ok()) << want.status();
    if (p.ordered)
      EXPECT_EQ(got.rows, *want);
    else
      EXPECT_EQ(Sorted(got.rows), Sorted(*want));
    non_empty += !want->empty();
  }
  std::printf("%zu pairs, %d with rows\n", std::size(kPairs), non_empty);
  EXPECT_GE(non_empty, 25) << "the pairs must compare real rows, not empty sets";
}

TEST_F(QueryE2E, HeaderNamesColumnsWithTheirDslTypes) {
  RunResult got = Run(*admin_token_, "md.trades | summarize n = count(), v = sum(size), t = max(ts) by venue, side");
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  std::vector<std::string> cols;
  for (const auto& c : got.columns) cols.push_back(c.name() + ":" + c.type());
  EXPECT_EQ(absl::StrJoin(cols, ","), "venue:string,side:side,n:int,v:decimal,t:timestamp");
}

TEST_F(QueryE2E, InjectionAttemptsNeverChangeTheSqlAndLeaveTheWarehouseUnchanged) {
  const std::string before = WarehouseDigest();
  qpb::ExplainResponse benign;
  ASSERT_TRUE(Explain(*admin_token_, "cdc_pg_public.orders | where customer = \"x\" | project id, note", &benign).ok());
  const std::vector<std::string> hostile = {
      "'; DROP TABLE md.trades; --",
      "\\\"; DELETE FROM cdc_pg_public.orders; --",
      "$$; TRUNCATE md.trades; $$",
      "$q$ || pg_sleep(10) || $q$",
      "x' OR '1'='1",
      "*/ SELECT * FROM pg_authid /*",
      "-- comment",
      "\\u0027 UNION SELECT rolpassword FROM pg_authid --",
      "ＤＲＯＰ ＴＡＢＬＥ ｍｄ．ｔｒａｄｅｓ",  // fullwidth look-alikes
      "; COMMIT; CREATE TABLE pwned (x int); --",
  };
  for (const auto& h : hostile) {
    SCOPED_TRACE(h);
    std::string literal;
    for (char c : h) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    const std::string q = absl::StrCat("cdc_pg_public.orders | where customer = \"", literal, "\" | project id, note");
    qpb::ExplainResponse e;
    grpc::Status st = Explain(*admin_token_, q, &e);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(e.sql(), benign.sql()) << "the SQL text depends only on the query's shape";
    ASSERT_EQ(e.params_size(), benign.params_size());
    bool found = false;
    for (const auto& p : e.params()) found |= p.text() == h;
    EXPECT_TRUE(found) << "the value travels verbatim as a parameter";
    RunResult r = Run(*admin_token_, q);
    EXPECT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_TRUE(r.rows.empty());
  }
  // Names: only the catalog's. System catalogs, quoted hostile names and
  // look-alikes are unknown names (INVALID_ARGUMENT), never SQL.
  const std::vector<std::string> bad_names = {
      "pg_authid | limit 1",
      "pg_catalog.pg_authid | limit 1",
      "md.trades | project `rolpassword`",
      "md.trades | where `price\"; DROP TABLE md.trades; --` > 0",
      "md.trades | project x = `pg_sleep(10)`",
      "`cdc_pg_public.orders; DROP TABLE md.trades` | limit 1",
      "md.trаdes | limit 1",  // Cyrillic а
      "cdc_pg_public.orders; DROP TABLE md.trades",
      "md.trades | where price > 0; DELETE FROM md.trades",
      "md.trades | where symbol = $$x$$",
      "information_schema.tables | limit 1",
      "md.trades /* */ | limit 1",
      std::string("md.trades | where symbol = \"BTC-USD\0x\" | limit 1", 48),  // a NUL never reaches libpq
  };
  for (const auto& q : bad_names) {
    SCOPED_TRACE(q);
    RunResult r = Run(*admin_token_, q);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
    EXPECT_TRUE(r.rows.empty());
  }
  EXPECT_EQ(WarehouseDigest(), before);
}

TEST_F(QueryE2E, WithoutCdcReadCdcTablesCanBeNeitherQueriedNorSeenAndTheDenialIsAudited) {
  // alice: md:read only.
  RunResult r = Run(*alice_token_, "cdc_pg_public.orders | limit 1");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(r.status.error_message(),
            "permission 'cdc:read' (or 'cdc.pg.public.orders:read') needed to read cdc_pg_public.orders");
  EXPECT_TRUE(r.rows.empty());
  // A table that does not exist gets the same answer: no existence oracle.
  RunResult ghost = Run(*alice_token_, "cdc_pg_public.nothing_here | limit 1");
  EXPECT_EQ(ghost.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ghost.status.error_message(), "permission 'cdc:read' needed to read cdc_pg_public.nothing_here");
  qpb::ExplainResponse e;
  EXPECT_EQ(Explain(*alice_token_, "cdc_pg_public.secrets | project v", &e).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Run(*alice_token_, "md.trades | summarize n = count()").status.ok());

  auto names = [](const std::string& token) {
    qpb::CatalogResponse resp;
    EXPECT_TRUE(
        qpb::Query::NewStub(admin_->channel)->Catalog(testing::Ctx(token).get(), qpb::CatalogRequest(), &resp).ok());
    std::vector<std::string> out;
    for (const auto& s : resp.sources()) out.push_back(s.name());
    return absl::StrJoin(out, ",");
  };
  EXPECT_EQ(names(*alice_token_), "md.candles,md.trades");
  // bob: md:read and cdc.pg.public.orders:read: that one table, not the others.
  EXPECT_EQ(names(*bob_token_), "cdc_pg_public.orders,md.candles,md.trades");
  EXPECT_TRUE(Run(*bob_token_, "cdc_pg_public.orders | summarize n = count()").status.ok());
  RunResult bob_secret = Run(*bob_token_, "cdc_pg_public.secrets | project v");
  EXPECT_EQ(bob_secret.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(bob_secret.status.error_message(),
            "permission 'cdc:read' (or 'cdc.pg.public.secrets:read') needed to read cdc_pg_public.secrets");
  EXPECT_EQ(names(*admin_token_), "cdc_pg_bulk.big,cdc_pg_public.orders,cdc_pg_public.secrets,md.candles,md.trades");
  // The built-in viewer reads market data and every CDC table.
  auto carol = testing::PasswordLogin(admin_->channel, "carol", kUserPassword);
  ASSERT_TRUE(carol.ok());
  EXPECT_EQ(names(carol->access_token()),
            "cdc_pg_bulk.big,cdc_pg_public.orders,cdc_pg_public.secrets,md.candles,md.trades");
  EXPECT_TRUE(Run(carol->access_token(), "cdc_pg_public.secrets | project v").status.ok());

  // Every denial is in the audit log, read through admin gRPC.
  bool orders = false, ghost_seen = false, explain = false;
  for (const auto& a : Audit("alice", "query.run")) {
    if (a.outcome() != "PERMISSION_DENIED") continue;
    orders |= a.resource() == "cdc_pg_public.orders";
    ghost_seen |= a.resource() == "cdc_pg_public.nothing_here";
    EXPECT_NE(a.detail().find("query: cdc_pg_public."), std::string::npos) << a.detail();
  }
  for (const auto& a : Audit("alice", "query.explain"))
    explain |= a.outcome() == "PERMISSION_DENIED" && a.resource() == "cdc_pg_public.secrets";
  EXPECT_TRUE(orders && ghost_seen && explain);
  bool bob_denied = false;
  for (const auto& a : Audit("bob", "query.run"))
    bob_denied |= a.outcome() == "PERMISSION_DENIED" && a.resource() == "cdc_pg_public.secrets";
  EXPECT_TRUE(bob_denied);
}

TEST_F(QueryE2E, EveryQueryIsAuditedWithWhoTextRowsAndDuration) {
  const std::string q = "md.trades | where venue = \"kraken\" | summarize n = count() by symbol";
  RunResult r = Run(*alice_token_, q);
  ASSERT_TRUE(r.status.ok());
  bool found = false;
  for (const auto& a : Audit("alice", "query.run")) {
    if (a.outcome() != "OK" || a.detail().find(q) == std::string::npos) continue;
    found = true;
    EXPECT_EQ(a.resource(), "md.trades");
    EXPECT_NE(a.detail().find(absl::StrCat("rows=", r.rows.size(), " truncated=false duration_ms=")), std::string::npos)
        << a.detail();
  }
  EXPECT_TRUE(found);
}

struct Mistake {
  const char* what;
  const char* text;
  const char* message;
};

const Mistake kMistakes[] = {
    {"misspelt field", "md.trades | where prise > 60000",
     "1:19: unknown field 'prise' of md.trades\n"
     "  1 | md.trades | where prise > 60000\n"
     "    |                   ^~~~~\n"
     "hint: did you mean 'price'?"},
    {"string compared with a number", "md.trades | where symbol = 60000",
     "1:19: cannot compare string with int using '='\n"
     "  1 | md.trades | where symbol = 60000\n"
     "    |                   ^~~~~~~~~~~~~~\n"
     "hint: write the number as a string: \"60000\", or compare a numeric field"},
    {"missing by", "md.trades | summarize n = count() venue",
     "1:35: expected 'by', ',' or '|' after the aggregates, found 'venue'\n"
     "  1 | md.trades | summarize n = count() venue\n"
     "    |                                   ^~~~~\n"
     "hint: group with 'by': summarize ... by venue"},
    {"unclosed quote", "md.trades | where symbol = \"BTC-USD",
     "1:28: unclosed string: expected a closing '\"' on the same line\n"
     "  1 | md.trades | where symbol = \"BTC-USD\n"
     "    |                            ^"},
    {"unknown function", "md.trades | summarize n = cnt() by venue",
     "1:27: unknown function 'cnt'\n"
     "  1 | md.trades | summarize n = cnt() by venue\n"
     "    |                           ^~~\n"
     "hint: did you mean 'count'?"},
    {"misspelt source", "md.trdes | limit 10",
     "1:1: unknown source 'md.trdes'\n"
     "  1 | md.trdes | limit 10\n"
     "    | ^~~~~~~~\n"
     "hint: did you mean 'md.trades'?"},
    {"value outside an enum", "md.trades | where side = \"bye\"",
     "1:26: \"bye\" is not a value of side: expected one of buy, sell, unknown\n"
     "  1 | md.trades | where side = \"bye\"\n"
     "    |                          ^~~~~\n"
     "hint: did you mean \"buy\"?"},
    {"aggregate outside summarize", "md.trades | where sum(size) > 10",
     "1:19: aggregate sum() outside summarize\n"
     "  1 | md.trades | where sum(size) > 10\n"
     "    |                   ^~~\n"
     "hint: | summarize sum(...) by ..."},
    {"window in a warehouse query", "md.trades | window tumbling 1m grace 5s | summarize n = count()",
     "1:13: 'window' is for live streams: a warehouse table is grouped by time with bin()\n"
     "  1 | md.trades | window tumbling 1m grace 5s | summarize n = count()\n"
     "    |             ^~~~~~\n"
     "hint: summarize n = count() by bin(ts, 1m)"},
    {"single-quoted string on a later line", "md.trades\n| where venue = 'kraken'",
     "2:17: unexpected character '\\''\n"
     "  2 | | where venue = 'kraken'\n"
     "    |                 ^\n"
     "hint: strings are written in double quotes: \"BTC-USD\""},
    {"comparison with null", "cdc_pg_public.orders | where note = null",
     "1:30: a comparison with null is never true (it is null)\n"
     "  1 | cdc_pg_public.orders | where note = null\n"
     "    |                              ^~~~~~~~~~~\n"
     "hint: test with 'is null' or 'is not null'"},
};

TEST_F(QueryE2E, TypicalMistakesGetTheirRecordedMessagesWithLineColumnAndCaretOverGrpc) {
  for (const Mistake& m : kMistakes) {
    SCOPED_TRACE(m.what);
    RunResult r = Run(*admin_token_, m.text);
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(r.status.error_message(), m.message);
    // The position also travels as status details (google.rpc.Status on the wire).
    qpb::RpcStatus details;
    ASSERT_TRUE(details.ParseFromString(r.status.error_details()));
    ASSERT_EQ(details.details_size(), 1);
    qpb::QueryError e;
    ASSERT_TRUE(details.details(0).UnpackTo(&e));
    EXPECT_EQ(absl::StrCat(e.line(), ":", e.column()),
              std::string(m.message).substr(0, std::string(m.message).find(':', 2)));
    EXPECT_GE(e.length(), 1u);
    // Validate gives the same, as data, with an OK status.
    qpb::ValidateRequest req;
    req.set_query(m.text);
    qpb::ValidateResponse v;
    ASSERT_TRUE(qpb::Query::NewStub(admin_->channel)->Validate(testing::Ctx(*admin_token_).get(), req, &v).ok());
    EXPECT_FALSE(v.ok());
    ASSERT_EQ(v.errors_size(), 1);
    EXPECT_EQ(v.errors(0).formatted(), m.message);
    EXPECT_EQ(v.errors(0).line(), e.line());
    EXPECT_EQ(v.errors(0).column(), e.column());
  }
}

TEST_F(QueryE2E, HugeAndDeeplyNestedQueriesAreRefusedWithTheLimitTheyHit) {
  RunResult huge = Run(*admin_token_, "md.trades | limit 1 " + std::string(17 * 1024, ' '));
  EXPECT_EQ(huge.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(huge.status.error_message().find("exceeds the limit of 16384 bytes (max_input_bytes)"), std::string::npos)
      << huge.status.error_message().substr(0, 300);
  RunResult deep =
      Run(*admin_token_, "md.trades | where " + std::string(5000, '(') + "price > 1" + std::string(5000, ')'));
  EXPECT_EQ(deep.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(deep.status.error_message().find("nested deeper than 64 levels (limit max_depth)"), std::string::npos)
      << deep.status.error_message().substr(0, 300);
  RunResult literal = Run(*admin_token_, "md.trades | where symbol = \"" + std::string(2000, 'x') + "\"");
  EXPECT_EQ(literal.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(literal.status.error_message().find("max_literal_bytes"), std::string::npos);
  // The service is fine afterwards.
  EXPECT_TRUE(Run(*admin_token_, "md.trades | summarize n = count()").status.ok());
}

// Queries of the sa-query application still running in the warehouse.
std::string ActiveQueries(Warehouse& w) {
  return w.One(
      "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sa-query' AND state = 'active' "
      "AND query LIKE 'SELECT%'");
}

TEST_F(QueryE2E, APastTimeoutQueryIsDeadlineExceededAndGoneFromTheWarehouse) {
  const std::string slow = "cdc_pg_bulk.big | summarize n = count() by note, id | where n > 1";
  const absl::Time start = absl::Now();
  RunResult r = Run(*admin_token_, slow, 0, admin_fast_timeout_);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_TRUE(testing::WaitFor([&] { return ActiveQueries(*warehouse_) == "0"; }, absl::Seconds(5)));
  // The client gives up (its deadline) long before the service's 30 s timeout:
  // the service cancels the backend query at once.
  RunResult gave_up = Run(*admin_token_, slow, 0, admin_, std::chrono::milliseconds(400));
  EXPECT_EQ(gave_up.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(testing::WaitFor([&] { return ActiveQueries(*warehouse_) == "0"; }, absl::Seconds(5)))
      << "the backend query outlived its client";
  // The pool is healthy afterwards.
  EXPECT_TRUE(Run(*admin_token_, "md.trades | summarize n = count()").status.ok());
  bool audited = false;
  for (const auto& a : Audit("admin", "query.run")) audited |= a.outcome() == "DEADLINE_EXCEEDED";
  EXPECT_TRUE(audited);
}

TEST_F(QueryE2E, ARowLimitTruncatesAndSaysSo) {
  const int64_t total = std::stoll(warehouse_->One("SELECT count(*) FROM md.trades"));
  ASSERT_GT(total, 50);
  RunResult cut = Run(*admin_token_, "md.trades | sort by ts, trade_id | project trade_id", 50);
  ASSERT_TRUE(cut.status.ok()) << cut.status.error_message();
  EXPECT_EQ(cut.rows.size(), 50u);
  EXPECT_TRUE(cut.trailer.truncated());
  EXPECT_EQ(cut.trailer.row_limit(), 50u);
  EXPECT_EQ(cut.trailer.row_count(), 50u);
  EXPECT_EQ(cut.rows, *warehouse_->Exec("SELECT trade_id FROM md.trades ORDER BY ts, trade_id COLLATE \"C\" LIMIT 50"));
  // Exactly at the limit: not truncated; under the user's own limit: neither.
  EXPECT_FALSE(Run(*admin_token_, "md.trades | project trade_id", static_cast<uint64_t>(total)).trailer.truncated());
  RunResult own = Run(*admin_token_, "md.trades | limit 20 | project trade_id", 50);
  EXPECT_FALSE(own.trailer.truncated());
  EXPECT_EQ(own.rows.size(), 20u);
  // Batches: a result larger than one batch arrives whole.
  RunResult all = Run(*admin_token_, "md.trades | project trade_id");
  EXPECT_EQ(static_cast<int64_t>(all.rows.size()), total);
  EXPECT_FALSE(all.trailer.truncated());
}

TEST_F(QueryE2E, ExplainShowsTheSqlItsParametersAndThePlan) {
  qpb::ExplainResponse e;
  ASSERT_TRUE(
      Explain(*admin_token_, "md.trades | where venue = \"kraken\" | summarize n = count() by symbol", &e).ok());
  EXPECT_EQ(e.sql(),
            "SELECT \"symbol\" AS c1, count(*) AS c2 FROM \"md\".\"trades\" WHERE (\"venue\" = $1::text) GROUP BY "
            "\"symbol\" LIMIT $2::bigint");
  ASSERT_EQ(e.params_size(), 2);
  EXPECT_EQ(e.params(0).text(), "kraken");
  EXPECT_NE(e.plan().find("Scan"), std::string::npos) << e.plan();
  EXPECT_TRUE(e.truncatable());
}

TEST_F(QueryE2E, TheCliPrintsTablesCsvJsonAndErrorsWithTheirCaret) {
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {
        e2e::BinDir() + "/stream-admin", "--token", *admin_token_, "query", "-t", admin_->target};
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = testing::Process::Spawn(argv);
    EXPECT_TRUE(p.ok());
    auto rc = (*p)->Wait(absl::Seconds(30));
    EXPECT_TRUE((*p)->WaitForOutputEnd(absl::Seconds(5)).ok());
    return std::pair{rc.ok() ? *rc : -1, (*p)->Output()};
  };
  const std::string q = "cdc_pg_public.orders | where id <= 3 | sort by id | project id, status, amount";
  auto [rc, out] = cli({q});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("id  status     amount\n--  ---------  ------\n 1  new         13.25\n 2  cancelled   26.50\n"
                     " 3  refunded    39.75\n"),
            std::string::npos)
      << out;
  std::tie(rc, out) = cli({q, "--csv"});
  EXPECT_NE(out.find("id,status,amount\n1,new,13.25\n2,cancelled,26.50\n3,refunded,39.75\n"), std::string::npos) << out;
  std::tie(rc, out) = cli({q, "--json"});
  EXPECT_NE(out.find("[{\"amount\":\"13.25\",\"id\":1,\"status\":\"new\"},"), std::string::npos) << out;
  std::tie(rc, out) = cli({"md.trades | where prise > 1"});
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("1:19: unknown field 'prise' of md.trades\n  1 | md.trades | where prise > 1\n"
                     "    |                   ^~~~~\nhint: did you mean 'price'?"),
            std::string::npos)
      << out;
  std::tie(rc, out) = cli({q, "--explain"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("-- plan\n"), std::string::npos) << out;
  std::tie(rc, out) = cli({"--catalog"});
  EXPECT_NE(out.find("cdc_pg_public.orders  (cdc:read, pg.public.orders)\n  id"), std::string::npos) << out;
}

}  // namespace
}  // namespace sa
