#include "bus/jetstream.h"

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bus/jetstream_publisher.h"
#include "bus_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "observability/metrics.h"
#include "testing/wait.h"

namespace sa::bus {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using test::Consumer;
using test::Stream;

class JetStreamTest : public test::NatsFixture {
 protected:
  // Fetches until `n` messages arrived or a fetch comes back empty.
  std::vector<ReceivedMessage> FetchAll(PullSubscription& sub, size_t n) {
    std::vector<ReceivedMessage> all;
    while (all.size() < n) {
      auto batch = sub.Fetch(256, absl::Seconds(2));
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok() || batch->empty()) break;
      for (auto& m : *batch) all.push_back(std::move(m));
    }
    return all;
  }
};

// Both ways of pulling: a request per Fetch (prefetch 0), and standing
// requests that Fetch keeps topped up (prefetch > 0).
class ConsumeTest : public JetStreamTest, public ::testing::WithParamInterface<int> {};
INSTANTIATE_TEST_SUITE_P(Prefetch, ConsumeTest, ::testing::Values(0, 1, 150),
                         [](const auto& info) { return absl::StrCat("prefetch", info.param); });

TEST_P(ConsumeTest, PublishesThousandMessagesAndConsumesThemWithAcks) {
  ASSERT_TRUE(js_->EnsureStream(Stream("ORDERS", "orders.>")).ok());
  auto consumer = Consumer("ORDERS", "worker");
  consumer.set_filter_subject("orders.>");
  consumer.set_fetch_batch(100);
  consumer.set_prefetch(GetParam());
  ASSERT_TRUE(js_->EnsurePullConsumer(consumer).ok());

  std::mutex mu;
  std::set<std::string> acked;
  JetStreamPublisher::Options opts;
  opts.on_ack = [&](const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    acked.insert(id);
  };
  auto pub = JetStreamPublisher::Create(*conn_, opts);
  ASSERT_TRUE(pub.ok()) << pub.status();
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) {
    Message m{absl::StrCat("orders.", i % 3), absl::StrCat("payload-", i), absl::StrCat("o-", i),
              {{"seq", std::to_string(i)}}};
    ASSERT_TRUE((*pub)->Publish(m).ok());
  }
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(30)).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(acked.size(), static_cast<size_t>(kCount));
  }
  EXPECT_EQ((*pub)->stats().acked, static_cast<uint64_t>(kCount));
  EXPECT_EQ((*pub)->stats().in_flight, 0);

  auto sub = js_->PullSubscribe(consumer);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ((*sub)->fetch_batch(), 100);
  auto first = (*sub)->Fetch(absl::Seconds(5));  // fetch_batch from the config
  ASSERT_TRUE(first.ok()) << first.status();
  // Prefetching hands over what has arrived so far: at most a batch.
  if (GetParam() == 0) EXPECT_EQ(first->size(), 100u);
  EXPECT_GE(first->size(), 1u);
  EXPECT_LE(first->size(), 100u);
  std::vector<ReceivedMessage> all = std::move(*first);
  for (auto& m : FetchAll(**sub, kCount - all.size())) all.push_back(std::move(m));
  ASSERT_EQ(all.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    ReceivedMessage& m = all[i];
    EXPECT_EQ(m.subject(), absl::StrCat("orders.", i % 3));
    EXPECT_EQ(m.data(), absl::StrCat("payload-", i));
    EXPECT_EQ(m.msg_id(), absl::StrCat("o-", i));
    EXPECT_EQ(m.header("seq"), std::to_string(i));
    EXPECT_EQ(m.stream_sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(m.delivery_count(), 1u);
    ASSERT_TRUE(m.Ack().ok());
  }
  ASSERT_TRUE(conn_->Flush(absl::Seconds(5)).ok());  // acks reached the server
  EXPECT_TRUE(sa::testing::WaitFor(
      [&] {
        auto info = js_->GetConsumerInfo("ORDERS", "worker");
        return info.ok() && info->num_pending == 0 && info->num_ack_pending == 0;
      },
      absl::Seconds(5)));
  auto again = (*sub)->Fetch(10, absl::Milliseconds(300));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
  // Dropping the subscription keeps the durable consumer.
  all.clear();
  sub->reset();
  EXPECT_TRUE(js_->GetConsumerInfo("ORDERS", "worker").ok());
}

// A durable recreated with AckPolicy::kAll: acking the last message of a
// batch acks the whole batch; kExplicit (the default) acks one message.
TEST_F(JetStreamTest, RecreatedWithAckAllOneAckFreesTheBatch) {
  ASSERT_TRUE(js_->EnsureStream(Stream("ACKALL", "ackall.>")).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok()) << pub.status();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE((*pub)->Publish({"ackall.x", "p", absl::StrCat("a-", i), {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  for (const auto policy : {JetStream::AckPolicy::kAll, JetStream::AckPolicy::kExplicit}) {
    auto consumer = Consumer("ACKALL", "batcher");
    ASSERT_TRUE(js_->RecreatePullConsumerAt(consumer, 5, policy).ok());
    auto sub = js_->PullSubscribe(consumer);
    ASSERT_TRUE(sub.ok()) << sub.status();
    auto batch = FetchAll(**sub, 10);
    ASSERT_EQ(batch.size(), 16u);
    EXPECT_EQ(batch.front().stream_sequence(), 5u);
    ASSERT_TRUE(batch[9].Ack().ok());  // sequence 14
    ASSERT_TRUE(conn_->Flush(absl::Seconds(5)).ok());
    // Delivered: 5..20. Unacked after the ack of 14: 15..20, or all but 14.
    const bool all = policy == JetStream::AckPolicy::kAll;
    EXPECT_TRUE(sa::testing::WaitFor(
        [&] {
          auto info = js_->GetConsumerInfo("ACKALL", "batcher");
          return info.ok() && info->num_ack_pending == (all ? 6u : 15u) && (!all || info->ack_floor_stream_seq == 14);
        },
        absl::Seconds(5)))
        << (all ? "all" : "explicit");
  }
}

// The server cannot change a durable's ack policy: EnsurePullConsumer with
// the other one recreates it from its ack floor, so what it had not acked
// (3 and 5..10 here; 4 was acked out of order) comes again, in order, and
// nothing it had acked below the floor does.
TEST_F(JetStreamTest, EnsurePullConsumerMigratesAnotherAckPolicyFromTheAckFloor) {
  ASSERT_TRUE(js_->EnsureStream(Stream("MIGRATE", "migrate.>")).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok()) << pub.status();
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE((*pub)->Publish({"migrate.x", "p", absl::StrCat("m-", i), {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  auto consumer = Consumer("MIGRATE", "mover");
  ASSERT_TRUE(js_->EnsurePullConsumer(consumer).ok());
  {
    auto sub = js_->PullSubscribe(consumer);
    ASSERT_TRUE(sub.ok()) << sub.status();
    auto first = FetchAll(**sub, 10);
    ASSERT_EQ(first.size(), 10u);
    for (int i : {0, 1, 3}) ASSERT_TRUE(first[i].AckSync(absl::Seconds(5)).ok());  // sequences 1, 2, 4
  }
  auto before = js_->GetConsumerInfo("MIGRATE", "mover");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->ack_policy, AckPolicy::kExplicit);
  EXPECT_EQ(before->ack_floor_stream_seq, 2u);

  ASSERT_TRUE(js_->EnsurePullConsumer(consumer, AckPolicy::kAll).ok());
  auto after = js_->GetConsumerInfo("MIGRATE", "mover");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->ack_policy, AckPolicy::kAll);
  EXPECT_EQ(after->num_ack_pending, 0);
  auto sub = js_->PullSubscribe(consumer);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto again = FetchAll(**sub, 8);
  std::vector<uint64_t> seqs;
  for (const auto& m : again) seqs.push_back(m.stream_sequence());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9, 10}));
  ASSERT_FALSE(again.empty());
  ASSERT_TRUE(again.back().AckSync(absl::Seconds(5)).ok());  // one ack for all eight
  sub->reset();

  // The same policy again (another setting changed): updated in place, the
  // floor kept, nothing delivered again.
  consumer.set_max_ack_pending(77);
  ASSERT_TRUE(js_->EnsurePullConsumer(consumer, AckPolicy::kAll).ok());
  auto kept = js_->GetConsumerInfo("MIGRATE", "mover");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->ack_policy, AckPolicy::kAll);
  EXPECT_EQ(kept->ack_floor_stream_seq, 10u);
  EXPECT_EQ(kept->num_ack_pending, 0);
  EXPECT_EQ(kept->max_ack_pending, 77);
  EXPECT_EQ(kept->num_pending, 0u);

  // And back: explicit from sequence 11, nothing pending.
  ASSERT_TRUE(js_->EnsurePullConsumer(consumer).ok());
  auto back = js_->GetConsumerInfo("MIGRATE", "mover");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ack_policy, AckPolicy::kExplicit);
  EXPECT_EQ(back->num_pending, 0u);
}

TEST_F(JetStreamTest, SameMsgIdIsStoredOnce) {
  ASSERT_TRUE(js_->EnsureStream(Stream("DEDUP", "dedup.>")).ok());
  std::mutex mu;
  std::vector<std::string> acks;
  JetStreamPublisher::Options opts;
  opts.on_ack = [&](const std::string& id) {
    std::lock_guard<std::mutex> lock(mu);
    acks.push_back(id);
  };
  auto pub = JetStreamPublisher::Create(*conn_, opts);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Publish(Message{"dedup.a", "first", "same-id", {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  ASSERT_TRUE((*pub)->Publish(Message{"dedup.a", "second", "same-id", {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  auto info = js_->GetStreamInfo("DEDUP");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->messages, 1u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(acks, ElementsAre("same-id", "same-id"));  // both durable, one stored
}

TEST_F(JetStreamTest, RejectsAnEmptyMsgId) {
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  auto s = (*pub)->Publish(Message{"x", "d", "", {}});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ((*pub)->stats().published, 0u);
}

TEST_F(JetStreamTest, APayloadOverTheServerLimitFailsWithoutRetry) {
  ASSERT_TRUE(js_->EnsureStream(Stream("BIG", "big")).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  auto s = (*pub)->Publish(Message{"big", std::string(2 << 20, 'x'), "big-1", {}});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ((*pub)->stats().failed, 1u);
  EXPECT_EQ((*pub)->stats().in_flight, 0);
  EXPECT_TRUE((*pub)->Flush(absl::Seconds(5)).ok());
}

TEST_F(JetStreamTest, PerMessageCompletionReportsEveryOutcomeOnce) {
  ASSERT_TRUE(js_->EnsureStream(Stream("DONE", "done.>")).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  std::mutex mu;
  std::map<std::string, std::vector<absl::StatusCode>> outcomes;
  auto record = [&](const std::string& id) {
    return [&, id](const absl::Status& st) {
      std::lock_guard<std::mutex> lock(mu);
      outcomes[id].push_back(st.code());
    };
  };
  ASSERT_TRUE((*pub)->Publish(Message{"done.a", "1", "a", {}}, record("a")).ok());
  ASSERT_TRUE((*pub)->Publish(Message{"done.b", "2", "b", {}}, record("b")).ok());
  ASSERT_TRUE((*pub)->Publish(Message{"done.b", "2", "b", {}}, record("b-again")).ok());  // a duplicate is stored too
  // Refused outright: the caller has the error, the completion never runs.
  EXPECT_FALSE((*pub)->Publish(Message{"done.c", std::string(2 << 20, 'x'), "c", {}}, record("c")).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_THAT(outcomes["a"], ElementsAre(absl::StatusCode::kOk));
    EXPECT_THAT(outcomes["b"], ElementsAre(absl::StatusCode::kOk));
    EXPECT_THAT(outcomes["b-again"], ElementsAre(absl::StatusCode::kOk));
    EXPECT_EQ(outcomes.count("c"), 0u);
  }
  // No stream takes "nowhere": retried until the publisher is destroyed,
  // which cancels it.
  ASSERT_TRUE((*pub)->Publish(Message{"nowhere.x", "d", "lost", {}}, record("lost")).ok());
  pub->reset();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_THAT(outcomes["lost"], ElementsAre(absl::StatusCode::kCancelled));
}

TEST_F(JetStreamTest, PublishBatchCompletesEachAcceptedMessageOnceAndStoresThemInOrder) {
  ASSERT_TRUE(js_->EnsureStream(Stream("BATCH", "batch.>")).ok());
  JetStreamPublisher::Options opts;
  opts.max_pending_acks = 16;  // the batch is many windows: registered in runs, back-pressure inside it
  auto pub = JetStreamPublisher::Create(*conn_, opts);
  ASSERT_TRUE(pub.ok());
  constexpr size_t kCount = 1000;
  constexpr size_t kNoMsgId = 500;
  constexpr size_t kTooBig = 700;
  std::vector<Message> batch;
  for (size_t i = 0; i < kCount; ++i)
    batch.push_back(Message{absl::StrCat("batch.", i % 3), absl::StrCat("p-", i), absl::StrCat("b-", i), {}});
  batch[kNoMsgId].msg_id.clear();
  batch[kTooBig].data = std::string(2 << 20, 'x');
  std::mutex mu;
  std::vector<std::vector<absl::StatusCode>> outcomes(kCount);
  std::vector<absl::Status> results = (*pub)->PublishBatch(std::move(batch), [&](size_t i, const absl::Status& st) {
    std::lock_guard<std::mutex> lock(mu);
    outcomes.at(i).push_back(st.code());
  });
  ASSERT_EQ(results.size(), kCount);
  EXPECT_TRUE(absl::IsInvalidArgument(results[kNoMsgId])) << results[kNoMsgId];
  EXPECT_FALSE(results[kTooBig].ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(30)).ok());
  std::vector<std::string> expected;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < kCount; ++i) {
      if (i == kNoMsgId || i == kTooBig) {
        EXPECT_TRUE(outcomes[i].empty()) << i;  // refused: the caller has the error, no completion
        continue;
      }
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
      EXPECT_THAT(outcomes[i], ElementsAre(absl::StatusCode::kOk)) << i;
      expected.push_back(absl::StrCat("p-", i));
    }
  }
  EXPECT_EQ((*pub)->stats().acked, kCount - 2);
  EXPECT_EQ((*pub)->stats().in_flight, 0);
  EXPECT_LE((*pub)->stats().max_in_flight, 16);

  auto consumer = Consumer("BATCH", "reader");
  consumer.set_filter_subject("batch.>");
  ASSERT_TRUE(js_->EnsurePullConsumer(consumer).ok());
  auto sub = js_->PullSubscribe(consumer);
  ASSERT_TRUE(sub.ok()) << sub.status();
  std::vector<std::string> stored;
  for (auto& m : FetchAll(**sub, expected.size())) stored.push_back(m.data());
  EXPECT_EQ(stored, expected);  // each once, in batch order
}

// The window fills with publishes no stream takes (retried), so the batch
// waits inside; then the connection is closed under it. Every message is
// then either refused (its status says so) or completed, exactly once.
TEST_F(JetStreamTest, PublishBatchResolvesEveryMessageOnceWhenTheConnectionClosesMidBatch) {
  JetStreamPublisher::Options opts;
  opts.max_pending_acks = 8;
  opts.max_retry_backoff = absl::Milliseconds(50);
  auto pub = JetStreamPublisher::Create(*conn_, opts);
  ASSERT_TRUE(pub.ok());
  constexpr size_t kCount = 200;
  std::vector<Message> batch;
  for (size_t i = 0; i < kCount; ++i)
    batch.push_back(Message{"nostream.x", absl::StrCat("p-", i), absl::StrCat("n-", i), {}});
  std::mutex mu;
  std::vector<int> completions(kCount, 0);
  std::vector<absl::Status> results;
  std::thread publishing([&] {
    results = (*pub)->PublishBatch(std::move(batch), [&](size_t i, const absl::Status&) {
      std::lock_guard<std::mutex> lock(mu);
      ++completions.at(i);
    });
  });
  EXPECT_TRUE(sa::testing::WaitFor([&] { return (*pub)->stats().in_flight == 8; }, absl::Seconds(10)));
  conn_->Close();
  publishing.join();
  pub->reset();  // cancels what still waits for a retry
  ASSERT_EQ(results.size(), kCount);
  std::lock_guard<std::mutex> lock(mu);
  size_t accepted = 0;
  for (size_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(completions[i], results[i].ok() ? 1 : 0) << i << ": " << results[i];
    if (results[i].ok()) ++accepted;
  }
  EXPECT_GE(accepted, 8u);  // the first window was accepted before the close
}

TEST_F(JetStreamTest, EnsureStreamIsIdempotentAndUpdatesSubjects) {
  auto cfg = Stream("MD_RAW", "md.raw.>");
  cfg.set_max_age_s(3600);
  cfg.set_duplicate_window_s(60);
  ASSERT_TRUE(js_->EnsureStream(cfg).ok());
  ASSERT_TRUE(js_->EnsureStream(cfg).ok());
  auto info = js_->GetStreamInfo("MD_RAW");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->subjects, ElementsAre("md.raw.>"));
  EXPECT_EQ(info->duplicate_window_ns, int64_t{60} * 1000000000);

  cfg.add_subjects("md.status.>");
  ASSERT_TRUE(js_->EnsureStream(cfg).ok());
  info = js_->GetStreamInfo("MD_RAW");
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(info->subjects, ElementsAre("md.raw.>", "md.status.>"));

  // Storage cannot change: the error names the operation and the stream.
  cfg.set_storage("memory");
  auto s = js_->EnsureStream(cfg);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("EnsureStream MD_RAW"));
  cfg.set_storage("tape");
  EXPECT_TRUE(absl::IsInvalidArgument(js_->EnsureStream(cfg)));
}

TEST_F(JetStreamTest, EnsurePullConsumerIsIdempotentAndUpdates) {
  ASSERT_TRUE(js_->EnsureStream(Stream("CDC", "cdc.>")).ok());
  auto c = Consumer("CDC", "sink");
  c.set_ack_wait_s(30);
  c.set_max_ack_pending(100);
  ASSERT_TRUE(js_->EnsurePullConsumer(c).ok());
  ASSERT_TRUE(js_->EnsurePullConsumer(c).ok());
  auto info = js_->GetConsumerInfo("CDC", "sink");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ack_wait_ns, int64_t{30} * 1000000000);
  EXPECT_EQ(info->max_ack_pending, 100);

  c.set_ack_wait_s(10);
  c.set_max_ack_pending(50);
  c.set_max_deliver(5);
  ASSERT_TRUE(js_->EnsurePullConsumer(c).ok());
  info = js_->GetConsumerInfo("CDC", "sink");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->ack_wait_ns, int64_t{10} * 1000000000);
  EXPECT_EQ(info->max_ack_pending, 50);
  EXPECT_EQ(info->max_deliver, 5);

  auto missing = js_->GetConsumerInfo("CDC", "nobody");
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
}

// streamadmin_bus_consumer_pending{stream,durable}: what the durable had left
// after the last message fetched; 0 once the subscription is gone.
TEST_P(ConsumeTest, ExportsWhatTheConsumerHasLeftAsAGauge) {
  ASSERT_TRUE(js_->EnsureStream(Stream("LAG", "lag.>")).ok());
  auto c = Consumer("LAG", "lagging");
  c.set_prefetch(GetParam());
  ASSERT_TRUE(js_->EnsurePullConsumer(c).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*pub)->Publish(Message{"lag.x", "m", absl::StrCat("lag-", i), {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  obs::Gauge& pending = obs::MetricsRegistry::Default().GetGauge("streamadmin_bus_consumer_pending", "",
                                                                 {{"stream", "LAG"}, {"durable", "lagging"}});

  auto sub = js_->PullSubscribe(c);
  ASSERT_TRUE(sub.ok()) << sub.status();
  size_t got = 0;
  while (got < 3) {
    auto batch = (*sub)->Fetch(static_cast<int>(3 - got), absl::Seconds(5));
    ASSERT_TRUE(batch.ok() && !batch->empty()) << (batch.ok() ? "empty" : batch.status().ToString());
    got += batch->size();
    for (auto& m : *batch) EXPECT_TRUE(m.Ack().ok());
  }
  EXPECT_EQ(pending.Value(), 7.0);
  sub->reset();
  EXPECT_EQ(pending.Value(), 0.0);
}

TEST_P(ConsumeTest, NakRedeliversAndTermStopsRedelivery) {
  ASSERT_TRUE(js_->EnsureStream(Stream("WORK", "work")).ok());
  auto c = Consumer("WORK", "w");
  c.set_prefetch(GetParam());
  ASSERT_TRUE(js_->EnsurePullConsumer(c).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Publish(Message{"work", "job", "job-1", {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());

  auto sub = js_->PullSubscribe(c);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto first = (*sub)->Fetch(1, absl::Seconds(5));
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  EXPECT_EQ((*first)[0].delivery_count(), 1u);
  EXPECT_TRUE((*first)[0].InProgress().ok());
  ASSERT_TRUE((*first)[0].Nak().ok());

  auto second = (*sub)->Fetch(1, absl::Seconds(5));
  ASSERT_TRUE(second.ok() && second->size() == 1u);
  EXPECT_EQ((*second)[0].delivery_count(), 2u);
  EXPECT_EQ((*second)[0].stream_sequence(), 1u);
  ASSERT_TRUE((*second)[0].Term().ok());

  auto third = (*sub)->Fetch(1, absl::Milliseconds(300));
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third->empty());
}

TEST_P(ConsumeTest, NakWithDelayRedeliversLaterAndAckSyncIsConfirmed) {
  ASSERT_TRUE(js_->EnsureStream(Stream("JOBS", "jobs")).ok());
  auto c = Consumer("JOBS", "j");
  c.set_prefetch(GetParam());
  ASSERT_TRUE(js_->EnsurePullConsumer(c).ok());
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Publish(Message{"jobs", "a", "a", {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  auto sub = js_->PullSubscribe(c);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto first = (*sub)->Fetch(1, absl::Seconds(5));
  ASSERT_TRUE(first.ok() && first->size() == 1u);
  const absl::Time naked = absl::Now();
  ASSERT_TRUE((*first)[0].NakWithDelay(absl::Milliseconds(400)).ok());
  auto again = (*sub)->Fetch(1, absl::Seconds(5));
  ASSERT_TRUE(again.ok() && again->size() == 1u);
  EXPECT_GE(absl::Now() - naked, absl::Milliseconds(350));
  EXPECT_EQ((*again)[0].delivery_count(), 2u);
  ASSERT_TRUE((*again)[0].AckSync(absl::Seconds(5)).ok());
  auto info = js_->GetConsumerInfo("JOBS", "j");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_ack_pending, 0);
  EXPECT_EQ(info->ack_floor_stream_seq, 1u);
}

// Standing requests: a message stored while Fetch waits is handed over
// without another request, and a consumer deleted under the subscription is
// an error, not an endless wait.
TEST_F(JetStreamTest, PrefetchDeliversWhatIsStoredWhileWaitingAndReportsADeletedConsumer) {
  auto sub = test::PrefetchingSubscription(*js_, "LIVE", "live", "l", 100);
  ASSERT_TRUE(sub.ok()) << sub.status();
  auto none = (*sub)->Fetch(10, absl::Milliseconds(100));  // places the standing request
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  auto info = js_->GetConsumerInfo("LIVE", "l");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_waiting, 1);
  // The request is standing: the message is sent to us as it is stored.
  auto pub = JetStreamPublisher::Create(*conn_);
  ASSERT_TRUE(pub.ok());
  ASSERT_TRUE((*pub)->Publish(Message{"live", "x", "x-1", {}}).ok());
  ASSERT_TRUE((*pub)->Flush(absl::Seconds(10)).ok());
  EXPECT_TRUE(sa::testing::WaitFor(
      [&] {
        auto i = js_->GetConsumerInfo("LIVE", "l");
        return i.ok() && i->num_ack_pending == 1 && i->num_pending == 0;
      },
      absl::Seconds(5)));
  auto got = (*sub)->Fetch(10, absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].data(), "x");
  EXPECT_EQ((*got)[0].stream_sequence(), 1u);
  EXPECT_EQ((*got)[0].consumer_sequence(), 1u);
  EXPECT_EQ((*got)[0].num_pending(), 0u);
  EXPECT_GT((*got)[0].timestamp(), absl::Now() - absl::Minutes(1));
  ASSERT_TRUE((*got)[0].Ack().ok());

  ASSERT_TRUE(js_->DeleteConsumer("LIVE", "l").ok());
  absl::Status err;
  EXPECT_TRUE(sa::testing::WaitFor(
      [&] {
        auto r = (*sub)->Fetch(10, absl::Milliseconds(100));
        if (!r.ok()) err = r.status();
        return !r.ok();
      },
      absl::Seconds(10)));
  EXPECT_THAT(std::string(err.message()), HasSubstr("409"));
  // Binding to a consumer that does not exist fails at once.
  EXPECT_FALSE(js_->PullSubscribe(Consumer("LIVE", "l")).ok());
}

}  // namespace
}  // namespace sa::bus
