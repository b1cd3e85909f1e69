#include "runtime/streams.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "wire/subjects.h"

namespace sa::runtime {

namespace cfg = streamadmin::config::v1;

namespace {
cfg::StreamConfig Make(const char* name, std::initializer_list<const char*> subjects, uint64_t max_age_s,
                       uint32_t dup_window_s) {
  cfg::StreamConfig s;
  s.set_name(name);
  for (const char* subj : subjects) s.add_subjects(subj);
  s.set_storage("file");
  s.set_max_age_s(max_age_s);
  s.set_duplicate_window_s(dup_window_s);
  // replicas 0: nats.stream_replicas decides (NatsClient).
  return s;
}
constexpr uint64_t kDay = 24 * 3600;
}  // namespace

cfg::StreamConfig MdRawStream() { return Make("MD_RAW", {wire::kRawAll}, kDay, 120); }
cfg::StreamConfig MdStream() {
  return Make("MD", {wire::kTradeAll, wire::kTickerAll, wire::kBookAll, wire::kCandleAll, wire::kStatusAll}, kDay, 120);
}
cfg::StreamConfig CdcStream() { return Make("CDC", {wire::kCdcAll}, 7 * kDay, 3600); }
cfg::StreamConfig AnomalyStream() { return Make("ANOMALY", {wire::kAnomalyAll}, 7 * kDay, 120); }
// Captures every dead-letter subject (wire::kDlqIngest ... kDlqViewAll).
cfg::StreamConfig DlqStream() { return Make("DLQ", {wire::kDlqAll}, 7 * kDay, 120); }

absl::Status ValidateStreams(const google::protobuf::RepeatedPtrField<cfg::StreamConfig>& streams) {
  for (int i = 0; i < streams.size(); ++i) {
    const auto& s = streams[i];
    std::string key = absl::StrCat("streams[", i, "]");
    if (s.name().empty() || s.name().find_first_of(" .*>\t/\\") != std::string::npos)
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, ".name': '", s.name(), "' must be non-empty, without spaces, '.', '*', '>' or slashes"));
    if (s.subjects().empty())
      return absl::InvalidArgumentError(absl::StrCat("key '", key, ".subjects': stream ", s.name(), " needs a subject"));
    for (const auto& subj : s.subjects()) {
      if (subj.empty() || absl::StrContains(subj, " ") || absl::StrContains(subj, ".."))
        return absl::InvalidArgumentError(absl::StrCat("key '", key, ".subjects': '", subj, "' is not a NATS subject"));
    }
    if (!s.storage().empty() && s.storage() != "file" && s.storage() != "memory")
      return absl::InvalidArgumentError(
          absl::StrCat("key '", key, ".storage': '", s.storage(), "' is not file or memory"));
    for (int j = 0; j < i; ++j) {
      if (streams[j].name() == s.name())
        return absl::InvalidArgumentError(absl::StrCat("key '", key, ".name': stream ", s.name(), " is defined twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateConsumer(const cfg::ConsumerConfig& c, const std::string& key) {
  if (c.stream().empty()) return absl::InvalidArgumentError(absl::StrCat("key '", key, ".stream': required"));
  if (c.durable().empty() || c.durable().find_first_of(" .*>") != std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("key '", key, ".durable': '", c.durable(), "' must be non-empty without spaces, '.', '*', '>'"));
  return absl::OkStatus();
}

}  // namespace sa::runtime
