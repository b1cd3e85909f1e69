// ReplaySource: plays a recording (shared/fixtures format, .jsonl or .jsonl.zst)
// as if it were live. `http` and `recv` records become frames, in file order,
// so REST book snapshots arrive where they did live.
//
// Pace: speed 0 = as fast as the sink takes frames; 1 = the recorded pace;
// N = N times faster. Frames get the current wall clock as receive time (the
// recorded time stays available as the `Sa-Recorded-Ns` header, see ingest).
//
// Identity: conn = "<source name>.<run>.<recorded conn>", frame_seq counts
// per recorded conn from 1. `run` is the start time in ms, so a second replay
// of the same file is new data to JetStream's dedup, while a retried publish
// within one run is not.
//
// Threading: one thread of its own reads the file and calls the sink; Stop()
// interrupts pacing waits at once and joins it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "sources/frame.h"

namespace sa::ingest {

class ReplaySource final : public sources::Source {
 public:
  struct Options {
    std::string name;
    std::string venue;  // empty: from the recording header, lower-cased
    std::string path;
    double speed = 0;
    bool loop = false;
  };
  explicit ReplaySource(Options options) : options_(std::move(options)) {}
  ~ReplaySource() override { Stop(); }

  absl::Status Start(sources::FrameSink* sink) override;
  void Stop() override;
  sources::SourceStats Stats() const override;
  std::string name() const override { return options_.name; }

  // True once the whole recording was played (never with loop).
  bool finished() const { return finished_.load(); }

 private:
  void Run();
  absl::Status PlayOnce(int64_t run);
  // Waits until `deadline` or Stop(); false when stopped.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline);

  Options options_;
  sources::FrameSink* sink_ = nullptr;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> finished_{false};
  sources::SourceStats stats_;  // guarded by mu_
};

// Lower-case venue registry name for a recording header's "exchange" field:
// COINBASE -> coinbase, COINBASE_EXCHANGE -> coinbase-exchange.
std::string VenueFromExchange(const std::string& exchange);

}  // namespace sa::ingest
