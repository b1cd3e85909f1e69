#include "testing/proc_stat.h"

#include <dirent.h>

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sa::testing {
namespace {

// Parses /proc/<pid>/stat: "pid (comm) state ppid ...".
bool ReadProcStat(pid_t pid, ProcStat* out) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t open = line.find('(');
  size_t close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  out->pid = pid;
  out->comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  rest >> state >> out->ppid;
  out->state = state.empty() ? '?' : state[0];
  return static_cast<bool>(rest);
}

}  // namespace

std::vector<ProcStat> ListProcesses() {
  std::vector<ProcStat> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid = 0;
    if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
    ProcStat p;
    if (ReadProcStat(pid, &p)) out.push_back(std::move(p));
  }
  closedir(d);
  return out;
}

}  // namespace sa::testing
