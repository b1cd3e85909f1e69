// The SQL back end against a real PostgreSQL: md.trades/md.candles filled by
// the warehouse's own MarketDataWriter, a hand-made CDC table, and for every
// DSL query a hand-written SQL oracle whose rows must be exactly the same.
// Also: the library's accumulators against the SQL aggregates over the same
// trades, truncation, the read-only transaction, the statement timeout, and
// injection attempts leaving the warehouse unchanged.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "dsl/aggregate.h"
#include "dsl/sql.h"
#include "pg/connection.h"
#include "testing/suite_servers.h"
#include "warehouse/market_data_writer.h"

namespace sa::dsl {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
using Rows = std::vector<std::vector<std::string>>;

constexpr int64_t kStart = 1714600800000000000;  // 2024-05-01T22:00:00Z: the data crosses midnight
constexpr int64_t kSec = 1000000000;

// Deterministic trades: 3 venues x 3 symbols, unique µs-aligned times over
// ~4 hours, prices and sizes with varied scales.
std::vector<mdpb::Trade> MakeTrades() {
  const char* venues[] = {"coinbase", "kraken", "binance"};
  const char* symbols[] = {"BTC-USD", "ETH-USD", "SOL-USD"};
  const int64_t base[] = {60000, 3000, 150};
  std::vector<mdpb::Trade> out;
  uint64_t x = 12345;
  auto next = [&x] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  for (int i = 0; i < 900; ++i) {
    mdpb::Trade t;
    const int s = static_cast<int>(next() % 3);
    t.mutable_origin()->set_venue(venues[next() % 3]);
    t.mutable_origin()->set_symbol(symbols[s]);
    t.mutable_origin()->set_exchange_time_ns(kStart + i * 16 * kSec + static_cast<int64_t>(next() % 1000000) * 1000);
    t.mutable_origin()->set_receive_time_ns(t.origin().exchange_time_ns() + 1000);
    t.set_trade_id(absl::StrCat(100000 + i));
    const int64_t cents = base[s] * 100 + static_cast<int64_t>(next() % (base[s] * 50)) - base[s] * 25;
    const int scale = static_cast<int>(next() % 3);
    t.mutable_price()->set_value(scale == 0   ? absl::StrCat(cents / 100, ".", absl::StrFormat("%02d", cents % 100))
                                 : scale == 1 ? absl::StrCat(cents / 100, ".", absl::StrFormat("%02d", cents % 100), "000")
                                              : absl::StrCat(cents / 100));
    t.mutable_size()->set_value(absl::StrCat("0.", absl::StrFormat("%08d", static_cast<int>(next() % 99999999) + 1)));
    t.set_side(next() % 2 ? mdpb::SIDE_BUY : mdpb::SIDE_SELL);
    out.push_back(std::move(t));
  }
  return out;
}

class SqlPgTest : public testing::PostgresSuite<SqlPgTest> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(PostgresSuite::SetUpTestSuite());
    auto w = warehouse::MarketDataWriter::Connect({.conninfo = pg_->dsn()});
    ASSERT_TRUE(w.ok()) << w.status();
    trades_ = new std::vector<mdpb::Trade>(MakeTrades());
    std::vector<const mdpb::Trade*> ptrs;
    for (const auto& t : *trades_) ptrs.push_back(&t);
    auto written = (*w)->WriteTrades(ptrs);
    ASSERT_TRUE(written.ok()) << written.status();
    ASSERT_EQ(*written, trades_->size());
    std::vector<warehouse::CandleRow> candles;
    for (int i = 0; i < 30; ++i) {
      warehouse::CandleRow r;
      r.interval = i % 3 == 0 ? "1s" : "1m";
      auto& c = r.candle;
      c.mutable_origin()->set_venue(i % 2 ? "kraken" : "coinbase");
      c.mutable_origin()->set_symbol(i % 5 ? "BTC-USD" : "ETH-USD");
      c.set_open_time_ns(kStart + i * 60 * kSec);
      c.set_close_time_ns(c.open_time_ns() + (r.interval == "1s" ? kSec : 60 * kSec));
      c.mutable_open()->set_value(absl::StrCat(60000 + i, ".5"));
      c.mutable_high()->set_value(absl::StrCat(60100 + i * 3, ".25"));
      c.mutable_low()->set_value(absl::StrCat(59900 - i, ".125"));
      c.mutable_close()->set_value(absl::StrCat(60050 + i * 2));
      c.mutable_volume()->set_value(absl::StrCat("1.", i * 7));
      c.set_trade_count(10 + i);
      c.set_closed(i % 4 != 0);
      candles.push_back(std::move(r));
    }
    std::vector<const warehouse::CandleRow*> cptrs;
    for (const auto& c : candles) cptrs.push_back(&c);
    ASSERT_TRUE((*w)->WriteCandles(cptrs).ok());
    ASSERT_TRUE(pg_->Exec(
                       "CREATE SCHEMA cdc_pg_public;"
                       "CREATE TABLE cdc_pg_public.orders (id int8 PRIMARY KEY, status text, amount numeric, "
                       "customer text, created_at timestamptz, note text);"
                       "INSERT INTO cdc_pg_public.orders SELECT g, (ARRAY['paid','new','cancelled','refunded'])[g % 4 + 1], "
                       "CASE WHEN g % 7 = 0 THEN NULL ELSE (g * 13.25)::numeric END, "
                       "CASE WHEN g % 11 = 0 THEN NULL ELSE 'customer' || (g % 6) END, "
                       "'2024-04-30 00:00:00+00'::timestamptz + g * interval '1 hour', "
                       "CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, 60) g;"
                       "INSERT INTO cdc_pg_public.orders VALUES (61, 'paid', 1.5, 'O''Brien; DROP TABLE x', "
                       "'2024-05-02 00:00:00+00', '$$ -- /* */');"
                       "CREATE TABLE cdc_pg_public.big (id int8 PRIMARY KEY, note text);"
                       "INSERT INTO cdc_pg_public.big SELECT g, md5(g::text) FROM generate_series(1, 300000) g;")
                    .ok());
    auto conn = pg::Connection::Connect(pg_->dsn());
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = conn->release();
    catalog_ = new StaticCatalog(BuiltinCatalog());
    catalog_->AddCdcTable("pg", "public", "orders",
                          {{"id", "bigint"},
                           {"status", "text"},
                           {"amount", "numeric"},
                           {"customer", "text"},
                           {"created_at", "timestamp with time zone"},
                           {"note", "text"}});
    catalog_->AddCdcTable("pg", "public", "big", {{"id", "bigint"}, {"note", "text"}});
  }
  static void TearDownTestSuite() {
    delete conn_;
    PostgresSuite::TearDownTestSuite();
    delete trades_;
    delete catalog_;
  }

  static Rows Fetch(PGresult* r) {
    Rows rows;
    for (int i = 0; i < PQntuples(r); ++i) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(r); ++j) row.push_back(PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j));
      rows.push_back(std::move(row));
    }
    return rows;
  }

  // Runs `sql` with `params` inside the query prelude; rows as text.
  static absl::StatusOr<Rows> Run(const std::string& sql, const std::vector<std::optional<std::string>>& params,
                                  const SqlQuery& settings) {
    for (const auto& s : settings.Prelude()) {
      auto r = conn_->Exec(s);
      if (!r.ok()) return r.status();
    }
    auto r = conn_->Exec(sql, params);
    if (!r.ok()) {
      (void)conn_->Exec("ROLLBACK");
      return r.status();
    }
    Rows rows = Fetch(r->get());
    if (auto c = conn_->Exec("COMMIT"); !c.ok()) return c.status();
    return rows;
  }

  static absl::StatusOr<SqlQuery> Compile(const std::string& dsl, SqlOptions options = {}) {
    CheckOptions o;
    o.now_ns = kStart + 4 * 3600 * kSec;
    o.allowed_uses = static_cast<unsigned>(Use::kWarehouseQuery);
    auto plan = Check(dsl, *catalog_, o);
    if (!plan.ok()) return plan.status();
    return CompileSql(*plan, options);
  }

  static pg::Connection* conn_;
  static std::vector<mdpb::Trade>* trades_;
  static StaticCatalog* catalog_;
};

pg::Connection* SqlPgTest::conn_ = nullptr;
std::vector<mdpb::Trade>* SqlPgTest::trades_ = nullptr;
StaticCatalog* SqlPgTest::catalog_ = nullptr;

struct Pair {
  const char* dsl;
  const char* oracle;
  bool ordered;  // compare in order (sort/top); otherwise as sets
};

const Pair kPairs[] = {
    {"md.trades | where venue = \"kraken\" | project trade_id, price",
     "SELECT trade_id, price FROM md.trades WHERE venue = 'kraken'", false},
    {"md.trades | where venue in (\"coinbase\", \"kraken\") and symbol = \"BTC-USD\" and price > 60000"
     " | project venue, trade_id, price, size",
     "SELECT venue, trade_id, price, size FROM md.trades WHERE venue IN ('coinbase', 'kraken') AND symbol = 'BTC-USD' "
     "AND price > 60000",
     false},
    {"md.trades | where side = \"sell\" | summarize n = count(), volume = sum(size) by venue",
     "SELECT venue, count(*), sum(size) FROM md.trades WHERE side = 'sell' GROUP BY venue", false},
    {"md.trades | summarize vwap = vwap(price, size) by venue, symbol",
     "SELECT venue, symbol, sum(price * size) / sum(size) FROM md.trades GROUP BY 1, 2", false},
    {"md.trades | summarize vwap = sum(price * size) / sum(size), n = count() by venue, bin(ts, 1m)",
     "SELECT venue, date_trunc('minute', ts), sum(price * size) / sum(size), count(*) FROM md.trades GROUP BY 1, 2",
     false},
    {"md.trades | summarize n = count(), high = max(price), low = min(price) by symbol, hour = bin(ts, 1h)",
     "SELECT symbol, date_trunc('hour', ts), count(*), max(price), min(price) FROM md.trades GROUP BY 1, 2", false},
    {"md.trades | summarize n = count() by venue, five = bin(ts, 5m)",
     "SELECT venue, to_timestamp(floor(extract(epoch FROM ts) / 300) * 300), count(*) FROM md.trades GROUP BY 1, 2",
     false},
    {"md.trades | summarize open = first(price) by symbol",
     "SELECT DISTINCT ON (symbol) symbol, price FROM md.trades ORDER BY symbol, ts ASC", false},
    {"md.trades | summarize close = last(price) by symbol, venue",
     "SELECT DISTINCT ON (symbol, venue) symbol, venue, price FROM md.trades ORDER BY symbol, venue, ts DESC", false},
    {"md.trades | summarize p90 = percentile(price, 0.9) by venue",
     "SELECT venue, price FROM (SELECT venue, price, row_number() OVER (PARTITION BY venue ORDER BY price) AS rn, "
     "count(*) OVER (PARTITION BY venue) AS n FROM md.trades) t WHERE rn = greatest(ceil(0.9 * n), 1)",
     false},
    {"md.trades | summarize avg_size = avg(size) by venue",
     "SELECT venue, sum(size) / count(size) FROM md.trades GROUP BY venue", false},
    {"md.trades | top 5 by price desc, trade_id | project trade_id, price",
     "SELECT trade_id, price FROM md.trades ORDER BY price DESC, trade_id LIMIT 5", true},
    {"md.trades | where ts >= timestamp(\"2024-05-01T23:30:00Z\") and ts < timestamp(\"2024-05-02T00:30:00Z\")"
     " | summarize n = count()",
     "SELECT count(*) FROM md.trades WHERE ts >= '2024-05-01 23:30:00+00' AND ts < '2024-05-02 00:30:00+00'", false},
    {"md.trades | where ts > now() - 90m | summarize n = count() by venue",
     "SELECT venue, count(*) FROM md.trades WHERE ts > '2024-05-02 00:30:00+00' GROUP BY venue", false},
    {"md.trades | where matches(trade_id, \"^10[0-9]*7$\") | summarize n = count() by venue",
     "SELECT venue, count(*) FROM md.trades WHERE trade_id LIKE '10%7' GROUP BY venue", false},
    {"md.trades | where contains(symbol, \"ETH\") or endswith(symbol, \"OL-USD\") | summarize n = count() by symbol",
     "SELECT symbol, count(*) FROM md.trades WHERE symbol LIKE '%ETH%' OR symbol LIKE '%OL-USD' GROUP BY symbol",
     false},
    {"md.trades | where price * size > 1000 | summarize n = count(), notional = sum(price * size)",
     "SELECT count(*), sum(price * size) FROM md.trades WHERE price * size > 1000", false},
    {"md.trades | summarize n = count() by side, venue | where n > 100",
     "SELECT side, venue, count(*) FROM md.trades GROUP BY side, venue HAVING count(*) > 100", false},
    {"md.trades | where symbol = \"SOL-USD\" | summarize n = count() by r = round(price, -0 + 0)",
     "SELECT round(price, 0), count(*) FROM md.trades WHERE symbol = 'SOL-USD' GROUP BY 1", false},
    {"md.trades | where side != \"buy\" and venue = \"coinbase\" | summarize n = count(), sd = stddev(price) by symbol",
     "SELECT symbol, count(*), stddev_samp(price::float8) FROM md.trades WHERE side <> 'buy' AND venue = 'coinbase' "
     "GROUP BY symbol",
     false},
    {"md.candles | where interval = \"1m\" and closed | project venue, symbol, open_time, close",
     "SELECT venue, symbol, open_time, close FROM md.candles WHERE interval = '1m' AND closed", false},
    {"md.candles | summarize trades = sum(trade_count), hi = max(high), lo = min(low) by symbol",
     "SELECT symbol, sum(trade_count), max(high), min(low) FROM md.candles GROUP BY symbol", false},
    {"md.candles | where close_time - open_time = 1m | summarize n = count() by venue",
     "SELECT venue, count(*) FROM md.candles WHERE close_time - open_time = interval '1 minute' GROUP BY venue", false},
    {"cdc_pg_public.orders | where status = \"paid\" | top 3 by amount desc | project id, amount",
     "SELECT id, amount FROM cdc_pg_public.orders WHERE status = 'paid' ORDER BY amount DESC NULLS LAST LIMIT 3",
     true},
    {"cdc_pg_public.orders | where note is null | project id",
     "SELECT id FROM cdc_pg_public.orders WHERE note IS NULL", false},
    {"cdc_pg_public.orders | where amount is not null | summarize total = sum(amount), n = count(amount), c = count() "
     "by status",
     "SELECT status, sum(amount), count(amount), count(*) FROM cdc_pg_public.orders WHERE amount IS NOT NULL "
     "GROUP BY status",
     false},
    {"cdc_pg_public.orders | where customer = \"O'Brien; DROP TABLE x\" | project id, note",
     "SELECT id, note FROM cdc_pg_public.orders WHERE customer = 'O''Brien; DROP TABLE x'", false},
    {"cdc_pg_public.orders | where created_at > timestamp(\"2024-05-01T00:00:00Z\") and not (status in "
     "(\"cancelled\", \"refunded\")) | project id, status",
     "SELECT id, status FROM cdc_pg_public.orders WHERE created_at > '2024-05-01 00:00:00+00' AND "
     "status NOT IN ('cancelled', 'refunded')",
     false},
    {"cdc_pg_public.orders | where len(customer) > 9 | project id, customer",
     "SELECT id, customer FROM cdc_pg_public.orders WHERE char_length(customer) > 9", false},
    {"cdc_pg_public.orders | where coalesce(note, \"none\") = \"none\" | project id",
     "SELECT id FROM cdc_pg_public.orders WHERE note IS NULL", false},
    {"cdc_pg_public.orders | where amount / 2 > 300 | project id, half = amount / 2",
     "SELECT id, amount / 2 FROM cdc_pg_public.orders WHERE amount / 2 > 300", false},
    {"cdc_pg_public.orders | sort by customer desc, id | project customer, id",
     "SELECT customer, id FROM cdc_pg_public.orders ORDER BY customer COLLATE \"C\" DESC NULLS LAST, id", true},
};

TEST_F(SqlPgTest, EveryDslQueryReturnsExactlyTheRowsOfItsHandWrittenSql) {
  int checked = 0;
  for (const Pair& p : kPairs) {
    auto q = Compile(p.dsl);
    ASSERT_TRUE(q.ok()) << p.dsl << "\n" << q.status();
    auto got = Run(q->sql, q->params, *q);
    ASSERT_TRUE(got.ok()) << p.dsl << "\n" << q->sql << "\n" << got.status();
    auto want = Run(p.oracle, {}, *q);
    ASSERT_TRUE(want.ok()) << p.oracle << "\n" << want.status();
    if (!p.ordered) {
      std::sort(got->begin(), got->end());
      std::sort(want->begin(), want->end());
    }
    EXPECT_FALSE(want->empty()) << "an oracle that returns nothing proves little: " << p.oracle;
    EXPECT_EQ(*got, *want) << p.dsl << "\n" << q->sql;
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// The views service's accumulators and the SQL aggregates agree on the same
// trades (the window is the minute bin).
TEST_F(SqlPgTest, LibraryAccumulatorsMatchTheSqlAggregates) {
  const std::string aggs =
      "n = count(), volume = sum(size), vwap = vwap(price, size), open = first(price), close = last(price), "
      "hi = max(price), lo = min(price), mean = avg(price), sd = stddev(price), p95 = percentile(price, 0.95)";
  CheckOptions o;
  auto live = Check(absl::StrCat("md.trade | where symbol != \"SOL-USD\" | window tumbling 1h grace 0s | summarize ",
                                 aggs, " by venue, symbol"),
                    *catalog_, o);
  ASSERT_TRUE(live.ok()) << live.status();
  auto agg = Aggregation::Create(*live);
  ASSERT_TRUE(agg.ok());
  for (const auto& t : *trades_) (*agg)->Add(&t);
  auto q = Compile(absl::StrCat("md.trades | where symbol != \"SOL-USD\" | summarize ", aggs,
                                " by hour = bin(ts, 1h), venue, symbol | sort by hour, venue, symbol"));
  ASSERT_TRUE(q.ok()) << q.status();
  auto rows = Run(q->sql, q->params, *q);
  ASSERT_TRUE(rows.ok()) << rows.status();
  const auto lib = (*agg)->Rows();
  ASSERT_EQ(lib.size(), rows->size());
  ASSERT_GE(lib.size(), 20u);
  for (size_t i = 0; i < lib.size(); ++i) {
    const auto& sql = (*rows)[i];
    const auto& mine = lib[i];
    // window_start, window_end, venue, symbol, aggregates... vs hour, venue, symbol, aggregates...
    EXPECT_EQ(absl::FormatTime("%Y-%m-%d %H:%M:%S+00", absl::FromUnixNanos(mine[0].get().i), absl::UTCTimeZone()),
              sql[0]);
    for (size_t j = 2; j < mine.size(); ++j) {
      const Value v = mine[j].get();
      const std::string& s = sql[j - 1];
      if (v.kind == TypeKind::kFloat) {
        double d;
        ASSERT_TRUE(absl::SimpleAtod(s, &d));
        EXPECT_NEAR(v.f, d, 1e-9 * std::fabs(d)) << "row " << i << " column " << (*agg)->columns()[j].name;
      } else {
        EXPECT_EQ(ValueToString(v), s) << "row " << i << " column " << (*agg)->columns()[j].name;
      }
    }
  }
}

TEST_F(SqlPgTest, TruncationIsToldByTheExtraRow) {
  auto q = Compile("md.trades | project trade_id", {.max_rows = 100});
  ASSERT_TRUE(q.ok());
  auto rows = Run(q->sql, q->params, *q);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_TRUE(q->truncatable);
  EXPECT_EQ(rows->size(), 101u) << "row_limit + 1 rows: the result was cut at 100";
  auto small = Compile("md.trades | where venue = \"kraken\" | top 3 by trade_id", {.max_rows = 100});
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(small->truncatable);
  EXPECT_EQ(Run(small->sql, small->params, *small)->size(), 3u);
}

TEST_F(SqlPgTest, ThePreludeMakesTheTransactionReadOnly) {
  auto q = Compile("md.trades | limit 1");
  ASSERT_TRUE(q.ok());
  auto r = Run("INSERT INTO md.candles (venue) VALUES ('x')", {}, *q);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("read-only transaction"), std::string::npos) << r.status();
}

TEST_F(SqlPgTest, TheStatementTimeoutCancelsTheQueryInTheDatabase) {
  auto q = Compile("cdc_pg_public.big | where matches(note, \"(a|b|c)+9$\") | summarize n = count()",
                   {.max_rows = 10, .statement_timeout_ms = 1});
  ASSERT_TRUE(q.ok()) << q.status();
  for (const auto& s : q->Prelude()) ASSERT_TRUE(conn_->Exec(s).ok());
  std::vector<const char*> values;
  for (const auto& p : q->params) values.push_back(p->c_str());
  PGresult* res = PQexecParams(conn_->raw(), q->sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0);
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  EXPECT_STREQ(state != nullptr ? state : "", "57014") << "query_canceled (statement timeout)";
  PQclear(res);
  ASSERT_TRUE(conn_->Exec("ROLLBACK").ok());
}

TEST_F(SqlPgTest, InjectionAttemptsLeaveTheWarehouseUnchanged) {
  const auto before = Run("SELECT (SELECT count(*) FROM md.trades), (SELECT count(*) FROM md.candles), "
                          "(SELECT count(*) FROM cdc_pg_public.orders), (SELECT count(*) FROM pg_class)",
                          {}, SqlQuery{});
  ASSERT_TRUE(before.ok()) << before.status();
  const char* const attempts[] = {
      "md.trades | where venue = \"'; DROP TABLE md.trades; --\"",
      "md.trades | where venue = \"$$; DELETE FROM md.trades; $$\" | summarize n = count()",
      "cdc_pg_public.orders | where note = \"x'); TRUNCATE cdc_pg_public.orders; --\" | project id",
      "md.trades | where trade_id in (\"1\", \"2'; CREATE TABLE pwned(); --\")",
      "md.candles | where contains(symbol, \"%'; DROP SCHEMA md CASCADE; --\")",
      "md.trades | where matches(venue, \"'; DROP TABLE md.trades; --\")",
  };
  for (const char* a : attempts) {
    auto q = Compile(a);
    ASSERT_TRUE(q.ok()) << a << ": " << q.status();
    auto rows = Run(q->sql, q->params, *q);
    ASSERT_TRUE(rows.ok()) << a << ": " << rows.status();
    if (q->columns.size() == 1 && q->columns[0].name == "n") {
      EXPECT_EQ(*rows, Rows({{"0"}})) << a;
    } else {
      EXPECT_TRUE(rows->empty()) << a;
    }
  }
  EXPECT_EQ(*Run("SELECT (SELECT count(*) FROM md.trades), (SELECT count(*) FROM md.candles), "
                 "(SELECT count(*) FROM cdc_pg_public.orders), (SELECT count(*) FROM pg_class)",
                 {}, SqlQuery{}),
            *before);
}

}  // namespace
}  // namespace sa::dsl
