// WaitFor: the one polling helper of the code base. Everything else waits on
// a real condition (condition variable, pipe, pidfd); use WaitFor only where
// the thing you wait for cannot notify you (e.g. a counter in another
// process), and always with a deadline.
#pragma once

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sa::testing {

// Calls `cond` until it returns true or `timeout` passes, backing off from
// 1 ms to `max_interval` between checks (1 ms: to act within a millisecond of
// a change, e.g. to kill a process at a given point of its progress). Returns the last result of `cond` (it is
// always evaluated once more at the deadline). Runs on the calling thread.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout,
             absl::Duration max_interval = absl::Milliseconds(50));

}  // namespace sa::testing
