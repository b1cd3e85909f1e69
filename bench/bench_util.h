// Shared by the benchmark binaries.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

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

}  // namespace sa::bench
