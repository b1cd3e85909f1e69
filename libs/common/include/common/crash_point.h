// Crash points: named places where a test can make a process die at once
// (SIGKILL, no cleanup), at the n-th time the process passes there.
//
//   SA_CRASH_POINT("cdc.transaction_published");
//
// Armed only by the environment variable SA_CRASH_POINTS (not STREAM_ADMIN_*:
// those are config keys), read once
// at the first use: a comma-separated list of `name=n` (die the n-th time
// `name` is passed, n >= 1). Unarmed (every production run), a crash point
// costs one relaxed atomic load. The kill-anywhere tests (tests/chaos) use
// them to kill a service between two steps that no outside signal could hit
// reliably: after publishing a batch's outputs but before acking its inputs,
// between a warehouse COMMIT and the acks, in the middle of a snapshot chunk.
//
// Names are `<service>.<step>`; every point is listed in the service's README
// so a test author can find them. A misspelt name in the variable matches
// nothing: CrashPointsArmed() lets a test check what was understood.
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace sa {

namespace internal {
extern std::atomic<int> crash_points_state;  // 0 unread, 1 none armed, 2 some armed
void CrashPointSlow(const char* name);
}  // namespace internal

// Passes the crash point `name`; dies here if it is armed for this pass.
inline void CrashPoint(const char* name) {
  if (internal::crash_points_state.load(std::memory_order_relaxed) == 1) return;
  internal::CrashPointSlow(name);
}

// The armed points as parsed from the environment ("name=n"), for logs and tests.
std::vector<std::string> CrashPointsArmed();

}  // namespace sa

#define SA_CRASH_POINT(name) ::sa::CrashPoint(name)
