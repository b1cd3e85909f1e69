// Shared by the benchmark binaries.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <errno.h>

#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sa::bench {

// A recording of shared/fixtures/exchanges: $SA_FIXTURES_DIR, else
// $SA_SOURCE_DIR/../shared/fixtures/exchanges, else the shared/ beside the
// source tree this file was compiled from.
inline std::string FixturePath(const std::string& name) {
  if (const char* dir = std::getenv("SA_FIXTURES_DIR"); dir != nullptr && *dir != '\0') {
    return absl::StrCat(dir, "/", name);
  }
  if (const char* src = std::getenv("SA_SOURCE_DIR"); src != nullptr && *src != '\0') {
    std::string path = absl::StrCat(src, "/../shared/fixtures/exchanges/", name);
    if (::access(path.c_str(), R_OK) == 0) return path;
  }
  std::string here = __FILE__;  // .../main/bench/bench_util.h
  for (int i = 0; i < 3; ++i) here = here.substr(0, here.rfind('/'));
  return absl::StrCat(here, "/shared/fixtures/exchanges/", name);
}

// Busy and total jiffies of the whole machine (the "cpu" line of /proc/stat;
// busy = total minus idle and iowait).
inline std::pair<uint64_t, uint64_t> MachineJiffies() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {}, total = 0;
  in >> cpu;
  for (auto& x : v) {
    in >> x;
    total += x;
  }
  return {total - v[3] - v[4], total};
}

// A harness benchmark's fatal error: the message on stderr, exit 1 (no
// destructors: servers it started are killed by their own watchdogs).
[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}
// "--key=value" split at the first '=' (value "" when there is none).
struct Flag {
  std::string key;
  std::string value;
};
inline Flag SplitFlag(const std::string& arg) {
  const size_t eq = arg.find('=');
  return {arg.substr(0, eq), eq == std::string::npos ? "" : arg.substr(eq + 1)};
}

// "--name=N": true and *out = N when `arg` is that flag (a bad number dies);
// false when `arg` is another flag.
inline bool IntFlag(const std::string& arg, const char* flag, int* out) {
  const std::string prefix(flag);
  if (arg.compare(0, prefix.size(), prefix) != 0) return false;
  if (!absl::SimpleAtoi(arg.substr(prefix.size()), out)) Die(absl::StrCat("bad ", arg));
  return true;
}

// Seconds from `a` to `b`.
inline double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// $SA_BUILD_DIR/bin/<name>, else build/bin/<name> beside this benchmark's
// build/bench/.
inline std::string BinPath(const std::string& name) {
  if (const char* b = std::getenv("SA_BUILD_DIR"); b != nullptr && *b != '\0') return absl::StrCat(b, "/bin/", name);
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) Die("readlink /proc/self/exe");
  std::string path(self, static_cast<size_t>(n));
  path = path.substr(0, path.rfind('/'));  // build/bench
  path = path.substr(0, path.rfind('/'));  // build
  return absl::StrCat(path, "/bin/", name);
}

inline void Check(const absl::Status& st, const std::string& what) {
  if (!st.ok()) Die(absl::StrCat(what, ": ", st.ToString()));
}
template <typename T>
T CheckOr(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return std::move(*v);
}


// The raw HTTP response of GET http://127.0.0.1:port/metrics ("" when unreachable).
inline std::string FetchMetricsText(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string body;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) body.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return body;
}

// Ends the process with exit code 3 if it still runs after `seconds`; the
// children it spawned (nats-server, services) die with it (PR_SET_PDEATHSIG).
inline void StartWatchdog(const char* name, int seconds) {
  std::thread([name, seconds] {
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    std::fprintf(stderr, "%s: watchdog: still running after %d s, exiting\n", name, seconds);
    std::_Exit(3);
  }).detach();
}

}  // namespace sa::bench
