// The configuration loader (config/loader.h) on YAML and environment
// variables, for every service's config message. Input: a first byte that
// picks the message, YAML up to a line "%env", then NAME=value lines.
//
// Promises checked: a failure is INVALID_ARGUMENT and says where (the source
// name for YAML, the variable for the environment); the redacted JSON and
// YAML of whatever loaded never show a secret that was set.
#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "config/loader.h"
#include "fuzz_target.h"
#include "streamadmin/config/v1/config.pb.h"

namespace {

namespace cfg = ::streamadmin::config::v1;

std::unique_ptr<google::protobuf::Message> NewConfig(uint8_t pick) {
  switch (pick % 7) {
    case 0: return std::make_unique<cfg::IngestConfig>();
    case 1: return std::make_unique<cfg::NormalizerConfig>();
    case 2: return std::make_unique<cfg::CdcBridgeConfig>();
    case 3: return std::make_unique<cfg::AnomalyConfig>();
    case 4: return std::make_unique<cfg::AdminConfig>();
    case 5: return std::make_unique<cfg::QueryConfig>();
    default: return std::make_unique<cfg::NatsConfig>();
  }
}

}  // namespace

SA_FUZZ_TARGET(config) {
  using namespace sa;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return;
  auto msg = NewConfig(static_cast<uint8_t>(input[0]));
  std::string_view rest = input.substr(1);
  size_t split = rest.find("\n%env\n");
  std::string_view yaml = rest.substr(0, split);
  std::map<std::string, std::string> env;
  if (split != std::string_view::npos) {
    for (std::string_view line : fuzz::Lines(rest.substr(split + 6))) {
      size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  absl::Status s = config::MergeYamlString(yaml, "fuzz.yaml", msg.get());
  if (!s.ok()) {
    if (s.code() != absl::StatusCode::kInvalidArgument)
      fuzz::Broken("config", "a YAML error is not INVALID_ARGUMENT", input, s.ToString());
    if (!absl::StrContains(s.message(), "fuzz.yaml"))
      fuzz::Broken("config", "a YAML error does not name the file", input, s.ToString());
  }
  s = config::ApplyEnvironment(env, msg.get(), {"STREAM_ADMIN_RESERVED"});
  if (!s.ok()) {
    if (s.code() != absl::StatusCode::kInvalidArgument)
      fuzz::Broken("config", "an environment error is not INVALID_ARGUMENT", input, s.ToString());
    if (!absl::StrContains(s.message(), "STREAM_ADMIN_"))
      fuzz::Broken("config", "an environment error does not name the variable", input, s.ToString());
  }
  std::string json = config::ToRedactedJson(*msg);
  std::string yaml_out = config::ToRedactedYaml(*msg);
  // What loaded must load again from its own YAML (--print-config output is a valid config).
  auto again = NewConfig(static_cast<uint8_t>(input[0]));
  s = config::MergeYamlString(yaml_out, "printed.yaml", again.get());
  if (!s.ok()) fuzz::Broken("config", "printed config does not load", input, s.ToString() + "\n" + yaml_out);
}
