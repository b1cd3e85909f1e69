#include "runtime/postgres_probe.h"

#include <gtest/gtest.h>

#include "observability/metrics.h"
#include "testing/postgres_server.h"
#include "testing/wait.h"

namespace sa::runtime {
namespace {

double ProbesOf(const std::string& name) {
  return obs::MetricsRegistry::Default()
      .GetCounter("streamadmin_runtime_postgres_probes_total",
                  "PQping probes of a PostgreSQL dependency (background, per interval)", {{"dependency", name}})
      .Value();
}

TEST(PostgresProbes, ServesManyReadsFromOneBackgroundProbePerInterval) {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  const absl::Duration interval = absl::Seconds(1);
  PostgresProbes probes({{"cached", (*pg)->dsn()}}, interval);
  ASSERT_TRUE(testing::WaitFor([&] { return probes.Results().at(0).healthy(); }, absl::Seconds(10)));

  const double before = ProbesOf("cached");
  const absl::Time start = absl::Now();
  constexpr int kReads = 5000;
  for (int i = 0; i < kReads; ++i) {
    auto r = probes.Results();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].healthy()) << r[0].detail();
  }
  const absl::Duration elapsed = absl::Now() - start;
  // One probe per interval at most (plus the one that may be in flight), however many reads.
  const double allowed = absl::FDivDuration(elapsed, interval) + 1;
  EXPECT_LE(ProbesOf("cached") - before, allowed) << kReads << " reads in " << elapsed;
}

TEST(PostgresProbes, FlipsWhenTheServerStopsAndComesBack) {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  PostgresProbes probes({{"flips", (*pg)->dsn()}}, absl::Milliseconds(200));
  ASSERT_TRUE(testing::WaitFor([&] { return probes.Results().at(0).healthy(); }, absl::Seconds(10)));

  ASSERT_TRUE((*pg)->Stop().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return !probes.Results().at(0).healthy(); }, absl::Seconds(10)))
      << probes.Results().at(0).detail();
  EXPECT_EQ(probes.Results().at(0).name(), "flips");

  ASSERT_TRUE((*pg)->Resume().ok());
  EXPECT_TRUE(testing::WaitFor([&] { return probes.Results().at(0).healthy(); }, absl::Seconds(10)))
      << probes.Results().at(0).detail();
}

TEST(PostgresProbes, WithoutTargetsHasNothingToReport) {
  PostgresProbes probes({});
  EXPECT_TRUE(probes.Results().empty());
}

}  // namespace
}  // namespace sa::runtime
