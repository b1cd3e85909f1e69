// Threshold: when a score is an anomaly. Either a contamination rate (the
// expected share of anomalies; the threshold is the training scores'
// (1 - rate) quantile, re-derived for every new model) or a fixed score.
// A value type; copy it freely.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "anomaly/isolation_forest.h"

namespace sa::anomaly {

class Threshold {
 public:
  enum class Mode { kContamination, kFixed };

  // rate in (0, 0.5]; score in (0, 1).
  static absl::StatusOr<Threshold> Contamination(double rate);
  static absl::StatusOr<Threshold> Fixed(double score);

  // The score at or above which a point of `model` is anomalous.
  double Resolve(const IsolationForest& model) const;

  Mode mode() const { return mode_; }
  double value() const { return value_; }
  std::string ToString() const;  // "contamination=0.01" or "score=0.62"
  // ToString's form with every digit of the value (to keep it in a file), and
  // its inverse; Parse accepts either form and checks the range as above.
  std::string Encode() const;
  static absl::StatusOr<Threshold> Parse(absl::string_view text);

 private:
  Threshold(Mode m, double v) : mode_(m), value_(v) {}
  Mode mode_;
  double value_;
};

}  // namespace sa::anomaly
