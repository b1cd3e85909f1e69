// libFuzzer entry of one target: SA_FUZZ_TARGET_NAME is set per executable
// (fuzz/CMakeLists.txt); every target is linked in, this one runs.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_target.h"

namespace {

sa::fuzz::TargetFn Chosen() {
  static const sa::fuzz::TargetFn fn = [] {
    for (const auto& t : sa::fuzz::Targets()) {
      if (std::strcmp(t.name, SA_FUZZ_TARGET_NAME) == 0) return t.fn;
    }
    fprintf(stderr, "no fuzz target %s linked in\n", SA_FUZZ_TARGET_NAME);
    std::abort();
  }();
  return fn;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Chosen()(data, size);
  return 0;
}
