// ReplicationClient: one logical replication stream from PostgreSQL
// (pgoutput, protocol 1) over libpq, decoded into committed transactions.
//
// Confirmed-LSN contract (at-least-once):
// - The slot advances ONLY to what the caller passes to Confirm(). Receiving
//   or decoding a transaction confirms nothing. Confirm a transaction's
//   end_lsn once every one of its events is durably stored downstream.
// - Standby status updates (write = flush = apply = confirmed LSN) go out
//   from Poll(): at least every status_interval, at once when the server asks
//   for a reply, and on the Poll after a Confirm that moved the LSN.
// - A new client (after a crash, a restart or a lost connection) resumes
//   from the slot's confirmed_flush_lsn; everything after it is delivered
//   again. Downstream deduplicates by (commit LSN, index) — see
//   SourcePosition.lsn/index.
// - Idle advance: when every transaction handed out so far is confirmed, a
//   primary keepalive's WAL end is confirmed too (that WAL holds nothing for
//   this publication). This keeps the slot from holding unrelated WAL and
//   lets a server shut down: PostgreSQL's shutdown waits until the client
//   reports everything sent as flushed, so a transaction that stays
//   unconfirmed delays a server shutdown until it is confirmed or the client
//   disconnects.
// - wal_sender_timeout (default 60 s): call Poll at least that often.
//
// Threading: Poll/Start/Ensure*/SlotLagBytes from one thread; Confirm may be
// called from any thread (it is a monotonic atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cdc/decoder.h"

typedef struct pg_conn PGconn;

namespace sa::pg {
class Connection;
}  // namespace sa::pg

namespace sa::cdc {

struct ReplicationOptions {
  // libpq conninfo (key=value or URI) of the source database. Both connections
  // are pg::Connection's, with its session settings (the decoder relies on
  // DateStyle=ISO, TimeZone=UTC, bytea_output=hex, extra_float_digits=3); the
  // replication one adds replication=database.
  std::string conninfo;
  std::string slot_name = "streamadmin_cdc";          // [a-z0-9_]+
  std::string publication_name = "streamadmin_cdc";   // [a-z0-9_]+
  // Empty: FOR ALL TABLES. Otherwise "schema.table" (or "table" = public).
  std::vector<std::string> include_tables;
  // Dropped by the decoder ("schema.table"); the transaction still arrives.
  std::vector<std::string> exclude_tables;
  std::string server_name;  // TableId.server
  absl::Duration status_interval = absl::Seconds(1);
};

struct SlotInfo {
  bool created = false;
  // Only when created: the exported snapshot (SET TRANSACTION SNAPSHOT in
  // another connection; valid until the next command on this client, i.e.
  // take the initial snapshot before Start()) and the consistent point: the
  // stream begins with transactions committed after it.
  std::string snapshot_name;
  uint64_t consistent_point = 0;
  uint64_t confirmed_flush_lsn = 0;  // of an existing slot
};

class ReplicationClient {
 public:
  // Opens the replication connection and a regular one (publication DDL,
  // slot queries, lag). Errors carry the server's message.
  static absl::StatusOr<std::unique_ptr<ReplicationClient>> Connect(ReplicationOptions options);
  ~ReplicationClient();
  ReplicationClient(const ReplicationClient&) = delete;
  ReplicationClient& operator=(const ReplicationClient&) = delete;

  // CREATE PUBLICATION if it does not exist (an existing one is reused as is).
  absl::Status EnsurePublication();
  // CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT unless the
  // slot exists.
  absl::StatusOr<SlotInfo> EnsureSlot();

  // START_REPLICATION from `start_lsn` (0: the slot's confirmed_flush_lsn).
  absl::Status Start(uint64_t start_lsn = 0);

  // Reads the stream for up to `timeout` and returns the transactions that
  // committed (returns as soon as at least one did). Sends standby status
  // updates and answers keepalives. An error (connection lost, decode error)
  // is final for this client: make a new one, it resumes from the slot.
  absl::StatusOr<std::vector<Transaction>> Poll(absl::Duration timeout);

  // The slot may advance to `lsn` (monotonic; smaller values are ignored).
  void Confirm(uint64_t lsn);
  uint64_t confirmed_lsn() const { return confirmed_.load(); }
  // Highest WAL end the server reported (XLogData/keepalive).
  uint64_t server_wal_end() const { return server_wal_end_; }

  // pg_current_wal_lsn() - confirmed_flush_lsn of the slot, in bytes.
  absl::StatusOr<uint64_t> SlotLagBytes();

  // Operations helpers (tests, decommissioning).
  absl::Status DropSlot();
  absl::Status DropPublication();

 private:
  ReplicationClient(ReplicationOptions options, std::unique_ptr<pg::Connection> repl,
                    std::unique_ptr<pg::Connection> sql);
  absl::Status SendStatus(bool reply_requested);
  // Type name from pg_catalog over the SQL connection ("" on failure).
  std::string LookupTypeName(uint32_t oid);
  std::vector<std::string> LookupPrimaryKey(uint32_t relation_id);
  absl::Status HandleCopyData(const char* data, int len, std::vector<Transaction>* out);

  ReplicationOptions options_;
  std::unique_ptr<pg::Connection> repl_conn_;
  std::unique_ptr<pg::Connection> sql_conn_;
  PGconn* repl_;  // repl_conn_->raw(): the replication protocol is libpq's own
  PGconn* sql_;   // sql_conn_->raw()
  PgOutputDecoder decoder_;
  bool streaming_ = false;
  std::atomic<uint64_t> confirmed_{0};
  uint64_t last_sent_confirmed_ = 0;
  absl::Time last_status_ = absl::InfinitePast();
  uint64_t server_wal_end_ = 0;
  uint64_t received_lsn_ = 0;
  uint64_t last_delivered_end_ = 0;  // highest end_lsn handed to the caller
};

}  // namespace sa::cdc
