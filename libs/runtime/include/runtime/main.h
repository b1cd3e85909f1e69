// RunServiceMain: the whole main() of a service.
//
//   int main(int argc, char** argv) {
//     return sa::runtime::RunServiceMain<IngestConfig>(argc, argv, {
//         .name = "ingest", .defaults = DefaultIngestConfig,
//         .validate = ValidateIngestConfig, .create = CreateIngestApp});
//   }
//
// Flags: --config FILE (or STREAM_ADMIN_CONFIG), --print-config, --check-config,
// --version. Config = defaults, then the YAML file, then STREAM_ADMIN_* env.
// A bad config prints one line naming the file/variable, key and reason, and
// exits 2. SIGINT/SIGTERM drain the application within server.shutdown_grace_s
// and exit 0.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <google/protobuf/message.h>

#include "absl/status/statusor.h"
#include "runtime/application.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::runtime {

template <typename ConfigT>
struct ServiceDefinition {
  std::string name;
  std::function<ConfigT()> defaults;
  std::function<absl::Status(const ConfigT&)> validate;
  std::function<absl::StatusOr<std::unique_ptr<Application>>(const ConfigT&)> create;
  // Optional: fills derived values after file + environment, before validation
  // (e.g. the admin derives server.auth.public_key from its signing key).
  std::function<absl::Status(ConfigT*)> finalize = nullptr;
};

namespace internal {
struct ErasedDefinition {
  std::string name;
  google::protobuf::Message* config;  // holds defaults on entry
  std::function<const streamadmin::config::v1::ServerConfig&()> server;
  std::function<const streamadmin::config::v1::LogConfig&()> log;
  std::function<const streamadmin::config::v1::NatsConfig*()> nats;  // for auth revocations; may be null
  std::function<absl::Status()> finalize;
  std::function<absl::Status()> validate;
  std::function<absl::StatusOr<std::unique_ptr<Application>>()> create;
};
int RunMain(int argc, char** argv, ErasedDefinition def);
}  // namespace internal

template <typename ConfigT>
int RunServiceMain(int argc, char** argv, const ServiceDefinition<ConfigT>& def) {
  ConfigT config = def.defaults ? def.defaults() : ConfigT();
  internal::ErasedDefinition erased{
      def.name,
      &config,
      [&config]() -> const auto& { return config.server(); },
      [&config]() -> const auto& { return config.log(); },
      [&config]() -> const streamadmin::config::v1::NatsConfig* {
        if constexpr (requires { config.nats(); }) return &config.nats();
        return nullptr;
      },
      [&]() { return def.finalize ? def.finalize(&config) : absl::OkStatus(); },
      [&]() { return def.validate ? def.validate(config) : absl::OkStatus(); },
      [&]() { return def.create(config); },
  };
  return internal::RunMain(argc, argv, std::move(erased));
}

// Shared defaults: server (grpc/http ports), log, nats.
void SetCommonDefaults(int grpc_port, int http_port,
                       streamadmin::config::v1::ServerConfig* server,
                       streamadmin::config::v1::LogConfig* log,
                       streamadmin::config::v1::NatsConfig* nats);

// Shared validation of the same; messages name the key.
absl::Status ValidateCommon(const streamadmin::config::v1::ServerConfig& server,
                            const streamadmin::config::v1::NatsConfig* nats);

}  // namespace sa::runtime
