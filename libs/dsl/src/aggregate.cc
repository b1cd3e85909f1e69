#include "dsl/aggregate.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "internal/eval.h"

namespace sa::dsl {
namespace {

using internal::ToDecimal;
using internal::ToDouble;


class CountAcc : public Accumulator {
 public:
  explicit CountAcc(bool star) : star_(star) {}
  void Add(const Value* a, int64_t) override {
    if (star_ || !a[0].is_null()) ++n_;
  }
  Value Result() const override { return Value::Int(n_); }
  size_t MemoryBytes() const override { return sizeof(*this); }

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

bool Aggregation::Add(const void* message) {
  internal::EvalContext ctx;
  ctx.message = message;
  for (const auto& f : plan_.filters) {
    const Value v = internal::Eval(*f, ctx);
    if (v.is_null() || !v.b) return false;
  }
  const Value ts = internal::LoadField(*time_field_, message);
  if (ts.is_null()) return false;
  std::vector<Value> keys;
  std::string key_text;
  for (const auto& k : plan_.keys) {
    keys.push_back(internal::Eval(*k.expr, ctx));
    absl::StrAppend(&key_text, "\x1f", KeyText(keys.back()));
  }
  std::vector<std::vector<Value>> args(plan_.aggregates.size());
  for (size_t i = 0; i < plan_.aggregates.size(); ++i)
    for (const auto& a : plan_.aggregates[i].args) args[i].push_back(internal::Eval(*a, ctx));
  for (int64_t start : WindowsOf(ts.i)) {
    // Window start first (fixed width, sign-shifted) so the map orders by it.
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "%020llu", static_cast<unsigned long long>(start) ^ (1ULL << 63));
    const std::string id = absl::StrCat(prefix, key_text);
    auto it = groups_.find(id);
    if (it == groups_.end()) {
      Group g;
      g.window_start = start;
      for (const auto& k : keys) g.keys.emplace_back(k);
      for (const auto& call : plan_.aggregates) g.accumulators.push_back(MakeAccumulator(call));
      it = groups_.emplace(id, std::move(g)).first;
    }
    for (size_t i = 0; i < plan_.aggregates.size(); ++i)
      it->second.accumulators[i]->Add(args[i].data(), ts.i);
  }
  return true;
}

std::vector<std::vector<OwnedValue>> Aggregation::Rows() const {
  std::vector<std::vector<OwnedValue>> rows;
  for (const auto& [id, g] : groups_) {
    std::vector<Value> keys, aggs;
    for (const auto& k : g.keys) keys.push_back(k.get());
    for (const auto& a : g.accumulators) aggs.push_back(a->Result());
    internal::EvalContext ctx;
    ctx.keys = keys.data();
    ctx.aggregates = aggs.data();
    ctx.window_start = g.window_start;
    ctx.window_end = g.window_start + plan_.window->size_ns;
    bool keep = true;
    for (const auto& h : plan_.having) {
      const Value v = internal::Eval(*h, ctx);
      keep = keep && !v.is_null() && v.b;
    }
    if (!keep) continue;
    std::vector<OwnedValue> row;
    for (const auto& c : plan_.columns) row.emplace_back(internal::Eval(*c.expr, ctx));
    rows.push_back(std::move(row));
  }
  return rows;
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
