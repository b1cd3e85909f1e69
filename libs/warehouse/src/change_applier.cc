#include "warehouse/change_applier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "warehouse/sql_text.h"

namespace sa::warehouse {

namespace cdcpb = streamadmin::cdc::v1;
using Columns = google::protobuf::RepeatedPtrField<cdcpb::Column>;

// The net effect of a batch on one table, per primary key. Values are not
// copied: they point into the batch's events, which outlive ApplyBatch, and
// become text only when they are sent.
struct NetChanges {
  struct Row {
    const Columns* key_image = nullptr;  // the image the key's values are read from
    bool deleted = false;                // the row ends the batch deleted
    bool delete_first = false;           // deleted, then written again
    bool insert_only = false;  // only an insert of a key the batch had not touched before: COPY may do
    std::vector<const cdcpb::Value*> values;  // by table column index; null: not written
  };
  std::vector<Row> rows;                           // in the order the batch first touched each key
  absl::flat_hash_map<std::string, size_t> index;  // encoded key -> rows

  Row& Touch(const std::string& key, bool* fresh) {
    auto [it, inserted] = index.try_emplace(key, rows.size());
    if (inserted) rows.emplace_back();
    *fresh = inserted;
    return rows[it->second];
  }
  void Clear() {
    rows.clear();
    index.clear();
  }
};

namespace {

constexpr char kBegin[] = "BEGIN ISOLATION LEVEL READ COMMITTED";

// Fewer new rows than this in one table and column set are upserted, not
// copied: below it the savepoint's round trips cost more than COPY saves.
constexpr size_t kCopyMinRows = 256;
// COPY data is sent in pieces of about this size (the server parses one
// while the next is built).
constexpr size_t kCopyPieceBytes = 256 * 1024;

const cdcpb::Column* FindColumn(const Columns& cols, const std::string& name) {
  for (const auto& c : cols)
    if (c.name() == name) return &c;
  return nullptr;
}

bool HasPrimaryKey(const Columns& cols) {
  return std::any_of(cols.begin(), cols.end(), [](const cdcpb::Column& c) { return c.primary_key(); });
}

std::string TableLabel(const cdcpb::TableId& t) { return absl::StrCat(t.schema(), ".", t.table()); }

}  // namespace

absl::StatusOr<std::unique_ptr<ChangeApplier>> ChangeApplier::Connect(ApplierOptions options) {
  auto conn = pg::Connection::Connect(options.conninfo, {.application_name = "sa-warehouse"});
  if (!conn.ok()) return conn.status();
  std::unique_ptr<ChangeApplier> a(new ChangeApplier(std::move(options), std::move(*conn)));
  if (auto st = a->EnsureStateTable(); !st.ok()) return st;
  return a;
}

absl::Status ChangeApplier::EnsureStateTable() {
  const std::string s = conn_->QuoteIdent(options_.state_schema);
  for (const std::string& sql :
       {absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", s),
        absl::StrCat("CREATE TABLE IF NOT EXISTS ", s,
                     ".cdc_positions (server text PRIMARY KEY, lsn numeric(20,0) NOT NULL, "
                     "updated_at timestamptz NOT NULL DEFAULT now())")}) {
    auto r = conn_->Exec(sql);
    // Two appliers creating the same schema at once: one loses the race, harmlessly.
    if (!r.ok() && !absl::IsAlreadyExists(r.status())) return r.status();
  }
  if (options_.citus_distribute_shards > 0) {
    auto citus = conn_->Exec("SELECT 1 FROM pg_extension WHERE extname = 'citus'");
    if (!citus.ok()) return citus.status();
    citus_ = PQntuples(citus->get()) > 0;
    if (citus_) {
      const std::string rel = absl::StrCat(s, ".cdc_positions");
      auto done = conn_->Exec("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1)", {rel});
      if (!done.ok()) return done.status();
      if (PQntuples(done->get()) == 0) {
        auto r = conn_->Exec("SELECT create_reference_table($1)", {rel});
        if (!r.ok()) return r.status();
        spdlog::info("warehouse: {} is a reference table (citus)", rel);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ChangeApplier::AppliedLsn(const std::string& server) { return ReadPosition(server, false); }

absl::StatusOr<uint64_t> ChangeApplier::ReadPosition(const std::string& server, bool for_update) {
  auto r = conn_->Exec(absl::StrCat("SELECT lsn::text FROM ", conn_->QuoteIdent(options_.state_schema),
                                    ".cdc_positions WHERE server = $1", for_update ? " FOR UPDATE" : ""),
                       {server});
  if (!r.ok()) return r.status();
  uint64_t lsn = 0;
  if (PQntuples(r->get()) > 0) (void)absl::SimpleAtoi(PQgetvalue(r->get(), 0, 0), &lsn);
  return lsn;
}

absl::Status ChangeApplier::SetPosition(const std::string& server, uint64_t lsn) {
  auto r = conn_->Exec(absl::StrCat("INSERT INTO ", conn_->QuoteIdent(options_.state_schema),
                                    ".cdc_positions (server, lsn) VALUES ($1, $2) ON CONFLICT (server) DO UPDATE "
                                    "SET lsn = EXCLUDED.lsn, updated_at = now()"),
                       {server, absl::StrCat(lsn)});
  return r.ok() ? absl::OkStatus() : r.status();
}

std::string ChangeApplier::TargetName(const cdcpb::TableId& t) const {
  const std::string schema =
      absl::StrReplaceAll(options_.schema_template, {{"{server}", t.server()}, {"{schema}", t.schema()}});
  return absl::StrCat(conn_->QuoteIdent(schema), ".", conn_->QuoteIdent(t.table()));
}

std::string ChangeApplier::SqlType(const std::string& name) {
  if (auto it = type_map_.find(name); it != type_map_.end()) return it->second;
  std::string base = name;
  bool array = false;
  if (base.size() > 1 && base[0] == '_') {
    base = base.substr(1);
    array = true;
  }
  std::string sql;
  // Types whose bare name means a fixed length in DDL: keep them unbounded.
  if (base == "bpchar") {
    sql = "bpchar";
  } else if (base == "char") {
    sql = "\"char\"";
  } else if (base == "bit") {
    sql = "bit varying";
  } else if (base.rfind("oid:", 0) != 0) {
    auto r = conn_->Exec("SELECT to_regtype($1)::text", {base});
    if (r.ok() && PQntuples(r->get()) > 0 && !PQgetisnull(r->get(), 0, 0)) sql = PQgetvalue(r->get(), 0, 0);
  }
  if (sql.empty()) {
    sql = "text";  // a type the warehouse does not have (enums, domains of other databases): its exact text
    array = false;
  }
  if (array) sql += "[]";
  type_map_[name] = sql;
  return sql;
}

bool ChangeApplier::Validate(const cdcpb::ChangeEvent& e, std::string* reason, std::string* error) {
  if (e.table().table().empty() || e.table().server().empty()) {
    *reason = "bad_value";
    *error = "event without server or table name";
    return false;
  }
  if (e.op() == cdcpb::OP_TRUNCATE) return true;
  if (e.op() == cdcpb::OP_UNSPECIFIED || e.op() > cdcpb::OP_TRUNCATE) {
    *reason = "bad_value";
    *error = absl::StrCat("table ", TableLabel(e.table()), ": unknown op ", static_cast<int>(e.op()));
    return false;
  }
  const Columns& image = e.op() == cdcpb::OP_DELETE ? e.before() : e.after();
  if (!HasPrimaryKey(image) || (e.op() == cdcpb::OP_UPDATE && !HasPrimaryKey(e.before()))) {
    *reason = "no_primary_key";
    *error = absl::StrCat("table ", TableLabel(e.table()),
                          " has no primary key: the warehouse cannot upsert or delete its rows (add a primary key on "
                          "the source, or exclude the table)");
    return false;
  }
  for (const auto* cols : {&e.before(), &e.after()})
    for (const auto& c : *cols) {
      if (c.type_name().rfind("oid:", 0) == 0) {
        *reason = "unknown_type";
        *error = absl::StrCat("table ", TableLabel(e.table()), " column ", c.name(), ": unknown type ", c.type_name(),
                              " (not in the source's pg_type)");
        return false;
      }
      if (c.value().kind_case() == cdcpb::Value::KIND_NOT_SET) {
        *reason = "bad_value";
        *error = absl::StrCat("table ", TableLabel(e.table()), " column ", c.name(), ": value with no kind set");
        return false;
      }
    }
  return true;
}

absl::StatusOr<ChangeApplier::Table*> ChangeApplier::EnsureTable(const cdcpb::ChangeEvent& e) {
  const std::string target = TargetName(e.table());
  auto it = tables_.find(target);
  if (it == tables_.end()) {
    Table t;
    t.schema = absl::StrReplaceAll(options_.schema_template,
                                   {{"{server}", e.table().server()}, {"{schema}", e.table().schema()}});
    t.name = e.table().table();
    t.quoted = target;
    auto cols = conn_->Exec(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        {target});
    if (!cols.ok()) return cols.status();
    if (PQntuples(cols->get()) == 0) {
      if (e.op() == cdcpb::OP_TRUNCATE) return nullptr;  // nothing to truncate
      const Columns& image = e.op() == cdcpb::OP_DELETE ? e.before() : e.after();
      std::vector<std::string> defs, pk;
      for (const auto& c : image) {
        defs.push_back(absl::StrCat(conn_->QuoteIdent(c.name()), " ", SqlType(c.type_name())));
        if (c.primary_key()) pk.push_back(conn_->QuoteIdent(c.name()));
      }
      defs.push_back(absl::StrCat("PRIMARY KEY (", absl::StrJoin(pk, ", "), ")"));
      for (const std::string& sql : {absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", conn_->QuoteIdent(t.schema)),
                                     absl::StrCat("CREATE TABLE IF NOT EXISTS ", target, " (",
                                                  absl::StrJoin(defs, ", "), ")")}) {
        auto r = conn_->Exec(sql);
        if (!r.ok()) return r.status();
      }
      spdlog::info("warehouse: created table {} for {}", target, TableLabel(e.table()));
      if (citus_) {
        // The first key column: every row of a key lives in one shard.
        std::string first;
        for (const auto& c : image)
          if (c.primary_key()) {
            first = c.name();
            break;
          }
        auto r = conn_->Exec("SELECT create_distributed_table($1, $2, shard_count => $3::int)",
                             {target, first, absl::StrCat(options_.citus_distribute_shards)});
        if (!r.ok()) return r.status();
        spdlog::info("warehouse: {} distributed by {} (citus)", target, first);
      }
      cols = conn_->Exec(
          "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
          "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
          {target});
      if (!cols.ok()) return cols.status();
    }
    for (int i = 0; i < PQntuples(cols->get()); ++i) {
      t.columns.emplace_back(PQgetvalue(cols->get(), i, 0));
      t.types[t.columns.back()] = PQgetvalue(cols->get(), i, 1);
    }
    auto pk = conn_->Exec(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)",
        {target});
    if (!pk.ok()) return pk.status();
    for (int i = 0; i < PQntuples(pk->get()); ++i) t.primary_key.emplace_back(PQgetvalue(pk->get(), i, 0));
    if (t.primary_key.empty())
      return absl::FailedPreconditionError(
          absl::StrCat("warehouse table ", target, " exists without a primary key; cannot upsert into it"));
    it = tables_.emplace(target, std::move(t)).first;
  }
  Table& t = it->second;
  // Columns the source added since.
  for (const auto* cols : {&e.before(), &e.after()})
    for (const auto& c : *cols) {
      if (t.types.count(c.name())) continue;
      const std::string type = SqlType(c.type_name());
      auto r = conn_->Exec(absl::StrCat("ALTER TABLE ", t.quoted, " ADD COLUMN IF NOT EXISTS ",
                                        conn_->QuoteIdent(c.name()), " ", type));
      if (!r.ok()) return r.status();
      spdlog::info("warehouse: added column {} {} to {}", c.name(), type, t.quoted);
      t.columns.push_back(c.name());
      t.types[c.name()] = type;
    }
  return &t;
}

namespace {

// The column of `image` named `name`; `hint` is where it usually is (events
// list a table's columns in table order).
const cdcpb::Column* FindColumn(const Columns& image, const std::string& name, int hint) {
  if (hint >= 0 && hint < image.size() && image.Get(hint).name() == name) return &image.Get(hint);
  return FindColumn(image, name);
}

// Appends the table's primary key from `image` as one string that is equal
// for equal keys ("<length>:<text>;" per column, "N;" for NULL); false (and
// *error) if a key column is missing or has no text.
bool AppendEncodedKey(const std::vector<std::string>& pk, const std::vector<int>& pk_pos, const Columns& image,
                      std::string* out, std::string* scratch, std::string* error) {
  for (size_t i = 0; i < pk.size(); ++i) {
    const cdcpb::Column* c = FindColumn(image, pk[i], pk_pos[i]);
    if (!c) {
      *error = absl::StrCat("primary key column ", pk[i], " missing from the event");
      return false;
    }
    scratch->clear();
    bool null = false;
    if (auto st = AppendSqlText(c->value(), scratch, &null); !st.ok()) {
      *error = absl::StrCat("primary key column ", pk[i], ": ", st.message());
      return false;
    }
    if (null) {
      out->append("N;");
      continue;
    }
    absl::StrAppend(out, scratch->size(), ":", *scratch, ";");
  }
  return true;
}

// Appends `v`'s text through `escape`, or `null_text` for NULL; the text is
// built in `scratch`.
void AppendValueVia(const cdcpb::Value& v, const char* null_text, void (*escape)(std::string_view, std::string*),
                    std::string* out, std::string* scratch) {
  scratch->clear();
  bool null = false;
  (void)AppendSqlText(v, scratch, &null);  // checked when the event was taken in
  if (null) {
    out->append(null_text);
  } else {
    escape(std::string_view(*scratch), out);
  }
}

// Appends `v` as an element of an array literal ("NULL" or quoted text).
void AppendArrayValue(const cdcpb::Value& v, std::string* out, std::string* scratch) {
  AppendValueVia(v, "NULL", AppendArrayText, out, scratch);
}

// Appends `v` as one field of COPY's text format.
void AppendCopyValue(const cdcpb::Value& v, std::string* out, std::string* scratch) {
  switch (v.kind_case()) {
    case cdcpb::Value::kIntValue:
    case cdcpb::Value::kBoolValue:
    case cdcpb::Value::kTimestampUs:
    case cdcpb::Value::kTimestamptzUs: {
      bool null = false;
      (void)AppendSqlText(v, out, &null);  // no character COPY escapes
      return;
    }
    case cdcpb::Value::kTextValue:
      AppendCopyText(std::string_view(v.text_value()), out);
      return;
    case cdcpb::Value::kNumericValue:
      AppendCopyText(std::string_view(v.numeric_value()), out);
      return;
    default:
      break;
  }
  AppendValueVia(v, "\\N", AppendCopyText, out, scratch);
}

// COPYs the rows of one column set that only the batch inserted, when there
// are enough of them; true if it did (the other rows still need the upsert).
absl::StatusOr<bool> CopyNewRows(pg::Connection& conn, const std::string& table, const std::vector<std::string>& cols,
                                 const std::vector<size_t>& col_index,
                                 const std::vector<const NetChanges::Row*>& rows) {
  // Rows inserted by the source whose key the batch did not touch before:
  // the warehouse, which mirrors the source up to the stored position, does
  // not have them either, so COPY stores them at COPY's cost. If one is there
  // after all (a warehouse written by someone else), the COPY is undone and
  // every row goes through the upsert.
  std::vector<const NetChanges::Row*> fresh;
  for (const auto* row : rows)
    if (row->insert_only) fresh.push_back(row);
  if (fresh.size() < kCopyMinRows) return false;
  std::vector<std::string> names;
  for (const auto& c : cols) names.push_back(conn.QuoteIdent(c));
  if (auto r = conn.Exec("SAVEPOINT sa_copy"); !r.ok()) return r.status();
  size_t next = 0;
  std::string scratch;
  absl::Status st = conn.CopyIn(absl::StrCat("COPY ", table, " (", absl::StrJoin(names, ", "), ") FROM STDIN"),
                                [&](std::string& piece) {
                                  while (next < fresh.size() && piece.size() < kCopyPieceBytes) {
                                    const auto& values = fresh[next++]->values;
                                    for (size_t i = 0; i < col_index.size(); ++i) {
                                      if (i > 0) piece.push_back('\t');
                                      AppendCopyValue(*values[col_index[i]], &piece, &scratch);
                                    }
                                    piece.push_back('\n');
                                  }
                                  return next < fresh.size();
                                });
  if (st.ok()) {
    if (auto r = conn.Exec("RELEASE SAVEPOINT sa_copy"); !r.ok()) return r.status();
    return true;
  }
  if (!absl::IsAlreadyExists(st)) return absl::Status(st.code(), absl::StrCat("copy into ", table, ": ", st.message()));
  spdlog::info("warehouse: {} already holds some of {} inserted keys; upserting them", table, fresh.size());
  if (auto r = conn.Exec("ROLLBACK TO SAVEPOINT sa_copy"); !r.ok()) return r.status();
  return false;
}

// Where each primary key column is in the table (a hint for FindColumn).
std::vector<int> KeyPositions(const std::vector<std::string>& columns, const std::vector<std::string>& pk) {
  std::vector<int> pos;
  for (const auto& k : pk) {
    auto it = std::find(columns.begin(), columns.end(), k);
    pos.push_back(it == columns.end() ? -1 : static_cast<int>(it - columns.begin()));
  }
  return pos;
}

}  // namespace

absl::Status ChangeApplier::FlushTable(Table& t, NetChanges& net) {
  if (net.rows.empty()) return absl::OkStatus();
  const size_t nk = t.primary_key.size();
  const std::vector<int> pk_pos = KeyPositions(t.columns, t.primary_key);
  std::string scratch;
  // Deletes first: they commute with the upserts of other keys, and a row
  // deleted then written again is deleted before it is written.
  std::vector<std::string> del_cols(nk, "{");
  size_t deletes = 0;
  for (const auto& row : net.rows) {
    if (!row.deleted && !row.delete_first) continue;
    for (size_t i = 0; i < nk; ++i) {
      const cdcpb::Column* c = FindColumn(*row.key_image, t.primary_key[i], pk_pos[i]);
      if (deletes > 0) del_cols[i].push_back(',');
      AppendArrayValue(c->value(), &del_cols[i], &scratch);  // the key was read from this image before
    }
    ++deletes;
  }
  if (deletes > 0) {
    std::vector<std::string> keys, sel, unn, alias;
    std::vector<std::optional<std::string>> params;
    for (size_t i = 0; i < nk; ++i) {
      keys.push_back(conn_->QuoteIdent(t.primary_key[i]));
      alias.push_back(absl::StrCat("c", i));
      sel.push_back(absl::StrCat("u.c", i, "::", t.types[t.primary_key[i]]));
      unn.push_back(absl::StrCat("$", i + 1, "::text[]"));
      del_cols[i].push_back('}');
      params.push_back(std::move(del_cols[i]));
    }
    auto r = conn_->Exec(absl::StrCat("DELETE FROM ", t.quoted, " WHERE (", absl::StrJoin(keys, ", "), ") IN (SELECT ",
                                      absl::StrJoin(sel, ", "), " FROM unnest(", absl::StrJoin(unn, ", "), ") AS u(",
                                      absl::StrJoin(alias, ", "), "))"),
                         params);
    if (!r.ok()) return absl::Status(r.status().code(), absl::StrCat("delete from ", t.quoted, ": ", r.status().message()));
  }
  // Upserts, one statement per set of columns present (all of them, unless
  // an update left unchanged TOAST values out).
  std::map<std::string, std::vector<const NetChanges::Row*>> groups;  // by which columns are written ('1'/'0')
  std::string present;
  for (const auto& row : net.rows) {
    if (row.deleted) continue;
    present.assign(t.columns.size(), '0');
    for (size_t j = 0; j < row.values.size() && j < present.size(); ++j)
      if (row.values[j] != nullptr) present[j] = '1';
    groups[present].push_back(&row);
  }
  for (auto& [mask, all_rows] : groups) {
    std::vector<std::string> cols;
    std::vector<size_t> col_index;
    for (size_t j = 0; j < mask.size(); ++j)
      if (mask[j] == '1') {
        cols.push_back(t.columns[j]);
        col_index.push_back(j);
      }
    std::vector<const NetChanges::Row*> rows;
    if (auto copied = CopyNewRows(*conn_, t.quoted, cols, col_index, all_rows); !copied.ok()) {
      return copied.status();
    } else if (*copied) {
      for (const auto* row : all_rows)
        if (!row->insert_only) rows.push_back(row);
    } else {
      rows = std::move(all_rows);
    }
    if (rows.empty()) continue;
    std::vector<std::string> names, sel, unn, alias, set;
    std::vector<std::optional<std::string>> params;
    for (size_t i = 0; i < cols.size(); ++i) {
      names.push_back(conn_->QuoteIdent(cols[i]));
      sel.push_back(absl::StrCat("u.c", i, "::", t.types[cols[i]]));
      unn.push_back(absl::StrCat("$", i + 1, "::text[]"));
      alias.push_back(absl::StrCat("c", i));
      if (std::find(t.primary_key.begin(), t.primary_key.end(), cols[i]) == t.primary_key.end())
        set.push_back(absl::StrCat(names.back(), " = EXCLUDED.", names.back()));
      std::string column = "{";
      for (size_t r = 0; r < rows.size(); ++r) {
        if (r > 0) column.push_back(',');
        AppendArrayValue(*rows[r]->values[col_index[i]], &column, &scratch);
      }
      column.push_back('}');
      params.push_back(std::move(column));
    }
    std::vector<std::string> pk;
    for (const auto& k : t.primary_key) pk.push_back(conn_->QuoteIdent(k));
    auto r = conn_->Exec(
        absl::StrCat("INSERT INTO ", t.quoted, " (", absl::StrJoin(names, ", "), ") SELECT ", absl::StrJoin(sel, ", "),
                     " FROM unnest(", absl::StrJoin(unn, ", "), ") AS u(", absl::StrJoin(alias, ", "),
                     ") ON CONFLICT (", absl::StrJoin(pk, ", "), ") DO ",
                     set.empty() ? "NOTHING" : absl::StrCat("UPDATE SET ", absl::StrJoin(set, ", "))),
        params);
    if (!r.ok())
      return absl::Status(r.status().code(), absl::StrCat("upsert into ", t.quoted, ": ", r.status().message()));
  }
  net.Clear();
  return absl::OkStatus();
}

absl::Status ChangeApplier::ApplyBatch(const std::vector<const cdcpb::ChangeEvent*>& events) {
  std::map<Table*, NetChanges> net;
  // The previous event's table: consecutive events of one table skip the
  // lookup (EnsureTable) unless they carry a column at another place.
  const cdcpb::TableId* prev_id = nullptr;
  Table* prev = nullptr;
  NetChanges* prev_net = nullptr;
  std::vector<int> pk_pos;
  std::string enc, old_enc, scratch, error;
  auto same_table = [](const cdcpb::TableId& a, const cdcpb::TableId& b) {
    return a.table() == b.table() && a.schema() == b.schema() && a.server() == b.server();
  };
  auto columns_known = [](const Table& t, const Columns& image) {
    for (int i = 0; i < image.size(); ++i)
      if (static_cast<size_t>(i) >= t.columns.size() || t.columns[static_cast<size_t>(i)] != image.Get(i).name())
        return false;
    return true;
  };
  for (const cdcpb::ChangeEvent* e : events) {
    Table* t = nullptr;
    if (prev != nullptr && e->op() != cdcpb::OP_TRUNCATE && same_table(*prev_id, e->table()) &&
        columns_known(*prev, e->before()) && columns_known(*prev, e->after())) {
      t = prev;
    } else {
      auto table = EnsureTable(*e);
      if (!table.ok())
        return absl::Status(
            table.status().code() == absl::StatusCode::kUnavailable ? absl::StatusCode::kUnavailable
                                                                    : absl::StatusCode::kFailedPrecondition,
            absl::StrCat("warehouse table for ", TableLabel(e->table()), ": ", table.status().message()));
      t = *table;
      if (t != nullptr) {
        if (t != prev) {
          prev_net = &net[t];
          if (net.size() == 1 && prev_net->rows.empty()) {  // the batch's first table: room for all of it
            prev_net->rows.reserve(events.size());
            prev_net->index.reserve(events.size());
          }
        }
        prev = t;
        prev_id = &e->table();
        pk_pos = KeyPositions(t->columns, t->primary_key);
      }
    }
    if (e->op() == cdcpb::OP_TRUNCATE) {
      if (!t) continue;
      if (auto st = FlushTable(*t, net[t]); !st.ok()) return st;
      auto r = conn_->Exec(absl::StrCat("TRUNCATE ", t->quoted));
      if (!r.ok()) return r.status();
      continue;
    }
    NetChanges& n = *prev_net;
    const size_t ncols = t->columns.size();
    bool fresh = false;
    if (e->op() == cdcpb::OP_DELETE) {
      enc.clear();
      if (!AppendEncodedKey(t->primary_key, pk_pos, e->before(), &enc, &scratch, &error))
        return absl::InvalidArgumentError(absl::StrCat("table ", TableLabel(e->table()), ": delete: ", error));
      auto& row = n.Touch(enc, &fresh);
      row.key_image = &e->before();
      row.deleted = true;
      row.insert_only = false;
      row.values.assign(ncols, nullptr);
      continue;
    }
    enc.clear();
    if (!AppendEncodedKey(t->primary_key, pk_pos, e->after(), &enc, &scratch, &error))
      return absl::InvalidArgumentError(absl::StrCat("table ", TableLabel(e->table()), ": ", error));
    if (e->op() == cdcpb::OP_UPDATE) {
      old_enc.clear();
      if (AppendEncodedKey(t->primary_key, pk_pos, e->before(), &old_enc, &scratch, &error) && old_enc != enc) {
        auto& old = n.Touch(old_enc, &fresh);
        old.key_image = &e->before();
        old.deleted = true;
        old.insert_only = false;
        old.values.assign(ncols, nullptr);
      }
    }
    auto& row = n.Touch(enc, &fresh);
    row.key_image = &e->after();
    row.insert_only = fresh && e->op() == cdcpb::OP_CREATE;
    const bool full = e->op() != cdcpb::OP_UPDATE;
    if (row.deleted) {
      row.deleted = false;
      row.delete_first = true;
    }
    if (full) {
      row.values.assign(ncols, nullptr);
    } else if (row.values.size() < ncols) {
      row.values.resize(ncols, nullptr);  // columns added since the row was first touched
    }
    const Columns& after = e->after();
    for (int i = 0; i < after.size(); ++i) {
      const cdcpb::Column& c = after.Get(i);
      if (c.value().has_unchanged_toast()) continue;  // keep what the warehouse has
      if (auto st = CheckSqlText(c.value()); !st.ok())
        return absl::InvalidArgumentError(
            absl::StrCat("table ", TableLabel(e->table()), " column ", c.name(), ": ", st.message()));
      size_t j = static_cast<size_t>(i);
      if (j >= ncols || t->columns[j] != c.name())
        j = static_cast<size_t>(std::find(t->columns.begin(), t->columns.end(), c.name()) - t->columns.begin());
      row.values[j] = &c.value();  // EnsureTable added every column the event carries
    }
  }
  for (auto& [t, n] : net)
    if (auto st = FlushTable(*t, n); !st.ok()) return st;
  return absl::OkStatus();
}

absl::StatusOr<ApplyResult> ChangeApplier::Apply(const std::string& server,
                                                 const std::vector<const cdcpb::ChangeEvent*>& events,
                                                 uint64_t up_to) {
  ApplyResult result;
  auto fail = [this](const absl::Status& st) {
    tables_.clear();  // DDL of the failed transaction is gone
    (void)conn_->Exec("ROLLBACK");
    return st;
  };
  auto begin = [&]() -> absl::StatusOr<uint64_t> {
    auto r = conn_->Exec(kBegin);
    if (!r.ok()) return r.status();
    return ReadPosition(server, /*for_update=*/true);
  };
  auto stored = begin();
  if (!stored.ok()) return fail(stored.status());
  std::vector<const cdcpb::ChangeEvent*> todo;
  std::vector<size_t> todo_index;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i]->source().lsn() <= *stored) {
      ++result.skipped;
      continue;
    }
    std::string reason, error;
    if (!Validate(*events[i], &reason, &error)) {
      result.rejected.push_back({i, reason, error});
      continue;
    }
    todo.push_back(events[i]);
    todo_index.push_back(i);
  }
  absl::Status st = ApplyBatch(todo);
  if (!st.ok()) {
    if (st.code() == absl::StatusCode::kUnavailable || st.code() == absl::StatusCode::kFailedPrecondition)
      return fail(st);
    spdlog::warn("warehouse: batch of {} events for {} failed ({}); applying one by one", todo.size(), server,
                 std::string(st.message()));
    (void)fail(st);
    result.slow_path = true;
    stored = begin();
    if (!stored.ok()) return fail(stored.status());
    for (size_t j = 0; j < todo.size(); ++j) {
      if (auto r = conn_->Exec("SAVEPOINT sa_event"); !r.ok()) return fail(r.status());
      absl::Status one = ApplyBatch({todo[j]});
      if (one.ok()) {
        if (auto r = conn_->Exec("RELEASE SAVEPOINT sa_event"); !r.ok()) return fail(r.status());
        continue;
      }
      if (one.code() == absl::StatusCode::kUnavailable || one.code() == absl::StatusCode::kFailedPrecondition)
        return fail(one);
      tables_.clear();
      if (auto r = conn_->Exec("ROLLBACK TO SAVEPOINT sa_event"); !r.ok()) return fail(r.status());
      result.rejected.push_back({todo_index[j], "apply_failed", std::string(one.message())});
    }
  }
  if (up_to > *stored)
    if (absl::Status p = SetPosition(server, up_to); !p.ok()) return fail(p);
  if (auto r = conn_->Exec("COMMIT"); !r.ok()) return fail(r.status());
  result.applied = todo.size() - static_cast<size_t>(std::count_if(
                                      result.rejected.begin(), result.rejected.end(),
                                      [](const RejectedEvent& r) { return r.reason == "apply_failed"; }));
  std::sort(result.rejected.begin(), result.rejected.end(),
            [](const RejectedEvent& a, const RejectedEvent& b) { return a.index < b.index; });
  return result;
}

}  // namespace sa::warehouse
