#include "sources/source_registry.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sources/kafka_source.h"
#include "sources/websocket_source.h"

namespace sa::sources {
namespace {

// A source of type `SourceT` from its options in JSON (`parse`), as a factory
// the registry holds.
template <typename SourceT, auto parse>
absl::StatusOr<std::unique_ptr<Source>> CreateFromJson(const nlohmann::json& config) {
  auto options = parse(config);
  if (!options.ok()) return options.status();
  auto source = SourceT::Create(*std::move(options));
  if (!source.ok()) return source.status();
  return std::unique_ptr<Source>(std::move(*source));
}

}  // namespace

SourceRegistry& SourceRegistry::Default() {
  // Built-ins are registered here rather than by static initialisers, which a
  // static library would silently drop when nothing references their object file.
  static SourceRegistry* registry = [] {
    auto* r = new SourceRegistry();
    (void)r->Register("websocket", CreateFromJson<WebSocketSource, WebSocketSourceOptionsFromJson>);
    (void)r->Register("kafka", CreateFromJson<KafkaSource, KafkaSourceOptionsFromJson>);
    return r;
  }();
  return *registry;
}

absl::Status SourceRegistry::Register(const std::string& kind, SourceFactory factory) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!factories_.emplace(kind, std::move(factory)).second) {
    return absl::AlreadyExistsError(absl::StrCat("source kind '", kind, "' already registered"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Source>> SourceRegistry::Create(const std::string& kind,
                                                               const nlohmann::json& config) const {
  SourceFactory factory;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = factories_.find(kind);
    if (it == factories_.end()) {
      std::vector<std::string> names;
      for (const auto& [name, _] : factories_) names.push_back(name);
      return absl::NotFoundError(absl::StrCat("unknown source kind '", kind,
                                              "' (known: ", absl::StrJoin(names, ", "), ")"));
    }
    factory = it->second;
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("source kind '", kind, "': config must be an object"));
  }
  return factory(config);
}

std::vector<std::string> SourceRegistry::Kinds() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, _] : factories_) names.push_back(name);
  return names;
}

}  // namespace sa::sources
