// Helpers shared by the sa::testing tests.
#pragma once

#include <unistd.h>

#include <vector>

#include "testing/proc_stat.h"

namespace sa::testing {

// Pids of our children that are zombies (exited, not reaped).
inline std::vector<int> ZombieChildren() {
  std::vector<int> out;
  for (const ProcStat& p : ListProcesses())
    if (p.ppid == getpid() && p.state == 'Z') out.push_back(p.pid);
  return out;
}

}  // namespace sa::testing
