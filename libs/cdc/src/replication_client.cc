#include "cdc/replication_client.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cdc/pgoutput.h"
#include "pg/connection.h"

namespace sa::cdc {
namespace {

std::string ServerMessage(PGconn* conn) {
  std::string m = PQerrorMessage(conn);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

bool SimpleName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_'))
      return false;
  return true;
}

absl::StatusOr<std::unique_ptr<pg::Connection>> Open(const std::string& conninfo, bool replication) {
  return pg::Connection::Connect(conninfo, {.application_name = "sa-cdc", .replication = replication});
}

// Runs a command; returns its result (caller PQclear-s) or the server's error.
absl::StatusOr<PGresult*> Exec(PGconn* conn, const std::string& sql,
                               const std::vector<std::string>& params = {}) {
  std::vector<const char*> p;
  for (const auto& s : params) p.push_back(s.c_str());
  PGresult* res = params.empty() ? PQexec(conn, sql.c_str())
                                 : PQexecParams(conn, sql.c_str(), static_cast<int>(p.size()),
                                                nullptr, p.data(), nullptr, nullptr, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_BOTH) return res;
  // The one SQLSTATE table (pg/error.h): 55006 (slot in use) FailedPrecondition,
  // 42710 AlreadyExists, 42704/42P01 NotFound, a lost connection Unavailable.
  absl::Status error = pg::ResultError(conn, res, sql.substr(0, 120));
  PQclear(res);
  return error;
}

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (i * 8)) & 0xff));
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicationClient>> ReplicationClient::Connect(
    ReplicationOptions options) {
  if (!SimpleName(options.slot_name))
    return absl::InvalidArgumentError(
        absl::StrCat("slot_name '", options.slot_name, "': expected [a-z0-9_]{1,63}"));
  if (!SimpleName(options.publication_name))
    return absl::InvalidArgumentError(absl::StrCat(
        "publication_name '", options.publication_name, "': expected [a-z0-9_]{1,63}"));
  auto sql = Open(options.conninfo, false);
  if (!sql.ok()) return sql.status();
  auto repl = Open(options.conninfo, true);
  if (!repl.ok()) return repl.status();
  return std::unique_ptr<ReplicationClient>(
      new ReplicationClient(std::move(options), std::move(*repl), std::move(*sql)));
}

ReplicationClient::ReplicationClient(ReplicationOptions options, std::unique_ptr<pg::Connection> repl,
                                     std::unique_ptr<pg::Connection> sql)
    : options_(std::move(options)),
      repl_conn_(std::move(repl)),
      sql_conn_(std::move(sql)),
      repl_(repl_conn_->raw()),
      sql_(sql_conn_->raw()),
      decoder_(PgOutputDecoder::Options{options_.server_name, sql_conn_->database(), options_.exclude_tables,
                                        [this](uint32_t oid) { return LookupTypeName(oid); },
                                        [this](uint32_t relid) { return LookupPrimaryKey(relid); }}) {}

std::vector<std::string> ReplicationClient::LookupPrimaryKey(uint32_t relation_id) {
  auto res = Exec(sql_,
                  "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                  "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1 AND i.indisprimary",
                  {std::to_string(relation_id)});
  std::vector<std::string> out;
  if (!res.ok()) return out;
  for (int i = 0; i < PQntuples(*res); ++i) out.emplace_back(PQgetvalue(*res, i, 0));
  PQclear(*res);
  return out;
}

std::string ReplicationClient::LookupTypeName(uint32_t oid) {
  auto res = Exec(sql_,
                  "SELECT CASE WHEN n.nspname = 'pg_catalog' THEN t.typname "
                  "ELSE n.nspname || '.' || t.typname END FROM pg_type t "
                  "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = $1",
                  {std::to_string(oid)});
  if (!res.ok()) return "";
  std::string name = PQntuples(*res) > 0 ? PQgetvalue(*res, 0, 0) : "";
  PQclear(*res);
  return name;
}

ReplicationClient::~ReplicationClient() {
  if (repl_) {
    if (streaming_) {
      SendStatus(false).IgnoreError();
      PQputCopyEnd(repl_, nullptr);
      PQflush(repl_);
    }
  }
  // The connections close with repl_conn_ and sql_conn_.
}

absl::Status ReplicationClient::EnsurePublication() {
  auto exists = Exec(sql_, "SELECT 1 FROM pg_publication WHERE pubname = $1",
                     {options_.publication_name});
  if (!exists.ok()) return exists.status();
  const bool found = PQntuples(*exists) > 0;
  PQclear(*exists);
  if (found) return absl::OkStatus();
  std::string sql = absl::StrCat("CREATE PUBLICATION ", options_.publication_name);
  if (options_.include_tables.empty()) {
    absl::StrAppend(&sql, " FOR ALL TABLES");
  } else {
    std::vector<std::string> names;
    for (const std::string& t : options_.include_tables) {
      std::vector<std::string> parts = absl::StrSplit(t, absl::MaxSplits('.', 1));
      if (parts.size() == 1) parts.insert(parts.begin(), "public");
      names.push_back(absl::StrCat(sql_conn_->QuoteIdent(parts[0]), ".", sql_conn_->QuoteIdent(parts[1])));
    }
    absl::StrAppend(&sql, " FOR TABLE ", absl::StrJoin(names, ", "));
  }
  auto res = Exec(sql_, sql);
  if (!res.ok()) {
    if (absl::IsAlreadyExists(res.status())) return absl::OkStatus();  // raced
    return res.status();
  }
  PQclear(*res);
  return absl::OkStatus();
}

absl::StatusOr<SlotInfo> ReplicationClient::EnsureSlot() {
  SlotInfo info;
  auto existing = Exec(sql_,
                       "SELECT plugin, coalesce(confirmed_flush_lsn::text, '') FROM "
                       "pg_replication_slots WHERE slot_name = $1",
                       {options_.slot_name});
  if (!existing.ok()) return existing.status();
  if (PQntuples(*existing) > 0) {
    std::string plugin = PQgetvalue(*existing, 0, 0);
    std::string lsn = PQgetvalue(*existing, 0, 1);
    PQclear(*existing);
    if (plugin != "pgoutput")
      return absl::FailedPreconditionError(absl::StrCat(
          "replication slot ", options_.slot_name, " uses plugin '", plugin, "', not pgoutput"));
    if (!lsn.empty()) {
      auto parsed = ParseLsn(lsn);
      if (!parsed.ok()) return parsed.status();
      info.confirmed_flush_lsn = *parsed;
    }
    return info;
  }
  PQclear(*existing);
  auto res = Exec(repl_, absl::StrCat("CREATE_REPLICATION_SLOT ", options_.slot_name,
                                      " LOGICAL pgoutput EXPORT_SNAPSHOT"));
  if (!res.ok()) return res.status();
  // Columns: slot_name, consistent_point, snapshot_name, output_plugin.
  info.created = true;
  auto cp = ParseLsn(PQgetvalue(*res, 0, 1));
  info.snapshot_name = PQgetvalue(*res, 0, 2);
  PQclear(*res);
  if (!cp.ok()) return cp.status();
  info.consistent_point = *cp;
  info.confirmed_flush_lsn = *cp;
  return info;
}

absl::Status ReplicationClient::Start(uint64_t start_lsn) {
  if (streaming_) return absl::FailedPreconditionError("replication already started");
  std::string cmd = absl::StrCat("START_REPLICATION SLOT ", options_.slot_name, " LOGICAL ",
                                 FormatLsn(start_lsn), " (proto_version '1', publication_names '\"",
                                 options_.publication_name, "\"')");
  auto res = Exec(repl_, cmd);
  if (!res.ok()) return res.status();
  const bool copy_both = PQresultStatus(*res) == PGRES_COPY_BOTH;
  PQclear(*res);
  if (!copy_both) return absl::InternalError("START_REPLICATION did not enter COPY BOTH mode");
  streaming_ = true;
  if (PQsetnonblocking(repl_, 1) != 0)
    return absl::InternalError(absl::StrCat("PQsetnonblocking: ", ServerMessage(repl_)));
  return absl::OkStatus();
}

void ReplicationClient::Confirm(uint64_t lsn) {
  uint64_t cur = confirmed_.load();
  while (lsn > cur && !confirmed_.compare_exchange_weak(cur, lsn)) {
  }
}

absl::Status ReplicationClient::SendStatus(bool reply_requested) {
  const uint64_t confirmed = confirmed_.load();
  std::string msg;
  msg.push_back('r');
  PutU64(&msg, confirmed);  // write
  PutU64(&msg, confirmed);  // flush
  PutU64(&msg, confirmed);  // apply
  PutU64(&msg, static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()) - kPgEpochOffsetUs));
  msg.push_back(reply_requested ? 1 : 0);
  if (PQputCopyData(repl_, msg.data(), static_cast<int>(msg.size())) != 1 || PQflush(repl_) < 0)
    return absl::UnavailableError(
        absl::StrCat("sending standby status update: ", ServerMessage(repl_)));
  last_sent_confirmed_ = confirmed;
  last_status_ = absl::Now();
  return absl::OkStatus();
}

absl::Status ReplicationClient::HandleCopyData(const char* data, int len,
                                               std::vector<Transaction>* out) {
  if (len < 1) return absl::InternalError("empty CopyData from walsender");
  switch (data[0]) {
    case 'w': {
      if (len < 25) return absl::InternalError("XLogData shorter than its 25-byte header");
      const uint64_t wal_start = GetU64(data + 1);
      const uint64_t wal_end = GetU64(data + 9);
      if (wal_end > server_wal_end_) server_wal_end_ = wal_end;
      if (wal_start > received_lsn_) received_lsn_ = wal_start;
      auto tx = decoder_.Decode(absl::string_view(data + 25, len - 25), wal_start);
      if (!tx.ok())
        return absl::Status(tx.status().code(), absl::StrCat(tx.status().message(), " (WAL ",
                                                             FormatLsn(wal_start), ")"));
      if (*tx) {
        if ((*tx)->end_lsn > last_delivered_end_) last_delivered_end_ = (*tx)->end_lsn;
        const int64_t now_ms = absl::ToUnixMillis(absl::Now());
        for (auto& e : (*tx)->events) e.set_ts_ms(now_ms);
        out->push_back(std::move(**tx));
      }
      return absl::OkStatus();
    }
    case 'k': {
      if (len < 18) return absl::InternalError("primary keepalive shorter than 18 bytes");
      const uint64_t wal_end = GetU64(data + 1);
      if (wal_end > server_wal_end_) server_wal_end_ = wal_end;
      // Idle advance: every transaction the server sent before this
      // keepalive has been received (one ordered stream), so when all of
      // them are confirmed the WAL up to wal_end holds nothing for us.
      if (!decoder_.in_transaction() && confirmed_.load() >= last_delivered_end_)
        Confirm(wal_end);
      if (data[17]) return SendStatus(false);
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(
          absl::StrCat("unexpected CopyData message '", std::string(1, data[0]), "'"));
  }
}

absl::StatusOr<std::vector<Transaction>> ReplicationClient::Poll(absl::Duration timeout) {
  if (!streaming_) return absl::FailedPreconditionError("Poll before Start");
  std::vector<Transaction> out;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (confirmed_.load() != last_sent_confirmed_ ||
        absl::Now() - last_status_ >= options_.status_interval) {
      if (absl::Status st = SendStatus(false); !st.ok()) return st;
    }
    // Drain everything libpq already has.
    while (true) {
      char* buf = nullptr;
      int n = PQgetCopyData(repl_, &buf, 1);
      if (n > 0) {
        absl::Status st = HandleCopyData(buf, n, &out);
        PQfreemem(buf);
        if (!st.ok()) return st;
        continue;
      }
      if (n == 0) break;
      streaming_ = false;
      if (n == -1) {
        PGresult* res = PQgetResult(repl_);
        std::string m = res ? PQresultErrorMessage(res) : "";
        PQclear(res);
        return absl::UnavailableError(absl::StrCat("replication stream ended by server: ", m));
      }
      return absl::UnavailableError(absl::StrCat("replication stream: ", ServerMessage(repl_)));
    }
    if (!out.empty()) return out;
    const absl::Time now = absl::Now();
    if (now >= deadline) return out;
    absl::Duration wait = std::min(deadline - now, options_.status_interval - (now - last_status_));
    if (wait < absl::ZeroDuration()) wait = absl::ZeroDuration();
    pollfd pfd{PQsocket(repl_), POLLIN, 0};
    int ms = static_cast<int>(absl::ToInt64Milliseconds(wait)) + 1;
    int r = ::poll(&pfd, 1, ms);
    if (r < 0 && errno != EINTR)
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    if (r > 0 && PQconsumeInput(repl_) == 0) {
      streaming_ = false;
      return absl::UnavailableError(absl::StrCat("replication connection: ", ServerMessage(repl_)));
    }
  }
}

absl::StatusOr<uint64_t> ReplicationClient::SlotLagBytes() {
  auto res = Exec(sql_,
                  "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM "
                  "pg_replication_slots WHERE slot_name = $1",
                  {options_.slot_name});
  if (!res.ok()) return res.status();
  if (PQntuples(*res) == 0 || PQgetisnull(*res, 0, 0)) {
    PQclear(*res);
    return absl::NotFoundError(absl::StrCat("replication slot ", options_.slot_name));
  }
  int64_t v = std::strtoll(PQgetvalue(*res, 0, 0), nullptr, 10);
  PQclear(*res);
  return static_cast<uint64_t>(v < 0 ? 0 : v);
}

absl::Status ReplicationClient::DropSlot() {
  auto res = Exec(sql_, "SELECT pg_drop_replication_slot($1)", {options_.slot_name});
  if (!res.ok()) return res.status();
  PQclear(*res);
  return absl::OkStatus();
}

absl::Status ReplicationClient::DropPublication() {
  auto res = Exec(sql_, absl::StrCat("DROP PUBLICATION IF EXISTS ", options_.publication_name));
  if (!res.ok()) return res.status();
  PQclear(*res);
  return absl::OkStatus();
}

}  // namespace sa::cdc
