// Agreement with scikit-learn (Debian's python3-sklearn, an independent
// implementation): tests/sklearn_agreement.py fits both on the same data and
// prints the Spearman correlation of the scores and both ROC AUCs.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace {

std::string RunCommand(const std::string& cmd, int* code) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) {
    *code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  *code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST(SklearnAgreement, ScoresRankLikeScikitLearnAndAucIsWithinOneHundredth) {
  const char* build = std::getenv("SA_BUILD_DIR");
  const char* source = std::getenv("SA_SOURCE_DIR");
  ASSERT_TRUE(build && source) << "run through ctest (SA_BUILD_DIR, SA_SOURCE_DIR)";
  int code = 0;
  RunCommand("/usr/bin/python3 -c 'import sklearn, scipy' 2>/dev/null", &code);
  if (code != 0) GTEST_SKIP() << "/usr/bin/python3 has no scikit-learn (apt-get install python3-sklearn)";
  std::string out = RunCommand(std::string("/usr/bin/python3 ") + source + "/libs/anomaly/tests/sklearn_agreement.py " +
                            build + "/bin/iforest_tool 2>&1",
                        &code);
  ASSERT_EQ(code, 0) << out;
  std::cout << out;
  std::istringstream lines(out);
  std::string line;
  int datasets = 0;
  while (std::getline(lines, line)) {
    std::map<std::string, std::string> kv;
    std::istringstream fields(line);
    std::string f;
    while (fields >> f) {
      auto eq = f.find('=');
      if (eq != std::string::npos) kv[f.substr(0, eq)] = f.substr(eq + 1);
    }
    if (!kv.count("dataset")) continue;
    ++datasets;
    double rho = std::stod(kv["spearman"]), ours = std::stod(kv["auc_ours"]), theirs = std::stod(kv["auc_sklearn"]);
    EXPECT_GE(rho, 0.95) << line;
    EXPECT_NEAR(ours, theirs, 0.01) << line;
  }
  EXPECT_EQ(datasets, 2) << out;
}

}  // namespace
