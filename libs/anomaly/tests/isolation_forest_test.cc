#include "anomaly/isolation_forest.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace sa::anomaly {
namespace {

std::vector<double> Gaussian(size_t rows, size_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0, 1);
  std::vector<double> x(rows * cols);
  for (double& v : x) v = n(rng);
  return x;
}

TEST(AveragePathLength, MatchesThePaperAndScikitLearn) {
  EXPECT_EQ(AveragePathLength(0), 0);
  EXPECT_EQ(AveragePathLength(1), 0);
  EXPECT_EQ(AveragePathLength(2), 1);
  // 2 H(255) - 2 * 255 / 256 with H(i) = ln(i) + 0.5772156649
  EXPECT_NEAR(AveragePathLength(256), 2 * (std::log(255.0) + 0.5772156649) - 2.0 * 255 / 256, 1e-12);
  EXPECT_NEAR(AveragePathLength(256), 10.2448, 1e-3);
}

TEST(IsolationForest, ScoresAnOutlierAboveEveryInlier) {
  auto x = Gaussian(1000, 4, 1);
  auto m = IsolationForest::Train({x.data(), 1000, 4}, {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->depth(), 8);
  EXPECT_EQ((*m)->sample_size(), 256);
  double outlier[4] = {9, -9, 9, 9};
  double centre[4] = {0, 0, 0, 0};
  double s_out = (*m)->Score(outlier), s_in = (*m)->Score(centre);
  EXPECT_GT(s_out, 0.7);
  EXPECT_LT(s_in, 0.5);
  std::vector<double> all(1000);
  (*m)->ScoreBatch({x.data(), 1000, 4}, all.data());
  for (double s : all) EXPECT_LT(s, s_out);
}

TEST(IsolationForest, BatchAndSingleScoresAgreeAndTrainingIsDeterministic) {
  auto x = Gaussian(700, 3, 2);
  auto a = IsolationForest::Train({x.data(), 700, 3}, {50, 128, 9});
  auto b = IsolationForest::Train({x.data(), 700, 3}, {50, 128, 9});
  ASSERT_TRUE(a.ok() && b.ok());
  std::vector<double> batch(700);
  (*a)->ScoreBatch({x.data(), 700, 3}, batch.data());
  for (size_t i = 0; i < 700; ++i) {
    EXPECT_DOUBLE_EQ(batch[i], (*a)->Score(&x[i * 3]));
    EXPECT_DOUBLE_EQ(batch[i], (*b)->Score(&x[i * 3]));
  }
  EXPECT_EQ((*a)->Serialize(), (*b)->Serialize());
}

TEST(IsolationForest, AttributionNamesTheFeatureThatIsOff) {
  auto x = Gaussian(2000, 5, 3);
  auto m = IsolationForest::Train({x.data(), 2000, 5}, {});
  ASSERT_TRUE(m.ok());
  double point[5] = {0, 0, 0, 12, 0};
  double contrib[5];
  double s = (*m)->ScoreWithAttribution(point, contrib);
  EXPECT_DOUBLE_EQ(s, (*m)->Score(point));
  double sum = 0;
  for (double c : contrib) sum += c;
  EXPECT_NEAR(sum, 1, 1e-9);
  for (int f = 0; f < 5; ++f) {
    if (f == 3) continue;
    EXPECT_GT(contrib[3], 2 * contrib[f]) << "feature " << f;
  }
}

TEST(IsolationForest, ConstantColumnsAndTinyDataAreHandled) {
  std::vector<double> x(50 * 2, 1.0);  // every value equal: every tree is one leaf
  auto m = IsolationForest::Train({x.data(), 50, 2}, {10, 256, 1});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->sample_size(), 50);
  // One leaf of 50 rows: h = c(50), s = 2^-1.
  EXPECT_NEAR((*m)->Score(x.data()), 0.5, 1e-6);
}

TEST(IsolationForest, RejectsBadInput) {
  std::vector<double> x = {1, 2, NAN, 4};
  EXPECT_FALSE(IsolationForest::Train({x.data(), 2, 2}, {}).ok());
  std::vector<double> one = {1, 2};
  EXPECT_FALSE(IsolationForest::Train({one.data(), 1, 2}, {}).ok());
  auto y = Gaussian(10, 2, 1);
  EXPECT_FALSE(IsolationForest::Train({y.data(), 10, 2}, {0, 256, 1}).ok());
  EXPECT_FALSE(IsolationForest::Train({y.data(), 10, 2}, {10, 1, 1}).ok());
  EXPECT_FALSE(IsolationForest::Train({y.data(), 10, 2}, {10, 8, 1}, {"only_one"}).ok());
}

TEST(IsolationForest, SerializeRoundTripsAndDetectsCorruption) {
  auto x = Gaussian(500, 3, 4);
  auto m = IsolationForest::Train({x.data(), 500, 3}, {20, 64, 5}, {"a", "b", "c"});
  ASSERT_TRUE(m.ok());
  std::string bytes = (*m)->Serialize();
  auto back = IsolationForest::Deserialize(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->feature_names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ((*back)->num_trees(), 20);
  EXPECT_EQ((*back)->training_rows(), 500u);
  EXPECT_DOUBLE_EQ((*back)->TrainingQuantile(0.99), (*m)->TrainingQuantile(0.99));
  for (size_t i = 0; i < 500; ++i) EXPECT_DOUBLE_EQ((*back)->Score(&x[i * 3]), (*m)->Score(&x[i * 3]));

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  EXPECT_EQ(IsolationForest::Deserialize(flipped).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(IsolationForest::Deserialize(bytes.substr(0, bytes.size() - 9)).ok());
  EXPECT_FALSE(IsolationForest::Deserialize("not a model").ok());
}

TEST(IsolationForest, TrainingQuantilesAreOrdered) {
  auto x = Gaussian(1000, 2, 5);
  auto m = IsolationForest::Train({x.data(), 1000, 2}, {});
  ASSERT_TRUE(m.ok());
  EXPECT_LE((*m)->TrainingQuantile(0.5), (*m)->TrainingQuantile(0.9));
  EXPECT_LE((*m)->TrainingQuantile(0.9), (*m)->TrainingQuantile(0.99));
  std::vector<double> s(1000);
  (*m)->ScoreBatch({x.data(), 1000, 2}, s.data());
  int above = 0;
  for (double v : s) above += v >= (*m)->TrainingQuantile(0.99);
  EXPECT_NEAR(above, 10, 3);
}

}  // namespace
}  // namespace sa::anomaly

namespace sa::anomaly {
namespace {

TEST(IsolationForest, OutOfRangeIsolationScoresAOneFeatureOutlierAboveTheTrainingEdge) {
  auto x = Gaussian(2000, 6, 6);
  ForestParams standard, isolating;
  isolating.isolate_out_of_range = true;
  auto a = IsolationForest::Train({x.data(), 2000, 6}, standard);
  auto b = IsolationForest::Train({x.data(), 2000, 6}, isolating);
  ASSERT_TRUE(a.ok() && b.ok());
  double far[6] = {0, 0, 0, 0, 0, 50};  // far beyond every training value of feature 5
  // Standard IF scores it like the most extreme training rows; the
  // out-of-range rule isolates it at the root of every tree: h = 1.
  EXPECT_LT((*a)->Score(far), (*a)->TrainingQuantile(0.999) + 0.05);
  EXPECT_NEAR((*b)->Score(far), std::exp2(-1 / AveragePathLength(256)), 1e-6);
  EXPECT_GT((*b)->Score(far), (*b)->TrainingQuantile(0.999));
  double contrib[6];
  (*b)->ScoreWithAttribution(far, contrib);
  EXPECT_NEAR(contrib[5], 1, 1e-9);
  auto back = IsolationForest::Deserialize((*b)->Serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE((*back)->isolate_out_of_range());
  EXPECT_DOUBLE_EQ((*back)->Score(far), (*b)->Score(far));
}

TEST(IsolationForest, OutOfRangeBatchAgreesWithSingleScores) {
  // Full blocks of 16 take the vectorised walk (AVX2 where the CPU has it),
  // Score() the scalar one; points at 3x the training spread leave many node
  // ranges, so the isolating branch is exercised at every level.
  auto x = Gaussian(2000, 5, 7);
  auto wide = Gaussian(1000, 5, 8);
  for (double& v : wide) v *= 3;
  ForestParams p;
  p.isolate_out_of_range = true;
  auto m = IsolationForest::Train({x.data(), 2000, 5}, p);
  ASSERT_TRUE(m.ok());
  auto back = IsolationForest::Deserialize((*m)->Serialize());
  ASSERT_TRUE(back.ok());
  std::vector<double> batch(1000), batch_back(1000);
  (*m)->ScoreBatch({wide.data(), 1000, 5}, batch.data());
  (*back)->ScoreBatch({wide.data(), 1000, 5}, batch_back.data());
  for (size_t i = 0; i < 1000; ++i) {
    ASSERT_DOUBLE_EQ(batch[i], (*m)->Score(&wide[i * 5])) << i;
    ASSERT_DOUBLE_EQ(batch_back[i], batch[i]) << i;
  }
}

TEST(IsolationForest, EveryScoringWalkGivesExactlyTheSameScores) {
  // The scalar walk is the reference (Score() of one point always takes it);
  // ScoreBatch's full blocks take the AVX2 or AVX-512 walk where the CPU has
  // them. Shapes cover every variant of the AVX-512 walk: values in registers
  // (<= 8 and <= 16 columns) or gathered (more), all levels read by permutes
  // (depth <= 8) or the deeper ones gathered (sample 1024: depth 10), and
  // depths below one 32-entry table (sample 2, 16). Half the points are at 3x
  // the training spread, so they leave node ranges at every level.
  using internal::VectorWalk;
  struct Shape {
    size_t cols;
    int sample;
  };
  for (Shape shape : {Shape{1, 256}, Shape{5, 2}, Shape{8, 16}, Shape{9, 256}, Shape{16, 64}, Shape{17, 256},
                      Shape{8, 1024}, Shape{3, 100}}) {
    SCOPED_TRACE(testing::Message() << shape.cols << " columns, sample " << shape.sample);
    const size_t rows = 1500, points = 16 * 40 + 7;  // and a partial block
    auto x = Gaussian(rows, shape.cols, 11 + static_cast<uint32_t>(shape.cols));
    auto y = Gaussian(points, shape.cols, 12);
    for (size_t i = 0; i < points / 2 * shape.cols; ++i) y[i] *= 3;
    for (bool isolate : {true, false}) {
      ForestParams p;
      p.num_trees = 37;
      p.sample_size = shape.sample;
      p.seed = 5;
      p.isolate_out_of_range = isolate;
      auto m = IsolationForest::Train({x.data(), rows, shape.cols}, p);
      ASSERT_TRUE(m.ok()) << m.status();
      std::vector<double> reference(points);
      for (size_t i = 0; i < points; ++i) reference[i] = (*m)->Score(&y[i * shape.cols]);
      for (VectorWalk w : {VectorWalk::kScalar, VectorWalk::kAvx2, VectorWalk::kAvx512}) {
        internal::SetMaxVectorWalkForTesting(w);
        std::vector<double> batch(points);
        (*m)->ScoreBatch({y.data(), points, shape.cols}, batch.data());
        for (size_t i = 0; i < points; ++i)
          ASSERT_EQ(batch[i], reference[i]) << "walk " << static_cast<int>(w) << " isolate " << isolate << " point " << i;
      }
      internal::SetMaxVectorWalkForTesting(VectorWalk::kAvx512);
    }
  }
}

}  // namespace
}  // namespace sa::anomaly
