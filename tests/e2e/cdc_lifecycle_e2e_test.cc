// cdc-bridge's lifecycle end to end, through public interfaces only (the
// stream-admin CLI, the gRPC control API, HTTP, SQL, JetStream): pause stops
// replication and resume delivers what was missed exactly once; a drain that
// cannot finish answers at its timeout; readiness is served from cached probes
// and follows the source database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/jetstream.h"
#include "cdc_e2e_fixture.h"
#include "cli/control_client.h"
#include "testing/process.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace ctl = streamadmin::control::v1;
namespace cdcpb = streamadmin::cdc::v1;
using e2e::BinDir;
using e2e::CdcBridgeE2E;
using e2e::Find;
using ::testing::HasSubstr;

// A GetStatus detail, "" when absent.
std::string Detail(const ctl::GetStatusResponse& st, const std::string& key) {
  auto it = st.details().find(key);
  return it == st.details().end() ? "" : it->second;
}

class CdcLifecycleE2E : public CdcBridgeE2E {
 protected:
  // `stream-admin <verb> -t <target>`: exit code and output.
  testing::ProcessResult Cli(const std::string& verb, const std::string& target) {
    auto r = testing::RunProcess({BinDir() + "/stream-admin", verb, "-t", target}, absl::Seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : testing::ProcessResult{-1, r.status().ToString()};
  }

  // confirmed_flush_lsn of the fixture's slot, as text ("" when missing).
  std::string ConfirmedLsn() {
    return Sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'e2e_slot'");
  }
  bool SlotActive() { return Sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'e2e_slot'") == "t"; }

  uint64_t CdcLastSeq() {
    auto js = bus::JetStream::Create(*conn_);
    EXPECT_TRUE(js.ok()) << js.status();
    if (!js.ok()) return 0;
    auto info = (*js)->GetStreamInfo("CDC");
    EXPECT_TRUE(info.ok()) << info.status();
    return info.ok() ? info->last_seq : 0;
  }

  // The ids of the insert events on `table` in the CDC stream, with repeats.
  std::multiset<int64_t> InsertedIds(const std::string& table) {
    std::multiset<int64_t> ids;
    for (const auto& s : Read("cdc.pg.public." + table)) {
      if (s.event.op() != cdcpb::OP_CREATE) continue;
      const auto* id = Find(s.event.after(), "id");
      EXPECT_NE(id, nullptr) << s.msg_id;
      if (id) ids.insert(id->value().int_value());
    }
    return ids;
  }

  // The oracle: the ids the source table holds.
  std::multiset<int64_t> SourceIds(const std::string& table) {
    std::multiset<int64_t> ids;
    for (absl::string_view line :
         absl::StrSplit(Sql("SELECT id FROM " + table + " ORDER BY id"), '\n', absl::SkipEmpty())) {
      int64_t id = 0;
      EXPECT_TRUE(absl::SimpleAtoi(line, &id)) << line;
      ids.insert(id);
    }
    return ids;
  }
};

TEST_F(CdcLifecycleE2E, PauseStopsReplicationAndResumeDeliversEveryRowExactlyOnce) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE paused (id int PRIMARY KEY, note text)").ok());
  Bridge bridge = StartBridge();
  cli::ControlClient client(bridge.target, absl::Seconds(10));

  // Before the pause: a row goes through, so the session is live end to end.
  ASSERT_TRUE(pg_->Exec("INSERT INTO paused VALUES (0, 'before the pause')").ok());
  ASSERT_TRUE(testing::WaitFor([&] { return InsertedIds("paused").count(0) == 1; }, absl::Seconds(30)))
      << bridge.process->Output();

  auto paused = Cli("pause", bridge.target);
  ASSERT_EQ(paused.exit_code, 0) << paused.output;
  EXPECT_THAT(paused.output, HasSubstr("PAUSED"));
  auto status = client.GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state(), ctl::SERVING_STATE_PAUSED);
  EXPECT_EQ(Detail(*status, "streaming"), "false");
  EXPECT_EQ(Detail(*status, "paused"), "true");
  // Nobody reads the slot: its walsender is gone (it exits once it has read
  // the bridge's final status message, just after Pause returned).
  ASSERT_TRUE(testing::WaitFor([&] { return !SlotActive(); }, absl::Seconds(10)));
  const std::string lsn_at_pause = ConfirmedLsn();
  const uint64_t seq_at_pause = CdcLastSeq();
  ASSERT_FALSE(lsn_at_pause.empty());

  // Rows committed while paused, in several transactions.
  for (int tx = 0; tx < 10; ++tx) {
    std::string values;
    for (int i = 1; i <= 20; ++i) absl::StrAppend(&values, values.empty() ? "" : ",", "(", tx * 20 + i, ", 'paused')");
    ASSERT_TRUE(pg_->Exec("INSERT INTO paused VALUES " + values).ok());
  }
  EXPECT_EQ(Sql(absl::StrCat("SELECT pg_current_wal_lsn() > '", lsn_at_pause, "'::pg_lsn")), "t")
      << "the inserts wrote WAL past the slot's position, which the server keeps";

  // "Did not move" can only be observed over a window: 3 s is well over the
  // bridge's status interval (200 ms), heartbeat (1 s) and lag refresh
  // (200 ms), each of which would show on the slot or the stream.
  const absl::Time window_end = absl::Now() + absl::Seconds(3);
  while (absl::Now() < window_end) {
    ASSERT_EQ(ConfirmedLsn(), lsn_at_pause) << "the slot moved while paused";
    ASSERT_EQ(CdcLastSeq(), seq_at_pause) << "the CDC stream grew while paused";
    ASSERT_FALSE(SlotActive()) << "the slot is read while paused";
    absl::SleepFor(absl::Milliseconds(100));  // NOLINT: sampling within the observation window
  }
  EXPECT_EQ(InsertedIds("paused"), (std::multiset<int64_t>{0})) << "nothing committed during the pause was published";

  auto resumed = Cli("resume", bridge.target);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_THAT(resumed.output, HasSubstr("RUNNING"));

  // Every row arrives: the ids in the stream are the ids in the table.
  const std::multiset<int64_t> oracle = SourceIds("paused");
  ASSERT_EQ(oracle.size(), 201u);
  std::multiset<int64_t> delivered;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        delivered = InsertedIds("paused");
        return std::set<int64_t>(delivered.begin(), delivered.end()) == std::set<int64_t>(oracle.begin(), oracle.end());
      },
      absl::Seconds(30)))
      << delivered.size() << " of " << oracle.size() << "\n"
      << bridge.process->Output();
  // Exactly once, also after the slot has confirmed all of it (a redelivery
  // would come before that).
  const std::string wal_end = Sql("SELECT pg_current_wal_lsn()");
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Sql(absl::StrCat("SELECT confirmed_flush_lsn >= '", wal_end,
                                "'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'e2e_slot'")) == "t";
      },
      absl::Seconds(30)));
  EXPECT_EQ(InsertedIds("paused"), oracle);
  auto after = client.GetStatus();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->state(), ctl::SERVING_STATE_RUNNING);
  EXPECT_EQ(Detail(*after, "paused"), "false");

  ASSERT_TRUE(bridge.process->Signal(SIGTERM).ok());
  EXPECT_EQ(*bridge.process->Wait(absl::Seconds(30)), 0) << bridge.process->Output();
}

TEST_F(CdcLifecycleE2E, PauseAndResumeTwiceInARowAreAnswered) {
  Bridge bridge = StartBridge();
  cli::ControlClient client(bridge.target, absl::Seconds(10));
  EXPECT_EQ(*client.Pause(), ctl::SERVING_STATE_PAUSED);
  EXPECT_EQ(*client.Pause(), ctl::SERVING_STATE_PAUSED);
  EXPECT_EQ(*client.Resume(), ctl::SERVING_STATE_RUNNING);
  EXPECT_EQ(*client.Resume(), ctl::SERVING_STATE_RUNNING);
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto st = client.GetStatus();
        return st.ok() && Detail(*st, "streaming") == "true";
      },
      absl::Seconds(30)))
      << bridge.process->Output();
  // A drain while paused needs no session: it is immediate.
  EXPECT_EQ(*client.Pause(), ctl::SERVING_STATE_PAUSED);
  EXPECT_EQ(*client.Drain(absl::Seconds(5)), ctl::SERVING_STATE_DRAINED);
  ASSERT_TRUE(bridge.process->Signal(SIGTERM).ok());
  EXPECT_EQ(*bridge.process->Wait(absl::Seconds(30)), 0) << bridge.process->Output();
}

TEST_F(CdcLifecycleE2E, DrainThatCannotFinishAnswersAtItsTimeout) {
  ASSERT_TRUE(pg_->Exec("CREATE TABLE drained (id int PRIMARY KEY)").ok());
  Bridge bridge = StartBridge();
  cli::ControlClient client(bridge.target, absl::Seconds(10));

  // JetStream stops answering (the server is stopped, its connections stay
  // open): events get published and no ack can come.
  ASSERT_GT(nats_->pid(), 0);
  ASSERT_EQ(kill(nats_->pid(), SIGSTOP), 0);
  ASSERT_TRUE(pg_->Exec("INSERT INTO drained SELECT generate_series(1, 50)").ok());
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto st = client.GetStatus();
        return st.ok() && Detail(*st, "events_published") != Detail(*st, "events_acked");
      },
      absl::Seconds(30)))
      << bridge.process->Output();

  const absl::Duration timeout = absl::Seconds(2);
  const absl::Time start = absl::Now();
  auto drained = client.Drain(timeout);
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(drained.status().code(), absl::StatusCode::kDeadlineExceeded) << drained.status();
  EXPECT_THAT(std::string(drained.status().message()), HasSubstr("not acknowledged"));
  EXPECT_GE(took, timeout - absl::Milliseconds(100));
  EXPECT_LT(took, timeout + absl::Seconds(1)) << "answered at its timeout, not when the work ended";
  EXPECT_FALSE(client.Health().ok()) << "a draining service reports NOT_SERVING";

  ASSERT_EQ(kill(nats_->pid(), SIGCONT), 0);
  ASSERT_TRUE(bridge.process->Signal(SIGTERM).ok());
  EXPECT_EQ(*bridge.process->Wait(absl::Seconds(30)), 0) << bridge.process->Output();
}

double ProbeCount(httplib::Client& http) {
  auto r = http.Get("/metrics");
  if (!r || r->status != 200) return -1;
  const std::string key = "streamadmin_runtime_postgres_probes_total{dependency=\"source\"} ";
  auto pos = r->body.find(key);
  if (pos == std::string::npos) return -1;
  double v = -1;
  const auto end = r->body.find('\n', pos);
  (void)absl::SimpleAtod(r->body.substr(pos + key.size(), end - pos - key.size()), &v);
  return v;
}

TEST_F(CdcLifecycleE2E, ReadinessIsServedFromCachedProbesAndFollowsTheSource) {
  Bridge bridge = StartBridge();
  cli::ControlClient client(bridge.target, absl::Seconds(5));
  httplib::Client http("127.0.0.1", bridge.http_port);
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto r = http.Get("/readyz");
        return r && r->status == 200;
      },
      absl::Seconds(10)));

  // Many requests, few probes: the probe runs on its own interval (1 s).
  const double before = ProbeCount(http);
  ASSERT_GE(before, 1) << "the source has been probed";
  const absl::Time start = absl::Now();
  for (int i = 0; i < 300; ++i) {
    auto r = http.Get("/readyz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    if (i % 6 == 0) EXPECT_TRUE(client.GetStatus().ok());
  }
  const absl::Duration took = absl::Now() - start;
  const double probes = ProbeCount(http) - before;
  EXPECT_LE(probes, absl::FDivDuration(took, absl::Seconds(1)) + 2)
      << "350 requests in " << took << " made " << probes << " probes";

  // The source goes away: the next probe says so (replication, which breaks
  // at once, makes /readyz fail even sooner); back: ready again.
  ASSERT_TRUE(pg_->Stop().ok());
  auto source_healthy = [&]() -> std::optional<bool> {
    auto st = client.GetStatus();
    if (!st.ok()) return std::nullopt;
    for (const auto& d : st->dependencies())
      if (d.name() == "source") return d.healthy();
    return std::nullopt;
  };
  ASSERT_TRUE(testing::WaitFor([&] { return source_healthy() == false; }, absl::Seconds(15)));
  auto r = http.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  ASSERT_TRUE(pg_->Resume().ok());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto r = http.Get("/readyz");
        return r && r->status == 200;
      },
      absl::Seconds(30)))
      << bridge.process->Output();
}

}  // namespace
}  // namespace sa
