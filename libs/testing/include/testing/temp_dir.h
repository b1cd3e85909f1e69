// Scratch directories and loopback ports for integration tests.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace sa::testing {

// A directory under $TMPDIR (or /tmp) named "sa-test-<tag>-XXXXXX", removed
// with everything in it when the object is destroyed. Move-only. Not
// thread-safe (one owner).
class TempDir {
 public:
  static absl::StatusOr<TempDir> Create(const std::string& tag);

  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  void Remove();

  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago: bind to port 0, read
// the port the kernel chose, close. (Racy in theory; fine on a test host.)
absl::StatusOr<int> PickFreePort();

// True when 127.0.0.1:`port` can be bound right now (nothing listens on it
// and no connection holds it as its local port).
bool PortIsFree(int port);

// A port P with P + `offset` free as well, both a moment ago (for services
// whose metrics port is their gRPC port + offset); NotFound after `tries`.
absl::StatusOr<int> PickFreePortPair(int offset, int tries = 50);

}  // namespace sa::testing
