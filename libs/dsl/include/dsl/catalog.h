// What a statement can read: sources (live streams and warehouse tables)
// with typed fields, each tagged with the permission needed to read it.
//
// Stream sources are named like their NATS subjects (md.trade,
// cdc.<server>.<schema>.<table>), table sources like their warehouse tables
// (md.trades, cdc_<server>_<schema>.<table>). The kind of the source decides
// the statement's use (dsl/dsl.h): a stream is filtered or aggregated in
// windows, a table is queried in SQL.
//
// Phase 2 builds one catalog per caller: BuiltinCatalog() plus the captured
// tables (AddCdcTable, from the warehouse's columns), then Filtered() by the
// caller's permissions, so a source the caller may not read is unknown to the
// checker (and absent from what Catalog lists).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/types.h"

namespace sa::dsl {

enum class SourceKind : uint8_t { kStream, kTable };

// The protobuf a stream source carries (what a compiled filter evaluates).
enum class MessageKind : uint8_t {
  kNone,         // tables
  kTrade,        // streamadmin.marketdata.v1.Trade
  kTicker,       // .Ticker
  kBook,         // .BookUpdate
  kCandle,       // .Candle
  kStatus,       // .VenueStatus
  kAnomaly,      // streamadmin.anomaly.v1.Anomaly
  kChangeEvent,  // streamadmin.cdc.v1.ChangeEvent
};

// Where a CDC stream field comes from.
enum class CdcImage : uint8_t {
  kNone,     // not a CDC column (getter or table column)
  kCurrent,  // the row: `after`, or `before` for a delete
  kBefore,   // `before.<column>`
};

struct FieldDef {
  using Getter = Value (*)(const void* message);
  // The protobuf string behind a string or decimal field (decimals: the
  // exact text): lets the filter compare without building a Value.
  using TextGetter = const std::string* (*)(const void* message);

  std::string name;    // as written in the DSL: "price", "before.status", "event.op"
  Type type;
  std::string column;  // tables: the SQL column; CDC streams: the source column
  Getter get = nullptr;  // built-in streams and CDC event metadata
  TextGetter text = nullptr;  // optional, string and decimal fields of built-in streams
  CdcImage image = CdcImage::kNone;
  std::string doc;
  std::string pg_type;  // captured tables (stream and warehouse): the column's PostgreSQL type
};

struct SourceDef {
  std::string name;
  SourceKind kind = SourceKind::kStream;
  MessageKind message = MessageKind::kNone;
  std::string sql_schema, sql_table;  // tables (unquoted)
  std::string subject;                // streams: the NATS subject filter ("md.trade.>")
  std::string time_field;             // event time: windows, first(), last()
  std::vector<FieldDef> fields;
  std::string permission;             // "md:read" or "cdc:read"
  std::string resource;               // CDC: "<server>.<schema>.<table>" (per-table permission patterns); md: ""
  std::string doc;

  const FieldDef* FindField(std::string_view name) const;
};

class Catalog {
 public:
  virtual ~Catalog() = default;
  virtual const SourceDef* Find(std::string_view name) const = 0;
  // Every source, sorted by name.
  virtual std::vector<const SourceDef*> Sources() const = 0;
};

// A catalog held in memory. Copyable; not thread-safe while being built.
class StaticCatalog : public Catalog {
 public:
  struct Column {
    std::string name;
    std::string pg_type;  // "int8", "numeric", "text", "timestamp with time zone", ...
  };

  void Add(SourceDef source);  // replaces a source of the same name
  // A captured table of `server`: the stream cdc.<server>.<schema>.<table>
  // (columns, before.<column>, event.op / event.commit_time / event.lsn /
  // event.snapshot) and the warehouse table cdc_<server>_<schema>.<table>
  // (columns). Permission cdc:read, resource <server>.<schema>.<table>.
  void AddCdcTable(const std::string& server, const std::string& schema, const std::string& table,
                   const std::vector<Column>& columns);
  // The sources `keep` accepts.
  StaticCatalog Filtered(const std::function<bool(const SourceDef&)>& keep) const;

  const SourceDef* Find(std::string_view name) const override;
  std::vector<const SourceDef*> Sources() const override;

 private:
  std::map<std::string, std::shared_ptr<const SourceDef>, std::less<>> sources_;
};

// md.trade, md.ticker, md.book, md.candle, md.status, anomaly (streams) and
// md.trades, md.candles (tables in schema md), permission md:read.
const StaticCatalog& BuiltinCatalog();

// BuiltinCatalog() plus the captured table pg.public.orders (id int8, status
// text, amount numeric, customer text, created_at timestamptz, note text)
// that the examples of docs/DSL.md use.
const StaticCatalog& ExampleCatalog();

// The DSL type of a PostgreSQL column type ("int8", "bigint", "numeric(12,2)",
// "timestamp with time zone", ...); kOpaque for types the DSL cannot compare.
Type TypeForPgType(std::string_view pg_type);

// The enums of the canonical messages.
const EnumDef& SideEnum();          // buy, sell, unknown
const EnumDef& StatusKindEnum();    // gap, checksum_mismatch, resyncing, resynced, connected, disconnected, stale, unknown
const EnumDef& CdcOpEnum();         // insert, update, delete, read, truncate, unknown

}  // namespace sa::dsl
