// Wall-clock and monotonic time in the integer units the schemas use.
#pragma once

#include <chrono>
#include <cstdint>

namespace sa {

inline int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
inline int64_t NowUnixMicros() { return NowUnixNanos() / 1000; }
inline int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace sa
