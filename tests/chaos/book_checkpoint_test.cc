// Book checkpoints (issue [12]): the normalizer is SIGKILLed in the middle of
// the Kraken recording (ingested by the real ingest) and restarted. Before, a restart left every book dark until the venue's next
// snapshot (a replay sends none). Now the restarted normalizer loads the
// books it checkpointed, replays the raw frames acked after that point, and
// publishes from the next frame on. The oracle is the recording itself: it
// holds 10 book snapshots and 4,269 updates that carry Kraken's CRC32
// checksum (fixtures/README.md), so MD must hold exactly 4,279 Kraken book
// messages; none may report a checksum mismatch, a gap or a resync, and no
// resync may be requested from ingest after the restart.
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "bus/jetstream.h"
#include "bus/kv.h"
#include "e2e_util.h"
#include "service_runner.h"
#include "stream_reader.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

class BookCheckpoints : public e2e::NatsTest {};

TEST_F(BookCheckpoints, ANormalizerKilledMidReplayServesEveryKrakenBookAtOnceAfterItsRestart) {
  constexpr size_t kBookMessages = 10 + 4269;
  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  // Every frame of the recording in MD_RAW first, through the real ingest.
  auto ingest =
      runner.Start({.binary = "ingest",
                    .yaml = absl::StrCat("sources:\n", e2e::ReplaySourceYaml("r-kraken", "kraken.jsonl.zst", "0"))});
  ASSERT_TRUE(ingest.ok()) << ingest.status();
  auto js = bus::JetStream::Create(*conn_);
  ASSERT_TRUE(js.ok());
  uint64_t frames = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto raw = (*js)->GetStreamInfo("MD_RAW");
        if (!raw.ok() || raw->messages == 0 || raw->messages != frames) {
          frames = raw.ok() ? raw->messages : 0;
          return false;
        }
        return true;  // the same count twice, 100 ms apart: the replay is over
      },
      absl::Seconds(60), absl::Milliseconds(100)));
  ASSERT_GT(frames, 4000u);
  ASSERT_TRUE(ingest->process->Terminate(absl::Seconds(10)).ok());

  // Small batches, checkpoints every 50 ms; SIGKILLed after acking frame
  // `kill_at`, about halfway.
  const std::string yaml =
      "book_checkpoint_interval_ms: 50\nconsumer: {fetch_batch: 16, prefetch: 32, max_ack_pending: 64}\n";
  const uint64_t kill_at = frames / 2;
  auto normalizer = runner.Start({.binary = "normalizer",
                                  .yaml = yaml,
                                  .env = {e2e::CrashAt("normalizer.frame_acked", kill_at)},
                                  .wait_healthy = false});
  ASSERT_TRUE(normalizer.ok()) << normalizer.status();
  auto code = normalizer->process->Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok() && *code == 128 + 9) << normalizer->process->Output().substr(0, 4000);
  auto book_messages = [&] { return e2e::ReadAll(*conn_, "MD", "md.book.kraken.>").size(); };
  const size_t before = book_messages();
  ASSERT_GT(before, 0u);
  ASSERT_LT(before, kBookMessages) << "the kill must land mid-replay";

  // Resync requests from now on (core NATS, as ingest receives them).
  std::atomic<int> resyncs{0};
  auto sub = conn_->Subscribe("md.ctl.snapshot.>", [&](const bus::InboundMessage&) { ++resyncs; });
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto again = runner.Start({.binary = "normalizer", .yaml = "book_checkpoint_interval_ms: 50\n"});
  ASSERT_TRUE(again.ok()) << again.status();

  ASSERT_TRUE(testing::WaitFor([&] { return book_messages() >= kBookMessages; }, absl::Seconds(90)))
      << book_messages() << " of " << kBookMessages << " Kraken book messages in MD (" << before
      << " before the kill)\n"
      << again->process->Output().substr(0, 6000);
  std::vector<std::string> bad;
  for (const auto& m : e2e::ReadAll(*conn_, "MD", "md.status.kraken")) {
    mdpb::VenueStatus s;
    ASSERT_TRUE(s.ParseFromString(m.data));
    if (s.kind() != mdpb::VenueStatus::KIND_CONNECTED && s.kind() != mdpb::VenueStatus::KIND_DISCONNECTED)
      bad.push_back(absl::StrCat(mdpb::VenueStatus::Kind_Name(s.kind()), " ", s.origin().symbol(), " ", s.detail()));
  }
  EXPECT_TRUE(bad.empty()) << bad.size() << " status messages, first: " << bad.front();
  EXPECT_EQ(book_messages(), kBookMessages);
  EXPECT_EQ(resyncs.load(), 0) << "the restarted normalizer asked ingest for snapshots";
  EXPECT_TRUE(e2e::ReadAll(*conn_, "DLQ", "dlq.>").empty());
  EXPECT_NE(again->process->Output().find("book checkpoint of kraken: 10 books restored"), std::string::npos)
      << again->process->Output().substr(0, 4000);
  std::printf("book checkpoints: killed at %zu of %zu Kraken book messages; after the restart all %zu in MD, "
              "0 checksum mismatches, 0 resync requests\n",
              before, kBookMessages, book_messages());
}

}  // namespace
}  // namespace sa
