// ViewRunner: one version of one view, run on its own thread by the replica
// holding the view's lease (Coordinator).
//
// One attempt (restarted with backoff after a transient error, e.g. NATS
// down or a checkpoint write lost to another replica):
//   1. Prepare the definition (views::Prepare: statement, owner's rights);
//      a refusal stops the view for good (state STOPPED, the reason kept).
//   2. Read its checkpoint (VIEW_CHECKPOINTS/<name>). Same version and
//      creation time: restore the engine. Otherwise this version is new: fix
//      where it starts (StartAt: now = the source's last sequence + 1, a
//      sequence, a time, the beginning) and store that at once, so a restart
//      never moves it.
//   3. Recreate the durable view_<name> on the source stream at the next
//      sequence (filter: the pushed-down subject when there is exactly one,
//      else the source's subject) and consume it in order through a
//      runtime::ConsumerLoop (the bind recreates the durable; a fetch error
//      ends the attempt). The durable acks all: the last message of each
//      batch is acked, only to free the consumer's window.
//   4. Each output is published on view.<name> with its deterministic
//      Nats-Msg-Id; late and undecodable inputs go to dlq.view.<name>.
//   5. Every checkpoint interval (the loop's empty ticks drive it while
//      idle or paused): wait until every output and dead letter is
//      acknowledged by its stream, then store the engine's checkpoint with a
//      compare-and-set on the revision this attempt last wrote: a replica
//      that lost the view can never overwrite the new owner's position.
// A crash anywhere replays from the last checkpoint: the engine is
// deterministic, so the replay publishes the same ids and the output stream
// stores each once (its duplicate window must exceed the longest outage
// between a checkpoint and the replay: VIEWS keeps one hour).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bus/connection.h"
#include "bus/kv.h"
#include "runtime/consumer_loop.h"
#include "streamadmin/views/v1/views.pb.h"

namespace sa::views_service {

// The streams the built-in sources live in.
struct SourceStreams {
  std::string md = "MD";            // md.*
  std::string cdc = "CDC";          // cdc.*
  std::string anomaly = "ANOMALY";  // anomaly.*
  // The stream holding `subject` ("md.trade.>"); NotFound for another prefix.
  absl::StatusOr<std::string> For(const std::string& subject) const;
};

struct RunnerOptions {
  std::string replica;  // written into checkpoints and statuses
  SourceStreams sources;
  absl::Duration checkpoint_interval = absl::Seconds(1);
  absl::Duration status_interval = absl::Seconds(1);
  size_t default_memory_limit = 64u << 20;
  int fetch_batch = 256;
  // Batches fetched while the engine works on one (ConsumerLoop's
  // fetch_ahead; 0: fetch and engine on one thread).
  int fetch_ahead = 1;
  absl::Duration fetch_wait = absl::Milliseconds(200);
  absl::Duration flush_timeout = absl::Seconds(30);
};

class ViewRunner {
 public:
  // `checkpoints` and `status` are the shared buckets (thread-safe), alive
  // until Stop() returns.
  ViewRunner(bus::Connection& connection, bus::KeyValue& checkpoints, bus::KeyValue& status,
             streamadmin::views::v1::ViewDefinition definition, RunnerOptions options);
  ~ViewRunner();
  ViewRunner(const ViewRunner&) = delete;
  ViewRunner& operator=(const ViewRunner&) = delete;

  void Start();
  // Ends the thread. `checkpoint`: flush and store the position first (a
  // clean hand-over); false when the view is no longer ours (lease lost).
  void Stop(bool checkpoint);
  // Paused: the consumer loop fetches nothing (it still ticks: status,
  // checkpoints). Any thread.
  void SetPaused(bool paused);

  const streamadmin::views::v1::ViewDefinition& definition() const { return definition_; }
  streamadmin::views::v1::ViewStatus Status() const;
  // STOPPED: the definition cannot run as it is (refused, owner's rights,
  // memory limit); a new version or rights are needed, not a retry.
  bool stopped() const { return stopped_.load(); }

 private:
  struct Attempt;
  struct Probe;
  void Run();
  absl::Status RunAttempt();
  // The consumer loop's bind and handler (its thread), and what they call.
  absl::StatusOr<std::unique_ptr<bus::PullSubscription>> Bind(Attempt& a);
  runtime::ConsumerLoop::Next Handle(Attempt& a, std::vector<bus::ReceivedMessage>& batch);
  absl::Status Process(Attempt& a, std::vector<bus::ReceivedMessage>& batch);
  absl::Status DeadLetter(Attempt& a, const bus::ReceivedMessage& m, const char* reason, const std::string& error);
  absl::Status Checkpoint(Attempt& a);
  // Ends the attempt with `st` (the first error wins) and wakes Run's thread.
  void Fail(Attempt& a, absl::Status st);
  void SetState(streamadmin::views::v1::ViewState state, const std::string& reason);
  void ReportStatus(Attempt* a, bool force);

  bus::Connection& connection_;
  bus::KeyValue& checkpoints_;
  bus::KeyValue& status_kv_;
  const streamadmin::views::v1::ViewDefinition definition_;
  const RunnerOptions options_;
  std::unique_ptr<Probe> probe_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> checkpoint_on_stop_{true};
  std::atomic<bool> paused_{false};
  std::atomic<bool> stopped_{false};
  std::thread thread_;

  // Wakes the runner's thread: Stop(), an attempt's error.
  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  runtime::ConsumerLoop* loop_ = nullptr;  // loop_mu_: the running attempt's

  mutable std::mutex mu_;
  streamadmin::views::v1::ViewStatus status_;  // guarded by mu_
};

}  // namespace sa::views_service
