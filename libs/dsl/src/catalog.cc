#include "dsl/catalog.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "streamadmin/anomaly/v1/anomaly.pb.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "wire/subjects.h"

namespace sa::dsl {

namespace mdpb = streamadmin::marketdata::v1;
namespace anpb = streamadmin::anomaly::v1;
namespace cdcpb = streamadmin::cdc::v1;

const EnumDef& SideEnum() {
  static const EnumDef e{"side", {"buy", "sell", "unknown"}};
  return e;
}
const EnumDef& StatusKindEnum() {
  static const EnumDef e{"status kind",
                         {"gap", "checksum_mismatch", "resyncing", "resynced", "connected", "disconnected", "stale",
                          "unknown"}};
  return e;
}
const EnumDef& CdcOpEnum() {
  static const EnumDef e{"op", {"insert", "update", "delete", "read", "truncate", "unknown"}};
  return e;
}

namespace {

Value Str(const std::string& s) { return Value::Str(s); }
Value NonEmpty(const std::string& s) { return s.empty() ? Value::Null() : Value::Str(s); }
Value Dec(const mdpb::Origin*, const streamadmin::common::v1::Decimal& d) {
  auto v = Decimal::Parse(d.value());
  return v.has_value() ? Value::Dec(*v) : Value::Null();
}
Value DecOf(const streamadmin::common::v1::Decimal& d) { return Dec(nullptr, d); }
Value Ts(int64_t ns) { return ns == 0 ? Value::Null() : Value::Int(ns, TypeKind::kTimestamp); }
Value EventTs(const mdpb::Origin& o) {
  return Ts(o.exchange_time_ns() != 0 ? o.exchange_time_ns() : o.receive_time_ns());
}
Value U64(uint64_t v) {
  return v > static_cast<uint64_t>(INT64_MAX) ? Value::Null() : Value::Int(static_cast<int64_t>(v));
}

template <typename M>
const M& As(const void* m) {
  return *static_cast<const M*>(m);
}

Value SideValue(mdpb::Side s) {
  const auto& v = SideEnum().values;
  switch (s) {
    case mdpb::SIDE_BUY: return Value::Str(v[0], TypeKind::kEnum);
    case mdpb::SIDE_SELL: return Value::Str(v[1], TypeKind::kEnum);
    default: return Value::Str(v[2], TypeKind::kEnum);
  }
}
Value StatusKindValue(mdpb::VenueStatus::Kind k) {
  const auto& v = StatusKindEnum().values;
  switch (k) {
    case mdpb::VenueStatus::KIND_GAP: return Value::Str(v[0], TypeKind::kEnum);
    case mdpb::VenueStatus::KIND_CHECKSUM_MISMATCH: return Value::Str(v[1], TypeKind::kEnum);
    case mdpb::VenueStatus::KIND_RESYNCING: return Value::Str(v[2], TypeKind::kEnum);
    case mdpb::VenueStatus::KIND_RESYNCED: return Value::Str(v[3], TypeKind::kEnum);
    case mdpb::VenueStatus::KIND_CONNECTED: return Value::Str(v[4], TypeKind::kEnum);
    case mdpb::VenueStatus::KIND_DISCONNECTED: return Value::Str(v[5], TypeKind::kEnum);
    case mdpb::VenueStatus::KIND_STALE: return Value::Str(v[6], TypeKind::kEnum);
    default: return Value::Str(v[7], TypeKind::kEnum);
  }
}
Value OpValue(cdcpb::Op op) {
  const auto& v = CdcOpEnum().values;
  switch (op) {
    case cdcpb::OP_CREATE: return Value::Str(v[0], TypeKind::kEnum);
    case cdcpb::OP_UPDATE: return Value::Str(v[1], TypeKind::kEnum);
    case cdcpb::OP_DELETE: return Value::Str(v[2], TypeKind::kEnum);
    case cdcpb::OP_READ: return Value::Str(v[3], TypeKind::kEnum);
    case cdcpb::OP_TRUNCATE: return Value::Str(v[4], TypeKind::kEnum);
    default: return Value::Str(v[5], TypeKind::kEnum);
  }
}

FieldDef F(std::string name, Type type, FieldDef::Getter get, std::string doc, FieldDef::TextGetter text = nullptr) {
  FieldDef f;
  f.name = std::move(name);
  f.type = type;
  f.get = get;
  f.text = text;
  f.doc = std::move(doc);
  return f;
}
FieldDef C(std::string name, Type type, std::string doc) {
  FieldDef f;
  f.column = name;
  f.name = std::move(name);
  f.type = type;
  f.doc = std::move(doc);
  return f;
}

const Type kStr = Type::Of(TypeKind::kString);
const Type kDec = Type::Of(TypeKind::kDecimal);
const Type kInt = Type::Of(TypeKind::kInt);
const Type kTs = Type::Of(TypeKind::kTimestamp);
const Type kBool = Type::Of(TypeKind::kBool);
const Type kFloat = Type::Of(TypeKind::kFloat);

// The origin fields every market data stream has.
template <typename M>
void AddOrigin(std::vector<FieldDef>* f) {
  f->push_back(F("venue", kStr, [](const void* m) { return Str(As<M>(m).origin().venue()); }, "coinbase, kraken, ...", [](const void* m) { return &As<M>(m).origin().venue(); }));
  f->push_back(F("symbol", kStr, [](const void* m) { return Str(As<M>(m).origin().symbol()); }, "BASE-QUOTE", [](const void* m) { return &As<M>(m).origin().symbol(); }));
  f->push_back(F("venue_symbol", kStr, [](const void* m) { return Str(As<M>(m).origin().venue_symbol()); },
                 "what the venue calls the symbol", [](const void* m) { return &As<M>(m).origin().venue_symbol(); }));
  f->push_back(F("received", kTs, [](const void* m) { return Ts(As<M>(m).origin().receive_time_ns()); },
                 "local receive time (null when unknown)"));
}

SourceDef Stream(std::string name, MessageKind kind, std::string subject, std::string time_field, std::string doc) {
  SourceDef s;
  s.name = std::move(name);
  s.kind = SourceKind::kStream;
  s.message = kind;
  s.subject = std::move(subject);
  s.time_field = std::move(time_field);
  s.permission = "md:read";
  s.doc = std::move(doc);
  return s;
}

StaticCatalog MakeBuiltin() {
  StaticCatalog c;
  {
    SourceDef s = Stream("md.trade", MessageKind::kTrade, wire::kTradeAll, "ts", "canonical trades (live)");
    AddOrigin<mdpb::Trade>(&s.fields);
    s.fields.push_back(F("ts", kTs, [](const void* m) { return EventTs(As<mdpb::Trade>(m).origin()); },
                         "event time: the venue's time, else the receive time"));
    s.fields.push_back(F("exchange_time", kTs,
                         [](const void* m) { return Ts(As<mdpb::Trade>(m).origin().exchange_time_ns()); },
                         "the venue's time (null when the venue gives none)"));
    s.fields.push_back(F("trade_id", kStr, [](const void* m) { return Str(As<mdpb::Trade>(m).trade_id()); }, "", [](const void* m) { return &As<mdpb::Trade>(m).trade_id(); }));
    s.fields.push_back(F("price", kDec, [](const void* m) { return DecOf(As<mdpb::Trade>(m).price()); }, "", [](const void* m) { return &As<mdpb::Trade>(m).price().value(); }));
    s.fields.push_back(F("size", kDec, [](const void* m) { return DecOf(As<mdpb::Trade>(m).size()); }, "", [](const void* m) { return &As<mdpb::Trade>(m).size().value(); }));
    s.fields.push_back(F("side", Type::Enum(&SideEnum()),
                         [](const void* m) { return SideValue(As<mdpb::Trade>(m).side()); }, "aggressor side"));
    c.Add(std::move(s));
  }
  {
    SourceDef s =
        Stream("md.ticker", MessageKind::kTicker, wire::kTickerAll, "ts", "best bid/ask and last price (live)");
    AddOrigin<mdpb::Ticker>(&s.fields);
    s.fields.push_back(F("ts", kTs, [](const void* m) { return EventTs(As<mdpb::Ticker>(m).origin()); }, "event time"));
    s.fields.push_back(F("bid_price", kDec, [](const void* m) { return DecOf(As<mdpb::Ticker>(m).bid_price()); }, "", [](const void* m) { return &As<mdpb::Ticker>(m).bid_price().value(); }));
    s.fields.push_back(F("bid_size", kDec, [](const void* m) { return DecOf(As<mdpb::Ticker>(m).bid_size()); }, "", [](const void* m) { return &As<mdpb::Ticker>(m).bid_size().value(); }));
    s.fields.push_back(F("ask_price", kDec, [](const void* m) { return DecOf(As<mdpb::Ticker>(m).ask_price()); }, "", [](const void* m) { return &As<mdpb::Ticker>(m).ask_price().value(); }));
    s.fields.push_back(F("ask_size", kDec, [](const void* m) { return DecOf(As<mdpb::Ticker>(m).ask_size()); }, "", [](const void* m) { return &As<mdpb::Ticker>(m).ask_size().value(); }));
    s.fields.push_back(F("last_price", kDec, [](const void* m) { return DecOf(As<mdpb::Ticker>(m).last_price()); }, "", [](const void* m) { return &As<mdpb::Ticker>(m).last_price().value(); }));
    s.fields.push_back(F("volume_24h", kDec, [](const void* m) { return DecOf(As<mdpb::Ticker>(m).volume_24h()); }, "", [](const void* m) { return &As<mdpb::Ticker>(m).volume_24h().value(); }));
    c.Add(std::move(s));
  }
  {
    SourceDef s = Stream("md.book", MessageKind::kBook, wire::kBookAll, "ts",
                         "L2 book updates (live); bid_*/ask_* are the top of book of snapshots (null on deltas)");
    AddOrigin<mdpb::BookUpdate>(&s.fields);
    s.fields.push_back(F("ts", kTs, [](const void* m) { return EventTs(As<mdpb::BookUpdate>(m).origin()); }, ""));
    s.fields.push_back(F("snapshot", kBool, [](const void* m) { return Value::Bool(As<mdpb::BookUpdate>(m).snapshot()); },
                         "true: the full book, best levels first"));
    s.fields.push_back(F("sequence", kInt, [](const void* m) { return U64(As<mdpb::BookUpdate>(m).sequence()); }, ""));
    s.fields.push_back(F("book_version", kInt,
                         [](const void* m) { return U64(As<mdpb::BookUpdate>(m).book_version()); }, ""));
    s.fields.push_back(F("bid_levels", kInt,
                         [](const void* m) { return Value::Int(As<mdpb::BookUpdate>(m).bids_size()); }, ""));
    s.fields.push_back(F("ask_levels", kInt,
                         [](const void* m) { return Value::Int(As<mdpb::BookUpdate>(m).asks_size()); }, ""));
    s.fields.push_back(F("bid_price", kDec, [](const void* m) {
      const auto& b = As<mdpb::BookUpdate>(m);
      return b.snapshot() && b.bids_size() > 0 ? DecOf(b.bids(0).price()) : Value::Null();
    }, "best bid of a snapshot"));
    s.fields.push_back(F("bid_size", kDec, [](const void* m) {
      const auto& b = As<mdpb::BookUpdate>(m);
      return b.snapshot() && b.bids_size() > 0 ? DecOf(b.bids(0).size()) : Value::Null();
    }, ""));
    s.fields.push_back(F("ask_price", kDec, [](const void* m) {
      const auto& b = As<mdpb::BookUpdate>(m);
      return b.snapshot() && b.asks_size() > 0 ? DecOf(b.asks(0).price()) : Value::Null();
    }, "best ask of a snapshot"));
    s.fields.push_back(F("ask_size", kDec, [](const void* m) {
      const auto& b = As<mdpb::BookUpdate>(m);
      return b.snapshot() && b.asks_size() > 0 ? DecOf(b.asks(0).size()) : Value::Null();
    }, ""));
    c.Add(std::move(s));
  }
  {
    SourceDef s = Stream("md.candle", MessageKind::kCandle, wire::kCandleAll, "open_time", "OHLCV candles (live)");
    AddOrigin<mdpb::Candle>(&s.fields);
    s.fields.push_back(F("interval", kStr, [](const void* m) { return Str(As<mdpb::Candle>(m).interval()); }, "1s, 1m", [](const void* m) { return &As<mdpb::Candle>(m).interval(); }));
    s.fields.push_back(F("open_time", kTs, [](const void* m) { return Ts(As<mdpb::Candle>(m).open_time_ns()); }, ""));
    s.fields.push_back(F("close_time", kTs, [](const void* m) { return Ts(As<mdpb::Candle>(m).close_time_ns()); }, ""));
    s.fields.push_back(F("open", kDec, [](const void* m) { return DecOf(As<mdpb::Candle>(m).open()); }, "", [](const void* m) { return &As<mdpb::Candle>(m).open().value(); }));
    s.fields.push_back(F("high", kDec, [](const void* m) { return DecOf(As<mdpb::Candle>(m).high()); }, "", [](const void* m) { return &As<mdpb::Candle>(m).high().value(); }));
    s.fields.push_back(F("low", kDec, [](const void* m) { return DecOf(As<mdpb::Candle>(m).low()); }, "", [](const void* m) { return &As<mdpb::Candle>(m).low().value(); }));
    s.fields.push_back(F("close", kDec, [](const void* m) { return DecOf(As<mdpb::Candle>(m).close()); }, "", [](const void* m) { return &As<mdpb::Candle>(m).close().value(); }));
    s.fields.push_back(F("volume", kDec, [](const void* m) { return DecOf(As<mdpb::Candle>(m).volume()); }, "", [](const void* m) { return &As<mdpb::Candle>(m).volume().value(); }));
    s.fields.push_back(F("trade_count", kInt, [](const void* m) { return U64(As<mdpb::Candle>(m).trade_count()); }, ""));
    s.fields.push_back(F("closed", kBool, [](const void* m) { return Value::Bool(As<mdpb::Candle>(m).closed()); },
                         "false while the interval is open"));
    c.Add(std::move(s));
  }
  {
    SourceDef s = Stream("md.status", MessageKind::kStatus, wire::kStatusAll, "ts", "gap / resync / connection events");
    AddOrigin<mdpb::VenueStatus>(&s.fields);
    s.fields.push_back(F("ts", kTs, [](const void* m) { return EventTs(As<mdpb::VenueStatus>(m).origin()); }, ""));
    s.fields.push_back(F("kind", Type::Enum(&StatusKindEnum()),
                         [](const void* m) { return StatusKindValue(As<mdpb::VenueStatus>(m).kind()); }, ""));
    s.fields.push_back(F("detail", kStr, [](const void* m) { return Str(As<mdpb::VenueStatus>(m).detail()); }, "", [](const void* m) { return &As<mdpb::VenueStatus>(m).detail(); }));
    s.fields.push_back(F("expected_sequence", kInt,
                         [](const void* m) { return U64(As<mdpb::VenueStatus>(m).expected_sequence()); }, ""));
    s.fields.push_back(F("received_sequence", kInt,
                         [](const void* m) { return U64(As<mdpb::VenueStatus>(m).received_sequence()); }, ""));
    c.Add(std::move(s));
  }
  {
    SourceDef s =
        Stream("anomaly", MessageKind::kAnomaly, wire::kAnomalyAll, "ts", "anomalies scored by the anomaly service");
    s.fields.push_back(F("venue", kStr, [](const void* m) { return Str(As<anpb::Anomaly>(m).venue()); }, "", [](const void* m) { return &As<anpb::Anomaly>(m).venue(); }));
    s.fields.push_back(F("symbol", kStr, [](const void* m) { return Str(As<anpb::Anomaly>(m).symbol()); }, "", [](const void* m) { return &As<anpb::Anomaly>(m).symbol(); }));
    s.fields.push_back(F("ts", kTs, [](const void* m) { return Ts(As<anpb::Anomaly>(m).event_time_ns()); }, ""));
    s.fields.push_back(F("score", kFloat, [](const void* m) { return Value::Float(As<anpb::Anomaly>(m).score()); },
                         "Isolation Forest score, 0..1"));
    s.fields.push_back(F("threshold", kFloat,
                         [](const void* m) { return Value::Float(As<anpb::Anomaly>(m).threshold()); }, ""));
    s.fields.push_back(F("model_id", kStr, [](const void* m) { return Str(As<anpb::Anomaly>(m).model_id()); }, "", [](const void* m) { return &As<anpb::Anomaly>(m).model_id(); }));
    s.fields.push_back(F("event_kind", kStr, [](const void* m) { return Str(As<anpb::Anomaly>(m).event_kind()); },
                         "trade or quote", [](const void* m) { return &As<anpb::Anomaly>(m).event_kind(); }));
    s.fields.push_back(F("source_msg_id", kStr,
                         [](const void* m) { return NonEmpty(As<anpb::Anomaly>(m).source_msg_id()); }, ""));
    c.Add(std::move(s));
  }
  {
    SourceDef s;
    s.name = "md.trades";
    s.kind = SourceKind::kTable;
    s.sql_schema = "md";
    s.sql_table = "trades";
    s.time_field = "ts";
    s.permission = "md:read";
    s.doc = "stored trades (warehouse, partitioned by day)";
    s.fields = {C("venue", kStr, ""), C("symbol", kStr, ""), C("trade_id", kStr, ""), C("ts", kTs, "event time"),
                C("price", kDec, ""), C("size", kDec, ""), C("side", Type::Enum(&SideEnum()), ""),
                C("received", kTs, "")};
    c.Add(std::move(s));
  }
  {
    SourceDef s;
    s.name = "md.candles";
    s.kind = SourceKind::kTable;
    s.sql_schema = "md";
    s.sql_table = "candles";
    s.time_field = "open_time";
    s.permission = "md:read";
    s.doc = "stored candles (warehouse)";
    s.fields = {C("venue", kStr, ""),       C("symbol", kStr, ""),     C("interval", kStr, ""),
                C("open_time", kTs, ""),    C("close_time", kTs, ""),  C("open", kDec, ""),
                C("high", kDec, ""),        C("low", kDec, ""),        C("close", kDec, ""),
                C("volume", kDec, ""),      C("trade_count", kInt, ""), C("closed", kBool, "")};
    c.Add(std::move(s));
  }
  return c;
}

}  // namespace

const FieldDef* SourceDef::FindField(std::string_view n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

void StaticCatalog::Add(SourceDef source) {
  std::string name = source.name;
  sources_[name] = std::make_shared<const SourceDef>(std::move(source));
}

void StaticCatalog::AddCdcTable(const std::string& server, const std::string& schema, const std::string& table,
                                const std::vector<Column>& columns) {
  const std::string resource = absl::StrCat(server, ".", schema, ".", table);
  SourceDef stream;
  stream.name = absl::StrCat(wire::kCdcPrefix, resource);
  stream.kind = SourceKind::kStream;
  stream.message = MessageKind::kChangeEvent;
  stream.subject = wire::CdcSubject(server, schema, table);  // as cdc-bridge publishes it
  stream.time_field = "event.commit_time";
  stream.permission = "cdc:read";
  stream.resource = resource;
  stream.doc = absl::StrCat("change events of ", resource, " (live)");
  SourceDef stored;
  stored.name = absl::StrCat("cdc_", server, "_", schema, ".", table);
  stored.kind = SourceKind::kTable;
  stored.sql_schema = absl::StrCat("cdc_", server, "_", schema);
  stored.sql_table = table;
  stored.permission = "cdc:read";
  stored.resource = resource;
  stored.doc = absl::StrCat("the rows of ", resource, " as applied to the warehouse");
  for (const auto& col : columns) {
    const Type t = TypeForPgType(col.pg_type);
    FieldDef f = C(col.name, t, col.pg_type);
    f.pg_type = col.pg_type;
    stored.fields.push_back(f);
    f.image = CdcImage::kCurrent;
    stream.fields.push_back(f);
    f.name = absl::StrCat("before.", col.name);
    f.image = CdcImage::kBefore;
    stream.fields.push_back(f);
  }
  stream.fields.push_back(F("event.op", Type::Enum(&CdcOpEnum()),
                            [](const void* m) { return OpValue(As<cdcpb::ChangeEvent>(m).op()); }, ""));
  stream.fields.push_back(F("event.commit_time", kTs, [](const void* m) {
    const int64_t us = As<cdcpb::ChangeEvent>(m).source().commit_time_us();
    return us == 0 ? Value::Null() : Value::Int(us * 1000, TypeKind::kTimestamp);
  }, "commit time of the transaction"));
  stream.fields.push_back(F("event.lsn", kInt, [](const void* m) { return U64(As<cdcpb::ChangeEvent>(m).source().lsn()); },
                            "commit LSN"));
  stream.fields.push_back(F("event.snapshot", kBool, [](const void* m) {
    return Value::Bool(As<cdcpb::ChangeEvent>(m).source().snapshot());
  }, "read by a snapshot"));
  Add(std::move(stream));
  Add(std::move(stored));
}

StaticCatalog StaticCatalog::Filtered(const std::function<bool(const SourceDef&)>& keep) const {
  StaticCatalog out;
  for (const auto& [name, s] : sources_)
    if (keep(*s)) out.sources_[name] = s;
  return out;
}

const SourceDef* StaticCatalog::Find(std::string_view name) const {
  auto it = sources_.find(name);
  return it == sources_.end() ? nullptr : it->second.get();
}

std::vector<const SourceDef*> StaticCatalog::Sources() const {
  std::vector<const SourceDef*> out;
  for (const auto& [name, s] : sources_) out.push_back(s.get());
  return out;
}

const StaticCatalog& BuiltinCatalog() {
  static const StaticCatalog* c = new StaticCatalog(MakeBuiltin());
  return *c;
}

const StaticCatalog& ExampleCatalog() {
  static const StaticCatalog* c = [] {
    auto* cat = new StaticCatalog(BuiltinCatalog());
    cat->AddCdcTable("pg", "public", "orders",
                     {{"id", "int8"},
                      {"status", "text"},
                      {"amount", "numeric"},
                      {"customer", "text"},
                      {"created_at", "timestamptz"},
                      {"note", "text"}});
    return cat;
  }();
  return *c;
}

Type TypeForPgType(std::string_view pg) {
  std::string t = absl::AsciiStrToLower(std::string(pg));
  if (auto p = t.find('('); p != std::string::npos) {
    // numeric(12,2) -> numeric; "timestamp(3) with time zone" -> keep the tail.
    const auto q = t.find(')', p);
    t = t.substr(0, p) + (q == std::string::npos ? "" : t.substr(q + 1));
  }
  if (absl::EndsWith(t, "[]") || (!t.empty() && t[0] == '_')) return Type::Of(TypeKind::kOpaque);
  static const std::map<std::string, TypeKind, std::less<>> kMap = {
      {"int2", TypeKind::kInt},          {"int4", TypeKind::kInt},
      {"int8", TypeKind::kInt},          {"smallint", TypeKind::kInt},
      {"integer", TypeKind::kInt},       {"bigint", TypeKind::kInt},
      {"numeric", TypeKind::kDecimal},   {"decimal", TypeKind::kDecimal},
      {"float4", TypeKind::kFloat},      {"float8", TypeKind::kFloat},
      {"real", TypeKind::kFloat},        {"double precision", TypeKind::kFloat},
      {"text", TypeKind::kString},       {"varchar", TypeKind::kString},
      {"character varying", TypeKind::kString}, {"bpchar", TypeKind::kString},
      {"character", TypeKind::kString},  {"char", TypeKind::kString},
      {"name", TypeKind::kString},       {"citext", TypeKind::kString},
      {"bool", TypeKind::kBool},         {"boolean", TypeKind::kBool},
      {"timestamp", TypeKind::kTimestamp}, {"timestamptz", TypeKind::kTimestamp},
      {"timestamp with time zone", TypeKind::kTimestamp},
      {"timestamp without time zone", TypeKind::kTimestamp},
  };
  auto it = kMap.find(t);
  return Type::Of(it == kMap.end() ? TypeKind::kOpaque : it->second);
}

}  // namespace sa::dsl
