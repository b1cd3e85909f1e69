// `stream-admin start` / `stop`: the local stack (`stream-admin local`) in
// the background.
//   start  runs `stream-admin local` detached (its own session, stdin
//          /dev/null, output in <run-dir>/stack.log), writes its pid to
//          <run-dir>/stack.pid, waits until every service is healthy and
//          prints the services' gRPC targets, metrics URLs and NATS URL.
//          Exit 1 when the stack is already running or does not come up
//          (the log's last lines are printed and the stack is stopped).
//   stop   SIGTERM to the pid in the pid file, waits until the stack has
//          stopped its services and exited, removes the pid file.
//          Exit 3 when nothing is running.
#pragma once

#include <string>

#include "cli/local_stack.h"

namespace sa::cli {

int RunStart(const LocalStackOptions& options);
int RunStop(const std::string& run_dir, int timeout_s);

}  // namespace sa::cli
