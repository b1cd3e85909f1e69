#include "observability/metrics.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace sa::obs {
namespace {

void AtomicAdd(std::atomic<double>& target, double v) {
  double cur = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);  // shortest text that round-trips
  return std::string(buf, res.ptr);
}

// Adds one label to an already rendered label set: {a="b"} + le -> {a="b",le="x"}.
std::string WithLabel(const std::string& rendered, std::string_view k, std::string_view v) {
  std::string extra = std::string(k) + "=\"" + std::string(v) + "\"";
  if (rendered.empty()) return absl::StrCat("{", extra, "}");
  return absl::StrCat(rendered.substr(0, rendered.size() - 1), ",", extra, "}");
}

}  // namespace

void Counter::Inc(double v) {
  assert(v >= 0 && "counters only go up");
  AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
}

MetricsRegistry& MetricsRegistry::Default() {
  static auto* registry = new MetricsRegistry();  // never destroyed: used until exit
  return *registry;
}

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    absl::StrAppend(&out, labels[i].first, "=\"", EscapeLabelValue(labels[i].second), "\"");
  }
  out += "}";
  return out;
}

namespace {

// The metric of `family_slots` under `labels`, made with `args` on first use.
template <typename Metric, typename... Args>
Metric& SlotFor(std::map<std::string, std::unique_ptr<Metric>>& family_slots, const Labels& labels, Args&&... args) {
  auto& slot = family_slots[RenderLabels(labels)];
  if (!slot) slot = std::make_unique<Metric>(std::forward<Args>(args)...);
  return *slot;
}

}  // namespace

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view help,
                                                    Type type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}, {}, {}}).first;
  }
  if (it->second.type != type) {
    std::fprintf(stderr, "metric %.*s registered twice with different types\n",
                 static_cast<int>(name.size()), name.data());
    std::abort();
  }
  return it->second;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  std::lock_guard lock(mu_);
  return SlotFor(FamilyFor(name, help, Type::kCounter).counters, labels);
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  std::lock_guard lock(mu_);
  return SlotFor(FamilyFor(name, help, Type::kGauge).gauges, labels);
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  return SlotFor(FamilyFor(name, help, Type::kHistogram).histograms, labels, std::move(bounds));
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::kCounter ? "counter"
                       : family.type == Type::kGauge ? "gauge"
                                                     : "histogram";
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family.help), "\n# TYPE ", name, " ",
                    type, "\n");
    for (const auto& [labels, c] : family.counters)
      absl::StrAppend(&out, name, labels, " ", FormatValue(c->Value()), "\n");
    for (const auto& [labels, g] : family.gauges)
      absl::StrAppend(&out, name, labels, " ", FormatValue(g->Value()), "\n");
    for (const auto& [labels, h] : family.histograms) {
      auto counts = h->BucketCounts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        std::string le = i < h->bounds().size() ? FormatValue(h->bounds()[i]) : "+Inf";
        absl::StrAppend(&out, name, "_bucket", WithLabel(labels, "le", le), " ", cumulative, "\n");
      }
      absl::StrAppend(&out, name, "_sum", labels, " ", FormatValue(h->Sum()), "\n");
      absl::StrAppend(&out, name, "_count", labels, " ", h->Count(), "\n");
    }
  }
  return out;
}

}  // namespace sa::obs
