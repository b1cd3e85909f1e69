// A generated source workload for CDC tests: random transactions of inserts,
// updates, deletes and multi-row changes over a few tables with different key
// shapes, written from a background thread until stopped, surviving server
// restarts. And the independent oracle: a table's row count and an md5 over
// every row's text, computed by PostgreSQL on either side.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "testing/postgres_server.h"

namespace sa::e2e {

// accounts (int key), ledger (bigserial key, arrays), pairs (composite key).
inline constexpr const char* kWorkloadTables[] = {"accounts", "ledger", "pairs"};
std::string WorkloadSchemaSql();

// big (int key) with `rows` rows already there: the table a snapshot reads
// while the workload (with `snapshot_table`) keeps writing it.
std::string SnapshotTableSql(int rows);

class PgWorkload {
 public:
  struct Options {
    uint64_t seed = 20261121;
    bool snapshot_table = false;  // also update/delete/insert rows of `big`
    int tx_per_second = 0;        // pace (0: as fast as the server takes them)
  };
  PgWorkload(std::string dsn, Options options);
  ~PgWorkload();
  void Stop();
  int64_t committed() const { return committed_.load(); }

 private:
  void Run();
  std::string dsn_;
  Options options_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::thread thread_;
};

// "count:md5" of `table` in `db`, rows in their text order.
std::string TableDigest(testing::PostgresServer& pg, const std::string& table, const std::string& db);

}  // namespace sa::e2e
