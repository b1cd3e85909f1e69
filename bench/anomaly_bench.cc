// Isolation Forest throughput (docs/PERFORMANCE.md, "Anomaly scoring"):
// scoring with 100 trees of 256 samples, single thread, batch and one by one,
// with and without the out-of-range rule and attribution; training time.
// The training-time comparison with scikit-learn is bench/anomaly_sklearn_compare.py.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "anomaly/isolation_forest.h"

namespace {

using sa::anomaly::ForestParams;
using sa::anomaly::IsolationForest;

// 8 features as in the figures before issue [5]'s burst_volume; the service
// now computes 9 (BM_ScoreBatch also runs with 9).
constexpr size_t kCols = 8;

std::vector<double> Data(size_t rows, uint32_t seed, size_t cols = kCols) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n;
  std::vector<double> x(rows * cols);
  for (double& v : x) v = n(rng);
  return x;
}

std::shared_ptr<const IsolationForest> Model(bool isolate, size_t cols = kCols) {
  const std::vector<double> train = Data(20000, 1, cols);
  ForestParams p;
  p.num_trees = 100;
  p.sample_size = 256;
  p.isolate_out_of_range = isolate;
  return *IsolationForest::Train({train.data(), 20000, cols}, p);
}

// range(0): points per call; range(1): isolate_out_of_range; range(2): features;
// range(3): the widest walk allowed (0 scalar, 1 AVX2, 2 AVX-512, as the CPU
// permits): walk 1 is the out-of-range rule's walk before the AVX-512 one,
// for the comparison in the same run.
void BM_ScoreBatch(benchmark::State& state) {
  using sa::anomaly::internal::VectorWalk;
  const size_t n = static_cast<size_t>(state.range(0)), cols = static_cast<size_t>(state.range(2));
  auto model = Model(state.range(1) != 0, cols);
  std::vector<double> x = Data(n, 2, cols), out(n);
  sa::anomaly::internal::SetMaxVectorWalkForTesting(static_cast<VectorWalk>(state.range(3)));
  for (auto _ : state) {
    model->ScoreBatch({x.data(), n, cols}, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  sa::anomaly::internal::SetMaxVectorWalkForTesting(VectorWalk::kAvx512);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ScoreBatch)
    ->ArgNames({"points", "isolate", "cols", "walk"})
    ->Args({65536, 0, 8, 2})
    ->Args({65536, 1, 8, 2})
    ->Args({65536, 1, 8, 1})
    ->Args({65536, 1, 8, 0})
    ->Args({65536, 0, 9, 2})
    ->Args({65536, 1, 9, 2})
    ->Args({65536, 1, 9, 1});

void BM_ScoreOne(benchmark::State& state) {
  auto model = Model(state.range(0) != 0);
  std::vector<double> x = Data(4096, 3);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(model->Score(&x[(i++ % 4096) * kCols]));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ScoreOne)->ArgNames({"isolate"})->Arg(0)->Arg(1);

// What the service does per event: score with per-feature attribution.
void BM_ScoreWithAttribution(benchmark::State& state) {
  auto model = Model(true);
  std::vector<double> x = Data(4096, 4);
  double contrib[kCols];
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(model->ScoreWithAttribution(&x[(i++ % 4096) * kCols], contrib));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ScoreWithAttribution);

// range(0): training rows (100 trees, 256 samples; the training scores'
// quantiles are computed over every row, which dominates for large inputs).
void BM_Train(benchmark::State& state) {
  const size_t rows = static_cast<size_t>(state.range(0));
  std::vector<double> x = Data(rows, 5);
  ForestParams p;
  for (auto _ : state) {
    auto m = IsolationForest::Train({x.data(), rows, kCols}, p);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * rows));
}
BENCHMARK(BM_Train)->ArgNames({"rows"})->Arg(1024)->Arg(8192)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
