// CounterFamily: the counters of one metric that differ by one label (a
// reason, an outcome), with the values known up front registered at 0 — so
// that increase() sees the first one — and any other value registered on its
// first use. Other labels (e.g. the venue) are fixed per family. For the
// services' probes: no registry lookup on a hot or error path once a value
// has been seen, and Total() reads the fact back instead of keeping a copy.
//
// Threading: For and Total may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "observability/metrics.h"

namespace sa::obs {

class CounterFamily {
 public:
  CounterFamily(MetricsRegistry& registry, std::string name, std::string help, std::string label,
                const std::vector<std::string>& known = {}, Labels fixed = {})
      : registry_(registry),
        name_(std::move(name)),
        help_(std::move(help)),
        label_(std::move(label)),
        fixed_(std::move(fixed)) {
    for (const std::string& value : known) Register(value);
  }
  CounterFamily(const CounterFamily&) = delete;
  CounterFamily& operator=(const CounterFamily&) = delete;

  Counter& For(const std::string& value) {
    std::lock_guard lock(mu_);
    auto it = by_value_.find(value);
    return it != by_value_.end() ? *it->second : Register(value);
  }
  // Every value's count, summed.
  uint64_t Total() const {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (const auto& entry : by_value_) n += static_cast<uint64_t>(entry.second->Value());
    return n;
  }

 private:
  Counter& Register(const std::string& value) {
    Labels labels = fixed_;
    labels.emplace_back(label_, value);
    Counter* c = &registry_.GetCounter(name_, help_, labels);
    by_value_[value] = c;
    return *c;
  }

  MetricsRegistry& registry_;
  const std::string name_, help_, label_;
  const Labels fixed_;
  mutable std::mutex mu_;
  std::map<std::string, Counter*> by_value_;  // mu_
};

}  // namespace sa::obs
