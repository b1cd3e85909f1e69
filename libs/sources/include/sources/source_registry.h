// SourceRegistry — source kinds by name ("websocket", "kafka", ...), each a
// factory from a JSON config object to a Source. Adding a kind is one
// Register() call; nothing else switches on kind names.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sources/frame.h"

namespace sa::sources {

using SourceFactory =
    std::function<absl::StatusOr<std::unique_ptr<Source>>(const nlohmann::json& config)>;

// Threading: all methods are thread-safe. Factories run on the caller's thread.
class SourceRegistry {
 public:
  SourceRegistry() = default;
  SourceRegistry(const SourceRegistry&) = delete;
  SourceRegistry& operator=(const SourceRegistry&) = delete;

  // The process-wide registry, with the built-in kinds "websocket" and "kafka"
  // already registered (see websocket_source.h and kafka_source.h for their
  // config keys).
  static SourceRegistry& Default();

  // AlreadyExists if `kind` is taken.
  absl::Status Register(const std::string& kind, SourceFactory factory);
  // NotFound for an unknown kind; otherwise whatever the factory returns
  // (InvalidArgument for a bad config, naming the key).
  absl::StatusOr<std::unique_ptr<Source>> Create(const std::string& kind,
                                                 const nlohmann::json& config) const;
  std::vector<std::string> Kinds() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, SourceFactory> factories_;
};

}  // namespace sa::sources
