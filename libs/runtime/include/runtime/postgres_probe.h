// Reachability of PostgreSQL servers (pg::Ping, libpq PQping: no login, no
// query) for GetStatus and /readyz.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "streamadmin/control/v1/control.pb.h"

namespace sa::obs {
class Counter;
}  // namespace sa::obs

namespace sa::runtime {

// One probe, now (blocks up to its 2 s connect timeout).
streamadmin::control::v1::Dependency ProbePostgres(const std::string& name, const std::string& dsn);

// Probes every server from one background thread each `interval` and serves
// the last result, so the rate of /readyz and GetStatus calls never reaches
// the database: a request costs a copy, not a connection attempt.
//
// Until a server's first probe returns its entry is unhealthy ("not probed
// yet"). Results() is thread-safe and never blocks on the network; the
// destructor stops the thread (waiting out a probe in flight, at most its
// connect timeout). Each probe counts once in
// streamadmin_runtime_postgres_probes_total{dependency="<name>"}.
class PostgresProbes {
 public:
  struct Target {
    std::string name;  // "source", "warehouse", "database"
    std::string dsn;
  };

  explicit PostgresProbes(std::vector<Target> targets, absl::Duration interval = absl::Seconds(1));
  ~PostgresProbes();
  PostgresProbes(const PostgresProbes&) = delete;
  PostgresProbes& operator=(const PostgresProbes&) = delete;

  // The last result of every target, in the order given.
  std::vector<streamadmin::control::v1::Dependency> Results() const;

 private:
  void Loop();

  const std::vector<Target> targets_;
  const absl::Duration interval_;
  std::vector<obs::Counter*> probes_total_;  // by target index
  mutable std::mutex mu_;                    // guards results_ and stop_
  std::condition_variable cv_;
  std::vector<streamadmin::control::v1::Dependency> results_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sa::runtime
