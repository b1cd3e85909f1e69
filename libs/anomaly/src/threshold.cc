#include "anomaly/threshold.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

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

std::string Threshold::Encode() const {
  return absl::StrFormat("%s%.17g", mode_ == Mode::kFixed ? "score=" : "contamination=", value_);
}

absl::StatusOr<Threshold> Threshold::Parse(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  double v = 0;
  for (auto [prefix, make] : {std::pair{absl::string_view("contamination="), &Threshold::Contamination},
                              std::pair{absl::string_view("score="), &Threshold::Fixed}}) {
    if (!absl::ConsumePrefix(&text, prefix)) continue;
    if (!absl::SimpleAtod(text, &v))
      return absl::InvalidArgumentError(absl::StrCat("threshold '", prefix, text, "': not a number"));
    return make(v);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("threshold '", text, "': expected contamination=<rate> or score=<score>"));
}

}  // namespace sa::anomaly
