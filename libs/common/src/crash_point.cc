#include "common/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sa {
namespace internal {

std::atomic<int> crash_points_state{0};

namespace {

struct Armed {
  std::mutex mu;
  std::map<std::string, std::pair<uint64_t, uint64_t>> points;  // name -> (die at pass n, passes so far)
};

Armed& State() {
  static Armed* armed = [] {
    auto* a = new Armed();
    if (const char* env = std::getenv("SA_CRASH_POINTS")) {
      for (absl::string_view item : absl::StrSplit(env, ',', absl::SkipWhitespace())) {
        std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
        uint64_t n = 0;
        if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &n) || n == 0) {
          // A test's typo must not pass silently as "no crash".
          const std::string msg = absl::StrCat("SA_CRASH_POINTS: '", std::string(item),
                                               "' is not name=n with n >= 1\n");
          (void)!write(2, msg.data(), msg.size());
          std::abort();
        }
        a->points[kv.first] = {n, 0};
      }
    }
    crash_points_state.store(a->points.empty() ? 1 : 2, std::memory_order_relaxed);
    return a;
  }();
  return *armed;
}

}  // namespace

void CrashPointSlow(const char* name) {
  Armed& a = State();
  if (crash_points_state.load(std::memory_order_relaxed) == 1) return;
  std::lock_guard lock(a.mu);
  auto it = a.points.find(name);
  if (it == a.points.end()) return;
  if (++it->second.second < it->second.first) return;
  const std::string msg = absl::StrCat("crash point ", name, " reached (pass ", it->second.second, "): SIGKILL\n");
  (void)!write(2, msg.data(), msg.size());
  kill(getpid(), SIGKILL);
  pause();
}

}  // namespace internal

std::vector<std::string> CrashPointsArmed() {
  internal::Armed& a = internal::State();
  std::lock_guard lock(a.mu);
  std::vector<std::string> out;
  for (const auto& [name, v] : a.points) out.push_back(absl::StrCat(name, "=", v.first));
  return out;
}

}  // namespace sa
