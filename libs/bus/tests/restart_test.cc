// The bus's central promise: a nats-server restart (graceful or SIGKILL) in
// the middle of a publishing loop loses no acknowledged message, stores none
// twice, and the client reconnects and carries on by itself.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "bus_test_util.h"
#include "gtest/gtest.h"
#include "observability/metrics.h"
#include "testing/wait.h"

namespace sa::bus {
namespace {

using test::Consumer;
using test::Stream;

// Records acknowledged msg ids; lets the test wait for a count.
class AckLog {
 public:
  void Add(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    ids_.insert(id);
    ++total_;
    cv_.notify_all();
  }
  bool WaitForAtLeast(size_t n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return ids_.size() >= n; });
  }
  std::set<std::string> ids() {
    std::lock_guard<std::mutex> lock(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> ids_;
  size_t total_ = 0;
};

// Reads every message of `stream` through a fresh durable consumer.
std::map<std::string, int> ReadStream(JetStream& js, const std::string& stream, size_t expected) {
  std::map<std::string, int> seen;  // msg id -> times stored
  auto c = Consumer(stream, "audit");
  EXPECT_TRUE(js.EnsurePullConsumer(c).ok());
  auto sub = js.PullSubscribe(c);
  EXPECT_TRUE(sub.ok()) << sub.status();
  if (!sub.ok()) return seen;
  size_t total = 0;
  while (total < expected) {
    auto batch = (*sub)->Fetch(1000, absl::Seconds(2));
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok() || batch->empty()) break;
    for (auto& m : *batch) {
      ++seen[m.msg_id()];
      ++total;
      (void)m.Ack();
    }
  }
  return seen;
}

enum class Outage { kRestart, kKill };

class RestartTest : public test::NatsFixture, public ::testing::WithParamInterface<Outage> {};

TEST_P(RestartTest, ServerOutageMidPublishLosesNoAcknowledgedMessage) {
  constexpr int kMessages = 20000;
  constexpr int kOutageAfterAcks = 4000;
  ASSERT_TRUE(js_->EnsureStream(Stream("EVENTS", "events.>")).ok());

  AckLog acks;
  JetStreamPublisher::Options opts;
  opts.max_pending_acks = 1024;
  opts.ack_timeout = absl::Seconds(1);
  opts.on_ack = [&](const std::string& id) { acks.Add(id); };
  auto pub = JetStreamPublisher::Create(*conn_, opts);
  ASSERT_TRUE(pub.ok()) << pub.status();
  const double reconnected_before = test::EventCount("reconnected");

  std::atomic<int> publish_errors{0};
  std::thread producer([&] {
    for (int i = 0; i < kMessages; ++i) {
      std::string id = absl::StrFormat("evt-%05d", i);
      if (!(*pub)->Publish(Message{absl::StrCat("events.", i % 8), id, id, {}}).ok()) ++publish_errors;
    }
  });

  ASSERT_TRUE(acks.WaitForAtLeast(kOutageAfterAcks, absl::Seconds(30)));
  const uint64_t published_at_outage = (*pub)->stats().published;
  if (GetParam() == Outage::kKill) {
    ASSERT_TRUE(server_->Kill().ok());
    ASSERT_TRUE(server_->Resume().ok());
  } else {
    ASSERT_TRUE(server_->Restart().ok());  // SIGTERM, then start on the same port and store
  }
  producer.join();
  auto flushed = (*pub)->Flush(absl::Seconds(60));
  ASSERT_TRUE(flushed.ok()) << flushed;

  const auto stats = (*pub)->stats();
  EXPECT_LT(published_at_outage, static_cast<uint64_t>(kMessages)) << "outage was not mid-loop";
  EXPECT_EQ(publish_errors.load(), 0);
  EXPECT_EQ(stats.published, static_cast<uint64_t>(kMessages));
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_LE(stats.max_in_flight, 1024);
  ASSERT_TRUE(sa::testing::WaitFor([&] { return conn_->stats().reconnects >= 1; }, absl::Seconds(5)));
  EXPECT_GE(test::EventCount("reconnected"), reconnected_before + 1);
  std::cerr << "published at outage: " << published_at_outage << ", retried: " << stats.retried
            << ", acked callbacks: " << stats.acked << "\n";

  auto info = js_->GetStreamInfo("EVENTS");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->messages, static_cast<uint64_t>(kMessages));

  const std::map<std::string, int> stored = ReadStream(*js_, "EVENTS", kMessages);
  const std::set<std::string> acked = acks.ids();
  EXPECT_EQ(acked.size(), static_cast<size_t>(kMessages));
  int missing_acked = 0, duplicates = 0;
  for (const auto& id : acked) {
    if (stored.find(id) == stored.end()) ++missing_acked;
  }
  for (const auto& [id, n] : stored) {
    if (n > 1) ++duplicates;
  }
  EXPECT_EQ(missing_acked, 0) << "acknowledged messages lost";
  EXPECT_EQ(duplicates, 0) << "messages stored twice";
  EXPECT_EQ(stored.size(), static_cast<size_t>(kMessages)) << "not every message was stored";
}

INSTANTIATE_TEST_SUITE_P(Outages, RestartTest, ::testing::Values(Outage::kRestart, Outage::kKill),
                         [](const auto& info) {
                           return info.param == Outage::kKill ? std::string("SigKill") : std::string("SigTerm");
                         });

// Standing pull requests do not survive a server restart (the server forgets
// them): the subscription notices the reconnect and asks again, so messages
// stored after the restart still arrive.
class PrefetchRestartTest : public test::NatsFixture {};

TEST_F(PrefetchRestartTest, StandingRequestsAreRenewedAfterARestart) {
  auto sub = test::PrefetchingSubscription(*js_, "TICKS", "ticks", "t", 50);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok()) << pub.status();
  auto receive = [&](const std::string& id) {
    ASSERT_TRUE((*pub)->Publish(Message{"ticks", id, id, {}}).ok());
    ASSERT_TRUE((*pub)->Flush(absl::Seconds(30)).ok());
    auto got = (*sub)->Fetch(10, absl::Seconds(8));  // well under the 12-s silence rule
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->size(), 1u) << id;
    EXPECT_EQ((*got)[0].data(), id);
    ASSERT_TRUE((*got)[0].AckSync(absl::Seconds(5)).ok());
  };
  receive("before");
  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(
      sa::testing::WaitFor([&] { return conn_->stats().reconnects >= 1 && conn_->IsConnected(); }, absl::Seconds(10)));
  receive("after");
  auto info = js_->GetConsumerInfo("TICKS", "t");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ack_floor_stream_seq, 2u);
}

class BackPressureTest : public test::NatsFixture {};

TEST_F(BackPressureTest, PublishBlocksAtMaxPendingAcksAndEverythingArrives) {
  ASSERT_TRUE(js_->EnsureStream(Stream("BP", "bp.>")).ok());
  JetStreamPublisher::Options opts;
  opts.max_pending_acks = 8;
  auto pub = JetStreamPublisher::Create(*conn_, opts);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ((*pub)->max_pending_acks(), 8);
  auto& gauge = obs::MetricsRegistry::Default().GetGauge("streamadmin_bus_js_in_flight", "");

  std::atomic<bool> done{false};
  std::atomic<double> gauge_max{0};
  std::thread sampler([&] {
    // Observes the gauge while publishing runs (a probe, not synchronisation).
    while (!done.load()) {
      double v = gauge.Value();
      if (v > gauge_max.load()) gauge_max = v;
      std::this_thread::yield();
    }
  });
  constexpr int kThreads = 2, kPerThread = 1500;
  std::vector<std::thread> producers;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = absl::StrCat("bp-", t, "-", i);
        if (!(*pub)->Publish(Message{"bp.x", id, id, {}}).ok()) ++errors;
      }
    });
  }
  for (auto& p : producers) p.join();
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(30)).ok());
  done = true;
  sampler.join();

  EXPECT_EQ(errors.load(), 0);
  const auto stats = (*pub)->stats();
  EXPECT_EQ(stats.acked, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LE(stats.max_in_flight, 8);
  EXPECT_EQ(stats.max_in_flight, 8) << "the bound was never reached: test proves nothing";
  EXPECT_LE(gauge_max.load(), 8.0);
  auto info = js_->GetStreamInfo("BP");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->messages, static_cast<uint64_t>(kThreads * kPerThread));
}

// A stream that is not there for a while (a JetStream leader election, here
// a stream created late) makes publishes fail with "no responders" and be
// retried. Retries must not overtake: the stream stores the messages in the
// order they were published (a normalizer rejects a venue's frames that
// arrive out of order, and books built from reordered deltas are wrong).
TEST_F(BackPressureTest, PublishesRetriedAfterAnOutageKeepTheirOrder) {
  auto pub = JetStreamPublisher::Create(*conn_, {});
  ASSERT_TRUE(pub.ok()) << pub.status();
  constexpr int kMessages = 3000, kStreamAppearsAt = 400;
  for (int i = 0; i < kMessages; ++i) {
    if (i == kStreamAppearsAt) ASSERT_TRUE(js_->EnsureStream(Stream("ORD", "ord.>")).ok());
    const std::string id = absl::StrCat(i);
    ASSERT_TRUE((*pub)->Publish(Message{"ord.x", id, id, {}}).ok());
  }
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(60)).ok());
  EXPECT_GT((*pub)->stats().retried, 0u) << "nothing was retried: the test proves nothing";

  ASSERT_TRUE(js_->EnsurePullConsumer(Consumer("ORD", "reader")).ok());
  auto sub = js_->PullSubscribe(Consumer("ORD", "reader"));
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<int> stored;
  while (true) {
    auto msgs = (*sub)->Fetch(1000, absl::Milliseconds(500));
    ASSERT_TRUE(msgs.ok()) << msgs.status();
    if (msgs->empty()) break;
    for (auto& m : *msgs) {
      stored.push_back(std::stoi(m.data()));
      ASSERT_TRUE(m.Ack().ok());
    }
  }
  std::vector<int> want(kMessages);
  for (int i = 0; i < kMessages; ++i) want[i] = i;
  ASSERT_EQ(stored.size(), want.size());
  size_t first_bad = 0;
  while (first_bad < stored.size() && stored[first_bad] == want[first_bad]) ++first_bad;
  EXPECT_EQ(first_bad, stored.size()) << "stream position " << first_bad << " holds message " << stored[first_bad];
}

}  // namespace
}  // namespace sa::bus
