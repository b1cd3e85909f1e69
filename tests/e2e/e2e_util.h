// Where end-to-end tests find the binaries under test and the recordings.
#pragma once

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace sa::e2e {

// build/bin, from SA_BUILD_DIR (set by sa_test).
inline std::string BinDir() {
  const char* b = std::getenv("SA_BUILD_DIR");
  return absl::StrCat(b ? b : ".", "/bin");
}

// A recording of shared/fixtures/exchanges: SA_FIXTURES_DIR, else
// <source dir>/../shared/fixtures/exchanges.
inline std::string Fixture(const std::string& name) {
  if (const char* f = std::getenv("SA_FIXTURES_DIR")) return absl::StrCat(f, "/", name);
  const char* s = std::getenv("SA_SOURCE_DIR");
  return absl::StrCat(s ? s : ".", "/../shared/fixtures/exchanges/", name);
}

}  // namespace sa::e2e
