// ConsumerLoop + AckWindow + JetStreamPublisher against a real nats-server:
// inputs on IN are turned into outputs on OUT, and acked only once stored.
#include "runtime/consumer_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "bus/jetstream_publisher.h"
#include "runtime/ack_window.h"
#include "runtime/main.h"
#include "runtime/nats_client.h"
#include "testing/nats_server.h"
#include "testing/wait.h"

namespace sa::runtime {
namespace {

namespace cfg = streamadmin::config::v1;

cfg::StreamConfig StreamOf(const std::string& name, const std::string& subject) {
  cfg::StreamConfig s;
  s.set_name(name);
  s.add_subjects(subject);
  s.set_storage("memory");
  return s;
}

cfg::ConsumerConfig Durable(const std::string& name) {
  cfg::ConsumerConfig c;
  c.set_stream("IN");
  c.set_durable(name);
  c.set_ack_wait_s(30);
  c.set_max_ack_pending(10000);
  return c;
}

// Server-side state (consumer info, stream counts) has no notification: polled.
bool Eventually(const std::function<bool()>& cond, absl::Duration timeout = absl::Seconds(20)) {
  return testing::WaitFor(cond, timeout);
}

class ConsumerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    cfg::ServerConfig s;
    cfg::LogConfig l;
    cfg::NatsConfig nats;
    SetCommonDefaults(0, 0, &s, &l, &nats);
    nats.clear_servers();
    nats.add_servers(server_->url());
    auto client = NatsClient::Start(nats, {StreamOf("IN", "in.>"), StreamOf("OUT", "out.>")});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
    ASSERT_TRUE(client_->WaitReady(absl::Seconds(30)));
    auto publisher = bus::JetStreamPublisher::Create(client_->connection());
    ASSERT_TRUE(publisher.ok()) << publisher.status();
    publisher_ = std::move(*publisher);
  }

  void PublishInputs(int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(
          publisher_->Publish({.subject = absl::StrCat("in.", i), .data = "x", .msg_id = absl::StrCat("in-", i)}).ok());
    ASSERT_TRUE(publisher_->Flush(absl::Seconds(10)).ok());
  }

  uint64_t Stored(const std::string& stream) {
    auto info = client_->jetstream().GetStreamInfo(stream);
    return info.ok() ? info->messages : 0;
  }

  std::unique_ptr<testing::NatsServer> server_;
  std::unique_ptr<NatsClient> client_;
  std::unique_ptr<bus::JetStreamPublisher> publisher_;
};

TEST_F(ConsumerLoopTest, AcksEveryInputOnceItsOutputIsStored) {
  PublishInputs(300);
  AckWindow window;
  ConsumerLoop loop(*client_, {.consumer = Durable("copier"), .fetch_ahead = 2},
                    [&](std::vector<bus::ReceivedMessage>& batch) {
                      std::vector<bus::Message> out;
                      for (const auto& m : batch)
                        out.push_back({.subject = absl::StrCat("out.", m.stream_sequence()),
                                       .data = m.data(),
                                       .msg_id = absl::StrCat("out-", m.stream_sequence())});
                      if (!batch.empty()) window.Submit(*publisher_, std::move(batch), out);
                      return ConsumerLoop::Next::kFetch;
                    });
  EXPECT_FALSE(loop.Health().healthy());
  loop.Start();
  ASSERT_TRUE(Eventually([&] {
    auto info = client_->jetstream().GetConsumerInfo("IN", "copier");
    return info.ok() && info->ack_floor_stream_seq == 300 && info->num_ack_pending == 0;
  }));
  EXPECT_EQ(Stored("OUT"), 300u);
  EXPECT_TRUE(loop.Health().healthy());
  EXPECT_EQ(loop.Health().name(), "consumer");
  EXPECT_EQ(loop.Health().detail(), "bound to IN/copier");
  EXPECT_EQ(loop.fetched(), 300u);
  loop.Stop();
  EXPECT_TRUE(window.Drain(absl::Seconds(10)).ok());
  EXPECT_FALSE(window.failed());
}

TEST_F(ConsumerLoopTest, AnInputWhoseOutputIsRefusedIsNeverAckedButDeliveredAgain) {
  PublishInputs(3);
  AckWindow window;
  std::mutex mu;
  std::condition_variable cv;
  uint64_t max_delivery_of_second = 0;
  ConsumerLoop loop(*client_, {.consumer = Durable("refused")}, [&](std::vector<bus::ReceivedMessage>& batch) {
    std::vector<bus::Message> out;
    for (const auto& m : batch) {
      // The second input's output is over the server's max_payload: refused.
      const bool too_big = m.stream_sequence() == 2;
      if (too_big) {
        std::lock_guard lock(mu);
        max_delivery_of_second = std::max(max_delivery_of_second, m.delivery_count());
        cv.notify_all();
      }
      out.push_back({.subject = absl::StrCat("out.", m.stream_sequence()),
                     .data = std::string(too_big ? (2 << 20) : 1, 'x'),
                     .msg_id = absl::StrCat("out-", m.stream_sequence())});
    }
    for (size_t i = 0; i < batch.size(); ++i) {  // one entry per input, so only the second fails
      std::vector<bus::ReceivedMessage> one;
      one.push_back(std::move(batch[i]));
      window.Submit(*publisher_, std::move(one), {out[i]});
    }
    return ConsumerLoop::Next::kFetch;
  });
  loop.Start();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return max_delivery_of_second >= 2; }));
  }
  ASSERT_TRUE(Eventually([&] {
    auto info = client_->jetstream().GetConsumerInfo("IN", "refused");
    return info.ok() && info->ack_floor_stream_seq == 1 && Stored("OUT") == 2;
  }));
  loop.Stop();
  (void)window.Drain(absl::Seconds(5));
  EXPECT_TRUE(window.failed());
  auto info = client_->jetstream().GetConsumerInfo("IN", "refused");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ack_floor_stream_seq, 1u);  // the third is acked, the second never
  EXPECT_GE(info->num_ack_pending, 1);
}

// Ack-all through the window: one cumulative ack per settled run, never past
// an input whose output was not stored. The output of input 2 is refused
// (and input 2 nak'd, delivered again, refused again...) until every later
// input is stored: they are held, and the ack floor stays at 1. The acks
// themselves are watched on the wire.
TEST_F(ConsumerLoopTest, AnAckAllWindowAcksOncePerRunAndNeverPastAnInputNotStored) {
  constexpr int kInputs = 200;
  PublishInputs(kInputs);
  // What the client sends to acknowledge: +ACK / -NAK on $JS.ACK.IN.cumulative...
  std::atomic<int> acks{0}, naks{0};
  auto spy = client_->connection().Subscribe("$JS.ACK.IN.cumulative.>", [&](const bus::InboundMessage& m) {
    if (m.data.empty() || m.data == "+ACK") ++acks;
    if (m.data == "-NAK") ++naks;
  });
  ASSERT_TRUE(spy.ok()) << spy.status();
  AckWindow window({.acks = bus::AckPolicy::kAll});
  std::atomic<bool> release{false};
  ConsumerLoop loop(*client_, {.consumer = Durable("cumulative"), .fetch_ahead = 2, .acks = bus::AckPolicy::kAll},
                    [&](std::vector<bus::ReceivedMessage>& batch) {
                      for (auto& m : batch) {
                        const bool refuse = m.stream_sequence() == 2 && !release;
                        bus::Message out{.subject = absl::StrCat("out.", m.stream_sequence()),
                                         .data = std::string(refuse ? (2 << 20) : 1, 'x'),
                                         .msg_id = absl::StrCat("out-", m.stream_sequence())};
                        std::vector<bus::ReceivedMessage> one;
                        one.push_back(std::move(m));
                        window.Submit(*publisher_, std::move(one), {out});
                      }
                      return ConsumerLoop::Next::kFetch;
                    });
  loop.Start();
  // Everything but input 2 stored, and 3..200 held unacked.
  ASSERT_TRUE(Eventually([&] { return Stored("OUT") == kInputs - 1 && window.inputs_held() == kInputs - 2; }))
      << Stored("OUT") << " stored, " << window.inputs_held() << " held";
  auto refused = client_->jetstream().GetConsumerInfo("IN", "cumulative");
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->ack_floor_stream_seq, 1u);  // never past input 2
  EXPECT_GE(naks.load(), 1);
  release = true;
  ASSERT_TRUE(Eventually([&] {
    auto info = client_->jetstream().GetConsumerInfo("IN", "cumulative");
    return info.ok() && info->ack_floor_stream_seq == kInputs && info->num_ack_pending == 0;
  }));
  loop.Stop();
  EXPECT_TRUE(window.Drain(absl::Seconds(10)).ok());
  EXPECT_EQ(Stored("OUT"), static_cast<uint64_t>(kInputs));
  EXPECT_EQ(window.inputs_held(), 0u);
  ASSERT_TRUE(client_->connection().Flush(absl::Seconds(5)).ok());
  EXPECT_GE(acks.load(), 2);
  EXPECT_LT(acks.load(), kInputs / 4) << "acks are cumulative: far fewer than inputs";
  auto info = client_->jetstream().GetConsumerInfo("IN", "cumulative");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->ack_policy, bus::AckPolicy::kAll);
}

// An explicit durable left by an older version, with input 3 unacked and 4
// acked out of order: an ack-all loop migrates it from its ack floor, so 3
// and everything after come again, in order.
TEST_F(ConsumerLoopTest, AnAckAllLoopMigratesAnExplicitDurableFromItsAckFloor) {
  PublishInputs(10);
  {
    ASSERT_TRUE(client_->jetstream().EnsurePullConsumer(Durable("older")).ok());
    auto sub = client_->jetstream().PullSubscribe(Durable("older"));
    ASSERT_TRUE(sub.ok());
    auto got = (*sub)->Fetch(10, absl::Seconds(5));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 10u);
    for (int i : {0, 1, 3}) ASSERT_TRUE((*got)[i].AckSync(absl::Seconds(5)).ok());
  }
  std::mutex mu;
  std::vector<uint64_t> seen;
  ConsumerLoop loop(*client_, {.consumer = Durable("older"), .acks = bus::AckPolicy::kAll},
                    [&](std::vector<bus::ReceivedMessage>& batch) {
                      std::lock_guard lock(mu);
                      for (auto& m : batch) seen.push_back(m.stream_sequence());
                      if (!batch.empty()) (void)batch.back().Ack();
                      return ConsumerLoop::Next::kFetch;
                    });
  loop.Start();
  ASSERT_TRUE(Eventually([&] {
    auto info = client_->jetstream().GetConsumerInfo("IN", "older");
    return info.ok() && info->ack_floor_stream_seq == 10 && info->num_ack_pending == 0;
  }));
  loop.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9, 10}));
  auto info = client_->jetstream().GetConsumerInfo("IN", "older");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->ack_policy, bus::AckPolicy::kAll);
}

// kRewind, the nak path of an ack-all consumer that acks in its handler: an
// input it cannot handle is not acked, and everything from the ack floor comes
// again in stream order — including what was fetched ahead meanwhile, which is
// dropped unhandled. Every input is handled in the end, in order after the
// rewind.
class ConsumerLoopRewindTest : public ConsumerLoopTest, public ::testing::WithParamInterface<int> {};
INSTANTIATE_TEST_SUITE_P(FetchAhead, ConsumerLoopRewindTest, ::testing::Values(0, 2),
                         [](const auto& info) { return absl::StrCat("ahead", info.param); });

TEST_P(ConsumerLoopRewindTest, ARewindRedeliversFromTheAckFloorInOrder) {
  constexpr uint64_t kInputs = 120;
  PublishInputs(static_cast<int>(kInputs));
  cfg::ConsumerConfig c = Durable(absl::StrCat("rewinder", GetParam()));
  c.set_fetch_batch(10);
  std::mutex mu;
  std::vector<uint64_t> handled;  // in handling order
  std::set<uint64_t> stored;
  int failures_left = 2;  // input 57 fails twice
  ConsumerLoop loop(
      *client_,
      {.consumer = c, .fetch_ahead = GetParam(), .back_off = absl::Milliseconds(20), .acks = bus::AckPolicy::kAll},
      [&](std::vector<bus::ReceivedMessage>& batch) {
        std::lock_guard lock(mu);
        for (auto& m : batch) {
          if (m.stream_sequence() == 57 && failures_left > 0) {
            --failures_left;
            // Store what came before it in this batch, ack it
            // (confirmed, so the floor is known: 56).
            if (&m != &batch.front()) EXPECT_TRUE((&m - 1)->AckSync(absl::Seconds(5)).ok());
            handled.push_back(0);  // marks the rewind
            return ConsumerLoop::Next::kRewind;
          }
          handled.push_back(m.stream_sequence());
          stored.insert(m.stream_sequence());
        }
        if (!batch.empty()) EXPECT_TRUE(batch.back().AckSync(absl::Seconds(5)).ok());
        return ConsumerLoop::Next::kFetch;
      });
  loop.Start();
  ASSERT_TRUE(Eventually([&] {
    auto info = client_->jetstream().GetConsumerInfo("IN", c.durable());
    return info.ok() && info->ack_floor_stream_seq == kInputs && info->num_ack_pending == 0;
  }));
  loop.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(stored.size(), kInputs);
  EXPECT_EQ(failures_left, 0);
  // After each rewind, handling resumes at the first input not acked (57:
  // everything before it was acked), and goes on in order.
  std::vector<uint64_t> after_last_rewind;
  for (auto it = handled.rbegin(); it != handled.rend() && *it != 0; ++it)
    after_last_rewind.insert(after_last_rewind.begin(), *it);
  ASSERT_FALSE(after_last_rewind.empty());
  EXPECT_EQ(after_last_rewind.front(), 57u);
  std::vector<uint64_t> want;
  for (uint64_t i = 57; i <= kInputs; ++i) want.push_back(i);
  EXPECT_EQ(after_last_rewind, want);
}

TEST_F(ConsumerLoopTest, ReportsWhyItIsNotBoundAndBindsOnceTheStreamExists) {
  cfg::ConsumerConfig c = Durable("late");
  c.set_stream("LATE");
  std::atomic<uint64_t> handled{0};
  ConsumerLoop loop(*client_, {.consumer = c, .name = "consumer.late"}, [&](std::vector<bus::ReceivedMessage>& batch) {
    for (auto& m : batch) (void)m.Ack();
    handled += batch.size();
    return ConsumerLoop::Next::kFetch;
  });
  loop.Start();
  ASSERT_TRUE(Eventually([&] { return loop.Health().detail() != "not bound yet"; }));
  EXPECT_FALSE(loop.Health().healthy());
  EXPECT_EQ(loop.Health().name(), "consumer.late");
  EXPECT_NE(loop.Health().detail().find("not bound yet: "), std::string::npos) << loop.Health().detail();
  ASSERT_TRUE(client_->jetstream().EnsureStream(StreamOf("LATE", "late.>")).ok());
  ASSERT_TRUE(publisher_->Publish({.subject = "late.1", .data = "x", .msg_id = "late-1"}).ok());
  ASSERT_TRUE(Eventually([&] { return handled.load() == 1; }));
  EXPECT_TRUE(loop.Health().healthy());
}

TEST_F(ConsumerLoopTest, FetchesNothingWhilePausedAndTheDefaultBatchWhenFetchBatchIsZero) {
  PublishInputs(600);
  std::atomic<size_t> largest{0};
  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> ticks{0};
  cfg::ConsumerConfig c = Durable("paused");
  c.set_fetch_batch(0);
  ConsumerLoop loop(*client_, {.consumer = c}, [&](std::vector<bus::ReceivedMessage>& batch) {
    largest = std::max(largest.load(), batch.size());
    for (auto& m : batch) (void)m.Ack();
    handled += batch.size();
    ++ticks;
    return ConsumerLoop::Next::kFetch;
  });
  loop.SetPaused(true);
  loop.Start();
  ASSERT_TRUE(Eventually([&] { return loop.bound() && ticks.load() >= 5; }));  // the handler ticks while paused
  EXPECT_EQ(handled.load(), 0u);
  EXPECT_EQ(loop.Health().detail(), "bound to IN/paused (paused)");
  loop.SetPaused(false);
  ASSERT_TRUE(Eventually([&] { return handled.load() == 600; }));
  EXPECT_LE(largest.load(), static_cast<size_t>(bus::kDefaultFetchBatch));
  EXPECT_GT(largest.load(), 1u);
}

TEST_F(ConsumerLoopTest, TheFirstBindRedeliversWhatAnEarlierProcessLeftUnacked) {
  PublishInputs(5);
  {
    // An earlier process: fetched everything, acked nothing.
    ASSERT_TRUE(client_->jetstream().EnsurePullConsumer(Durable("restart")).ok());
    auto sub = client_->jetstream().PullSubscribe(Durable("restart"));
    ASSERT_TRUE(sub.ok());
    auto got = (*sub)->Fetch(5, absl::Seconds(5));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->size(), 5u);
  }
  std::mutex mu;
  std::vector<uint64_t> seen;
  ConsumerLoop loop(*client_, {.consumer = Durable("restart")}, [&](std::vector<bus::ReceivedMessage>& batch) {
    std::lock_guard lock(mu);
    for (auto& m : batch) {
      seen.push_back(m.stream_sequence());
      (void)m.Ack();
    }
    return ConsumerLoop::Next::kFetch;
  });
  loop.Start();
  // At once (the ack wait is 30 s), in stream order.
  ASSERT_TRUE(Eventually(
      [&] {
        std::lock_guard lock(mu);
        return seen.size() >= 5;
      },
      absl::Seconds(10)));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

// kStop ends the loop from the handler: no further handler call, with or
// without fetching ahead.
class ConsumerLoopStopTest : public ConsumerLoopTest, public ::testing::WithParamInterface<int> {};
INSTANTIATE_TEST_SUITE_P(FetchAhead, ConsumerLoopStopTest, ::testing::Values(0, 2),
                         [](const auto& info) { return absl::StrCat("ahead", info.param); });

TEST_P(ConsumerLoopStopTest, TheHandlerEndsTheLoopWithStop) {
  PublishInputs(50);
  cfg::ConsumerConfig c = Durable(absl::StrCat("stopper", GetParam()));
  c.set_fetch_batch(10);
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0, calls_at_stop = -1;
  uint64_t handled = 0;
  ConsumerLoop loop(*client_, {.consumer = c, .fetch_ahead = GetParam()},
                    [&](std::vector<bus::ReceivedMessage>& batch) {
                      std::lock_guard lock(mu);
                      ++calls;
                      handled += batch.size();
                      if (handled < 20) return ConsumerLoop::Next::kFetch;
                      if (calls_at_stop < 0) calls_at_stop = calls;
                      cv.notify_all();
                      return ConsumerLoop::Next::kStop;
                    });
  loop.Start();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return calls_at_stop > 0; }));
  }
  loop.Stop();
  EXPECT_TRUE(loop.ended());
  std::lock_guard lock(mu);
  EXPECT_EQ(calls, calls_at_stop);
  if (GetParam() == 0) {
    EXPECT_EQ(loop.fetched(), handled);  // no fetch after the stop
  }
}

// Without a NatsClient: Options::bind binds, its error is reported, and the
// loop binds again after it.
TEST_F(ConsumerLoopTest, BindsThroughOptionsBindWithoutANatsClient) {
  PublishInputs(5);
  auto js = bus::JetStream::Create(client_->connection());
  ASSERT_TRUE(js.ok()) << js.status();
  const cfg::ConsumerConfig c = Durable("own-bind");
  std::atomic<int> binds{0};
  std::atomic<uint64_t> handled{0};
  std::string first_error;
  ConsumerLoop::Options o{.consumer = c, .rewind_on_first_bind = false};
  o.bind = [&]() -> absl::StatusOr<std::unique_ptr<bus::PullSubscription>> {
    if (binds++ == 0) return absl::UnavailableError("not yet");
    if (absl::Status st = (*js)->RecreatePullConsumerAt(c, 3); !st.ok()) return st;
    return (*js)->PullSubscribe(c);
  };
  ConsumerLoop* self = nullptr;
  ConsumerLoop loop(std::move(o), [&](std::vector<bus::ReceivedMessage>& batch) {
    if (first_error.empty()) first_error = self->last_error();
    for (auto& m : batch) (void)m.Ack();
    handled += batch.size();
    return ConsumerLoop::Next::kFetch;
  });
  self = &loop;
  loop.Start();
  ASSERT_TRUE(Eventually([&] { return handled.load() == 3; }));  // sequences 3..5
  loop.Stop();
  EXPECT_EQ(first_error, "not yet");
  EXPECT_EQ(binds.load(), 2);
  EXPECT_EQ(loop.last_error(), "");
}

}  // namespace
}  // namespace sa::runtime
