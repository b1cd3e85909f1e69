// RecordingSink: a FrameSink that keeps everything and lets tests wait on it.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sources/frame.h"

namespace sa::sources::testing {

class RecordingSink : public FrameSink {
 public:
  void OnFrame(Frame&& frame) override {
    std::unique_lock<std::mutex> lock(mu_);
    frames_.push_back(frame);
    cv_.notify_all();
    // Optional gate: block the source (back-pressure) on the frame_seq given.
    cv_.wait(lock, [&] { return block_at_ == 0 || frames_.size() < block_at_ || released_; });
    if (!frame.done) return;
    if (hold_) {
      held_.push_back(std::move(frame.done));
      return;
    }
    lock.unlock();
    frame.done(true);  // stored at once, as far as this sink goes
  }

  // From now on the frames' completions are kept (not stored downstream yet)
  // until Settle.
  void HoldCompletions() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  // Settles the i-th held completion (0-based, in arrival order).
  void Settle(size_t i, bool stored) {
    std::function<void(bool)> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      done = std::move(held_.at(i));
      held_.at(i) = nullptr;
    }
    if (done) done(stored);
  }
  size_t held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  void OnStatus(const SourceEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
    cv_.notify_all();
  }

  // Makes the n-th OnFrame (1-based) block until Release().
  void BlockAt(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    block_at_ = n;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

  bool WaitUntil(
      const std::function<bool(const std::vector<Frame>&, const std::vector<SourceEvent>&)>& pred,
      absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [&] { return pred(frames_, events_); });
  }
  bool WaitForFrames(size_t n, absl::Duration timeout) {
    return WaitUntil([n](const auto& f, const auto&) { return f.size() >= n; }, timeout);
  }
  bool WaitForEvent(SourceEventType type, const std::string& reason, absl::Duration timeout) {
    return WaitUntil(
        [&](const auto&, const auto& events) {
          for (const auto& e : events) {
            if (e.type == type && (reason.empty() || e.reason == reason)) return true;
          }
          return false;
        },
        timeout);
  }

  std::vector<Frame> frames() const {
    std::lock_guard<std::mutex> lock(mu_);
    return frames_;
  }
  std::vector<SourceEvent> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  size_t CountEvents(SourceEventType type, const std::string& reason = "") const {
    std::lock_guard<std::mutex> lock(mu_);
    size_t n = 0;
    for (const auto& e : events_) n += e.type == type && (reason.empty() || e.reason == reason);
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Frame> frames_;
  bool hold_ = false;
  std::vector<std::function<void(bool)>> held_;
  std::vector<SourceEvent> events_;
  size_t block_at_ = 0;
  bool released_ = false;
};

}  // namespace sa::sources::testing
