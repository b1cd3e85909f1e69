// Helpers shared by the sa::testing tests.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sa::testing {

// Pids of our children that are zombies (exited, not reaped).
inline std::vector<int> ZombieChildren() {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string line;
    if (!std::getline(in, line)) continue;
    size_t close = line.rfind(')');
    if (close == std::string::npos || close + 4 >= line.size()) continue;
    char state = line[close + 2];
    int ppid = std::atoi(line.c_str() + close + 4);
    if (ppid == getpid() && state == 'Z') out.push_back(pid);
  }
  closedir(d);
  return out;
}

}  // namespace sa::testing
