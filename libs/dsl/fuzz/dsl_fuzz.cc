// libFuzzer entry point for the DSL parser + checker + back ends.
// Build: scripts/build.sh with CC=clang CXX=clang++ -DSA_FUZZ=ON (see libs/dsl/README.md).
#include "dsl/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sa::dsl::FuzzOne(data, size);
  return 0;
}
