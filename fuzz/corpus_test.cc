// Runs every file of fuzz/corpus/<target>/ (seeds cut from the recordings and
// the regressions the fuzzers found) through its target, in every build, so a
// fixed crash stays fixed without a fuzzer. A target aborts on a broken
// promise; the sanitizer build (.ci/run) catches the rest.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fuzz_target.h"

namespace sa::fuzz {
namespace {

std::filesystem::path CorpusDir() {
  const char* src = std::getenv("SA_SOURCE_DIR");
  return std::filesystem::path(src != nullptr ? src : ".") / "fuzz/corpus";
}

TEST(FuzzCorpus, EveryTargetHasSeedsAndEverySeedRunsThroughItsTarget) {
  ASSERT_GE(Targets().size(), 9u);
  for (const auto& target : Targets()) {
    const auto dir = CorpusDir() / target.name;
    ASSERT_TRUE(std::filesystem::is_directory(dir)) << "no corpus for " << target.name << " at " << dir;
    int n = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string data = ss.str();
      SCOPED_TRACE(entry.path().string());
      target.fn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      ++n;
    }
    EXPECT_GE(n, 3) << target.name << " has too few seeds";
  }
}

TEST(FuzzCorpus, NoCorpusFolderWithoutItsTarget) {
  std::set<std::string> names;
  for (const auto& t : Targets()) names.insert(t.name);
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    if (entry.is_directory()) {
      EXPECT_TRUE(names.count(entry.path().filename().string())) << entry.path();
    }
  }
}

}  // namespace
}  // namespace sa::fuzz
