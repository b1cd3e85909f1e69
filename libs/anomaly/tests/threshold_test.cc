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

TEST(Threshold, EncodeAndParseRoundTripEveryDigit) {
  for (auto t : {*Threshold::Contamination(0.0123456789012345), *Threshold::Fixed(0.6180339887498949)}) {
    auto back = Threshold::Parse(t.Encode());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->mode(), t.mode());
    EXPECT_EQ(back->value(), t.value());
  }
  EXPECT_EQ(Threshold::Parse("score=0.7\n")->value(), 0.7);
  EXPECT_FALSE(Threshold::Parse("score=1.5").ok());          // out of range
  EXPECT_FALSE(Threshold::Parse("contamination=abc").ok());  // not a number
  EXPECT_FALSE(Threshold::Parse("0.7").ok());                // no mode
}

}  // namespace
}  // namespace sa::anomaly
