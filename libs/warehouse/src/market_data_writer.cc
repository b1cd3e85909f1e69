#include "warehouse/market_data_writer.h"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "pg/error.h"

namespace sa::warehouse {

namespace mdpb = streamadmin::marketdata::v1;

namespace {

// -?digits[.digits]([eE][+-]?digits)?
bool IsDecimal(const std::string& s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp = 0;
    while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) ++i, ++exp;
    if (exp == 0) return false;
  }
  return i == s.size() && s.size() <= 1000;
}

// 2000-01-01 .. 2200-01-01 in ns: anything else is a unit mistake.
bool SaneTime(int64_t ns) { return ns >= 946684800LL * 1000000000LL && ns < 7258118400LL * 1000000000LL; }

int64_t TradeTime(const mdpb::Origin& o) { return o.exchange_time_ns() != 0 ? o.exchange_time_ns() : o.receive_time_ns(); }

std::string Ts(int64_t ns) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}
std::string Day(int64_t ns) { return absl::FormatTime("%Y%m%d", absl::FromUnixNanos(ns), absl::UTCTimeZone()); }

// COPY text format: backslash, tab, newline and CR escaped.
void Field(const std::string& v, std::string* out) {
  for (char c : v) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '\t': out->append("\\t"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      default: out->push_back(c);
    }
  }
}
void Row(std::initializer_list<std::string> fields, std::string* out) {
  bool first = true;
  for (const auto& f : fields) {
    if (!first) out->push_back('\t');
    first = false;
    Field(f, out);
  }
  out->push_back('\n');
}

const char* SideName(mdpb::Side s) {
  switch (s) {
    case mdpb::SIDE_BUY: return "buy";
    case mdpb::SIDE_SELL: return "sell";
    default: return "unknown";
  }
}

}  // namespace

std::string MarketDataWriter::Check(const mdpb::Trade& t) {
  if (t.origin().venue().empty() || t.origin().symbol().empty()) return "trade without venue or symbol";
  if (t.trade_id().empty()) return "trade without trade_id (and without Nats-Msg-Id)";
  if (!IsDecimal(t.price().value())) return absl::StrCat("price '", t.price().value().substr(0, 64), "' is not a decimal");
  if (!IsDecimal(t.size().value())) return absl::StrCat("size '", t.size().value().substr(0, 64), "' is not a decimal");
  if (!SaneTime(TradeTime(t.origin()))) return absl::StrCat("trade time ", TradeTime(t.origin()), " ns is out of range");
  return "";
}

std::string MarketDataWriter::Check(const CandleRow& r) {
  const mdpb::Candle& c = r.candle;
  if (c.origin().venue().empty() || c.origin().symbol().empty() || r.interval.empty())
    return "candle without venue, symbol or interval";
  for (const auto* d : {&c.open(), &c.high(), &c.low(), &c.close(), &c.volume()})
    if (!IsDecimal(d->value())) return absl::StrCat("candle value '", d->value().substr(0, 64), "' is not a decimal");
  if (!SaneTime(c.open_time_ns())) return absl::StrCat("candle open time ", c.open_time_ns(), " ns is out of range");
  return "";
}

absl::StatusOr<std::unique_ptr<MarketDataWriter>> MarketDataWriter::Connect(MarketDataWriterOptions options) {
  std::unique_ptr<MarketDataWriter> w(new MarketDataWriter(std::move(options)));
  auto conn = pg::Connection::Connect(w->options_.conninfo, {.application_name = "sa-warehouse"});
  if (!conn.ok()) return conn.status();
  w->conn_ = std::move(*conn);
  w->schema_ = w->conn_->QuoteIdent(w->options_.schema);
  if (auto st = w->Setup(); !st.ok()) return st;
  return w;
}

absl::Status MarketDataWriter::Setup() {
  const std::string& s = schema_;
  for (const std::string& sql : {
           absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", s),
           absl::StrCat("CREATE TABLE IF NOT EXISTS ", s,
                        ".trades (venue text NOT NULL, symbol text NOT NULL, trade_id text NOT NULL, "
                        "ts timestamptz NOT NULL, price numeric NOT NULL, size numeric NOT NULL, side text NOT NULL, "
                        "received timestamptz, PRIMARY KEY (symbol, venue, trade_id, ts)) PARTITION BY RANGE (ts)"),
           absl::StrCat("CREATE TABLE IF NOT EXISTS ", s,
                        ".candles (venue text NOT NULL, symbol text NOT NULL, interval text NOT NULL, "
                        "open_time timestamptz NOT NULL, close_time timestamptz, open numeric NOT NULL, "
                        "high numeric NOT NULL, low numeric NOT NULL, close numeric NOT NULL, volume numeric NOT NULL, "
                        "trade_count bigint NOT NULL, closed bool NOT NULL, "
                        "PRIMARY KEY (symbol, venue, interval, open_time)) PARTITION BY RANGE (open_time)"),
           std::string("CREATE TEMP TABLE IF NOT EXISTS md_stage_trades (venue text, symbol text, trade_id text, "
                       "ts timestamptz, price numeric, size numeric, side text, received timestamptz) "
                       "ON COMMIT DELETE ROWS"),
           std::string("CREATE TEMP TABLE IF NOT EXISTS md_stage_candles (venue text, symbol text, interval text, "
                       "open_time timestamptz, close_time timestamptz, open numeric, high numeric, low numeric, "
                       "close numeric, volume numeric, trade_count bigint, closed bool) ON COMMIT DELETE ROWS")}) {
    auto r = conn_->Exec(sql);
    if (!r.ok() && !absl::IsAlreadyExists(r.status())) return r.status();
  }
  auto citus = conn_->Exec("SELECT 1 FROM pg_extension WHERE extname = 'citus'");
  if (!citus.ok()) return citus.status();
  if (PQntuples(citus->get()) > 0) {
    const std::string shards = absl::StrCat(std::max(1, options_.citus_shard_count));
    for (const auto& [t, column] : {std::pair<const char*, const char*>{"trades", "trade_id"}, {"candles", "symbol"}}) {
      const std::string rel = absl::StrCat(s, ".", t);
      auto done = conn_->Exec("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)", {rel});
      if (!done.ok()) return done.status();
      if (PQntuples(done->get()) == 0) {
        auto r = conn_->Exec("SELECT create_distributed_table($1, $2, shard_count => $3::int, colocate_with => 'none')",
                             {rel, std::string(column), shards});
        if (!r.ok()) return r.status();
        spdlog::info("warehouse: {} distributed by {} in {} shards (citus)", rel, column, shards);
      }
    }
    distributed_ = true;
  }
  return absl::OkStatus();
}

absl::Status MarketDataWriter::CreatePartition(const std::string& table, const std::string& suffix,
                                              const std::string& from, const std::string& to) {
  const std::string name = absl::StrCat(table, "_", suffix);
  auto r = conn_->Exec(absl::StrCat("CREATE TABLE IF NOT EXISTS ", schema_, ".", conn_->QuoteIdent(name),
                                    " PARTITION OF ", schema_, ".", table, " FOR VALUES FROM ('", from,
                                    " 00:00:00+00') TO ('", to, " 00:00:00+00')"));
  if (!r.ok() && !absl::IsAlreadyExists(r.status())) return r.status();
  return absl::OkStatus();
}

absl::Status MarketDataWriter::EnsurePartitions(const std::string& table, const std::set<std::string>& days,
                                                bool monthly) {
  for (const auto& day : days) {
    const absl::CivilDay d(std::stoi(day.substr(0, 4)), std::stoi(day.substr(4, 2)), std::stoi(day.substr(6, 2)));
    const std::string key = absl::StrCat(table, "_", monthly ? day.substr(0, 6) : day);
    if (partitions_.count(key) || partitions_.count(absl::StrCat(table, "_", day))) continue;
    if (!monthly) {
      if (auto st = CreatePartition(table, day, absl::FormatCivilTime(d), absl::FormatCivilTime(d + 1)); !st.ok())
        return st;
      partitions_.insert(key);
      continue;
    }
    const absl::CivilMonth m(d);
    const std::string first = absl::FormatCivilTime(absl::CivilDay(m));
    const std::string next = absl::FormatCivilTime(absl::CivilDay(m + 1));
    // A savepoint: a month overlapping day partitions of an earlier version
    // fails, and the batch's transaction must survive that.
    if (auto r = conn_->Exec("SAVEPOINT partition"); !r.ok()) return r.status();
    absl::Status st = CreatePartition(table, day.substr(0, 6), first, next);
    if (st.ok()) {
      if (auto r = conn_->Exec("RELEASE SAVEPOINT partition"); !r.ok()) return r.status();
      partitions_.insert(key);
      continue;
    }
    // 42P17 invalid_object_definition: "partition ... would overlap partition ...".
    if (pg::SqlStateOf(st) != pg::sqlstate::kInvalidObjectDefinition) return st;
    if (auto r = conn_->Exec("ROLLBACK TO SAVEPOINT partition"); !r.ok()) return r.status();
    if (auto st2 = CreatePartition(table, day, absl::FormatCivilTime(d), absl::FormatCivilTime(d + 1)); !st2.ok())
      return st2;
    partitions_.insert(absl::StrCat(table, "_", day));
  }
  return absl::OkStatus();
}

absl::Status MarketDataWriter::Copy(const std::string& table, const std::string& rows) {
  return conn_->CopyIn(absl::StrCat("COPY ", table, " FROM STDIN"), rows);
}

absl::StatusOr<size_t> MarketDataWriter::WriteTrades(const std::vector<const mdpb::Trade*>& trades) {
  if (trades.empty()) return 0;
  std::string rows;
  std::set<std::string> days;
  for (const auto* t : trades) {
    const int64_t ts = TradeTime(t->origin());
    days.insert(Day(ts));
    Row({t->origin().venue(), t->origin().symbol(), t->trade_id(), Ts(ts), t->price().value(), t->size().value(),
         SideName(t->side()), t->origin().receive_time_ns() ? Ts(t->origin().receive_time_ns()) : "\\N"},
        &rows);
  }
  // \N must reach COPY unescaped: Field() escaped it; restore the marker.
  absl::StrReplaceAll({{"\t\\\\N\n", "\t\\N\n"}}, &rows);
  return CopyBatch(
      "trades", days, /*monthly=*/false, rows,
      absl::StrCat("INSERT INTO ", schema_, ".trades SELECT * FROM md_stage_trades ON CONFLICT DO NOTHING RETURNING 1"));
}

absl::StatusOr<size_t> MarketDataWriter::WriteCandles(const std::vector<const CandleRow*>& candles) {
  if (candles.empty()) return 0;
  // Within a batch the last version of a candle wins (one row per key for ON CONFLICT).
  std::map<std::tuple<std::string, std::string, std::string, int64_t>, const CandleRow*> last;
  for (const auto* r : candles)
    last[{r->candle.origin().symbol(), r->candle.origin().venue(), r->interval, r->candle.open_time_ns()}] = r;
  std::string rows;
  std::set<std::string> days;
  for (const auto& [k, r] : last) {
    const mdpb::Candle& c = r->candle;
    days.insert(Day(c.open_time_ns()));
    Row({c.origin().venue(), c.origin().symbol(), r->interval, Ts(c.open_time_ns()),
         c.close_time_ns() ? Ts(c.close_time_ns()) : "\\N", c.open().value(), c.high().value(), c.low().value(),
         c.close().value(), c.volume().value(), absl::StrCat(c.trade_count()), c.closed() ? "t" : "f"},
        &rows);
  }
  absl::StrReplaceAll({{"\t\\\\N\t", "\t\\N\t"}}, &rows);
  return CopyBatch(
      "candles", days, /*monthly=*/true, rows,
      absl::StrCat("INSERT INTO ", schema_,
                   ".candles AS c SELECT * FROM md_stage_candles ON CONFLICT (symbol, venue, interval, "
                   "open_time) DO UPDATE SET close_time = EXCLUDED.close_time, open = EXCLUDED.open, "
                   "high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume, "
                   "trade_count = EXCLUDED.trade_count, closed = EXCLUDED.closed WHERE (NOT c.closed OR EXCLUDED.closed) AND "
                   "(c.close_time, c.open, c.high, c.low, c.close, c.volume, c.trade_count, c.closed) IS DISTINCT FROM "
                   "(EXCLUDED.close_time, EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume, "
                   "EXCLUDED.trade_count, EXCLUDED.closed) RETURNING 1"));
}

absl::StatusOr<size_t> MarketDataWriter::CopyBatch(const std::string& table, const std::set<std::string>& days,
                                                   bool monthly, const std::string& rows, const std::string& insert) {
  if (auto r = conn_->Exec("BEGIN"); !r.ok()) return r.status();
  auto fail = [this](absl::Status st) {
    (void)conn_->Exec("ROLLBACK");
    return st;
  };
  if (auto st = EnsurePartitions(table, days, monthly); !st.ok()) return fail(st);
  if (auto st = Copy(absl::StrCat("md_stage_", table), rows); !st.ok()) return fail(st);
  auto ins = conn_->Exec(insert);
  if (!ins.ok()) return fail(ins.status());
  // The rows RETURNING gave back, not PQcmdTuples: on Citus that counts the
  // rows pulled to the coordinator, replays included.
  const size_t n = static_cast<size_t>(PQntuples(ins->get()));
  if (auto r = conn_->Exec("COMMIT"); !r.ok()) return fail(r.status());
  return n;
}

}  // namespace sa::warehouse
