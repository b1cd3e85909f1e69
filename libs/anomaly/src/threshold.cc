#include "anomaly/threshold.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace sa::anomaly {

absl::StatusOr<Threshold> Threshold::Contamination(double rate) {
  if (!(rate > 0 && rate <= 0.5))
    return absl::InvalidArgumentError(absl::StrCat("contamination ", rate, " is not in (0, 0.5]"));
  return Threshold(Mode::kContamination, rate);
}

absl::StatusOr<Threshold> Threshold::Fixed(double score) {
  if (!(score > 0 && score < 1))
    return absl::InvalidArgumentError(absl::StrCat("threshold score ", score, " is not in (0, 1)"));
  return Threshold(Mode::kFixed, score);
}

double Threshold::Resolve(const IsolationForest& model) const {
  if (mode_ == Mode::kFixed) return value_;
  return model.TrainingQuantile(1 - value_);
}

std::string Threshold::ToString() const {
  return absl::StrCat(mode_ == Mode::kFixed ? "score=" : "contamination=", value_);
}

}  // namespace sa::anomaly
