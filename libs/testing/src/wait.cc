#include "testing/wait.h"

#include <algorithm>
#include <chrono>
#include <thread>

namespace sa::testing {

// The deadline is on the monotonic clock: this machine's wall clock has been
// seen to jump forward by ~10 s (a views test's WaitFor gave up after 1.2 s
// of real time), and a wait must last the time it was given.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout, absl::Duration max_interval) {
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  absl::Duration backoff = absl::Milliseconds(1);
  while (true) {
    if (cond()) return true;
    const absl::Duration left = absl::FromChrono(deadline - std::chrono::steady_clock::now());
    if (left <= absl::ZeroDuration()) return cond();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(std::min(backoff, left)));
    backoff = std::min(backoff * 2, max_interval);
  }
}

}  // namespace sa::testing
