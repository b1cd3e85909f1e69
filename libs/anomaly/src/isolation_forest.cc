#include "anomaly/isolation_forest.h"

#include <immintrin.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace sa::anomaly {

namespace internal {
std::atomic<VectorWalk> max_vector_walk{VectorWalk::kAvx512};
void SetMaxVectorWalkForTesting(VectorWalk w) { max_vector_walk = w; }
}  // namespace internal

namespace {

constexpr double kEulerGamma = 0.5772156649;
constexpr char kMagic[4] = {'S', 'A', 'I', 'F'};
constexpr uint32_t kFormatVersion = 2;
constexpr int kQuantiles = 1001;
constexpr size_t kQuantileRows = 16384;
constexpr size_t kBlock = 16;  // points walked through a tree in lock step
constexpr int kPermuteTables = 8;  // see kMaxPermuteEntries

__extension__ typedef unsigned __int128 Uint128;

// Uniform in [0, n) from a 64-bit draw (multiply-shift).
uint64_t Scale(uint64_t draw, uint64_t n) { return static_cast<uint64_t>((static_cast<Uint128>(draw) * n) >> 64); }

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

int DepthFor(int sample_size) {
  int d = 0;
  while ((1 << d) < sample_size) ++d;
  return std::max(d, 1);
}

// Grows one tree into its complete-tree slot (see the header).
class TreeBuilder {
 public:
  TreeBuilder(const std::vector<float>& x, size_t cols, int depth, uint64_t seed, double margin,
              IsolationForest::Node* nodes, float* leaves, uint32_t* counts, IsolationForest::Range* ranges)
      : x_(x), cols_(cols), depth_(depth), margin_(margin), rng_(seed), nodes_(nodes), leaves_(leaves),
        counts_(counts), ranges_(ranges), features_(cols) {
    std::iota(features_.begin(), features_.end(), 0u);
  }

  void Build(uint32_t* begin, uint32_t* end) { Grow(0, 0, begin, end); }

  IsolationForest::Range Widen(float lo, float hi) const {
    const double w = (static_cast<double>(hi) - lo) * margin_;
    return {static_cast<float>(lo - w), static_cast<float>(hi + w)};
  }

 private:
  uint64_t Below(uint64_t n) { return Scale(rng_(), n); }
  double Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  float At(uint32_t row, uint32_t f) const { return x_[static_cast<size_t>(row) * cols_ + f]; }
  size_t FirstLeaf() const { return (size_t{1} << depth_) - 1; }

  void Grow(size_t node, int level, uint32_t* begin, uint32_t* end) {
    const size_t n = static_cast<size_t>(end - begin);
    counts_[node] = static_cast<uint32_t>(n);
    if (level == depth_) {
      leaves_[node - FirstLeaf()] = static_cast<float>(level + AveragePathLength(static_cast<double>(n)));
      return;
    }
    if (n <= 1) return Leaf(node, level, n);
    // Draw features without replacement until one is not constant here.
    size_t remaining = cols_;
    uint32_t feature = 0;
    float lo = 0, hi = 0;
    bool found = false;
    while (remaining > 0 && !found) {
      size_t j = Below(remaining);
      feature = features_[j];
      std::swap(features_[j], features_[remaining - 1]);
      --remaining;
      lo = hi = At(*begin, feature);
      for (uint32_t* r = begin + 1; r != end; ++r) {
        float v = At(*r, feature);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      found = hi > lo;
    }
    if (!found) return Leaf(node, level, n);
    float split = static_cast<float>(lo + Uniform() * (static_cast<double>(hi) - lo));
    if (!(split < hi)) split = lo;  // as scikit-learn: a draw equal to max becomes min
    uint32_t* mid = std::partition(begin, end, [&](uint32_t r) { return At(r, feature) <= split; });
    nodes_[node] = {split, feature};
    ranges_[node] = Widen(lo, hi);
    Grow(2 * node + 1, level + 1, begin, mid);
    Grow(2 * node + 2, level + 1, mid, end);
  }

  // A leaf above the last level: pseudo-splits that always go left down to
  // the last level, whose leftmost leaf holds the path length.
  void Leaf(size_t node, int level, size_t n) {
    const float value = static_cast<float>(level + AveragePathLength(static_cast<double>(n)));
    size_t first = node, count = 1;
    for (int l = level; l < depth_; ++l) {
      for (size_t i = first; i < first + count; ++i) {
        nodes_[i] = {std::numeric_limits<float>::infinity(), 0};
        ranges_[i] = {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
        counts_[i] = static_cast<uint32_t>(n);
      }
      first = 2 * first + 1;
      count *= 2;
    }
    for (size_t i = first; i < first + count; ++i) {
      leaves_[i - FirstLeaf()] = value;
      counts_[i] = static_cast<uint32_t>(n);
    }
  }

  const std::vector<float>& x_;
  size_t cols_;
  int depth_;
  double margin_;
  std::mt19937_64 rng_;
  IsolationForest::Node* nodes_;
  float* leaves_;
  uint32_t* counts_;
  IsolationForest::Range* ranges_;
  std::vector<uint32_t> features_;
};

class Writer {
 public:
  template <typename T>
  void Put(const T& v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void PutBytes(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  std::string out;
};

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T* v) {
    return GetBytes(v, sizeof(T));
  }
  bool GetBytes(void* p, size_t n) {
    if (in_.size() - pos_ < n) return false;
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  absl::string_view in_;
  size_t pos_ = 0;
};

}  // namespace

double AveragePathLength(double n) {
  if (n <= 1) return 0;
  if (n <= 2) return 1;
  return 2.0 * (std::log(n - 1) + kEulerGamma) - 2.0 * (n - 1) / n;
}

absl::StatusOr<std::shared_ptr<const IsolationForest>> IsolationForest::Train(MatrixView data,
                                                                               const ForestParams& params,
                                                                               std::vector<std::string> names) {
  if (data.rows < 2 || data.cols < 1)
    return absl::InvalidArgumentError(
        absl::StrCat("isolation forest: need at least 2 rows and 1 column, got ", data.rows, "x", data.cols));
  if (data.cols > std::numeric_limits<uint32_t>::max() || data.rows > std::numeric_limits<uint32_t>::max())
    return absl::InvalidArgumentError("isolation forest: matrix too large");
  if (params.num_trees < 1 || params.num_trees > kMaxTrees)
    return absl::InvalidArgumentError(absl::StrCat("isolation forest: num_trees ", params.num_trees, " not in 1..", kMaxTrees));
  if (params.sample_size < 2 || params.sample_size > kMaxSampleSize)
    return absl::InvalidArgumentError(
        absl::StrCat("isolation forest: sample_size ", params.sample_size, " not in 2..", kMaxSampleSize));
  if (!(params.out_of_range_margin >= 0 && params.out_of_range_margin <= 1e6))
    return absl::InvalidArgumentError("isolation forest: out_of_range_margin must be >= 0");
  if (!names.empty() && names.size() != data.cols)
    return absl::InvalidArgumentError(
        absl::StrCat("isolation forest: ", names.size(), " feature names for ", data.cols, " columns"));
  std::vector<float> x(data.rows * data.cols);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(data.data[i]))
      return absl::InvalidArgumentError(
          absl::StrCat("isolation forest: row ", i / data.cols, " column ", i % data.cols, " is not finite"));
    x[i] = static_cast<float>(data.data[i]);
    if (!std::isfinite(x[i]))
      return absl::InvalidArgumentError(
          absl::StrCat("isolation forest: row ", i / data.cols, " column ", i % data.cols, " overflows float"));
  }

  std::shared_ptr<IsolationForest> f(new IsolationForest());
  f->num_features_ = data.cols;
  f->num_trees_ = params.num_trees;
  f->sample_size_ = static_cast<int>(std::min<size_t>(params.sample_size, data.rows));
  f->depth_ = DepthFor(f->sample_size_);
  f->seed_ = params.seed;
  f->training_rows_ = data.rows;
  f->c_sample_ = AveragePathLength(f->sample_size_);
  f->feature_names_ = std::move(names);
  const size_t internal = (size_t{1} << f->depth_) - 1, leaves = size_t{1} << f->depth_;
  f->nodes_.resize(internal * f->num_trees_);
  f->leaves_.resize(leaves * f->num_trees_);
  f->counts_.resize((internal + leaves) * f->num_trees_);
  f->ranges_.resize(internal * f->num_trees_);
  f->boxes_.resize(data.cols * f->num_trees_);
  f->isolate_out_of_range_ = params.isolate_out_of_range;

  // One permutation of the row ids, partially reshuffled per tree: its first
  // sample_size entries are a uniform draw without replacement each time.
  std::vector<uint32_t> ids(data.rows);
  std::iota(ids.begin(), ids.end(), 0u);
  std::mt19937_64 sampler(SplitMix64(params.seed));
  for (int t = 0; t < f->num_trees_; ++t) {
    for (int i = 0; i < f->sample_size_; ++i) {
      size_t j = i + Scale(sampler(), data.rows - i);
      std::swap(ids[i], ids[j]);
    }
    std::vector<uint32_t> sample(ids.begin(), ids.begin() + f->sample_size_);
    Range* box = &f->boxes_[data.cols * t];
    for (size_t c = 0; c < data.cols; ++c) box[c] = {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
    for (uint32_t r : sample)
      for (size_t c = 0; c < data.cols; ++c) {
        box[c].lo = std::min(box[c].lo, x[r * data.cols + c]);
        box[c].hi = std::max(box[c].hi, x[r * data.cols + c]);
      }
    for (size_t c = 0; c < data.cols; ++c) {
      const double w = (static_cast<double>(box[c].hi) - box[c].lo) * params.out_of_range_margin;
      box[c] = {static_cast<float>(box[c].lo - w), static_cast<float>(box[c].hi + w)};
    }
    TreeBuilder b(x, data.cols, f->depth_, SplitMix64(params.seed ^ (0x5bd1e995ULL * (t + 1))), params.out_of_range_margin,
                  &f->nodes_[internal * t], &f->leaves_[leaves * t], &f->counts_[(internal + leaves) * t],
                  &f->ranges_[internal * t]);
    b.Build(sample.data(), sample.data() + sample.size());
  }

  f->BuildInnerBox();

  // Quantiles of the training scores, over at most kQuantileRows rows taken
  // at an even stride (enough for a 0.1 % tail; scoring every row of a large
  // input would cost more than growing the trees).
  const size_t stride = (data.rows + kQuantileRows - 1) / kQuantileRows;
  std::vector<double> rows;
  rows.reserve((data.rows / stride + 1) * data.cols);
  for (size_t r = 0; r < data.rows; r += stride) rows.insert(rows.end(), data.row(r), data.row(r) + data.cols);
  std::vector<double> scores(rows.size() / data.cols);
  f->ScoreBatch({rows.data(), scores.size(), data.cols}, scores.data());
  std::sort(scores.begin(), scores.end());
  f->quantiles_.resize(kQuantiles);
  for (int q = 0; q < kQuantiles; ++q) {
    double pos = static_cast<double>(q) / (kQuantiles - 1) * static_cast<double>(scores.size() - 1);
    size_t lo = static_cast<size_t>(pos);
    size_t hi = std::min(lo + 1, scores.size() - 1);
    f->quantiles_[q] = scores[lo] + (pos - static_cast<double>(lo)) * (scores[hi] - scores[lo]);
  }
  return std::shared_ptr<const IsolationForest>(std::move(f));
}

namespace {

// The walk of ScoreBlock with the out-of-range rule; N > 0: a full block of N
// points (a compile-time trip count), else n points.
template <size_t N>
void WalkIsolating(const IsolationForest::Node* nodes, const IsolationForest::Range* ranges, const float* xs,
                   size_t cols, int depth, uint32_t* idx, int* isolated_at, size_t n = N) {
  const size_t count = N > 0 ? N : n;
  for (int level = 0; level < depth; ++level) {
    for (size_t p = 0; p < count; ++p) {
      const IsolationForest::Node nd = nodes[idx[p]];
      const IsolationForest::Range r = ranges[idx[p]];
      const float v = xs[p * cols + nd.feature];
      const bool out = (v < r.lo) | (v > r.hi);
      isolated_at[p] = std::min(isolated_at[p], out ? level : depth);
      idx[p] = 2 * idx[p] + 1 + (v > nd.split ? 1u : 0u);
    }
  }
}

#if defined(__x86_64__)
// The same walk for a full block of 16 points, 8 lanes at a time with AVX2
// gathers (same float compares, so the same path as the scalar walk).
__attribute__((target("avx2"))) void WalkIsolatingAvx2(const IsolationForest::Node* nodes, const float* bounds,
                                                        const float* xs,
                                                        size_t cols, int depth, uint32_t* idx, int* isolated_at) {
  static_assert(sizeof(IsolationForest::Node) == 8 && sizeof(IsolationForest::Range) == 8);
  const float* split_base = &nodes[0].split;
  const int* feature_base = reinterpret_cast<const int*>(&nodes[0].feature);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i c = _mm256_set1_epi32(static_cast<int>(cols));
  const __m256i row0 = _mm256_mullo_epi32(lane, c);
  const __m256i row1 = _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(8)), c);
  const __m256i one = _mm256_set1_epi32(1);
  __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx));
  __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + 8));
  __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(isolated_at));
  __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(isolated_at + 8));
  for (int level = 0; level < depth; ++level) {
    const __m256i lv = _mm256_set1_epi32(level);
    const __m256 s0 = _mm256_i32gather_ps(split_base, i0, 8), s1 = _mm256_i32gather_ps(split_base, i1, 8);
    const __m256i f0 = _mm256_i32gather_epi32(feature_base, i0, 8), f1 = _mm256_i32gather_epi32(feature_base, i1, 8);
    const __m256 v0 = _mm256_i32gather_ps(xs, _mm256_add_epi32(row0, f0), 4);
    const __m256 v1 = _mm256_i32gather_ps(xs, _mm256_add_epi32(row1, f1), 4);
    const __m256 r0 = _mm256_cmp_ps(v0, s0, _CMP_GT_OQ);  // all ones when going right
    const __m256 r1 = _mm256_cmp_ps(v1, s1, _CMP_GT_OQ);
    const __m256i c0 = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i0), one), _mm256_castps_si256(r0));
    const __m256i c1 = _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(i1, i1), one), _mm256_castps_si256(r1));
    const __m256 b0 = _mm256_i32gather_ps(bounds, c0, 4), b1 = _mm256_i32gather_ps(bounds, c1, 4);
    // Left: out below lo; right: out above hi.
    const __m256i o0 = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_cmp_ps(v0, b0, _CMP_LT_OQ), _mm256_cmp_ps(v0, b0, _CMP_GT_OQ), r0));
    const __m256i o1 = _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_cmp_ps(v1, b1, _CMP_LT_OQ), _mm256_cmp_ps(v1, b1, _CMP_GT_OQ), r1));
    // isolated_at = min(isolated_at, out ? level : depth): only out lanes can lower it.
    a0 = _mm256_blendv_epi8(a0, _mm256_min_epi32(a0, lv), o0);
    a1 = _mm256_blendv_epi8(a1, _mm256_min_epi32(a1, lv), o1);
    i0 = c0;
    i1 = c1;
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx), i0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + 8), i1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(isolated_at), a0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(isolated_at + 8), a1);
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have && internal::max_vector_walk.load(std::memory_order_relaxed) >= internal::VectorWalk::kAvx2;
}

bool HaveAvx512() {
  static const bool have = __builtin_cpu_supports("avx512f");
  return have && internal::max_vector_walk.load(std::memory_order_relaxed) >= internal::VectorWalk::kAvx512;
}

// GCC 12 warns of the _mm512_undefined_* operands inside its own AVX-512
// intrinsics (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Levels whose entries (nodes, or child bounds) number at most this are read
// with in-register permutes of 32-entry tables instead of gathers.
constexpr int kMaxPermuteEntries = 32 * kPermuteTables;

// entries[rel] for 16 lanes, rel < 32 * tables, from `tables` 32-entry tables at base.
__attribute__((target("avx512f"))) inline __m512 PermuteLookup(const float* base, __m512i rel, int tables) {
  __m512 r = _mm512_permutex2var_ps(_mm512_loadu_ps(base), rel, _mm512_loadu_ps(base + 16));
  if (tables > 1) {
    const __m512i j = _mm512_srli_epi32(rel, 5);
    for (int t = 1; t < tables; ++t) {
      const __mmask16 m = _mm512_cmpeq_epi32_mask(j, _mm512_set1_epi32(t));
      r = _mm512_mask_mov_ps(r, m, _mm512_permutex2var_ps(_mm512_loadu_ps(base + 32 * t), rel,
                                                          _mm512_loadu_ps(base + 32 * t + 16)));
    }
  }
  return r;
}

// A full block of 16 points through every tree with the out-of-range rule,
// one point per lane: the walk of WalkIsolating (same float compares, same
// first level of isolation), the upper levels' node data and bounds read by
// permutes from registers, the rest gathered. Adds each tree's path length to
// sum[] in tree order, in double, as the scalar loop does.
struct IsolatingForestView {
  const float* split;      // per tree `internal` splits (SoA), padded
  const int32_t* feature;  // per tree `internal` features (SoA), padded
  const float* bounds;     // per tree 2 * internal + 1 child bounds, padded
  const float* leaves;     // per tree internal + 1 leaf values
  const IsolationForest::Range* boxes;  // per tree cols ranges
  size_t internal, cols;
  int depth, trees;
};

// kStride 8 or 16 (cols <= kStride): the block's values are held in registers,
// each row padded to kStride, 32 / kStride rows per 32-entry table, and a
// point's value is read with permutes; 0: gathered from xs.
template <int kStride>
__attribute__((target("avx512f"))) void ScoreBlockIsolatingAvx512(const IsolatingForestView& f, const float* xs,
                                                                   const bool* inside, double* sum) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  constexpr int kTables = kStride > 0 ? 16 * kStride / 32 : 1, kRowsPerTable = kStride > 0 ? 32 / kStride : 1;
  __m512 xt[2 * kTables];
  __m512i row;
  if constexpr (kStride > 0) {
    alignas(64) float padded[16 * (kStride > 0 ? kStride : 1)] = {};
    for (int p = 0; p < 16; ++p)
      for (size_t c = 0; c < f.cols; ++c) padded[p * kStride + c] = xs[p * f.cols + c];
    for (int i = 0; i < 2 * kTables; ++i) xt[i] = _mm512_load_ps(padded + 16 * i);
    // Lane p reads entry (p % rows per table) * kStride + feature of table p / rows per table.
    row = _mm512_mullo_epi32(_mm512_and_si512(lane, _mm512_set1_epi32(kRowsPerTable - 1)), _mm512_set1_epi32(kStride));
  } else {
    row = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(f.cols)));
  }
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i depth = _mm512_set1_epi32(f.depth);
  __mmask16 outside_inner = 0;
  for (int p = 0; p < 16; ++p) outside_inner |= static_cast<__mmask16>(inside[p] ? 0 : 1u << p);
  __m512d sum_lo = _mm512_loadu_pd(sum), sum_hi = _mm512_loadu_pd(sum + 8);
  const size_t leaves = f.internal + 1, bounds_stride = 2 * f.internal + 1;
  for (int t = 0; t < f.trees; ++t) {
    const float* split = f.split + f.internal * t;
    const int32_t* feature = f.feature + f.internal * t;
    const float* bounds = f.bounds + bounds_stride * t;
    // Outside this tree's box: isolated at the root (level 0).
    __mmask16 at_root = 0;
    if (outside_inner) {
      const IsolationForest::Range* box = f.boxes + f.cols * t;
      for (int p = 0; p < 16; ++p) {
        if (!(outside_inner >> p & 1)) continue;
        const float* x = xs + p * f.cols;
        bool out = false;
        for (size_t c = 0; c < f.cols; ++c) out |= (x[c] < box[c].lo) | (x[c] > box[c].hi);
        at_root |= static_cast<__mmask16>(out ? 1u << p : 0);
      }
    }
    __m512i iso = _mm512_mask_mov_epi32(depth, at_root, _mm512_setzero_si512());
    __m512i idx = _mm512_setzero_si512();
    for (int level = 0; level < f.depth; ++level) {
      const int first = (1 << level) - 1, entries = 1 << level;
      __m512 s;
      __m512i fe;
      if (entries <= kMaxPermuteEntries) {
        const __m512i rel = _mm512_sub_epi32(idx, _mm512_set1_epi32(first));
        const int tables = (entries + 31) / 32;
        s = PermuteLookup(split + first, rel, tables);
        fe = _mm512_castps_si512(PermuteLookup(reinterpret_cast<const float*>(feature) + first, rel, tables));
      } else {
        s = _mm512_i32gather_ps(idx, split, 4);
        fe = _mm512_i32gather_epi32(idx, feature, 4);
      }
      __m512 v;
      if constexpr (kStride > 0) {
        const __m512i at = _mm512_add_epi32(row, fe);
        v = _mm512_permutex2var_ps(xt[0], at, xt[1]);
        for (int j = 1; j < kTables; ++j)
          v = _mm512_mask_mov_ps(v, static_cast<__mmask16>(((1u << kRowsPerTable) - 1) << (kRowsPerTable * j)),
                                 _mm512_permutex2var_ps(xt[2 * j], at, xt[2 * j + 1]));
      } else {
        v = _mm512_i32gather_ps(_mm512_add_epi32(row, fe), xs, 4);
      }
      const __mmask16 right = _mm512_cmp_ps_mask(v, s, _CMP_GT_OQ);
      const __m512i child = _mm512_mask_add_epi32(_mm512_add_epi32(_mm512_add_epi32(idx, idx), one), right,
                                                  _mm512_add_epi32(_mm512_add_epi32(idx, idx), one), one);
      const int cfirst = 2 * first + 1, centries = 2 * entries;
      __m512 b;
      if (centries <= kMaxPermuteEntries)
        b = PermuteLookup(bounds + cfirst, _mm512_sub_epi32(child, _mm512_set1_epi32(cfirst)), (centries + 31) / 32);
      else
        b = _mm512_i32gather_ps(child, bounds, 4);
      // Left: out below lo; right: out above hi.
      const __mmask16 out = static_cast<__mmask16>((_mm512_cmp_ps_mask(v, b, _CMP_LT_OQ) & ~right) |
                                                   (_mm512_cmp_ps_mask(v, b, _CMP_GT_OQ) & right));
      iso = _mm512_mask_min_epi32(iso, out, iso, _mm512_set1_epi32(level));
      idx = child;
    }
    // Path length: level + 1 where isolated, else the leaf's value.
    const __mmask16 isolated = _mm512_cmplt_epi32_mask(iso, depth);
    const __m512i leaf_at = _mm512_sub_epi32(idx, _mm512_set1_epi32(static_cast<int>(f.internal)));
    // leaves_ is not padded: permutes only when whole tables fit (depth >= 5).
    const __m512 leaf = leaves >= 32 && leaves <= static_cast<size_t>(kMaxPermuteEntries)
                            ? PermuteLookup(f.leaves + leaves * t, leaf_at, static_cast<int>((leaves + 31) / 32))
                            : _mm512_i32gather_ps(leaf_at, f.leaves + leaves * t, 4);
    const __m512 h = _mm512_mask_mov_ps(leaf, isolated, _mm512_cvtepi32_ps(_mm512_add_epi32(iso, one)));
    sum_lo = _mm512_add_pd(sum_lo, _mm512_cvtps_pd(_mm512_castps512_ps256(h)));
    sum_hi = _mm512_add_pd(sum_hi,
                           _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(h), 1))));
  }
  _mm512_storeu_pd(sum, sum_lo);
  _mm512_storeu_pd(sum + 8, sum_hi);
}
#pragma GCC diagnostic pop
#endif

}  // namespace

void IsolationForest::ScoreBlock(const float* xs, size_t n, double* out) const {
  const size_t internal = (size_t{1} << depth_) - 1, leaves = size_t{1} << depth_;
  double sum[kBlock] = {};
  uint32_t idx[kBlock];
  int isolated_at[kBlock];
  bool inside[kBlock];
#if defined(__x86_64__)
  // Gather offsets are int32: row * cols + feature must fit.
  const bool avx2 = HaveAvx2() && num_features_ * kBlock < (size_t{1} << 31);
  const bool avx512 = HaveAvx512() && num_features_ * kBlock < (size_t{1} << 31);
#endif
  if (isolate_out_of_range_) {
    for (size_t p = 0; p < n; ++p) {
      const float* x = xs + p * num_features_;
      bool in = true;
      for (size_t c = 0; c < num_features_; ++c) in &= (x[c] >= inner_box_[c].lo) & (x[c] <= inner_box_[c].hi);
      inside[p] = in;
    }
#if defined(__x86_64__)
    if (n == kBlock && avx512) {
      const IsolatingForestView view{split_.data(),  feature_.data(), child_bounds_.data(), leaves_.data(),
                                     boxes_.data(),  internal,        num_features_,       depth_,
                                     num_trees_};
      if (num_features_ <= 8)
        ScoreBlockIsolatingAvx512<8>(view, xs, inside, sum);
      else if (num_features_ <= 16)
        ScoreBlockIsolatingAvx512<16>(view, xs, inside, sum);
      else
        ScoreBlockIsolatingAvx512<0>(view, xs, inside, sum);
      for (size_t p = 0; p < n; ++p) out[p] = std::exp2(-(sum[p] / num_trees_) / c_sample_);
      return;
    }
#endif
  }
  for (int t = 0; t < num_trees_; ++t) {
    const Node* nodes = &nodes_[internal * t];
    const float* leaf = &leaves_[leaves * t];
    for (size_t p = 0; p < n; ++p) idx[p] = 0;
    if (!isolate_out_of_range_) {
      for (int level = 0; level < depth_; ++level) {
        for (size_t p = 0; p < n; ++p) {
          const Node nd = nodes[idx[p]];
          idx[p] = 2 * idx[p] + 1 + (xs[p * num_features_ + nd.feature] > nd.split ? 1u : 0u);
        }
      }
      for (size_t p = 0; p < n; ++p) sum[p] += leaf[idx[p] - internal];
      continue;
    }
    const Range* ranges = &ranges_[internal * t];
    const Range* box = &boxes_[num_features_ * t];
    // Branch-free: the first level at which a point leaves a range wins.
    for (size_t p = 0; p < n; ++p) {
      isolated_at[p] = depth_;
      if (inside[p]) continue;
      const float* x = xs + p * num_features_;
      bool out = false;
      for (size_t c = 0; c < num_features_; ++c) out |= (x[c] < box[c].lo) | (x[c] > box[c].hi);
      isolated_at[p] = out ? 0 : depth_;
    }
#if defined(__x86_64__)
    if (n == kBlock && avx2)
      WalkIsolatingAvx2(nodes, &child_bounds_[(2 * internal + 1) * t], xs, num_features_, depth_, idx, isolated_at);
    else
#endif
    if (n == kBlock)
      WalkIsolating<kBlock>(nodes, ranges, xs, num_features_, depth_, idx, isolated_at);
    else
      WalkIsolating<0>(nodes, ranges, xs, num_features_, depth_, idx, isolated_at, n);
    for (size_t p = 0; p < n; ++p)
      sum[p] += isolated_at[p] < depth_ ? isolated_at[p] + 1.0 : leaf[idx[p] - internal];
  }
  for (size_t p = 0; p < n; ++p) out[p] = std::exp2(-(sum[p] / num_trees_) / c_sample_);
}

void IsolationForest::BuildInnerBox() {
  // The range check of node i, moved to its children: a point going left
  // (x <= split) can only leave the range below lo, one going right only
  // above hi (lo <= split <= hi), so child 2i+1 keeps lo and 2i+2 keeps hi.
  const size_t internal = (size_t{1} << depth_) - 1;
  // Padded: the vector walk loads 32-entry tables that may run past the last tree.
  constexpr size_t kPad = 64;
  child_bounds_.assign((2 * internal + 1) * num_trees_ + kPad, 0.0f);
  split_.assign(internal * num_trees_ + kPad, 0.0f);
  feature_.assign(internal * num_trees_ + kPad, 0);
  for (size_t i = 0; i < internal * num_trees_; ++i) {
    split_[i] = nodes_[i].split;
    feature_[i] = static_cast<int32_t>(nodes_[i].feature);
  }
  for (int t = 0; t < num_trees_; ++t)
    for (size_t i = 0; i < internal; ++i) {
      child_bounds_[(2 * internal + 1) * t + 2 * i + 1] = ranges_[internal * t + i].lo;
      child_bounds_[(2 * internal + 1) * t + 2 * i + 2] = ranges_[internal * t + i].hi;
    }
  inner_box_.assign(num_features_, {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()});
  for (int t = 0; t < num_trees_; ++t)
    for (size_t c = 0; c < num_features_; ++c) {
      inner_box_[c].lo = std::max(inner_box_[c].lo, boxes_[num_features_ * t + c].lo);
      inner_box_[c].hi = std::min(inner_box_[c].hi, boxes_[num_features_ * t + c].hi);
    }
}

double IsolationForest::Score(const double* x) const {
  std::vector<float> xs(x, x + num_features_);
  double s;
  ScoreBlock(xs.data(), 1, &s);
  return s;
}

void IsolationForest::ScoreBatch(MatrixView rows, double* out) const {
  std::vector<float> xs(kBlock * num_features_);
  for (size_t start = 0; start < rows.rows; start += kBlock) {
    size_t n = std::min(kBlock, rows.rows - start);
    const double* src = rows.row(start);
    for (size_t i = 0; i < n * num_features_; ++i) xs[i] = static_cast<float>(src[i]);
    ScoreBlock(xs.data(), n, out + start);
  }
}

double IsolationForest::ScoreWithAttribution(const double* x, double* contributions) const {
  const size_t internal = (size_t{1} << depth_) - 1, leaves = size_t{1} << depth_;
  std::vector<float> xs(x, x + num_features_);
  std::fill(contributions, contributions + num_features_, 0.0);
  double sum = 0, total = 0;
  for (int t = 0; t < num_trees_; ++t) {
    const Node* nodes = &nodes_[internal * t];
    const Range* ranges = &ranges_[internal * t];
    const uint32_t* counts = &counts_[(internal + leaves) * t];
    uint32_t i = 0;
    double h = -1;
    if (isolate_out_of_range_) {
      // Outside the sample's box: isolated at the root, by the features out.
      const Range* box = &boxes_[num_features_ * t];
      int out = 0;
      for (size_t c = 0; c < num_features_; ++c) out += xs[c] < box[c].lo || xs[c] > box[c].hi;
      if (out > 0) {
        const double bits = std::log2(static_cast<double>(counts[0]) + 1) / out;
        for (size_t c = 0; c < num_features_; ++c)
          if (xs[c] < box[c].lo || xs[c] > box[c].hi) contributions[c] += bits;
        total += bits * out;
        h = 1;
      }
    }
    for (int level = 0; level < depth_ && h < 0; ++level) {
      const Node nd = nodes[i];
      const float v = xs[nd.feature];
      if (!std::isfinite(nd.split)) break;  // a leaf: the rest are pseudo-splits
      if (isolate_out_of_range_ && (v < ranges[i].lo || v > ranges[i].hi)) {
        // Isolated here: all the remaining bits go to this feature.
        double bits = std::log2(static_cast<double>(counts[i]) + 1);
        contributions[nd.feature] += bits;
        total += bits;
        h = level + 1.0;
        break;
      }
      const uint32_t next = 2 * i + 1 + (v > nd.split ? 1u : 0u);
      // Bits of isolation this split gives x: log2(rows here / rows on x's side).
      double bits = std::log2(static_cast<double>(counts[i]) / std::max<uint32_t>(counts[next], 1));
      contributions[nd.feature] += bits;
      total += bits;
      i = next;
    }
    if (h < 0) {
      while (i < internal) i = 2 * i + 1;  // pseudo-splits go left
      h = leaves_[leaves * t + (i - internal)];
    }
    sum += h;
  }
  if (total > 0)
    for (size_t f = 0; f < num_features_; ++f) contributions[f] /= total;
  return std::exp2(-(sum / num_trees_) / c_sample_);
}

double IsolationForest::TrainingQuantile(double q) const {
  q = std::clamp(q, 0.0, 1.0);
  double pos = q * (quantiles_.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, quantiles_.size() - 1);
  return quantiles_[lo] + (pos - static_cast<double>(lo)) * (quantiles_[hi] - quantiles_[lo]);
}

std::string IsolationForest::Serialize() const {
  Writer w;
  w.PutBytes(kMagic, sizeof(kMagic));
  w.Put(kFormatVersion);
  w.Put(static_cast<uint64_t>(num_features_));
  w.Put(static_cast<int32_t>(num_trees_));
  w.Put(static_cast<int32_t>(sample_size_));
  w.Put(static_cast<int32_t>(depth_));
  w.Put(seed_);
  w.Put(static_cast<uint8_t>(isolate_out_of_range_ ? 1 : 0));
  w.Put(training_rows_);
  w.Put(static_cast<uint32_t>(feature_names_.size()));
  for (const auto& n : feature_names_) {
    w.Put(static_cast<uint32_t>(n.size()));
    w.PutBytes(n.data(), n.size());
  }
  w.Put(static_cast<uint32_t>(quantiles_.size()));
  w.PutBytes(quantiles_.data(), quantiles_.size() * sizeof(double));
  w.PutBytes(nodes_.data(), nodes_.size() * sizeof(Node));
  w.PutBytes(leaves_.data(), leaves_.size() * sizeof(float));
  w.PutBytes(counts_.data(), counts_.size() * sizeof(uint32_t));
  w.PutBytes(ranges_.data(), ranges_.size() * sizeof(Range));
  w.PutBytes(boxes_.data(), boxes_.size() * sizeof(Range));
  uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(w.out.data()), static_cast<uInt>(w.out.size())));
  w.Put(crc);
  return std::move(w.out);
}

absl::StatusOr<std::shared_ptr<const IsolationForest>> IsolationForest::Deserialize(absl::string_view bytes) {
  if (bytes.size() < sizeof(kMagic) + 8 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return absl::InvalidArgumentError("isolation forest model: not a SAIF model (bad magic)");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, bytes.data() + bytes.size() - sizeof(stored_crc), sizeof(stored_crc));
  absl::string_view body = bytes.substr(0, bytes.size() - sizeof(stored_crc));
  uint32_t crc =
      static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
  if (crc != stored_crc) return absl::DataLossError("isolation forest model: checksum mismatch");
  Reader r(body.substr(sizeof(kMagic)));
  uint32_t version = 0;
  uint64_t cols = 0;
  int32_t trees = 0, sample = 0, depth = 0;
  std::shared_ptr<IsolationForest> f(new IsolationForest());
  auto truncated = [] { return absl::DataLossError("isolation forest model: truncated"); };
  if (!r.Get(&version)) return truncated();
  if (version != kFormatVersion)
    return absl::InvalidArgumentError(
        absl::StrCat("isolation forest model: format version ", version, ", this build reads ", kFormatVersion));
  uint8_t isolate = 0;
  if (!r.Get(&cols) || !r.Get(&trees) || !r.Get(&sample) || !r.Get(&depth) || !r.Get(&f->seed_) ||
      !r.Get(&isolate) || !r.Get(&f->training_rows_))
    return truncated();
  if (isolate > 1) return absl::InvalidArgumentError("isolation forest model: bad flags");
  f->isolate_out_of_range_ = isolate == 1;
  if (cols < 1 || cols > (1u << 20) || trees < 1 || trees > kMaxTrees || sample < 2 || sample > kMaxSampleSize ||
      depth != DepthFor(sample))
    return absl::InvalidArgumentError("isolation forest model: sizes out of range");
  uint32_t n_names = 0;
  if (!r.Get(&n_names)) return truncated();
  if (n_names != 0 && n_names != cols) return absl::InvalidArgumentError("isolation forest model: bad name count");
  for (uint32_t i = 0; i < n_names; ++i) {
    uint32_t len = 0;
    if (!r.Get(&len) || len > r.remaining()) return truncated();
    std::string name(len, '\0');
    r.GetBytes(name.data(), len);
    f->feature_names_.push_back(std::move(name));
  }
  uint32_t n_q = 0;
  if (!r.Get(&n_q) || n_q != kQuantiles) return absl::InvalidArgumentError("isolation forest model: bad quantiles");
  f->quantiles_.resize(n_q);
  if (!r.GetBytes(f->quantiles_.data(), n_q * sizeof(double))) return truncated();
  const size_t internal = (size_t{1} << depth) - 1, leaves = size_t{1} << depth;
  f->nodes_.resize(internal * trees);
  f->leaves_.resize(leaves * trees);
  f->counts_.resize((internal + leaves) * trees);
  f->ranges_.resize(internal * trees);
  f->boxes_.resize(cols * trees);
  if (!r.GetBytes(f->nodes_.data(), f->nodes_.size() * sizeof(Node)) ||
      !r.GetBytes(f->leaves_.data(), f->leaves_.size() * sizeof(float)) ||
      !r.GetBytes(f->counts_.data(), f->counts_.size() * sizeof(uint32_t)) ||
      !r.GetBytes(f->ranges_.data(), f->ranges_.size() * sizeof(Range)) ||
      !r.GetBytes(f->boxes_.data(), f->boxes_.size() * sizeof(Range)))
    return truncated();
  if (r.remaining() != 0) return absl::InvalidArgumentError("isolation forest model: trailing bytes");
  for (const Node& n : f->nodes_)
    if (n.feature >= cols) return absl::InvalidArgumentError("isolation forest model: node feature out of range");
  f->num_features_ = cols;
  f->num_trees_ = trees;
  f->sample_size_ = sample;
  f->depth_ = depth;
  f->c_sample_ = AveragePathLength(sample);
  f->BuildInnerBox();
  return std::shared_ptr<const IsolationForest>(std::move(f));
}

}  // namespace sa::anomaly
