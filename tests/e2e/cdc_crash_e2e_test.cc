// The crash test of issue [3]: under a sustained write load (inserts,
// updates, deletes, multi-row transactions) cdc-bridge and warehouse-sink
// (which together did the work cdc-bridge alone did then) are SIGKILLed at
// random moments at least 10 times, nats-server and PostgreSQL are each
// restarted once while they run, and at the end every warehouse table equals
// its source table (row count and a hash of every row's text): no row lost or
// doubled.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cdc_e2e_fixture.h"
#include "pg_workload.h"

namespace sa {
namespace {

using e2e::CdcBridgeE2E;

int64_t Detail(cli::ControlClient& c, const std::string& key) {
  auto st = c.GetStatus();
  int64_t v = -1;
  if (st.ok() && st->details().count(key)) (void)absl::SimpleAtoi(st->details().at(key), &v);
  return v;
}

TEST_F(CdcBridgeE2E, TwelveSigkillsAndServerRestartsUnderLoadLoseAndDoubleNothing) {
  ASSERT_TRUE(pg_->Exec(e2e::WorkloadSchemaSql()).ok());
  Bridge bridge = StartBridge();
  Sink sink = StartSink();
  e2e::PgWorkload load(pg_->dsn(), {});
  std::mt19937 rng(7);
  constexpr int kKills = 12;
  for (int k = 0; k < kKills; ++k) {
    // A random moment: after the bridge got a random number of further
    // events acknowledged in this life.
    cli::ControlClient client(bridge.target, absl::Seconds(2));
    const int64_t target = 20 + static_cast<int64_t>(rng() % 400);
    EXPECT_TRUE(testing::WaitFor([&] { return Detail(client, "events_acked") >= target; }, absl::Seconds(60)))
        << "kill " << k << ": bridge made no progress\n" << bridge.process->Output();
    if (k == 4) {
      ASSERT_TRUE(nats_->Restart().ok());
      std::printf("nats-server restarted under load\n");
      EXPECT_TRUE(testing::WaitFor([&] { return Detail(client, "events_acked") >= target + 50; }, absl::Seconds(60)))
          << "no progress after the NATS restart\n" << bridge.process->Output();
    }
    if (k == 8) {
      ASSERT_TRUE(pg_->Restart().ok());
      std::printf("PostgreSQL restarted under load\n");
      EXPECT_TRUE(testing::WaitFor([&] { return Detail(client, "events_acked") >= target + 50; }, absl::Seconds(60)))
          << "no progress after the PostgreSQL restart\n" << bridge.process->Output();
    }
    ASSERT_TRUE(bridge.process->Kill().ok());
    ASSERT_TRUE(sink.process->Kill().ok());
    std::printf("kill %d after %lld acked; %lld source transactions so far\n", k + 1,
                static_cast<long long>(target), static_cast<long long>(load.committed()));
    bridge = StartBridge();
    sink = StartSink();
  }
  load.Stop();
  ASSERT_GT(load.committed(), 500) << "the load did not run";
  for (const char* t : e2e::kWorkloadTables) {
    const std::string want = e2e::TableDigest(*pg_, t, "postgres");
    EXPECT_TRUE(testing::WaitFor([&] { return e2e::TableDigest(*pg_, absl::StrCat("cdc_pg_public.", t), "warehouse") == want; },
                                 absl::Seconds(180)))
        << t << ": warehouse " << e2e::TableDigest(*pg_, absl::StrCat("cdc_pg_public.", t), "warehouse") << " != source "
        << want << "\n" << sink.process->Output().substr(0, 4000);
    std::printf("%s: %s\n", t, want.c_str());
  }
  cli::ControlClient client(bridge.target, absl::Seconds(2));
  cli::ControlClient sink_client(sink.target, absl::Seconds(2));
  EXPECT_EQ(Detail(sink_client, "sink_dead_letters"), 0);
  EXPECT_EQ(Detail(client, "dead_letters"), 0);
}

}  // namespace
}  // namespace sa
