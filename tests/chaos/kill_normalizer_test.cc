// Kill anywhere: the normalizer is SIGKILLed at many distinct points while it
// works through every frame of the four exchange recordings — at armed crash
// points (before a frame's decode, after a batch is decoded, after its outputs
// are published, between the acks of its raw frames) and by an outside
// SIGKILL at random moments — and restarted each time. Afterwards MD must hold
// every trade the venues sent exactly once, compared trade by trade with an
// oracle read from the recordings apart from the decoders (trade_oracle.h),
// no frame dead-lettered and no book checksum ever contradicted.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bus/jetstream.h"
#include "chaos_util.h"
#include "e2e_util.h"
#include "service_runner.h"
#include "stream_reader.h"
#include "streamadmin/ingest/v1/ingest.grpc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "testing/wait.h"
#include "trade_oracle.h"

namespace sa {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
namespace ingestpb = streamadmin::ingest::v1;


class KillAnywhere : public e2e::NatsTest {
 protected:
  // Fills MD_RAW with every frame of the recordings through the real ingest;
  // returns the number of frames.
  uint64_t IngestRecordings(e2e::ServiceRunner& runner) {
    auto ingest = runner.Start({.binary = "ingest", .yaml = e2e::ReplayRecordingsYaml("0")});
    EXPECT_TRUE(ingest.ok()) << ingest.status();
    if (!ingest.ok()) return 0;
    auto stub = ingestpb::Ingest::NewStub(grpc::CreateChannel(ingest->target, grpc::InsecureChannelCredentials()));
    uint64_t frames = 0;
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          grpc::ClientContext ctx;
          ingestpb::ListSourcesResponse resp;
          if (!stub->ListSources(&ctx, {}, &resp).ok() || resp.sources_size() != 4) return false;
          frames = 0;
          for (const auto& s : resp.sources()) {
            if (s.state() != "finished") return false;
            frames += s.frames();
          }
          return true;
        },
        absl::Seconds(120)))
        << ingest->process->Output().substr(0, 4000);
    (void)ingest->process->Terminate(absl::Seconds(10));
    return frames;
  }

  // The normalizer's durable on MD_RAW; zeros before it exists.
  bus::ConsumerInfo Durable() {
    auto js = bus::JetStream::Create(*conn_);
    if (!js.ok()) return {};
    auto info = (*js)->GetConsumerInfo("MD_RAW", "normalizer");
    return info.ok() ? *info : bus::ConsumerInfo{};
  }
};

TEST_F(KillAnywhere, NormalizerKilledAtManyPointsStoresEveryTradeOfEveryRecordingOnce) {
  const int kills = chaos::Kills(60);
  std::mt19937_64 rng(chaos::AnnouncedSeed("kill-anywhere normalizer", kills));

  e2e::TradeMultiset want;
  for (const auto& r : e2e::kRecordings) {
    auto t = e2e::TradesInRecording(e2e::Fixture(r.file), r.venue);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_FALSE(t->empty()) << r.file;
    want.merge(*t);
  }
  e2e::ServiceRunner runner(dir_->path(), {nats_->url()});
  const uint64_t frames = IngestRecordings(runner);
  ASSERT_GT(frames, 10000u);

  // Small batches and few frames in flight: kills land between many
  // batches, and the replay lasts long enough for outside kills to land in it.
  const std::string yaml = "consumer: {fetch_batch: 16, prefetch: 32, max_ack_pending: 64}\n";
  const char* kPoints[] = {"normalizer.frame_decoding", "normalizer.batch_decoded", "normalizer.batch_published",
                           "normalizer.frame_acked", "outside SIGKILL"};
  std::map<std::string, int> by_point;
  for (int i = 0; i < kills; ++i) {
    const uint64_t floor = Durable().ack_floor_stream_seq;
    ASSERT_LT(floor, frames) << "the replay ran out before kill " << i;
    // The kills left spread evenly over the frames left: never run out of work.
    const uint64_t ahead = std::max<uint64_t>(1, (frames - floor) / static_cast<uint64_t>(kills - i + 1));
    std::uniform_int_distribution<uint64_t> jitter(std::max<uint64_t>(1, ahead / 2), ahead + ahead / 2);
    const uint64_t n = std::min(jitter(rng), frames - floor);
    std::string point = kPoints[rng() % std::size(kPoints)];
    ++by_point[point];
    e2e::ServiceSpec spec{.binary = "normalizer", .yaml = yaml};
    const bool outside = point == "outside SIGKILL";
    spec.wait_healthy = !outside;  // it would be through the frames before it answers health checks
    if (!outside) {
      const bool per_batch = absl::StrContains(point, "batch_");
      spec.env.push_back(e2e::CrashAt(point, per_batch ? std::max<uint64_t>(1, n / 16) : n));
    }
    std::printf("kill %d: %s at %llu frames past the ack floor %llu\n", i, point.c_str(),
                static_cast<unsigned long long>(n), static_cast<unsigned long long>(floor));
    auto normalizer = runner.Start(spec);
    ASSERT_TRUE(normalizer.ok()) << normalizer.status();
    if (outside) {
      // Wherever it is once the ack floor passed floor + n: between any two
      // instructions, not at an instrumented point.
      ASSERT_TRUE(testing::WaitFor([&] { return Durable().ack_floor_stream_seq >= floor + n; }, absl::Seconds(60),
                                   absl::Milliseconds(1)))
          << "kill " << i << ": no progress\n" << normalizer->process->Output().substr(0, 4000);
      ASSERT_TRUE(normalizer->process->Kill().ok());
    } else {
      auto code = normalizer->process->Wait(absl::Seconds(60));
      ASSERT_TRUE(code.ok()) << "kill " << i << " at " << point << "=" << n << " did not happen (floor " << floor
                             << " of " << frames << ")\n"
                             << normalizer->process->Output().substr(0, 4000);
      ASSERT_EQ(*code, 128 + 9) << normalizer->process->Output().substr(0, 4000);
    }
  }

  // The last run, undisturbed, finishes the replay.
  auto last = runner.Start({.binary = "normalizer", .yaml = yaml});
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto d = Durable();
        return d.ack_floor_stream_seq >= frames && d.num_ack_pending == 0;
      },
      absl::Seconds(120)))
      << last->process->Output().substr(0, 4000);

  e2e::TradeMultiset got;
  std::set<std::string> ids;
  size_t stored = 0;
  for (const auto& m : e2e::ReadAll(*conn_, "MD", "md.trade.>")) {
    mdpb::Trade t;
    ASSERT_TRUE(t.ParseFromString(m.data)) << m.subject;
    ++got[e2e::TradeKeyOf(t)];
    EXPECT_TRUE(ids.insert(m.msg_id).second) << "stored twice: " << m.msg_id;
    ++stored;
  }
  size_t wanted = 0;
  for (const auto& [k, n] : want) wanted += static_cast<size_t>(n);
  std::string points;
  for (const auto& [p, n] : by_point) absl::StrAppend(&points, p, " x", n, ", ");
  std::printf("kill-anywhere normalizer: %d kill points (%s), %llu raw frames, %zu trades expected, %zu stored\n",
              kills, points.c_str(), static_cast<unsigned long long>(frames), wanted, stored);
  EXPECT_EQ(e2e::DiffTrades(want, got), "");
  EXPECT_EQ(stored, wanted);

  // Nothing dead-lettered, and no book contradicted its venue's checksum.
  EXPECT_TRUE(e2e::ReadAll(*conn_, "DLQ", "dlq.normalizer").empty());
  for (const auto& m : e2e::ReadAll(*conn_, "MD", "md.status.>")) {
    mdpb::VenueStatus s;
    ASSERT_TRUE(s.ParseFromString(m.data));
    EXPECT_NE(s.kind(), mdpb::VenueStatus::KIND_CHECKSUM_MISMATCH) << s.ShortDebugString();
  }
}

}  // namespace
}  // namespace sa
