// The processes of this machine as /proc lists them: for finding a server's
// children (PostgreSQL backends) and for checking that tests reap theirs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace sa::testing {

// What /proc/<pid>/stat says of a process: "pid (comm) state ppid ...".
struct ProcStat {
  pid_t pid = 0;
  std::string comm;
  char state = '?';  // R, S, Z (zombie), ...
  pid_t ppid = 0;
};

// Every process /proc lists now whose stat line could be read and parsed (one
// that exits meanwhile is left out).
std::vector<ProcStat> ListProcesses();

}  // namespace sa::testing
