// IsolationForest: Liu, Ting & Zhou (2008), as scikit-learn implements it.
//
//  - Each tree is grown on `sample_size` rows drawn without replacement
//    (min(sample_size, rows)); at each node a feature is drawn at random among
//    those not constant in the node, and a split value uniformly between its
//    min and max there (x <= split goes left). A node becomes a leaf when it
//    holds one row, all its features are constant, or it is at depth
//    ceil(log2(sample_size)) (scikit-learn's max_depth).
//  - Path length h(x) = edges from the root to x's leaf + c(rows in the leaf);
//    c(n) = 2H(n-1) - 2(n-1)/n, H(i) = ln(i) + 0.5772156649, c(1) = 0, c(2) = 1.
//  - Score s(x) = 2^(-E[h(x)] / c(sample_size)), in (0, 1]; higher is more
//    anomalous. scikit-learn's score_samples() is -s(x).
//  - Values are compared as float (scikit-learn fits trees on float32 too).
//
// Layout: every tree is stored as a complete binary tree of depth D =
// ceil(log2(sample_size)) (flat arrays, children of i at 2i+1 and 2i+2): a leaf
// above depth D gets "always left" pseudo-splits below it, so scoring walks
// exactly D levels with no branch, and a batch walks several points through
// one tree in lock step.
//
// A model is immutable once built: Score* are const and thread-safe; share it
// with std::shared_ptr<const IsolationForest> and swap the pointer to retrain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sa::anomaly {

struct ForestParams {
  int num_trees = 100;
  int sample_size = 256;  // rows per tree; capped at the rows given, at most kMaxSampleSize
  uint64_t seed = 1;
  // Departure from the paper (off: exactly scikit-learn's score). A point is
  // isolated (path length = depth + 1) at the first node where it leaves the
  // node's training rows: at the root, outside their bounding box in any
  // feature; at a node splitting on feature f, outside the range of f among
  // the node's rows. One cut would separate it from every row there.
  // Standard IF instead sends such a point along with the rows nearest that
  // edge, so a value far beyond the training range of one feature scores no
  // higher than the most extreme training row, and anomalies in one feature
  // among several are missed.
  bool isolate_out_of_range = false;
  // With isolate_out_of_range: "outside" means beyond the range by more than
  // this share of its width, so a point just past the edge of what a sample
  // happened to hold is not isolated at once.
  double out_of_range_margin = 0.5;
};

inline constexpr int kMaxSampleSize = 1 << 14;
inline constexpr int kMaxTrees = 10000;

// Average path length of an unsuccessful search in a binary search tree of n
// nodes (the paper's c(n)); 0 for n <= 1, 1 for n == 2.
double AveragePathLength(double n);

// Row-major rows x cols matrix of doubles, not owned.
struct MatrixView {
  const double* data = nullptr;
  size_t rows = 0;
  size_t cols = 0;
  const double* row(size_t i) const { return data + i * cols; }
};

class IsolationForest {
 public:
  // Every value must be finite; rows >= 2, cols >= 1. `feature_names` (empty or
  // cols long) travel with the model. The training scores' quantiles are kept
  // (TrainingQuantile) so a contamination threshold can be set at any time.
  static absl::StatusOr<std::shared_ptr<const IsolationForest>> Train(
      MatrixView data, const ForestParams& params, std::vector<std::string> feature_names = {});

  // s(x) of one row of num_features() values.
  double Score(const double* x) const;
  // out[i] = s(row i); rows.cols must equal num_features().
  void ScoreBatch(MatrixView rows, double* out) const;
  // s(x), and contributions[f] (num_features() of them, summing to 1): the
  // share of feature f in isolating x. Each split on x's path in each tree
  // credits its feature with log2(training rows at the node / rows on x's
  // side), the bits of isolation it gave; the credits over a path add up to
  // log2(sample / rows in the leaf). A split that cuts x away from most rows
  // counts much, one that halves the rows counts one bit.
  double ScoreWithAttribution(const double* x, double* contributions) const;

  // The q-quantile (0..1) of the training rows' scores, interpolated between
  // 1001 stored quantiles (computed over every row, or 16384 rows at an even
  // stride when there are more).
  double TrainingQuantile(double q) const;

  // Binary format: magic "SAIF", version, sizes, params, names, quantiles,
  // nodes, then a CRC32 of everything before it. Deserialize rejects a wrong
  // magic, version, size or checksum (DataLoss / InvalidArgument).
  std::string Serialize() const;
  static absl::StatusOr<std::shared_ptr<const IsolationForest>> Deserialize(absl::string_view bytes);

  size_t num_features() const { return num_features_; }
  int num_trees() const { return num_trees_; }
  int sample_size() const { return sample_size_; }  // as used (min of param and rows)
  int depth() const { return depth_; }
  uint64_t seed() const { return seed_; }
  bool isolate_out_of_range() const { return isolate_out_of_range_; }
  uint64_t training_rows() const { return training_rows_; }
  const std::vector<std::string>& feature_names() const { return feature_names_; }

  struct Node {
    float split;       // x <= split goes left; +inf below a leaf (always left)
    uint32_t feature;  // index of the feature tested
  };
  struct Range {
    float lo, hi;
  };

 private:
  IsolationForest() = default;
  double Normalizer() const { return c_sample_; }
  void ScoreBlock(const float* xs, size_t n, double* out) const;

  size_t num_features_ = 0;
  int num_trees_ = 0;
  int sample_size_ = 0;
  int depth_ = 0;
  uint64_t seed_ = 0;
  bool isolate_out_of_range_ = false;
  uint64_t training_rows_ = 0;
  double c_sample_ = 1;
  std::vector<std::string> feature_names_;
  std::vector<double> quantiles_;  // 1001 training-score quantiles, ascending
  // Per tree: (2^depth - 1) nodes, then 2^depth leaf values (path length).
  std::vector<Node> nodes_;
  std::vector<float> leaves_;
  // Per tree, per internal node: range of the split feature among the node's
  // training rows, widened by out_of_range_margin ([-inf, inf] below a leaf).
  std::vector<Range> ranges_;
  // Per tree: range of every feature among the tree's sample (root box), widened.
  std::vector<Range> boxes_;
  // Intersection of all trees' boxes: a point inside it is inside every box,
  // so the per-tree box check is skipped (derived; not serialised).
  std::vector<Range> inner_box_;
  // Per tree, per node but the root (2^(depth+1) - 1 slots): the range bound a
  // point arriving there from its parent is checked against (parent's lo for a
  // left child, hi for a right one); derived, not serialised.
  std::vector<float> child_bounds_;
  // nodes_ as two arrays (split, feature) for the vector walk; derived.
  std::vector<float> split_;
  std::vector<int32_t> feature_;
  void BuildInnerBox();
  // Per tree: training rows at each of the 2^(depth+1) - 1 nodes (attribution only).
  std::vector<uint32_t> counts_;
};

namespace internal {
// The widest walk ScoreBatch may use (the CPU permitting); tests compare the
// walks with each other. Not for production use.
enum class VectorWalk { kScalar, kAvx2, kAvx512 };
void SetMaxVectorWalkForTesting(VectorWalk w);
}  // namespace internal

}  // namespace sa::anomaly
