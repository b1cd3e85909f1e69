#include "cdc/table_snapshot.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cdc/pgoutput.h"
#include "cdc/value_mapping.h"
#include "common/clock.h"

namespace sa::cdc {

namespace cdcpb = streamadmin::cdc::v1;

namespace {

// key values -> "len:value;" pairs, N; for NULL (keys are never NULL, but be total).
std::string EncodeKey(const std::vector<std::optional<std::string>>& key) {
  std::string out;
  for (const auto& k : key) absl::StrAppend(&out, k ? absl::StrCat(k->size(), ":", *k) : "N", ";");
  return out;
}

bool DecodeKey(const std::string& s, std::vector<std::optional<std::string>>* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == 'N') {
      out->emplace_back();
      i += 2;
      continue;
    }
    size_t colon = s.find(':', i);
    if (colon == std::string::npos) return false;
    size_t len = 0;
    if (!absl::SimpleAtoi(s.substr(i, colon - i), &len) || colon + 1 + len >= s.size() + 1) return false;
    out->push_back(s.substr(colon + 1, len));
    i = colon + 1 + len + 1;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TableSnapshotReader>> TableSnapshotReader::Open(const std::string& dsn,
                                                                               std::string server, std::string schema,
                                                                               std::string table, int chunk_size,
                                                                               const std::string& resume_after) {
  std::unique_ptr<TableSnapshotReader> r(new TableSnapshotReader());
  auto conn = pg::Connection::Connect(dsn, {.application_name = "sa-cdc-snapshot"});
  if (!conn.ok()) return conn.status();
  r->conn_ = std::move(*conn);
  r->server_ = std::move(server);
  r->schema_ = std::move(schema);
  r->table_ = std::move(table);
  r->chunk_size_ = chunk_size > 0 ? chunk_size : 10000;
  r->quoted_ = absl::StrCat(r->conn_->QuoteIdent(r->schema_), ".", r->conn_->QuoteIdent(r->table_));
  const std::string where = absl::StrCat("table ", r->schema_, ".", r->table_);
  auto db = r->conn_->Exec("SELECT current_database()");
  if (!db.ok()) return db.status();
  r->database_ = PQgetvalue(db->get(), 0, 0);
  auto cols = r->conn_->Exec(
      "SELECT a.attname, a.atttypid, CASE WHEN n.nspname = 'pg_catalog' THEN t.typname "
      "ELSE n.nspname || '.' || t.typname END, "
      "coalesce(a.attnum = ANY(i.indkey), false), array_position(i.indkey::int2[], a.attnum) "
      "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace "
      "LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      {r->quoted_});
  if (!cols.ok()) return cols.status();
  if (PQntuples(cols->get()) == 0) return absl::NotFoundError(absl::StrCat(where, ": no such table"));
  std::vector<std::pair<int, std::string>> pk;
  for (int i = 0; i < PQntuples(cols->get()); ++i) {
    Column c;
    c.name = PQgetvalue(cols->get(), i, 0);
    (void)absl::SimpleAtoi(PQgetvalue(cols->get(), i, 1), &c.oid);
    c.type_name = PQgetvalue(cols->get(), i, 2);
    c.primary_key = std::string(PQgetvalue(cols->get(), i, 3)) == "t";
    if (c.primary_key) {
      int pos = 0;
      (void)absl::SimpleAtoi(PQgetvalue(cols->get(), i, 4), &pos);
      pk.emplace_back(pos, c.name);
    }
    r->columns_.push_back(std::move(c));
  }
  if (pk.empty())
    return absl::FailedPreconditionError(
        absl::StrCat(where, " has no primary key: it cannot be snapshotted in chunks (nor upserted)"));
  std::sort(pk.begin(), pk.end());
  for (auto& [pos, name] : pk) r->primary_key_.push_back(name);
  if (!resume_after.empty() && !DecodeKey(resume_after, &r->last_key_))
    return absl::InvalidArgumentError(absl::StrCat(where, ": stored snapshot position is corrupt"));
  return r;
}

std::string TableSnapshotReader::EncodedLastKey() const { return EncodeKey(last_key_); }

absl::StatusOr<TableSnapshotReader::Chunk> TableSnapshotReader::Next() {
  Chunk chunk;
  if (done_) {
    chunk.last = true;
    return chunk;
  }
  std::vector<std::string> keys, params_sql;
  for (size_t i = 0; i < primary_key_.size(); ++i) {
    keys.push_back(conn_->QuoteIdent(primary_key_[i]));
    params_sql.push_back(absl::StrCat("$", i + 1));
  }
  const std::string order = absl::StrJoin(keys, ", ");
  std::string sql = absl::StrCat("SELECT * FROM ", quoted_);
  std::vector<std::optional<std::string>> params;
  if (!last_key_.empty()) {
    absl::StrAppend(&sql, " WHERE (", order, ") > (", absl::StrJoin(params_sql, ", "), ")");
    params = last_key_;
  }
  absl::StrAppend(&sql, " ORDER BY ", order, " LIMIT ", chunk_size_, " FOR SHARE");
  auto fail = [this](absl::Status st) {
    (void)conn_->Exec("ROLLBACK");
    return st;
  };
  if (auto r = conn_->Exec("BEGIN ISOLATION LEVEL READ COMMITTED"); !r.ok()) return r.status();
  auto rows = conn_->Exec(sql, params);
  if (!rows.ok()) return fail(rows.status());
  // The insert position, not pg_current_wal_lsn() (the write position): the
  // chunk's FOR SHARE lock records are inserted but need not be written yet,
  // so on a quiet source the write position can equal the end of the last
  // streamed transaction, and the chunk would be keyed at an LSN a watermark
  // already covered (the sink then skips it as a replay). The insert
  // position is past this transaction's lock records, so it is strictly
  // above every commit the bridge has received.
  auto lsn = conn_->Exec("SELECT pg_current_wal_insert_lsn()::text");
  if (!lsn.ok()) return fail(lsn.status());
  if (auto r = conn_->Exec("COMMIT"); !r.ok()) return fail(r.status());
  auto gate = ParseLsn(PQgetvalue(lsn->get(), 0, 0));
  if (!gate.ok()) return gate.status();
  chunk.gate_lsn = *gate;
  chunk.commit_lsn = *gate - 1;
  PGresult* res = rows->get();
  const int n = PQntuples(res);
  const int nf = PQnfields(res);
  const int64_t now_us = NowUnixNanos() / 1000;
  chunk.events.reserve(n);
  for (int row = 0; row < n; ++row) {
    cdcpb::ChangeEvent e;
    e.set_op(cdcpb::OP_READ);
    auto* t = e.mutable_table();
    t->set_server(server_);
    t->set_database(database_);
    t->set_schema(schema_);
    t->set_table(table_);
    auto* s = e.mutable_source();
    s->set_lsn(chunk.commit_lsn);
    s->set_event_lsn(chunk.commit_lsn);
    s->set_index(static_cast<uint32_t>(row));
    s->set_commit_time_us(now_us);
    s->set_snapshot(true);
    e.set_transaction_order(static_cast<uint64_t>(row) + 1);
    e.set_transaction_total(static_cast<uint32_t>(n));
    for (int f = 0; f < nf && f < static_cast<int>(columns_.size()); ++f) {
      const Column& c = columns_[f];
      auto* col = e.add_after();
      col->set_name(c.name);
      col->set_type_name(c.type_name);
      col->set_type_oid(c.oid);
      col->set_key(c.primary_key);
      col->set_primary_key(c.primary_key);
      if (PQgetisnull(res, row, f))
        col->mutable_value()->set_null(true);
      else
        MapTextValue(c.oid, absl::string_view(PQgetvalue(res, row, f), PQgetlength(res, row, f)), col->mutable_value());
    }
    chunk.events.push_back(std::move(e));
  }
  if (n > 0) {
    last_key_.clear();
    for (const auto& k : primary_key_)
      for (int f = 0; f < nf; ++f)
        if (columns_[f].name == k) last_key_.push_back(std::string(PQgetvalue(res, n - 1, f)));
  }
  if (n < chunk_size_) done_ = true;
  chunk.last = done_;
  return chunk;
}

}  // namespace sa::cdc
