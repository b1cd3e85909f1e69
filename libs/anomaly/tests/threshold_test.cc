#include "anomaly/threshold.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace sa::anomaly {
namespace {

TEST(Threshold, ContaminationIsTheTrainingScoresQuantile) {
  std::mt19937 rng(1);
  std::normal_distribution<double> n;
  std::vector<double> x(2000);
  for (double& v : x) v = n(rng);
  auto m = IsolationForest::Train({x.data(), 1000, 2}, {});
  ASSERT_TRUE(m.ok());
  auto t = Threshold::Contamination(0.05);
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->Resolve(**m), (*m)->TrainingQuantile(0.95));
  EXPECT_EQ(t->ToString(), "contamination=0.05");
  auto f = Threshold::Fixed(0.62);
  ASSERT_TRUE(f.ok());
  EXPECT_DOUBLE_EQ(f->Resolve(**m), 0.62);
}

TEST(Threshold, RejectsValuesOutsideTheirRange) {
  EXPECT_FALSE(Threshold::Contamination(0).ok());
  EXPECT_FALSE(Threshold::Contamination(0.6).ok());
  EXPECT_FALSE(Threshold::Fixed(1).ok());
  EXPECT_FALSE(Threshold::Fixed(-0.1).ok());
}

}  // namespace
}  // namespace sa::anomaly
