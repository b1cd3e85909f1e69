#include "dsl/aggregate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "internal/eval.h"
#include "internal/state_codec.h"

namespace sa::dsl {
namespace {

using internal::StateReader;
using internal::StateWriter;
using internal::ToDecimal;
using internal::ToDouble;

bool LoadFlag(StateReader& r, bool* v) {
  uint8_t b = 0;
  if (!r.Fixed(&b) || b > 1) return false;
  *v = b == 1;
  return true;
}

class CountAcc : public Accumulator {
 public:
  explicit CountAcc(bool star) : star_(star) {}
  void Add(const Value* a, int64_t) override {
    if (star_ || !a[0].is_null()) ++n_;
  }
  Value Result() const override { return Value::Int(n_); }
  size_t MemoryBytes() const override { return sizeof(*this); }
  void Save(StateWriter& w) const override { w.Fixed(n_); }
  bool Load(StateReader& r) override { return r.Fixed(&n_) && n_ >= 0; }

 private:
  bool star_;
  int64_t n_ = 0;
};

// Exact decimal sum (ints promoted) or float sum.
class SumAcc : public Accumulator {
 public:
  SumAcc(bool is_float, bool average) : float_(is_float), average_(average) {}
  void Add(const Value* a, int64_t) override {
    if (a[0].is_null()) return;
    ++n_;
    if (float_) {
      f_ += ToDouble(a[0]);
    } else if (!over_ && !Decimal::Add(d_, ToDecimal(a[0]), &d_)) {
      over_ = true;
    }
  }
  Value Result() const override {
    if (n_ == 0) return Value::Null();
    if (float_) return Value::Float(average_ ? f_ / static_cast<double>(n_) : f_);
    if (over_) return Value::Null();
    if (!average_) return Value::Dec(d_);
    Decimal q;
    return Decimal::Div(d_, Decimal::FromInt(n_), &q) ? Value::Dec(q) : Value::Null();
  }
  size_t MemoryBytes() const override { return sizeof(*this); }
  bool overflowed() const override { return over_; }
  void Save(StateWriter& w) const override {
    w.Fixed(n_);
    w.Fixed(f_);
    w.Dec(d_);
    w.Fixed<uint8_t>(over_);
  }
  bool Load(StateReader& r) override {
    return r.Fixed(&n_) && r.Fixed(&f_) && r.Dec(&d_) && LoadFlag(r, &over_) && n_ >= 0;
  }

 private:
  bool float_, average_;
  int64_t n_ = 0;
  double f_ = 0;
  Decimal d_;
  bool over_ = false;
};

class VwapAcc : public Accumulator {
 public:
  void Add(const Value* a, int64_t) override {
    if (a[0].is_null() || a[1].is_null() || over_) return;
    Decimal ps;
    if (!Decimal::Mul(ToDecimal(a[0]), ToDecimal(a[1]), &ps) || !Decimal::Add(notional_, ps, &notional_) ||
        !Decimal::Add(volume_, ToDecimal(a[1]), &volume_))
      over_ = true;
    any_ = true;
  }
  Value Result() const override {
    Decimal q;
    if (!any_ || over_ || volume_.is_zero() || !Decimal::Div(notional_, volume_, &q)) return Value::Null();
    return Value::Dec(q);
  }
  size_t MemoryBytes() const override { return sizeof(*this); }
  bool overflowed() const override { return over_; }
  void Save(StateWriter& w) const override {
    w.Dec(notional_);
    w.Dec(volume_);
    w.Fixed<uint8_t>(any_);
    w.Fixed<uint8_t>(over_);
  }
  bool Load(StateReader& r) override {
    return r.Dec(&notional_) && r.Dec(&volume_) && LoadFlag(r, &any_) && LoadFlag(r, &over_);
  }

 private:
  Decimal notional_, volume_;
  bool any_ = false, over_ = false;
};

class MinMaxAcc : public Accumulator {
 public:
  explicit MinMaxAcc(bool max) : max_(max) {}
  void Add(const Value* a, int64_t) override {
    if (a[0].is_null()) return;
    if (!has_ || (max_ ? internal::CompareValues(a[0], best_.get()) > 0 : internal::CompareValues(a[0], best_.get()) < 0)) {
      best_.Set(a[0]);
      has_ = true;
    }
  }
  Value Result() const override { return has_ ? best_.get() : Value::Null(); }
  size_t MemoryBytes() const override { return sizeof(*this) + best_.text.capacity(); }
  void Save(StateWriter& w) const override {
    w.Fixed<uint8_t>(has_);
    w.Val(best_.get());
  }
  bool Load(StateReader& r) override {
    Value v;
    if (!LoadFlag(r, &has_) || !r.Val(&v)) return false;
    best_.Set(v);
    return true;
  }

 private:
  bool max_;
  bool has_ = false;
  OwnedValue best_;
};

class FirstLastAcc : public Accumulator {
 public:
  explicit FirstLastAcc(bool last) : last_(last) {}
  void Add(const Value* a, int64_t ts) override {
    if (!has_ || (last_ ? ts >= ts_ : ts < ts_)) {
      value_.Set(a[0]);
      ts_ = ts;
      has_ = true;
    }
  }
  Value Result() const override { return has_ ? value_.get() : Value::Null(); }
  size_t MemoryBytes() const override { return sizeof(*this) + value_.text.capacity(); }
  void Save(StateWriter& w) const override {
    w.Fixed<uint8_t>(has_);
    w.Fixed(ts_);
    w.Val(value_.get());
  }
  bool Load(StateReader& r) override {
    Value v;
    if (!LoadFlag(r, &has_) || !r.Fixed(&ts_) || !r.Val(&v)) return false;
    value_.Set(v);
    return true;
  }

 private:
  bool last_;
  bool has_ = false;
  int64_t ts_ = 0;
  OwnedValue value_;
};

class StddevAcc : public Accumulator {
 public:
  void Add(const Value* a, int64_t) override {
    if (a[0].is_null()) return;
    ++n_;
    if (a[0].kind == TypeKind::kFloat) {
      exact_ = false;
    }
    // Welford in double for floats (and as the fallback when exact sums overflow).
    const double x = ToDouble(a[0]);
    const double delta = x - mean_;
    mean_ += delta / static_cast<double>(n_);
    m2_ += delta * (x - mean_);
    if (exact_) {
      const Decimal d = ToDecimal(a[0]);
      Decimal sq;
      if (!Decimal::Mul(d, d, &sq) || !Decimal::Add(sum_, d, &sum_) || !Decimal::Add(sum_sq_, sq, &sum_sq_))
        exact_ = false;
    }
  }
  Value Result() const override {
    if (n_ < 2) return Value::Null();
    if (exact_) {
      // (n * sum_sq - sum^2) / (n * (n - 1)), exactly, then one rounding to double.
      Decimal a, b, num, den;
      if (Decimal::Mul(Decimal::FromInt(n_), sum_sq_, &a) && Decimal::Mul(sum_, sum_, &b) && Decimal::Sub(a, b, &num) &&
          Decimal::Mul(Decimal::FromInt(n_), Decimal::FromInt(n_ - 1), &den)) {
        const double var = num.ToDouble() / den.ToDouble();
        return Value::Float(std::sqrt(std::max(0.0, var)));
      }
    }
    return Value::Float(std::sqrt(std::max(0.0, m2_ / static_cast<double>(n_ - 1))));
  }
  size_t MemoryBytes() const override { return sizeof(*this); }
  void Save(StateWriter& w) const override {
    w.Fixed(n_);
    w.Fixed<uint8_t>(exact_);
    w.Dec(sum_);
    w.Dec(sum_sq_);
    w.Fixed(mean_);
    w.Fixed(m2_);
  }
  bool Load(StateReader& r) override {
    return r.Fixed(&n_) && LoadFlag(r, &exact_) && r.Dec(&sum_) && r.Dec(&sum_sq_) && r.Fixed(&mean_) &&
           r.Fixed(&m2_) && n_ >= 0;
  }

 private:
  int64_t n_ = 0;
  bool exact_ = true;
  Decimal sum_, sum_sq_;
  double mean_ = 0, m2_ = 0;
};

class PercentileAcc : public Accumulator {
 public:
  explicit PercentileAcc(double p) : p_(p) {}
  void Add(const Value* a, int64_t) override {
    if (!a[0].is_null()) values_.push_back(a[0]);
  }
  Value Result() const override {
    if (values_.empty()) return Value::Null();
    std::vector<Value> v = values_;
    const size_t n = v.size();
    int64_t rank = static_cast<int64_t>(std::ceil(p_ * static_cast<double>(n)));
    if (rank < 1) rank = 1;
    if (rank > static_cast<int64_t>(n)) rank = static_cast<int64_t>(n);
    std::nth_element(v.begin(), v.begin() + (rank - 1), v.end(),
                     [](const Value& a, const Value& b) { return internal::CompareValues(a, b) < 0; });
    return v[rank - 1];
  }
  size_t MemoryBytes() const override { return sizeof(*this) + values_.capacity() * sizeof(Value); }
  void Save(StateWriter& w) const override {
    w.Fixed<uint64_t>(values_.size());
    for (const Value& v : values_) w.Val(v);
  }
  bool Load(StateReader& r) override {
    uint64_t n = 0;
    if (!r.Fixed(&n)) return false;
    values_.clear();
    for (uint64_t i = 0; i < n; ++i) {
      Value v;
      // Numbers and times only: a string here was not written by Save.
      if (!r.Val(&v) || !v.s.empty()) return false;
      values_.push_back(v);
    }
    return true;
  }

 private:
  double p_;
  std::vector<Value> values_;  // numbers and times only: no strings to own
};

std::string KeyText(const Value& v) {
  return absl::StrCat(static_cast<int>(v.kind), ":", v.is_null() ? "" : ValueToString(v));
}

}  // namespace

std::unique_ptr<Accumulator> MakeAccumulator(const AggregateCall& call) {
  const bool is_float = !call.args.empty() && call.args[0]->type.kind == TypeKind::kFloat;
  switch (call.func) {
    case AggFunc::kCount: return std::make_unique<CountAcc>(call.args.empty());
    case AggFunc::kSum: return std::make_unique<SumAcc>(is_float, false);
    case AggFunc::kAvg: return std::make_unique<SumAcc>(is_float, true);
    case AggFunc::kMin: return std::make_unique<MinMaxAcc>(false);
    case AggFunc::kMax: return std::make_unique<MinMaxAcc>(true);
    case AggFunc::kVwap: return std::make_unique<VwapAcc>();
    case AggFunc::kFirst: return std::make_unique<FirstLastAcc>(false);
    case AggFunc::kLast: return std::make_unique<FirstLastAcc>(true);
    case AggFunc::kStddev: return std::make_unique<StddevAcc>();
    case AggFunc::kPercentile: return std::make_unique<PercentileAcc>(call.fraction);
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<Aggregation>> Aggregation::Create(const Plan& plan) {
  if (plan.use != Use::kWindowedAggregate || !plan.window.has_value())
    return absl::InvalidArgumentError(
        absl::StrCat("an aggregation needs a windowed aggregate plan, not a ", UseName(plan.use)));
  std::unique_ptr<Aggregation> a(new Aggregation(plan));
  a->time_field_ = plan.source->FindField(plan.source->time_field);
  if (a->time_field_ == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(plan.source->name, " has no event time field"));
  return a;
}

std::vector<int64_t> Aggregation::WindowsOf(int64_t ts) const {
  const WindowSpec& w = *plan_.window;
  std::vector<int64_t> out;
  int64_t r = ts % w.every_ns;
  if (r < 0) r += w.every_ns;
  for (int64_t start = ts - r; start > ts - w.size_ns; start -= w.every_ns) out.push_back(start);
  std::reverse(out.begin(), out.end());
  return out;
}

namespace {

std::string WindowPrefix(int64_t start) {
  // Fixed width, sign-shifted, so that ids order by window start.
  char prefix[32];
  snprintf(prefix, sizeof(prefix), "%020llu", static_cast<unsigned long long>(start) ^ (1ULL << 63));
  return prefix;
}

constexpr uint8_t kStateVersion = 1;

}  // namespace

Aggregation::Group Aggregation::NewGroup(int64_t window_start) const {
  Group g;
  g.window_start = window_start;
  for (const auto& call : plan_.aggregates) g.accumulators.push_back(MakeAccumulator(call));
  return g;
}

bool Aggregation::Add(const void* message) {
  return Add(message, std::numeric_limits<int64_t>::min()).outcome == Outcome::kAdded;
}

Aggregation::AddResult Aggregation::Add(const void* message, int64_t closed_through) {
  AddResult result;
  internal::EvalContext ctx;
  ctx.message = message;
  for (const auto& f : plan_.filters) {
    const Value v = internal::Eval(*f, ctx);
    if (v.is_null() || !v.b) return result;
  }
  const Value ts = internal::LoadField(*time_field_, message);
  if (ts.is_null()) return result;
  result.event_ns = ts.i;
  std::vector<int64_t> windows = WindowsOf(ts.i);
  windows.erase(windows.begin(), std::upper_bound(windows.begin(), windows.end(), closed_through));
  if (windows.empty()) {
    result.outcome = Outcome::kLate;
    return result;
  }
  result.outcome = Outcome::kAdded;
  std::vector<Value> keys;
  std::string key_text;
  for (const auto& k : plan_.keys) {
    keys.push_back(internal::Eval(*k.expr, ctx));
    absl::StrAppend(&key_text, "\x1f", KeyText(keys.back()));
  }
  std::vector<std::vector<Value>> args(plan_.aggregates.size());
  for (size_t i = 0; i < plan_.aggregates.size(); ++i)
    for (const auto& a : plan_.aggregates[i].args) args[i].push_back(internal::Eval(*a, ctx));
  for (int64_t start : windows) {
    std::string id = absl::StrCat(WindowPrefix(start), key_text);
    auto it = groups_.find(id);
    if (it == groups_.end()) {
      Group g = NewGroup(start);
      for (const auto& k : keys) g.keys.emplace_back(k);
      it = groups_.emplace(id, std::move(g)).first;
    }
    for (size_t i = 0; i < plan_.aggregates.size(); ++i) it->second.accumulators[i]->Add(args[i].data(), ts.i);
    result.groups.push_back(std::move(id));
  }
  return result;
}

std::optional<std::vector<OwnedValue>> Aggregation::RowOfGroup(const Group& g) const {
  std::vector<Value> keys, aggs;
  for (const auto& k : g.keys) keys.push_back(k.get());
  for (const auto& a : g.accumulators) aggs.push_back(a->Result());
  internal::EvalContext ctx;
  ctx.keys = keys.data();
  ctx.aggregates = aggs.data();
  ctx.window_start = g.window_start;
  ctx.window_end = g.window_start + plan_.window->size_ns;
  for (const auto& h : plan_.having) {
    const Value v = internal::Eval(*h, ctx);
    if (v.is_null() || !v.b) return std::nullopt;
  }
  std::vector<OwnedValue> row;
  for (const auto& c : plan_.columns) row.emplace_back(internal::Eval(*c.expr, ctx));
  return row;
}

std::vector<std::vector<OwnedValue>> Aggregation::Rows() const {
  std::vector<std::vector<OwnedValue>> rows;
  for (const auto& [id, g] : groups_)
    if (auto row = RowOfGroup(g)) rows.push_back(*std::move(row));
  return rows;
}

std::optional<std::vector<OwnedValue>> Aggregation::RowOf(const std::string& group) const {
  auto it = groups_.find(group);
  if (it == groups_.end()) return std::nullopt;
  return RowOfGroup(it->second);
}

std::vector<Aggregation::ClosedGroup> Aggregation::Close(int64_t closed_through) {
  std::vector<ClosedGroup> out;
  // Ids start with the window start, so the closed groups are a prefix.
  const std::string bound =
      closed_through == std::numeric_limits<int64_t>::max() ? std::string(1, '\x7f') : WindowPrefix(closed_through + 1);
  auto end = groups_.lower_bound(bound);
  for (auto it = groups_.begin(); it != end; ++it) {
    ClosedGroup c;
    c.group = it->first;
    c.window_start = it->second.window_start;
    c.row = RowOfGroup(it->second);
    out.push_back(std::move(c));
  }
  groups_.erase(groups_.begin(), end);
  return out;
}

void Aggregation::Save(std::string* out) const {
  internal::StateWriter w(out);
  w.Fixed(kStateVersion);
  w.Fixed<uint64_t>(groups_.size());
  for (const auto& [id, g] : groups_) {
    w.Bytes(id);
    w.Fixed(g.window_start);
    w.Fixed<uint32_t>(static_cast<uint32_t>(g.keys.size()));
    for (const auto& k : g.keys) w.Val(k.get());
    w.Fixed<uint32_t>(static_cast<uint32_t>(g.accumulators.size()));
    for (const auto& a : g.accumulators) a->Save(w);
  }
}

absl::Status Aggregation::Load(std::string_view state) {
  internal::StateReader r(state);
  uint8_t version = 0;
  uint64_t n = 0;
  if (!r.Fixed(&version) || version != kStateVersion || !r.Fixed(&n))
    return absl::DataLossError(absl::StrCat("aggregation state: not a version ", kStateVersion, " state"));
  std::map<std::string, Group> groups;
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view id;
    int64_t start = 0;
    uint32_t nkeys = 0, naggs = 0;
    if (!r.Bytes(&id) || !r.Fixed(&start) || !r.Fixed(&nkeys) || nkeys != plan_.keys.size())
      return absl::DataLossError(absl::StrCat("aggregation state: group ", i, " of ", n, " is malformed"));
    Group g = NewGroup(start);
    for (uint32_t k = 0; k < nkeys; ++k) {
      Value v;
      if (!r.Val(&v))
        return absl::DataLossError(absl::StrCat("aggregation state: key ", k, " of group ", i, " is malformed"));
      g.keys.emplace_back(v);
    }
    if (!r.Fixed(&naggs) || naggs != g.accumulators.size())
      return absl::DataLossError(absl::StrCat("aggregation state: group ", i, " has ", naggs, " aggregates, the plan ",
                                              g.accumulators.size()));
    for (uint32_t a = 0; a < naggs; ++a)
      if (!g.accumulators[a]->Load(r))
        return absl::DataLossError(absl::StrCat("aggregation state: aggregate ", a, " of group ", i, " is malformed"));
    if (id.substr(0, 20) != WindowPrefix(start))
      return absl::DataLossError(absl::StrCat("aggregation state: group ", i, "'s id does not match its window"));
    groups.emplace(std::string(id), std::move(g));
  }
  if (!r.done()) return absl::DataLossError("aggregation state: bytes after the last group");
  groups_ = std::move(groups);
  return absl::OkStatus();
}

size_t Aggregation::MemoryBytes() const {
  size_t n = 0;
  for (const auto& [id, g] : groups_) {
    n += id.capacity() + sizeof(g);
    for (const auto& k : g.keys) n += sizeof(k) + k.text.capacity();
    for (const auto& a : g.accumulators) n += a->MemoryBytes();
  }
  return n;
}

}  // namespace sa::dsl
