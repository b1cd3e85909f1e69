// AckWindow without a server: entries carry no inputs, and what the window
// decides shows in the order and outcome of their `then` callbacks (acks and
// naks of real messages: consumer_loop_test.cc).
#include "runtime/ack_window.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <utility>
#include <vector>

namespace sa::runtime {
namespace {

// What the window settled, in the order it did.
class Settled {
 public:
  AckWindow::Then For(int id) {
    return [this, id](bool stored) {
      std::lock_guard lock(mu_);
      order_.emplace_back(id, stored);
      cv_.notify_all();
    };
  }
  std::vector<std::pair<int, bool>> WaitFor(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return order_.size() >= n; });
    return order_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<int, bool>> order_;
};

const absl::Status kStored = absl::OkStatus();

TEST(AckWindow, SettlesEntriesInOpenOrderWhateverOrderTheirOutputsAreStoredIn) {
  AckWindow window;
  Settled settled;
  std::vector<bus::JetStreamPublisher::Completion> outputs[3];
  for (int i = 0; i < 3; ++i) {
    AckWindow::Entry e = window.Open({}, settled.For(i));
    outputs[i].push_back(e.Expect());
    outputs[i].push_back(e.Expect());
    e.Seal();
  }
  // The newest entries are stored first, the oldest last.
  outputs[2][1](kStored);
  outputs[2][0](kStored);
  outputs[1][0](kStored);
  outputs[0][1](kStored);
  outputs[1][1](kStored);
  outputs[0][0](kStored);
  EXPECT_EQ(settled.WaitFor(3), (std::vector<std::pair<int, bool>>{{0, true}, {1, true}, {2, true}}));
  EXPECT_FALSE(window.failed());
  EXPECT_TRUE(window.Drain(absl::Seconds(5)).ok());
}

TEST(AckWindow, AnEntryWithAFailedOutputIsNotStoredAndTheOthersStillSettleInOrder) {
  AckWindow window;
  Settled settled;
  std::vector<bus::JetStreamPublisher::Completion> outputs;
  for (int i = 0; i < 3; ++i) {
    AckWindow::Entry e = window.Open({}, settled.For(i));
    outputs.push_back(e.Expect());
  }  // sealed on destruction
  outputs[2](kStored);
  outputs[1](absl::FailedPreconditionError("message exceeds maximum size"));
  outputs[0](kStored);
  EXPECT_EQ(settled.WaitFor(3), (std::vector<std::pair<int, bool>>{{0, true}, {1, false}, {2, true}}));
  EXPECT_TRUE(window.failed());
}

TEST(AckWindow, AnEntryFailsWhenAnyOfItsOutputsFailsEvenIfTheOthersAreStoredLater) {
  AckWindow window;
  Settled settled;
  AckWindow::Entry e = window.Open({}, settled.For(7));
  auto a = e.Expect();
  auto b = e.Expect();
  e.Seal();
  a(absl::CancelledError("publisher destroyed before the ack"));
  b(kStored);
  EXPECT_EQ(settled.WaitFor(1), (std::vector<std::pair<int, bool>>{{7, false}}));
}

TEST(AckWindow, AnEntryWithoutOutputsSettlesOnceSealedAndAfterTheEntriesBeforeIt) {
  AckWindow window;
  Settled settled;
  AckWindow::Entry first = window.Open({}, settled.For(1));
  auto output = first.Expect();
  first.Seal();
  window.Open({}, settled.For(2)).Seal();
  output(kStored);
  EXPECT_EQ(settled.WaitFor(2), (std::vector<std::pair<int, bool>>{{1, true}, {2, true}}));
}

TEST(AckWindow, DrainWaitsForEveryOpenEntry) {
  AckWindow window;
  Settled settled;
  AckWindow::Entry e = window.Open({}, settled.For(1));
  auto output = e.Expect();
  e.Seal();
  output(kStored);
  EXPECT_TRUE(window.Drain(absl::Seconds(10)).ok());
  // Drain returns once the entry's inputs are acked and its `then` has run.
  EXPECT_EQ(settled.WaitFor(1), (std::vector<std::pair<int, bool>>{{1, true}}));
  EXPECT_EQ(window.entries_in_flight(), 0u);
}

TEST(AckWindow, DrainGivesUpOnOutputsThatAreNeverAcknowledgedAndLeavesTheirInputsUnacked) {
  Settled settled;
  bus::JetStreamPublisher::Completion late;
  {
    AckWindow window;
    AckWindow::Entry e = window.Open({}, settled.For(1));
    late = e.Expect();
    e.Seal();
    absl::Status st = window.Drain(absl::Milliseconds(100));
    EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
    EXPECT_EQ(window.entries_in_flight(), 1u);
  }
  // A publisher destroyed after the window cancels what it still holds.
  late(absl::CancelledError("publisher destroyed before the ack"));
  EXPECT_TRUE(settled.WaitFor(0).empty());  // nothing settled: no `then` ran
}

TEST(AckWindow, AnUnsealedEntryHoldsBackEveryLaterOne) {
  AckWindow window;
  Settled settled;
  AckWindow::Entry open = window.Open({}, settled.For(1));
  window.Open({}, settled.For(2)).Seal();
  EXPECT_EQ(window.Drain(absl::Milliseconds(100)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(settled.WaitFor(0).empty());
  EXPECT_EQ(window.entries_in_flight(), 2u);
}

}  // namespace
}  // namespace sa::runtime
