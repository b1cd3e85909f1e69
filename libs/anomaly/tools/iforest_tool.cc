// iforest_tool: trains an IsolationForest on one CSV file (numbers only, one
// row per line) and prints the score s(x) of every row of another, one per
// line, on stdout. On stderr: "train_seconds=<best of --repeat fits>".
//
//   iforest_tool --train X.csv --score Y.csv [--trees 100] [--sample 256] [--seed 1] [--repeat 1]
//
// Used by tests/sklearn_agreement_test.cc and bench/anomaly_sklearn_compare.py.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "anomaly/isolation_forest.h"

namespace {

bool ReadCsv(const std::string& path, std::vector<double>* data, size_t* rows, size_t* cols) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << path << ": cannot open\n";
    return false;
  }
  std::string line;
  size_t n = 0;
  *cols = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ',');
    if (*cols == 0) *cols = parts.size();
    if (parts.size() != *cols) {
      std::cerr << path << ":" << n + 1 << ": " << parts.size() << " columns, expected " << *cols << "\n";
      return false;
    }
    for (const auto& p : parts) {
      double v;
      if (!absl::SimpleAtod(p, &v)) {
        std::cerr << path << ":" << n + 1 << ": '" << p << "' is not a number\n";
        return false;
      }
      data->push_back(v);
    }
    ++n;
  }
  *rows = n;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string train_path, score_path;
  sa::anomaly::ForestParams params;
  int repeat = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--train") train_path = v;
    else if (k == "--score") score_path = v;
    else if (k == "--trees") params.num_trees = std::atoi(v.c_str());
    else if (k == "--sample") params.sample_size = std::atoi(v.c_str());
    else if (k == "--seed") params.seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--repeat") repeat = std::max(1, std::atoi(v.c_str()));
    else {
      std::cerr << "unknown flag " << k << "\n";
      return 2;
    }
  }
  if (train_path.empty() || score_path.empty()) {
    std::cerr << "usage: iforest_tool --train X.csv --score Y.csv [--trees N] [--sample N] [--seed N] [--repeat N]\n";
    return 2;
  }
  std::vector<double> train, score;
  size_t train_rows, train_cols, score_rows, score_cols;
  if (!ReadCsv(train_path, &train, &train_rows, &train_cols) || !ReadCsv(score_path, &score, &score_rows, &score_cols))
    return 1;
  if (train_cols != score_cols) {
    std::cerr << "column counts differ: " << train_cols << " vs " << score_cols << "\n";
    return 1;
  }
  std::shared_ptr<const sa::anomaly::IsolationForest> model;
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    auto m = sa::anomaly::IsolationForest::Train({train.data(), train_rows, train_cols}, params);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!m.ok()) {
      std::cerr << m.status() << "\n";
      return 1;
    }
    best = std::min(best, s);
    model = *m;
  }
  std::vector<double> out(score_rows);
  model->ScoreBatch({score.data(), score_rows, score_cols}, out.data());
  for (double s : out) std::printf("%.17g\n", s);
  std::fprintf(stderr, "train_seconds=%.9f\n", best);
  return 0;
}
