// Cost of the observability hot path: counters and histograms are touched on
// every frame, so they must stay in the nanoseconds.
#include <benchmark/benchmark.h>

#include "observability/metrics.h"

namespace {

void BM_CounterInc(benchmark::State& state) {
  static sa::obs::MetricsRegistry registry;
  auto& c = registry.GetCounter("bench_total", "bench", {{"venue", "kraken"}});
  for (auto _ : state) c.Inc();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  sa::obs::MetricsRegistry registry;
  auto& h = registry.GetHistogram("bench_seconds", "bench");
  double v = 0.0001;
  for (auto _ : state) {
    h.Observe(v);
    v = v * 1.7 > 5 ? 0.0001 : v * 1.7;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve);

void BM_RenderPrometheus(benchmark::State& state) {
  sa::obs::MetricsRegistry registry;
  for (int i = 0; i < state.range(0); ++i)
    registry.GetCounter("bench_total", "bench", {{"subject", "s" + std::to_string(i)}}).Inc();
  for (auto _ : state) benchmark::DoNotOptimize(registry.RenderPrometheus());
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RenderPrometheus)->Arg(100)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
