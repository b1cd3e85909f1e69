// Feeds the fuzz target's seed corpus (and the regressions the fuzzer found)
// through the same entry point as libs/dsl/fuzz/dsl_fuzz.cc, in every build.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "dsl/fuzz_entry.h"

namespace sa::dsl {
namespace {

TEST(FuzzCorpus, EverySeedRunsThroughTheFuzzEntryPoint) {
  const char* src = std::getenv("SA_SOURCE_DIR");
  const std::filesystem::path dir = std::filesystem::path(src != nullptr ? src : ".") / "libs/dsl/fuzz/corpus";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string data = ss.str();
    FuzzOne(reinterpret_cast<const uint8_t*>(data.data()), data.size());  // aborts on a broken invariant
    ++n;
  }
  EXPECT_GE(n, 30);
}

}  // namespace
}  // namespace sa::dsl
