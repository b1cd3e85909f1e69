// ConsumerLoop: the one fetch loop of a durable pull consumer — bind with
// backoff, the pause gate, fetch, hand the batch to the service, rebind after
// a fetch error — with its own health entry.
//
//   runtime::ConsumerLoop loop(nats(), {.consumer = config_.consumer()},
//                              [this](std::vector<bus::ReceivedMessage>& batch) { ...; return Next::kFetch; });
//   loop.Start();  ...  loop.Stop();
//
// Binding: by default EnsurePullConsumer + PullSubscribe, and the loop's first
// bind restarts the durable from its ack floor when an earlier process left
// deliveries unacknowledged (they come again at once and in stream order,
// not after their ack wait behind newer messages). A failed bind is logged
// (once per distinct error), retried with backoff from 100 ms to 5 s and
// reported in Health(). `Options::bind` replaces it (the CDC sink rewinds
// on its own rules).
//
// The handler gets every fetched batch, and an empty one at least every
// `fetch_wait` while nothing comes or the loop is paused (for timers: candles
// that close, buffered work to retry). It owns the messages: it acks them,
// hands them to an AckWindow, or drops them for redelivery. Its answer says
// what comes next: fetch again, back off (after a failure downstream), bind
// again (the stream moved under the consumer), or stop (the handler met an
// error that ends its run: no further fetch or handler call; the owner learns
// it from its handler and calls Stop() to join the threads), or rewind (a
// consumer that must not ack past an input it could not handle: the durable
// restarts from its ack floor after the back-off, so everything unacked comes
// again, in stream order — the nak path of an ack-all consumer).
//
// Acks: Options::acks is the durable's ack policy (the default bind creates
// it so, and migrates an existing durable with the other policy). An ack-all
// consumer always restarts from its ack floor at its first bind: an earlier
// process's unacked deliveries would otherwise come after newer messages,
// whose acks would ack them unhandled.
//
// Fetch size: ConsumerConfig.fetch_batch, 0 meaning bus::kDefaultFetchBatch.
// With `fetch_ahead` > 0 a second thread fetches up to that many batches
// ahead of the handler, and the handler gets everything fetched meanwhile as
// one batch; else fetch and handler share one thread.
//
// Without a NatsClient (an owner holding only a bus::Connection), Options::bind
// is required, and there is no readiness gate: the bind's errors say when
// NATS is away.
//
// Threading: Start/Stop from the owner; SetPaused, Health and last_error from
// any thread; the handler, bind and wait_for_room run on the loop's threads
// only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bus/jetstream.h"
#include "runtime/nats_client.h"
#include "streamadmin/config/v1/config.pb.h"
#include "streamadmin/control/v1/control.pb.h"

namespace sa::runtime {

// ConsumerConfig.fetch_batch, or bus::kDefaultFetchBatch when 0.
inline int FetchBatchOf(const streamadmin::config::v1::ConsumerConfig& consumer) {
  return consumer.fetch_batch() ? static_cast<int>(consumer.fetch_batch()) : bus::kDefaultFetchBatch;
}

class ConsumerLoop {
 public:
  enum class Next {
    kFetch,    // go on
    kBackOff,  // something downstream failed: wait Options::back_off before fetching again
    kRebind,   // drop the subscription and bind again
    kStop,     // end the loop: the handler is not called again (Stop() still joins)
    kRewind,   // back off, then bind again from the durable's ack floor (default bind only)
  };
  using Handler = std::function<Next(std::vector<bus::ReceivedMessage>& batch)>;
  using Bind = std::function<absl::StatusOr<std::unique_ptr<bus::PullSubscription>>()>;

  struct Options {
    streamadmin::config::v1::ConsumerConfig consumer;
    // The health entry's name ("consumer", "consumer.trades", ...).
    std::string name = "consumer";
    absl::Duration fetch_wait = absl::Milliseconds(200);
    int fetch_ahead = 0;
    absl::Duration back_off = absl::Milliseconds(500);
    // Before each fetch: blocks up to the given time for room downstream
    // (e.g. AckWindow::WaitForRoom); false: no room yet, ask again.
    std::function<bool(absl::Duration)> wait_for_room = nullptr;
    // The default bind's restart of the durable from its ack floor (for a
    // consumer whose outputs depend on input order); off: unacked deliveries
    // of an earlier process come after their ack wait.
    bool rewind_on_first_bind = true;
    // The durable's ack policy (default bind). kAll implies the first bind's
    // rewind, whatever rewind_on_first_bind says.
    bus::AckPolicy acks = bus::AckPolicy::kExplicit;
    Bind bind = nullptr;
  };

  ConsumerLoop(NatsClient& nats, Options options, Handler handler);
  // Options::bind required.
  ConsumerLoop(Options options, Handler handler);
  // Stop().
  ~ConsumerLoop();
  ConsumerLoop(const ConsumerLoop&) = delete;
  ConsumerLoop& operator=(const ConsumerLoop&) = delete;

  void Start();
  // Stops fetching; the handler finishes the batch in hand (and, fetching
  // ahead, every batch fetched), then the threads end. Idempotent.
  void Stop();
  // Paused: no fetch (the handler still ticks).
  void SetPaused(bool paused) { paused_ = paused; }
  bool paused() const { return paused_.load(); }

  // Healthy once bound; the detail names the stream/durable or why not.
  streamadmin::control::v1::Dependency Health() const;
  bool bound() const { return bound_.load(); }
  uint64_t fetched() const { return fetched_.load(); }
  // The last bind or fetch error, empty once bound again.
  std::string last_error() const;
  // The handler answered kStop.
  bool ended() const { return ended_.load(); }

 private:
  absl::StatusOr<std::unique_ptr<bus::PullSubscription>> DefaultBind();
  // One step of the fetching side: an empty batch when nothing was fetched.
  std::vector<bus::ReceivedMessage> FetchOnce();
  void Handle(std::vector<bus::ReceivedMessage>& batch);
  void RunInline();
  void RunFetcher();
  void RunHandler();
  // Sleeps `d` unless the loop stops first.
  void Pause(absl::Duration d);

  NatsClient* const nats_;  // null: Options::bind binds, no readiness gate
  const Options options_;
  const Handler handler_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> bound_{false};
  std::atomic<bool> rebind_{false};
  std::atomic<bool> rewind_{false};  // the next bind restarts the durable from its ack floor
  std::atomic<bool> ended_{false};
  std::atomic<int64_t> back_off_until_ns_{0};  // monotonic-ish: absl::Now() in ns
  std::atomic<uint64_t> fetched_{0};

  // Fetching side only.
  std::unique_ptr<bus::PullSubscription> sub_;
  absl::Duration bind_backoff_ = absl::Milliseconds(100);
  bool rewound_ = false;  // the first bind's ack-floor restart is done
  std::string last_bind_error_logged_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string last_error_;                               // mu_
  std::deque<std::vector<bus::ReceivedMessage>> ahead_;  // mu_: fetched, not handled
  size_t ahead_messages_ = 0;                            // mu_
  uint64_t rewinds_ = 0;                                 // mu_: kRewinds so far
  bool fetcher_done_ = false;                            // mu_
  std::thread fetcher_, handler_thread_;
};

}  // namespace sa::runtime
