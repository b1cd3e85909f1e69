#include "testing/wait.h"

#include <algorithm>
#include <thread>

namespace sa::testing {

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout, absl::Duration max_interval) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration backoff = absl::Milliseconds(1);
  while (true) {
    if (cond()) return true;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return cond();
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(std::min(backoff, left)));
    backoff = std::min(backoff * 2, max_interval);
  }
}

}  // namespace sa::testing
