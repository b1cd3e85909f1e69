// ConfirmTracker: the slot moves only past transactions whose every event
// every output stored, in commit order, never past one still waiting.
#include "cdc_bridge/confirm_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sa::cdc_bridge {
namespace {

using Event = ConfirmTracker::Event;

std::vector<Event> Events(int n) {
  std::vector<Event> e;
  for (int i = 0; i < n; ++i) e.push_back({"cdc.pg.public.t", "row" + std::to_string(i)});
  return e;
}

TEST(ConfirmTracker, ConfirmsInCommitOrderOnlyPastWhollyStoredTransactions) {
  ConfirmTracker t;
  t.Reset(100);
  EXPECT_EQ(t.confirmable(), 100u);
  t.Add(/*commit*/ 200, /*end*/ 210, 0, Events(2), ConfirmTracker::kJetStream);
  t.Add(300, 310, 0, Events(1), ConfirmTracker::kJetStream);
  // The second completes first: nothing moves, the head still waits.
  EXPECT_TRUE(t.MarkDone(300, 0, ConfirmTracker::kJetStream));
  EXPECT_EQ(t.confirmable(), 100u);
  EXPECT_TRUE(t.MarkDone(200, 1, ConfirmTracker::kJetStream));
  EXPECT_EQ(t.confirmable(), 100u);
  // The head completes: both go, up to the second's end.
  EXPECT_TRUE(t.MarkDone(200, 0, ConfirmTracker::kJetStream));
  EXPECT_EQ(t.confirmable(), 310u);
  EXPECT_EQ(t.waiting(), 0u);
}

TEST(ConfirmTracker, NeverConfirmsPastTheCommitOfOneStillWaiting) {
  ConfirmTracker t;
  t.Add(200, 400, 0, Events(1), ConfirmTracker::kJetStream);  // ends past the next one's commit
  t.Add(300, 310, 0, Events(1), ConfirmTracker::kJetStream);
  t.MarkDone(200, 0, ConfirmTracker::kJetStream);
  // Capped at 300: a watermark (confirmable - 1) must not cover commit 300.
  EXPECT_EQ(t.confirmable(), 300u);
  t.MarkDone(300, 0, ConfirmTracker::kJetStream);
  EXPECT_EQ(t.confirmable(), 310u);
}

TEST(ConfirmTracker, AnEventWaitsForEveryOutputItNames) {
  ConfirmTracker t;
  t.Add(200, 210, 0, Events(1), ConfirmTracker::kAll);
  t.MarkDone(200, 0, ConfirmTracker::kJetStream);
  EXPECT_EQ(t.confirmable(), 0u);
  // A repeated JetStream ack changes nothing.
  t.MarkDone(200, 0, ConfirmTracker::kJetStream);
  EXPECT_EQ(t.confirmable(), 0u);
  t.MarkDone(200, 0, ConfirmTracker::kKafka);
  EXPECT_EQ(t.confirmable(), 210u);
}

TEST(ConfirmTracker, ADeadLetterHandsBackTheEventAndCountsAsDone) {
  ConfirmTracker t;
  t.Add(200, 210, 0, Events(2), ConfirmTracker::kAll);
  std::string subject, payload;
  ASSERT_TRUE(t.MarkDone(200, 1, ConfirmTracker::kAll, &subject, &payload));
  EXPECT_EQ(subject, "cdc.pg.public.t");
  EXPECT_EQ(payload, "row1");
  t.MarkDone(200, 0, ConfirmTracker::kAll);
  EXPECT_EQ(t.confirmable(), 210u);
}

TEST(ConfirmTracker, UnknownTransactionsAndIndexesAreRefused) {
  ConfirmTracker t;
  t.Add(200, 210, 0, Events(1), ConfirmTracker::kJetStream);
  EXPECT_FALSE(t.MarkDone(999, 0, ConfirmTracker::kJetStream));
  EXPECT_FALSE(t.MarkDone(200, 5, ConfirmTracker::kJetStream));
  EXPECT_EQ(t.confirmable(), 0u);
}

TEST(ConfirmTracker, ATransactionWithoutEventsCompletesAtOnce) {
  ConfirmTracker t;
  t.Add(200, 210, 0, {}, ConfirmTracker::kJetStream);
  EXPECT_EQ(t.confirmable(), 210u);
}

TEST(ConfirmTracker, ASnapshotChunkCompletesOnlyOnceTheStreamPassedItsGate) {
  ConfirmTracker t;
  t.Add(500, 600, /*gate*/ 600, Events(1), ConfirmTracker::kJetStream);
  t.MarkDone(500, 0, ConfirmTracker::kJetStream);
  EXPECT_TRUE(t.Contains(500));
  EXPECT_EQ(t.confirmable(), 0u);
  t.SetReceivedWal(599);
  EXPECT_EQ(t.confirmable(), 0u);
  t.SetReceivedWal(600);
  EXPECT_FALSE(t.Contains(500));
  EXPECT_EQ(t.confirmable(), 600u);
  t.SetReceivedWal(10);  // never back
  EXPECT_EQ(t.received_wal(), 600u);
}

TEST(ConfirmTracker, ANewSessionForgetsWhatWaitedAndNeverMovesBack) {
  ConfirmTracker t;
  t.Add(200, 210, 0, Events(1), ConfirmTracker::kJetStream);
  t.MarkDone(200, 0, ConfirmTracker::kJetStream);
  t.Add(300, 310, 0, Events(1), ConfirmTracker::kJetStream);
  t.Reset(150);  // the slot streams from an older position: confirmable stays
  EXPECT_EQ(t.confirmable(), 210u);
  EXPECT_EQ(t.waiting(), 0u);
  EXPECT_FALSE(t.MarkDone(300, 0, ConfirmTracker::kJetStream));  // the earlier session's
  EXPECT_EQ(t.confirmable(), 210u);
}

TEST(ConfirmTracker, AcksFromManyThreadsConfirmEverything) {
  ConfirmTracker t;
  constexpr int kTx = 200, kEvents = 8;
  for (int i = 0; i < kTx; ++i) t.Add(1000 + 10 * i, 1000 + 10 * i + 5, 0, Events(kEvents), ConfirmTracker::kAll);
  std::vector<std::thread> threads;
  for (uint8_t output : {ConfirmTracker::kJetStream, ConfirmTracker::kKafka})
    threads.emplace_back([&t, output] {
      for (int i = kTx - 1; i >= 0; --i)
        for (int e = 0; e < kEvents; ++e) t.MarkDone(1000 + 10 * i, static_cast<uint32_t>(e), output);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.confirmable(), static_cast<uint64_t>(1000 + 10 * (kTx - 1) + 5));
  EXPECT_EQ(t.waiting(), 0u);
}

}  // namespace
}  // namespace sa::cdc_bridge
