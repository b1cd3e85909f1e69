#include "observability/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace sa::obs {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, RendersCountersGaugesAndHistogramsInPrometheusText) {
  MetricsRegistry r;
  r.GetCounter("streamadmin_test_frames_total", "Frames seen", {{"venue", "kraken"}}).Inc(3);
  r.GetGauge("streamadmin_test_in_flight", "In flight").Set(7);
  auto& h = r.GetHistogram("streamadmin_test_latency_seconds", "Latency", {}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = r.RenderPrometheus();
  EXPECT_THAT(text, HasSubstr("# HELP streamadmin_test_frames_total Frames seen\n"
                              "# TYPE streamadmin_test_frames_total counter\n"
                              "streamadmin_test_frames_total{venue=\"kraken\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE streamadmin_test_in_flight gauge\nstreamadmin_test_in_flight 7\n"));
  EXPECT_THAT(text, HasSubstr("streamadmin_test_latency_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("streamadmin_test_latency_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("streamadmin_test_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("streamadmin_test_latency_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("streamadmin_test_latency_seconds_sum 5.55\n"));
}

TEST(Metrics, SameNameAndLabelsIsTheSameMetric) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("c_total", "h", {{"k", "v"}});
  Counter& b = r.GetCounter("c_total", "h", {{"k", "v"}});
  Counter& c = r.GetCounter("c_total", "h", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.GetCounter("c_total", "h", {{"reason", "bad \"json\"\\\n"}}).Inc();
  EXPECT_THAT(r.RenderPrometheus(), HasSubstr("c_total{reason=\"bad \\\"json\\\"\\\\\\n\"} 1\n"));
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("c_total", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Inc();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000);
}

TEST(MetricsDeathTest, OneNameCannotBeTwoTypes) {
  MetricsRegistry r;
  r.GetCounter("x_total", "h");
  EXPECT_DEATH(r.GetGauge("x_total", "h"), "different types");
}

}  // namespace
}  // namespace sa::obs
